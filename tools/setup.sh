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

echo "==> installing the perp library and its \`perp\` command into the venv (editable)"
.venv/bin/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e . 2> >(grep -v "^WARNING: Location" >&2)

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

echo "==> putting what Brownie looks for where Brownie looks (plain \`brownie\` after \`source .venv/bin/activate\`)"
# Brownie launches `anvil` from PATH: the venv's bin gets a link to the native binary (not the npm wrapper, whose
# child would outlive a killed wrapper).
native="$(ls "$ROOT"/node_modules/@foundry-rs/anvil-*/bin/anvil 2>/dev/null | head -1)"
ln -sf "${native:-$ROOT/node_modules/.bin/anvil}" .venv/bin/anvil
# py-solc-x looks for solc-v<version> in ~/.solcx unless SOLCX_BINARY_PATH says otherwise.
mkdir -p "$HOME/.solcx"
cp ".solcx/solc-v${SOLC_VERSION}" "$HOME/.solcx/solc-v${SOLC_VERSION}"
# ... and the activate script exports the same environment as the Makefile.
if ! grep -q "adl-perp environment" .venv/bin/activate; then
  cat >> .venv/bin/activate <<ACTIVATE
# adl-perp environment (tools/setup.sh): Anvil, forge and cast from npm, the compiler bridge
export PATH="$ROOT/node_modules/.bin:\$PATH"
export SOLCX_BINARY_PATH="$ROOT/.solcx"
ACTIVATE
fi

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
echo "==> headless Chromium for the HTML report tests (Debian's package; tests/lab/headless.py)"
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  :
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
else
  echo "    chromium not found and not root: the HTML render test will skip (apt-get install -y chromium)" >&2
fi
echo "==> set-up complete"
