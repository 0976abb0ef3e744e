#!/usr/bin/env bash
# Envelope scan throughput, and the same message parsed by libtaxii, in one run.
#
#   scripts/bench-parse.sh            # criterion bench + Rust vs libtaxii on the 10 MB response
#   SKIP_CRITERION=1 scripts/bench-parse.sh   # only the Rust vs libtaxii comparison (~1 min)
#
# Steps: (a) a Python venv with libtaxii 1.1.119 (VENV, default .venv-bench, gitignored);
# (b) the 10 MB 1.1 Poll Response the criterion bench scans, written to a temporary file by
# `cargo run --release --example gen_message`; (c) `cargo bench --bench scan` (1 KB request,
# 1/10/100 MB responses); (d) libtaxii `messages_11.get_message_from_xml` and the Rust
# `scan_body` (examples/scan_file.rs) timed on that same file; (e) MB/s of each (MB = 10^6
# bytes, medians) and the ratio rust/libtaxii. About 3 minutes on 2 cores, bounded by timeouts.
#
# Environment: VENV, PYTHON (default python3.11, else python3; must be <= 3.12 because libtaxii
# imports `cgi`), SIZE (bytes, default 10000000), RUNS (libtaxii runs, default 5), ITERATIONS
# (Rust scans, default 21), SKIP_CRITERION=1, CRITERION_ARGS (passed after `--`).
# Medians on a shared machine are noisy (phases up to 1.6x slower): compare within one run.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-bench}
SIZE=${SIZE:-10000000}
RUNS=${RUNS:-5}
ITERATIONS=${ITERATIONS:-21}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
if [[ -z "${PYTHON:-}" ]]; then
  if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi

say() { printf '\n== %s\n' "$*"; }

# (a) libtaxii and the versions known to work with it on Python 3.11
# (shared/interop/constraints.txt).
say "Python venv $VENV"
if ! "$PYTHON" -c 'import sys; sys.exit(0 if (3, 8) <= sys.version_info[:2] <= (3, 12) else 1)'; then
  echo "$PYTHON is $("$PYTHON" --version 2>&1); libtaxii 1.1.119 needs Python 3.8 to 3.12 (it imports cgi)" >&2
  exit 1
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("libtaxii") != "1.1.119")' 2>/dev/null; then
  timeout 300 "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    libtaxii==1.1.119 lxml==5.4.0 python-dateutil==4.0.0 six==1.17.0 tzdata==2026.6
fi
"$VENV/bin/python" -c 'import libtaxii, lxml.etree as e; print("libtaxii", libtaxii.__version__, "lxml", e.__version__)'

# (b) the message, from the generator the bench uses
say "release build of the examples"
timeout 600 cargo build --release --quiet --example gen_message --example scan_file
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-parse.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
MSG="$WORK/poll-response-1.1-$SIZE.xml"
REQ="$WORK/poll-request-1.1.xml"
"$TARGET_DIR/release/examples/gen_message" 1.1 "$SIZE" "$MSG"
"$TARGET_DIR/release/examples/gen_message" 1.1 request "$REQ"

# (c) criterion
STARTED=$(date +%s)
if [[ "${SKIP_CRITERION:-0}" != 1 ]]; then
  say "criterion: cargo bench --bench scan ${CRITERION_ARGS:-}"
  set +e
  # shellcheck disable=SC2086
  timeout 600 cargo bench --quiet --bench scan -- ${CRITERION_ARGS:-} 2>&1 |
    tee "$WORK/criterion.log" | grep -E '^[a-z].*time:|thrpt:  \[[0-9.]+ [KMG]?B/s'
  status=${PIPESTATUS[0]}
  set -e
  if [[ $status != 0 ]]; then
    tail -n 40 "$WORK/criterion.log" >&2
    echo "cargo bench failed (exit $status)" >&2
    exit "$status"
  fi
fi

