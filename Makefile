# One entry point for humans and CI. Every target installs what it needs on first use (pinned):
# a Python venv with Brownie, the npm packages (Anvil, solc-js, OpenZeppelin) and the compiler bridge.
SHELL := /bin/bash
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
SOLC_VERSION := 0.8.28
export PATH := $(ROOT)/node_modules/.bin:$(VENV)/bin:$(PATH)
export SOLCX_BINARY_PATH := $(ROOT)/.solcx
export PYTHONPATH := $(ROOT)
export PYTHONDONTWRITEBYTECODE := 1

BROWNIE := $(VENV)/bin/brownie
SETUP_STAMP := $(ROOT)/.setup-done

.PHONY: setup simulate simulate-all deploy audit slither test forge gas-snapshot faults bench clean build-fresh

SCENARIO ?= scenarios/flash_crash.yaml
NETWORK ?= development

## The main job: a crash simulation on a local Anvil devnet that Brownie starts (SCENARIO=... to pick another).
simulate: $(SETUP_STAMP) build-fresh
	$(BROWNIE) run scripts/simulate.py main $(SCENARIO) --network $(NETWORK) --silent

## Every shipped scenario, one after the other.
simulate-all: $(SETUP_STAMP) build-fresh
	@for s in scenarios/*.yaml; do $(BROWNIE) run scripts/simulate.py main $$s --network $(NETWORK) --silent || exit 1; done

## Deploy and configure everything (devnet by default; NETWORK=<brownie network> with PERP_CONFIG for live ones).
deploy: $(SETUP_STAMP) build-fresh
	$(BROWNIE) run scripts/deploy.py --network $(NETWORK)

MANIFEST ?= deployments/development-31337.json
## Audit any deployment from its manifest: state invariants + event replay (MANIFEST=..., RPC=http://host:port).
audit: $(SETUP_STAMP) build-fresh
	$(VENV)/bin/python -m perp.audit_cli $(MANIFEST) $(if $(RPC),--rpc $(RPC))

## Slither on the protocol's own contracts; fails on a high/medium finding not triaged in docs/slither-triage.md.
slither: $(SETUP_STAMP) build-fresh
	$(VENV)/bin/python tools/slither_check.py

## The test suite: the Foundry suite (fuzz, gas snapshot, invariants; CI profile), then Brownie + pytest on a local
## Anvil that Brownie starts itself.
test: $(SETUP_STAMP) build-fresh
	$(MAKE) --no-print-directory forge
	$(BROWNIE) test tests/ $(PYTEST_ARGS)

## The Foundry suite alone (tests/forge/): FOUNDRY_PROFILE=ci (default) or deep; fails on a state never reached.
forge: $(SETUP_STAMP)
	FOUNDRY_PROFILE=$${FOUNDRY_PROFILE:-ci} $(VENV)/bin/python tools/forge_suite.py

## Rewrites the checked-in gas figures (tests/forge/gas/snapshots/) after a deliberate gas change.
gas-snapshot: $(SETUP_STAMP)
	forge test --isolate --match-path 'tests/forge/gas/*'

## Plants each known fault in a copy of the contracts and shows which check catches it (docs/FAULTS.md).
faults: $(SETUP_STAMP)
	$(VENV)/bin/python tools/plant_faults.py

# Brownie does not notice edits to imported files under interfaces/: rebuild when any source changed.
build-fresh:
	@h=$$(cat contracts/*.sol contracts/*/*.sol interfaces/*.sol brownie-config.yaml | sha1sum | cut -c1-40); \
	if [ "$$(cat build/.sources 2>/dev/null)" != "$$h" ]; then rm -rf build; mkdir -p build; \
	  $(BROWNIE) compile >/dev/null && echo "$$h" > build/.sources && echo "contracts compiled"; fi

## Benchmarks: the gas table, then the simulation's throughput beside a naive loop and Anvil's ceiling.
bench: $(SETUP_STAMP) build-fresh
	$(BROWNIE) run scripts/bench_gas.py --network $(NETWORK)
	$(BROWNIE) run scripts/bench_sim.py --network $(NETWORK) --silent

setup: $(SETUP_STAMP)

$(SETUP_STAMP): requirements.txt package.json package-lock.json tools/setup.sh tools/solc-bridge.js
	bash tools/setup.sh
	touch $(SETUP_STAMP)

clean:
	rm -rf build reports/*.json .setup-done
