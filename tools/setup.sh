#!/usr/bin/env bash
# Installs everything the project needs, pinned, into the project folder (idempotent):
#   .venv/          Python venv with eth-brownie (requirements.txt)
#   node_modules/   Anvil, solc-js and OpenZeppelin (package-lock.json)
#   .solcx/         the compiler bridge that py-solc-x finds as solc-v<version>
# and configures Brownie's `development` network to launch that Anvil with a 30M gas block.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SOLC_VERSION="$(sed -n 's/^ *version: *\([0-9.]*\)$/\1/p' brownie-config.yaml | head -1)"

if [ ! -x .venv/bin/python ]; then
  echo "==> creating Python venv in .venv"
  python3 -m venv .venv
fi
echo "==> installing Python requirements (pinned)"
# (pip's notices about unreachable local index folders of this machine's pip config are filtered out)
.venv/bin/pip install --disable-pip-version-check -q -r requirements.txt 2> >(grep -v "^WARNING: Location" >&2)
# solc-select (a Slither dependency) puts a `solc` shim on the venv's PATH that downloads compilers (and hangs
# offline); the project compiles through the solc-js bridge below instead.
rm -f .venv/bin/solc
# pytest-rerunfailures was pinned once; it cannot work under Brownie (INTERNALERROR on a rerun), so it goes.
.venv/bin/pip uninstall -q -y pytest-rerunfailures 2>/dev/null || true

echo "==> installing npm packages (exactly package-lock.json)"
# `npm ci` installs the lock as it is and never rewrites it (so a fresh clone stays clean); the lock lists every
# platform's optional binary package, and npm takes only this machine's. Skipped when node_modules already holds it.
if ! cmp -s package-lock.json node_modules/.package-lock.json.src 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.package-lock.json.src
fi

echo "==> installing the solc-js compiler bridge as .solcx/solc-v${SOLC_VERSION}"
mkdir -p .solcx
cat > ".solcx/solc-v${SOLC_VERSION}" <<BRIDGE
#!/usr/bin/env bash
exec node "$ROOT/tools/solc-bridge.js" "\$@"
BRIDGE
chmod +x ".solcx/solc-v${SOLC_VERSION}"
".solcx/solc-v${SOLC_VERSION}" --version | grep -q "Version: ${SOLC_VERSION}" \
  || { echo "compiler bridge does not answer with version ${SOLC_VERSION}" >&2; exit 1; }

echo "==> configuring Brownie's development network (Anvil, 30M gas per block)"
export PATH="$ROOT/node_modules/.bin:$ROOT/.venv/bin:$PATH"
.venv/bin/brownie networks modify development cmd=anvil gas_limit=30000000 >/dev/null
# dev1..dev4: the same on private ports, so that several test runs can share one machine (docs/TESTING.md).
for i in 1 2 3 4; do
  settings="host=http://127.0.0.1 port=$((8550 + i)) gas_limit=30000000 accounts=10 base_fee=0"
  # shellcheck disable=SC2086
  .venv/bin/brownie networks modify "dev$i" $settings >/dev/null 2>&1 \
    || .venv/bin/brownie networks add Development "dev$i" cmd=anvil $settings >/dev/null
done
echo "==> set-up complete"