# (d) the same file through the Rust scan and through libtaxii
say "Rust scan_body on $MSG ($ITERATIONS iterations)"
RUST_LINE=$(timeout 300 "$TARGET_DIR/release/examples/scan_file" "$MSG" "$ITERATIONS")
echo "$RUST_LINE"

say "libtaxii messages_11.get_message_from_xml on the same file ($RUNS runs)"
LIBTAXII_LINE=$(timeout 600 "$VENV/bin/python" - "$MSG" "$RUNS" "$REQ" <<'PY'
import statistics, sys, time

import libtaxii.messages_11 as tm11
import libtaxii.taxii_default_query  # noqa: F401  registers the Default Query deserializer

path, runs, req_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = open(path, "rb").read()
times = []
blocks = None
for _ in range(runs):
    t = time.perf_counter()
    msg = tm11.get_message_from_xml(data)
    times.append(time.perf_counter() - t)
    blocks = len(msg.content_blocks)
    del msg
med = statistics.median(times)
req = open(req_path, "rb").read()
req_times = []
for _ in range(200):
    t = time.perf_counter()
    tm11.get_message_from_xml(req)
    req_times.append(time.perf_counter() - t)
print("libtaxii bytes=%d blocks=%d runs=%d median_s=%.6f min_s=%.6f mb_per_s=%.1f request_median_us=%.1f"
      % (len(data), blocks, runs, med, min(times), len(data) / med / 1e6,
         statistics.median(req_times) * 1e6))
PY
)
echo "$LIBTAXII_LINE"

# (e) summary
say "summary (MB = 10^6 bytes; medians on a shared, noisy machine)"
"$VENV/bin/python" - "$TARGET_DIR/criterion" "$RUST_LINE" "$LIBTAXII_LINE" "$STARTED" <<'PY'
import json, os, sys

crit, rust_line, lt_line, started = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
parse = lambda line: dict(kv.split("=", 1) for kv in line.split()[1:])
rust, lt = parse(rust_line), parse(lt_line)
if rust["blocks"] != lt["blocks"]:
    sys.exit("content block counts differ: rust %s, libtaxii %s" % (rust["blocks"], lt["blocks"]))

print("criterion (cargo bench --bench scan), median:")
request_ns = None
for label, path in [("1 KB poll request", "request/poll_1.1_1KB"),
                    ("1 MB poll response", "response/poll_1.1/1MB"),
                    ("10 MB poll response", "response/poll_1.1/10MB"),
                    ("100 MB poll response", "response/poll_1.1/100MB")]:
    try:
        est = json.load(open(os.path.join(crit, path, "new", "estimates.json")))
        bench = json.load(open(os.path.join(crit, path, "new", "benchmark.json")))
    except OSError:
        print("  %-22s (not run)" % label)
        continue
    nbytes = list(bench["throughput"].values())[0]
    ns = est["median"]["point_estimate"]
    when = os.path.getmtime(os.path.join(crit, path, "new", "estimates.json"))
    stale = "  [from an earlier run]" if when < started else ""
    if path.startswith("request/"):
        request_ns = ns
    print("  %-22s %10.1f MB/s  (%d bytes, %.3f ms)%s"
          % (label, nbytes / ns * 1e3, nbytes, ns / 1e6, stale))

r, l = float(rust["mb_per_s"]), float(lt["mb_per_s"])
print("same file (%s bytes, %s content blocks):" % (rust["bytes"], rust["blocks"]))
print("  rust scan_body           %10.1f MB/s  (median of %s)" % (r, rust["iterations"]))
print("  libtaxii get_message_... %10.1f MB/s  (median of %s)" % (l, lt["runs"]))
print("  ratio rust/libtaxii      %10.1f x" % (r / l))
lt_us = float(lt["request_median_us"])
if request_ns:
    print("1 KB poll request: rust %.1f us, libtaxii %.0f us per message, ratio %.0f x"
          % (request_ns / 1e3, lt_us, lt_us * 1e3 / request_ns))
else:
    print("1 KB poll request: libtaxii %.0f us per message" % lt_us)
PY
