#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need, then runs them.
#
#   ./scripts/test.sh            # everything
#   ./scripts/test.sh -p latch   # extra arguments go to the test runner
#
# Needs: a Rust toolchain (cargo). Installs cargo-nextest if missing (falls back to cargo test
# if it cannot). The embedded store needs no server; later backends add their installs here.
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# System packages the tests use. None yet beyond the toolchain: kept as the one place to add them.
PACKAGES=()
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  need_root || { echo "need root to install: ${missing[*]}" >&2; exit 1; }
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}"
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
  # nextest does not run doctests.
  cargo test --workspace --doc --quiet
else
  cargo test --workspace --no-fail-fast "$@"
fi
