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
# Nodes that `perp` starts for itself take a free port in this range (shared machines: keep clear of others').
export PERP_DEVNET_PORTS ?= 8620-8649

BROWNIE := $(VENV)/bin/brownie
PERP := $(VENV)/bin/perp
SETUP_STAMP := $(ROOT)/.setup-done

.PHONY: setup simulate simulate-all sweep deploy audit keeper slither test forge gas-snapshot faults bench stress clean \
	build-fresh no-stale-node

SCENARIO ?= scenarios/flash_crash.yaml
BACKEND ?= chain
NETWORK ?= development
RPC ?= http://127.0.0.1:8545

## The main job: a crash simulation on a fresh Anvil that `perp` starts on a free port and stops (SCENARIO=...);
## BACKEND=model runs the same engine on the reference model instead (no chain, the same report).
simulate: $(SETUP_STAMP) build-fresh
	$(PERP) simulate $(SCENARIO) --backend $(BACKEND)

## Every shipped scenario, one after the other (each on its own fresh chain; BACKEND=model: on the model).
simulate-all: $(SETUP_STAMP) build-fresh
	@for s in scenarios/*.yaml; do $(PERP) simulate $$s --backend $(BACKEND) || exit 1; done

SWEEP ?= scenarios/sweeps/small.yaml
WORKERS ?= 2
## A sweep on the reference model (no chain), on a local Ray instance of WORKERS CPUs (RAY_ADDRESS=... joins a
## cluster): reports/sweeps/<name>/points.csv (resumed), summary.json, summary.html.
sweep: $(SETUP_STAMP)
	$(PERP) sweep $(SWEEP) --workers $(WORKERS) $(if $(RAY_ADDRESS),--address $(RAY_ADDRESS))

## Deploy and configure on the node at RPC (devnet mocks; PLAN=plan.yaml and KEY_ENV=VAR for a live network).
deploy: $(SETUP_STAMP) build-fresh
	$(PERP) deploy --rpc $(RPC) --network development $(if $(PLAN),--config $(PLAN) --yes) $(if $(KEY_ENV),--key-env $(KEY_ENV))

MANIFEST ?= deployments/development-31337.json
## Audit any deployment from its manifest: state invariants + event replay (MANIFEST=..., RPC=http://host:port).
audit: $(SETUP_STAMP) build-fresh
	$(PERP) audit $(MANIFEST) --rpc $(RPC)

## Run the keeper against a deployment until Ctrl-C (MANIFEST=..., RPC=...).
keeper: $(SETUP_STAMP) build-fresh
	$(PERP) keeper $(MANIFEST) --rpc $(RPC)

## Slither on the protocol's own contracts; fails on a high/medium finding not triaged in docs/slither-triage.md.
slither: $(SETUP_STAMP) build-fresh
	$(VENV)/bin/python tools/slither_check.py

## The test suite: Brownie + pytest on a local Anvil that Brownie starts itself, and beside it (on the other core)
## the Foundry suite (fuzz, gas snapshot, jamming, invariants; CI profile), whose output follows Brownie's.
## Fails when either fails.
test: $(SETUP_STAMP) build-fresh no-stale-node
	@mkdir -p build/forge; log=build/forge/suite.log; \
	$(MAKE) --no-print-directory forge > $$log 2>&1 & forge_pid=$$!; \
	$(BROWNIE) test tests/ $(PYTEST_ARGS); brownie_rc=$$?; \
	wait $$forge_pid; forge_rc=$$?; cat $$log; \
	echo "brownie: exit $$brownie_rc, forge suite: exit $$forge_rc"; \
	[ $$brownie_rc -eq 0 ] && [ $$forge_rc -eq 0 ]

## The Foundry suite alone (tests/forge/): FOUNDRY_PROFILE=ci (default) or deep; fails on a state never reached.
forge: $(SETUP_STAMP)
	FOUNDRY_PROFILE=$${FOUNDRY_PROFILE:-ci} $(VENV)/bin/python tools/forge_suite.py

## Rewrites the checked-in gas figures (tests/forge/gas/snapshots/) after a deliberate gas change.
gas-snapshot: $(SETUP_STAMP)
	forge test --isolate --match-path 'tests/forge/gas/*'

## Plants each known fault in a copy of the contracts and shows which check catches it (docs/FAULTS.md).
faults: $(SETUP_STAMP)
	$(VENV)/bin/python tools/plant_faults.py

# Brownie attaches silently to whatever listens on the development network's port (a stale Anvil of a crashed run):
# refuse, unless ATTACH=1 says that node is meant.
no-stale-node:
	@if [ "$(NETWORK)$(ATTACH)" = "development" ] && (exec 3<>/dev/tcp/127.0.0.1/8545) 2>/dev/null; then \
	  echo "error: a node already listens on 127.0.0.1:8545 (a stale Anvil?); stop it, or run with ATTACH=1 to use it" >&2; \
	  exit 2; fi

# Brownie does not notice edits to imported files under interfaces/: rebuild when any source changed.
build-fresh:
	@h=$$(cat contracts/*.sol contracts/*/*.sol interfaces/*.sol brownie-config.yaml | sha1sum | cut -c1-40); \
	if [ "$$(cat build/.sources 2>/dev/null)" != "$$h" ]; then rm -rf build; mkdir -p build; \
	  $(BROWNIE) compile >/dev/null && echo "$$h" > build/.sources && echo "contracts compiled"; fi

## Benchmarks: the ADL cost curve (N = 10 .. 100,000, forge), the gas table, then the simulation's throughput beside
## a naive loop and Anvil's ceiling, the sweep throughput (runs per minute on 1 and 2 Ray workers, no chain), and
## flash_crash on the chain and on the reference model (seconds, the ratio beside its 20x target, same report).
bench: $(SETUP_STAMP) build-fresh no-stale-node
	$(VENV)/bin/python scripts/bench_backends.py
	$(VENV)/bin/python scripts/bench_sweep.py
	$(VENV)/bin/python scripts/bench_adl.py
	$(BROWNIE) run scripts/bench_gas.py --network $(NETWORK)
	$(BROWNIE) run scripts/bench_sim.py --network $(NETWORK) --silent

## Two simulations and the benchmarks back to back on one chain, ROUNDS times, under CPU load (docs/TESTING.md).
ROUNDS ?= 20
stress: $(SETUP_STAMP) build-fresh
	$(VENV)/bin/python tools/stress.py --rounds $(ROUNDS)

setup: $(SETUP_STAMP)

$(SETUP_STAMP): requirements.txt package.json package-lock.json tools/setup.sh tools/solc-bridge.js
	bash tools/setup.sh
	touch $(SETUP_STAMP)

clean:
	rm -rf build reports/*.json .setup-done
