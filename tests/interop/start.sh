#!/usr/bin/env bash
# Starts a fresh, seeded OpenTAXII 0.9.3 (TAXII 1.0 + 1.1, sqlite) under gunicorn on 127.0.0.1,
# in its own session (process group), and returns once it answers. Used by tests/interop.rs.
#
# Usage: tests/interop/start.sh [--port N|auto] [--domain HOST:PORT] [--run DIR] [--timeout S] [--no-seed]
#   --port N|auto    listen port on 127.0.0.1 (default auto: a free one)
#   --domain H:P     host:port OpenTAXII writes into advertised service addresses; give the
#                    gateway's public listener (default: 127.0.0.1:PORT, the server itself)
#   --run DIR        run folder: opentaxii.yml, sqlite dbs, logs, server.pid (default: mktemp -d);
#                    its databases are wiped at every start
#   --timeout S      readiness wait (default 60)
#   --no-seed        leave the collections empty
#   venv: $INTEROP_VENV, default <repo>/.venv-interop (made by setup.sh)
# Stdout: KEY=VALUE lines, also in <run>/interop.env: INTEROP_PID (gunicorn master, also its
# process group), INTEROP_PORT, INTEROP_URL, INTEROP_DOMAIN, INTEROP_RUN. Stop with stop.sh.
# On any failure, whatever this script started is stopped again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${INTEROP_VENV:-$root/.venv-interop}
port=auto domain= run= timeout=60 seed=1
while [ $# -gt 0 ]; do
  case $1 in
    --port) port=$2; shift 2 ;;
    --domain) domain=$2; shift 2 ;;
    --run) run=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --no-seed) seed=0; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "start.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
say() { echo "interop start: $*" >&2; }
die() { say "$*"; exit 1; }

[ -x "$venv/bin/gunicorn" ] && [ -x "$venv/bin/opentaxii-sync-data" ] \
  || die "no interop venv at $venv: run tests/interop/setup.sh (or scripts/test.sh) first"
py=$venv/bin/python
if [ "$port" = auto ]; then
  port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
case $port in ''|*[!0-9]*) die "bad port '$port'" ;; esac
domain=${domain:-127.0.0.1:$port}
case $domain in *[!A-Za-z0-9.:_-]*|'') die "bad --domain '$domain' (want host:port)" ;; esac
if [ -z "$run" ]; then run=$(mktemp -d -t taxii-interop.XXXXXX); else mkdir -p "$run"; fi
run=$(cd "$run" && pwd)
case $run in *[!A-Za-z0-9._/-]*) die "run folder '$run' must be a plain path (it goes into sqlite URLs)" ;; esac
if [ -f "$run/server.pid" ] && kill -0 "$(cat "$run/server.pid")" 2>/dev/null; then
  die "a server of $run is still running (pid $(cat "$run/server.pid")): stop.sh --run $run"
fi
# Local traffic never goes through a proxy (cabby/requests and urllib read these).
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

sed -e "s|%RUN%|$run|g" -e "s|%DOMAIN%|$domain|g" "$here/opentaxii.yml.in" > "$run/opentaxii.yml"
rm -f "$run"/auth.db "$run"/data.db "$run"/server.pid "$run"/gunicorn.pid "$run"/interop.env
export OPENTAXII_CONFIG=$run/opentaxii.yml
(cd "$run" && "$venv/bin/opentaxii-sync-data" "$here/data-configuration.yml") > "$run/sync.log" 2>&1 \
  || { tail -n 20 "$run/sync.log" >&2; die "opentaxii-sync-data failed (log: $run/sync.log)"; }

ready=0
cleanup() { [ "$ready" = 1 ] || "$here/stop.sh" --run "$run" >&2 || true; }
trap cleanup EXIT
# setsid: gunicorn leads its own process group, so stop.sh can end master and workers together.
# (Started without job control, setsid execs in place: $! is the master.)
(cd "$run" && exec setsid "$venv/bin/gunicorn" opentaxii.http:app \
  --bind "127.0.0.1:$port" --workers 2 --timeout 60 --graceful-timeout 5 --pid "$run/gunicorn.pid" \
  --access-logfile - --error-logfile - > "$run/gunicorn.log" 2>&1 < /dev/null) &
echo $! > "$run/server.pid"

"$py" - "http://127.0.0.1:$port/management/health" "$(cat "$run/server.pid")" "$run/gunicorn.pid" "$timeout" <<'EOF' \
  || { tail -n 30 "$run/gunicorn.log" >&2; die "OpenTAXII did not come up on port $port (log: $run/gunicorn.log)"; }
import os, sys, time, urllib.request
url, launcher, pidfile, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True

deadline = time.time() + limit
while time.time() < deadline:
    try:
        with opener.open(url, timeout=2) as r:
            if b'"alive"' in r.read():
                sys.exit(0)
    except Exception:
        pass
    if not alive(launcher):
        try:
            master = int(open(pidfile).read().strip())
        except (OSError, ValueError):
            master = None
        if master is None or not alive(master):
            sys.exit("gunicorn exited before it was ready")
    time.sleep(0.1)
sys.exit("not ready after %.0f s" % limit)
EOF
master=$(cat "$run/gunicorn.pid" 2>/dev/null || cat "$run/server.pid")
echo "$master" > "$run/server.pid"

if [ "$seed" = 1 ]; then
  "$py" "$here/seed.py" 127.0.0.1 "$port" >&2 || die "seeding failed (server log: $run/gunicorn.log)"
fi
ready=1
{
  echo "INTEROP_PID=$master"
  echo "INTEROP_PORT=$port"
  echo "INTEROP_URL=http://127.0.0.1:$port"
  echo "INTEROP_DOMAIN=$domain"
  echo "INTEROP_RUN=$run"
} | tee "$run/interop.env"
