#!/usr/bin/env bash
# Stops an OpenTAXII started by start.sh: SIGTERM to the gunicorn master, then, after a grace
# period, SIGKILL to its whole process group (master and workers).
#
# Usage: tests/interop/stop.sh --run DIR [--rm]   the server of that run folder (DIR/server.pid);
#                                                 --rm: then delete DIR (only a start.sh run folder)
#        tests/interop/stop.sh PID                the INTEROP_PID start.sh printed
#        --grace S                                seconds between SIGTERM and SIGKILL (default 10)
# Exit 0 when nothing of that server is left (also when it was not running).
set -euo pipefail
pid= run= rm=0 grace=10
while [ $# -gt 0 ]; do
  case $1 in
    --run) run=$2; shift 2 ;;
    --rm) rm=1; shift ;;
    --grace) grace=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    ''|*[!0-9]*) echo "stop.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    *) pid=$1; shift ;;
  esac
done
say() { echo "interop stop: $*" >&2; }
if [ -z "$pid" ] && [ -n "$run" ] && [ -f "$run/server.pid" ]; then pid=$(cat "$run/server.pid"); fi
if [ -z "$pid" ] && [ -n "$run" ] && [ -f "$run/gunicorn.pid" ]; then pid=$(cat "$run/gunicorn.pid"); fi

alive() { kill -0 "$pid" 2>/dev/null; }
group_alive() { kill -0 -- "-$pid" 2>/dev/null; }
if [ -n "$pid" ]; then
  # Never signal a recycled pid: it must still be a gunicorn (or its group must exist).
  if alive && ! tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q gunicorn; then
    say "pid $pid is not a gunicorn: left alone"; exit 1
  fi
  if alive || group_alive; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((grace * 10))); do
      alive || group_alive || break
      sleep 0.1
    done
    if alive || group_alive; then
      say "pid $pid still running after ${grace}s: SIGKILL to its group"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
    if alive || group_alive; then say "pid $pid survived SIGKILL"; exit 1; fi
    say "stopped OpenTAXII (pid $pid)"
  fi
fi
[ -n "$run" ] && rm -f "$run/server.pid"
if [ "$rm" = 1 ] && [ -n "$run" ] && [ -d "$run" ]; then
  if [ -f "$run/opentaxii.yml" ] && [ -f "$run/sync.log" ]; then rm -rf -- "$run"; else say "$run is not a run folder: left in place"; fi
fi
exit 0
