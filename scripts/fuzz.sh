#!/usr/bin/env bash
# Seeds and runs a cargo-fuzz target of the protocol core for a number of seconds, in one process.
#   scripts/fuzz.sh [SECONDS] [TARGET]     SECONDS default 600, TARGET `scan` (or `writer`,
#                                          `stream`, `edit`)
# Needs cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain RUSTC_BOOTSTRAP=1 lets it
# use the nightly flags it needs; FUZZ_SANITIZER=none builds without ASan where ASan does not
# build. Crashes land in fuzz/artifacts/TARGET/; minimise one with
#   cargo fuzz tmin -O TARGET fuzz/artifacts/TARGET/crash-…
# and add it to tests/fuzz_regressions.rs. Corpus, artifacts and fuzz/target are gitignored.
set -eu
secs=${1:-600}
target=${2:-scan}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export PATH="$PATH:$HOME/.cargo/bin"
command -v cargo-fuzz >/dev/null || {
  echo "fuzz.sh: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2
  exit 1
}
if ! rustc --version | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi
fuzz/seed.sh || echo "fuzz.sh: no fixture seeds; starting from an empty corpus" >&2
mkdir -p "fuzz/corpus/$target"
extra=()
if [ "$target" != writer ]; then
  extra=(-dict=fuzz/taxii.dict -max_len=65536)
fi
exec cargo fuzz run -O --sanitizer "${FUZZ_SANITIZER:-address}" "$target" "fuzz/corpus/$target" -- \
  "${extra[@]}" -max_total_time="$secs" -print_final_stats=1
