#!/usr/bin/env bash
# Runs `taxii-gateway inspect` over a corpus laid out like shared/fixtures:
#   draft1/, 1.0/, 1.1/  every file accepted, with the folder's dialect and the message named by
#                        the file name before its first '-' (or '.xml');
#   bad/                 every file rejected, except the four that may be accepted with their
#                        payload untouched.
# Usage: scripts/conformance.sh DIR   (uses $TAXII_GATEWAY, else target/debug/taxii-gateway)
set -u
dir=${1:?usage: scripts/conformance.sh DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${TAXII_GATEWAY:-$here/target/debug/taxii-gateway}
if [ ! -x "$bin" ]; then
  (cd "$here" && cargo build --quiet --bin taxii-gateway) || exit 1
fi
command -v python3 >/dev/null || { echo "conformance.sh needs python3 to read the JSON" >&2; exit 1; }

pass=0; fail=0
may_pass="stylesheet-pi.xml xinclude-local-file.xml schemalocation-remote-fetch.xml wrong-element-order.xml"

check_good() { # file dialect
  local f=$1 want_dialect=$2 base want_msg out rc
  base=$(basename "$f"); want_msg=${base%.xml}; want_msg=${want_msg%%-*}
  out=$("$bin" inspect "$f" 2>&1); rc=$?
  if [ $rc -ne 0 ]; then echo "FAIL $f: rejected (exit $rc): $out"; fail=$((fail+1)); return; fi
  got=$(printf '%s' "$out" | python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["dialect"], o["message"])' 2>&1)
  if [ "$got" = "$want_dialect $want_msg" ]; then pass=$((pass+1)); else echo "FAIL $f: got '$got', want '$want_dialect $want_msg'"; fail=$((fail+1)); fi
}

for d in draft1 1.0 1.1; do
  [ -d "$dir/$d" ] || { echo "FAIL $dir/$d: missing folder"; fail=$((fail+1)); continue; }
  for f in "$dir/$d"/*.xml; do check_good "$f" "$d"; done
done

if [ -d "$dir/bad" ]; then
  for f in "$dir/bad"/*.xml; do
    base=$(basename "$f")
    out=$("$bin" inspect "$f" 2>&1); rc=$?
    if [ $rc -eq 2 ] && printf '%s' "$out" | python3 -c 'import json,sys; o=json.load(sys.stdin); assert o["error"] and "detail" in o' 2>/dev/null; then
      pass=$((pass+1))
    elif [ $rc -eq 0 ] && [[ " $may_pass " == *" $base "* ]]; then
      pass=$((pass+1))
    else
      echo "FAIL $f: exit $rc, expected a rejection: $out"; fail=$((fail+1))
    fi
  done
else
  echo "FAIL $dir/bad: missing folder"; fail=$((fail+1))
fi

echo "conformance: $pass passed, $fail failed"
[ $fail -eq 0 ]
