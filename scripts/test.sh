#!/usr/bin/env bash
# The whole test suite: unit and integration tests, then the conformance corpus.
# Installs what it needs: cmake (Pingora's zlib-ng), python3, and the interop venv
# (tests/interop/setup.sh: OpenTAXII, cabby, libtaxii pinned, in .venv-interop) for tests/interop.rs.
# Usage: scripts/test.sh   (shared/ is expected beside the repository, or set TAXII_SHARED)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
shared=${TAXII_SHARED:-$here/../shared}
export TAXII_SHARED=$shared

need_apt=()
command -v cmake >/dev/null || need_apt+=(cmake)
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]} with apt-get" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
[ -d "$shared/fixtures" ] || { echo "the shared corpus is missing at $shared: put shared/ beside the repository or set TAXII_SHARED" >&2; exit 1; }

# The real TAXII peers of tests/interop.rs (idempotent; a fresh machine needs PyPI once).
tests/interop/setup.sh >/dev/null

cargo build --locked --all-targets
cargo test --locked
TAXII_GATEWAY="$here/target/debug/taxii-gateway" scripts/conformance.sh "$shared/fixtures"
