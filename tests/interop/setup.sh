#!/usr/bin/env bash
# Creates (or checks) the Python venv of the interop test: OpenTAXII 0.9.3 under gunicorn, cabby
# 0.1.23 and libtaxii 1.1.119, every dependency pinned (requirements.txt + constraints.txt here).
#
# Usage: tests/interop/setup.sh [--force]
#   venv:    $INTEROP_VENV, default <repo>/.venv-interop (gitignored)
#   python:  $INTEROP_PYTHON, else the first of python3.11, python3.12, python3 that is 3.11/3.12
#            and can make a venv. Running as root on Debian without a usable venv module, the
#            python3-venv package is installed with apt-get.
#   --force  reinstall the pins even when the venv's stamp says they are in place
# Idempotent: a venv whose stamp matches the pins and the interpreter is only checked (no network).
# Needs PyPI (or PIP_INDEX_URL) the first time. Prints the venv path as its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${INTEROP_VENV:-$root/.venv-interop}
force=0
case ${1:-} in
  --force) force=1 ;;
  '') ;;
  -h|--help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "setup.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
esac
say() { echo "interop setup: $*" >&2; }
die() { say "$*"; exit 1; }

# An interpreter is usable when it is 3.11 or 3.12 and its venv module can bootstrap pip.
usable() {
  "$1" -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info[:2] in ((3, 11), (3, 12)) else 1)' \
    >/dev/null 2>&1
}
pick_python() {
  local c
  for c in ${INTEROP_PYTHON:-python3.11 python3.12 python3}; do
    if command -v "$c" >/dev/null 2>&1 && usable "$c"; then command -v "$c"; return 0; fi
  done
  return 1
}

py=$(pick_python || true)
if [ -z "$py" ] && [ -z "${INTEROP_PYTHON:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # Debian splits venv/ensurepip out of the interpreter package.
  pkgs=(python3-venv)
  for v in 3.11 3.12; do
    command -v "python$v" >/dev/null && pkgs+=("python$v-venv")
  done
  say "no Python 3.11/3.12 with a working venv module: installing ${pkgs[*]} with apt-get"
  apt-get update -qq >/dev/null || true
  for p in "${pkgs[@]}"; do
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null 2>&1 || say "apt-get could not install $p"
  done
  py=$(pick_python || true)
fi
if [ -z "$py" ]; then
  die "no usable Python found. The interop test needs CPython 3.11 or 3.12 with the venv module
  (libtaxii imports 'cgi', removed in 3.13). On Debian/Ubuntu: apt-get install python3-venv
  (or python3.11-venv); or point INTEROP_PYTHON at such an interpreter."
fi

stamp_of() {
  { "$py" -c 'import sys; print(sys.version)'; cat "$here/requirements.txt" "$here/constraints.txt"; } \
    | sha256sum | cut -d' ' -f1
}
want=$(stamp_of)
check() {
  "$venv/bin/python" -c 'import opentaxii, cabby, libtaxii, gunicorn' >/dev/null 2>&1 || return 1
  local exe
  for exe in gunicorn opentaxii-sync-data taxii-discovery taxii-collections taxii-poll taxii-push \
      taxii-subscription discovery_client discovery_client_10 collection_information_client \
      feed_information_client_10 poll_client poll_client_10 fulfillment_client inbox_client inbox_client_10; do
    [ -x "$venv/bin/$exe" ] || return 1
  done
}

if [ "$force" = 0 ] && [ -f "$venv/.interop-stamp" ] && [ "$(cat "$venv/.interop-stamp")" = "$want" ] && check; then
  say "venv $venv is up to date ($("$venv/bin/python" --version 2>&1))"
  echo "$venv"
  exit 0
fi

t0=$(date +%s)
clear=
# A venv whose interpreter went away (or another minor version) cannot be repaired in place.
if [ -e "$venv" ] && ! "$venv/bin/python" -c 'import sys; sys.exit(0 if sys.version_info[:2] in ((3, 11), (3, 12)) else 1)' >/dev/null 2>&1; then
  clear=--clear
fi
say "creating/updating $venv with $py ($("$py" --version 2>&1))"
"$py" -m venv $clear "$venv" || die "'$py -m venv $venv' failed (on Debian: apt-get install python3-venv)"
rm -f "$venv/.interop-stamp"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q \
  -r "$here/requirements.txt" -c "$here/constraints.txt" \
  || die "pip could not install the pins (is PyPI reachable? PIP_INDEX_URL may point at a mirror)"
check || die "the venv at $venv lacks a module or a client script after the install"
echo "$want" > "$venv/.interop-stamp"
say "venv ready in $(( $(date +%s) - t0 )) s: $("$venv/bin/python" -m pip freeze 2>/dev/null \
  | grep -iE '^(opentaxii|cabby|libtaxii|gunicorn)==' | tr '\n' ' ')"
echo "$venv"
