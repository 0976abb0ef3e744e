#!/usr/bin/env bash
# Load benchmark of the gateway, loopback only, bounded in time: about 2 minutes once the release
# build is up to date (each extra ROUND adds about 100 s; a build after source changes, 2-4 min).
#
#   bash benches/load.sh          # as root: installs wrk and nginx if missing
#
# Part 1, requests/s and latency of small TAXII 1.1 polls (a ~1 KB Poll_Request, POSTed by wrk
# with the binding's X-TAXII-* headers) through, in one run and against the same upstream:
#   direct       the embedded sample upstream (`taxii-gateway sample-upstream`), no proxy
#   passthrough  a plain Pingora proxy, same binary and routes (`taxii-gateway run --passthrough`)
#   nginx        nginx as a plain reverse proxy (keepalive to the upstream, access log off)
#   gateway      `taxii-gateway run`: request scan, response scan, re-framing (no admin
#                listener, so no metrics; no audit log)
#   gateway-ops  the same with the operations on: metrics counted for an admin listener (and
#                its upstream probe), one hash-chained audit record per exchange to a file
#                (queue `block`: no record dropped); its ratio to `gateway` is their cost
#   gateway-rules  the plain gateway with a virtual feed: the poll names `community-indicators`,
#                rewritten to the upstream's `indicators` on the way in and back in the answer
#                (both bodies spliced); its ratio to `gateway` is the cost of rewriting
# Two answers are measured: `poll-1k` (no content block matches: a ~0.6 KB Poll_Response) and
# `poll-1k+block` (one STIX block: a ~6.6 KB Poll_Response). Each target is warmed up, then
# loaded for DURATION seconds; ratios are to the passthrough. `CPU us/req` is the CPU time of the
# serving process (the upstream for `direct`, the proxy otherwise: nginx's workers) per request,
# from /proc/PID/stat: on cores shared with wrk it is a far steadier comparison than requests/s.
#
# Part 2, a ~1 GB Poll_Response (examples/gen_message) streamed through a fresh gateway process
# (curl to /dev/null), its RSS sampled from /proc/PID/status (VmRSS every 50 ms, VmHWM at the
# end). The sample upstream builds every answer whole in memory, so this answer is a static file
# served by nginx as the origin (a POST to a static file: `error_page 405 =200 $uri`), routed as
# /services/poll-big. The passthrough streams the same file first, as the throughput baseline.
#
# Fairness: all of this shares the machine's cores (2 here) with the load generator, so the
# figures are relative, not absolute. Every proxy gets the same number of worker threads
# (PROXY_THREADS, default 1: nginx `worker_processes 1`, Pingora `threads = 1`), so that each is
# bound by one core and the ratio compares CPU per request; wrk runs one thread (WRK_THREADS) with
# CONNS connections, the same for every target; the sample upstream (2 threads) is the same
# process for all of them. Requests/s move by up to ±30 % between rounds when anything else runs
# (the script warns when the CPUs are busy before it starts): use ROUNDS=3 for medians.
#
# Environment: DURATION (10 s), WARMUP (2 s), CONNS (32), WRK_THREADS (1), PROXY_THREADS (1),
# ROUNDS (1), SCENARIOS ("poll-1k poll-1k+block"), BIG_BYTES (1000000000, 0 skips part 2),
# NO_BUILD=1 (use target/release as it is), KEEP_TMP=1 (keep the logs and configs).
#
# Everything listens on 127.0.0.1 on free ports; every process started here is stopped on exit.

set -euo pipefail

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-32}
WRK_THREADS=${WRK_THREADS:-1}
PROXY_THREADS=${PROXY_THREADS:-1}
ROUNDS=${ROUNDS:-1}
SCENARIOS=${SCENARIOS:-"poll-1k poll-1k+block"}
BIG_BYTES=${BIG_BYTES:-1000000000}
TARGETS=${TARGETS:-"direct passthrough nginx gateway gateway-ops gateway-rules"}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
START=$SECONDS

log() { printf '[load %3ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Tools and build
# ---------------------------------------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing ${need[*]} (install them, or run as root)"
    log "installing ${need[*]}"
    apt-get update -qq
    # policy-rc.d exit 101: the nginx package must not start its own service on port 80.
    own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    [ "$own_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if [ "${NO_BUILD:-0}" != 1 ]; then
    log "cargo build --release (binary and examples/gen_message)"
    cargo build --release --quiet --bin taxii-gateway
    [ "$BIG_BYTES" = 0 ] || cargo build --release --quiet --example gen_message
fi
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release/taxii-gateway
GEN=$TARGET_DIR/release/examples/gen_message
[ -x "$BIN" ] || die "no $BIN"

# ---------------------------------------------------------------------------------------------
# Processes: every one started here is stopped on exit
# ---------------------------------------------------------------------------------------------
TMP=$(mktemp -d /tmp/taxii-load.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        # Pingora: SIGINT is its fast stop; nginx master: SIGTERM is its fast stop.
        kill -INT "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        rm -f "$TMP"/poll-big.xml
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

USED_PORTS=" "
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        case $USED_PORTS in *" $p "*) continue ;; esac
        # Free when nothing answers a connection there.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            USED_PORTS="$USED_PORTS$p "
            echo "$p"
            return
        fi
    done
}

wait_port() { # PORT NAME PID
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$3" 2>/dev/null || die "$2 exited; see $TMP/$2.log: $(tail -5 "$TMP/$2.log" 2>/dev/null)"
        sleep 0.1
    done
    die "$2 not listening on 127.0.0.1:$1"
}

UP_PORT=$(free_port)
PT_PORT=$(free_port)
GW_PORT=$(free_port)
NGX_PORT=$(free_port)
ORIGIN_PORT=$(free_port)
BIG_GW_PORT=$(free_port)
OPS_PORT=$(free_port)
RULES_PORT=$(free_port)
ADMIN_PORT=$(free_port)

# One gateway configuration, used by the passthrough (which ignores the limits) and the gateway.
# The XML limits are raised for part 2 only in effect: a 1 GB answer is above the 64 MiB
# message limit and holds more than 2 M elements; limits cost nothing per request below them.
write_config() { # PORT FILE
    cat > "$2" <<EOF
[server]
threads = $PROXY_THREADS
grace_period_seconds = 0
graceful_shutdown_timeout_seconds = 1
pid_file = "$TMP/pingora-$1.pid"

[[listener]]
address = "127.0.0.1:$1"

[[upstream]]
name = "sample"
url = "http://127.0.0.1:$UP_PORT"
connect_timeout_ms = 1000
read_timeout_ms = 10000

[[upstream]]
name = "origin"
url = "http://127.0.0.1:$ORIGIN_PORT"
connect_timeout_ms = 1000
read_timeout_ms = 30000

[[route]]
path = "/services/discovery"
upstream = "sample"

[[route]]
path = "/services/feed-management"
upstream = "sample"

[[route]]
path = "/services/poll"
upstream = "sample"

[[route]]
path = "/services/inbox"
upstream = "sample"

[[route]]
path = "/services/poll-big"
upstream = "origin"
dialects = ["1.1"]

[xml_limits]
max_total_bytes = 4294967296
max_elements = 1000000000
EOF
}

cat > "$TMP/nginx.conf" <<EOF
user root;
worker_processes $PROXY_THREADS;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx-body;
    proxy_temp_path $TMP/nginx-proxy;
    fastcgi_temp_path $TMP/nginx-fastcgi;
    uwsgi_temp_path $TMP/nginx-uwsgi;
    scgi_temp_path $TMP/nginx-scgi;
    keepalive_requests 1000000;
    upstream sample {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    # nginx as a plain reverse proxy in front of the sample upstream.
    server {
        listen 127.0.0.1:$NGX_PORT;
        location / {
            proxy_pass http://sample;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
    # Part 2's origin: the pre-generated ~1 GB Poll_Response as a static file, for POSTs too.
    server {
        listen 127.0.0.1:$ORIGIN_PORT;
        location = /services/poll-big {
            alias $TMP/poll-big.xml;
            default_type application/xml;
            error_page 405 =200 \$uri;
            add_header X-TAXII-Content-Type urn:taxii.mitre.org:message:xml:1.1 always;
            add_header X-TAXII-Protocol urn:taxii.mitre.org:protocol:http:1.0 always;
            add_header X-TAXII-Services urn:taxii.mitre.org:services:1.1 always;
        }
    }
}
EOF

start() { # NAME PORT CMD...
    local name=$1 port=$2
    shift 2
    RUST_LOG=${RUST_LOG:-warn} "$@" >"$TMP/$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait_port "$port" "$name" "$pid"
    eval "PID_${name//-/_}=$pid"
    log "$name on 127.0.0.1:$port (pid $pid)"
}

write_config "$GW_PORT" "$TMP/gateway.toml"
write_config "$PT_PORT" "$TMP/passthrough.toml"
write_config "$BIG_GW_PORT" "$TMP/gateway-big.toml"
write_config "$RULES_PORT" "$TMP/gateway-rules.toml"
cat >> "$TMP/gateway-rules.toml" <<EOF

[[feed]]
public = "community-indicators"
upstream = "sample"
name = "indicators"
EOF
write_config "$OPS_PORT" "$TMP/gateway-ops.toml"
cat >> "$TMP/gateway-ops.toml" <<EOF

[admin]
address = "127.0.0.1:$ADMIN_PORT"

[audit]
file = "$TMP/audit.jsonl"
when_full = "block"
EOF
"$BIN" check --config "$TMP/gateway.toml" >/dev/null || die "the benchmark configuration does not load"

start upstream "$UP_PORT" "$BIN" sample-upstream --listen "127.0.0.1:$UP_PORT" --advertise "http://127.0.0.1:$UP_PORT"
start passthrough "$PT_PORT" "$BIN" run --config "$TMP/passthrough.toml" --passthrough
start gateway "$GW_PORT" "$BIN" run --config "$TMP/gateway.toml"
start gateway-ops "$OPS_PORT" "$BIN" run --config "$TMP/gateway-ops.toml"
start gateway-rules "$RULES_PORT" "$BIN" run --config "$TMP/gateway-rules.toml"
start nginx "$NGX_PORT" "$NGINX" -p "$TMP" -e "$TMP/nginx-error.log" -c "$TMP/nginx.conf"

url_of() {
    case $1 in
        direct) echo "http://127.0.0.1:$UP_PORT" ;;
        passthrough) echo "http://127.0.0.1:$PT_PORT" ;;
        nginx) echo "http://127.0.0.1:$NGX_PORT" ;;
        gateway) echo "http://127.0.0.1:$GW_PORT" ;;
        gateway-ops) echo "http://127.0.0.1:$OPS_PORT" ;;
        gateway-rules) echo "http://127.0.0.1:$RULES_PORT" ;;
        gateway-big) echo "http://127.0.0.1:$BIG_GW_PORT" ;;
        origin) echo "http://127.0.0.1:$ORIGIN_PORT" ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# The requests
# ---------------------------------------------------------------------------------------------
NS11=http://taxii.mitre.org/messages/taxii_xml_binding-1.1
STIX111=urn:stix.mitre.org:xml:1.1.1
HEADERS=(
    "Content-Type: application/xml"
    "Accept: application/xml"
    "X-TAXII-Content-Type: urn:taxii.mitre.org:message:xml:1.1"
    "X-TAXII-Accept: urn:taxii.mitre.org:message:xml:1.1"
    "X-TAXII-Protocol: urn:taxii.mitre.org:protocol:http:1.0"
    "X-TAXII-Services: urn:taxii.mitre.org:services:1.1"
)

# A ~1 KB 1.1 Poll_Request (shaped like the demo generator's) for COLLECTION in (BEGIN, END].
# The sample feed `indicators` holds 12 blocks labelled 00:01 .. 00:12 on 2014-05-08.
poll_request() { # COLLECTION BEGIN END
    cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<taxii_11:Poll_Request xmlns:taxii_11="$NS11" xmlns:tdq="http://taxii.mitre.org/query/taxii_default_query-1" message_id="urn:uuid:6f1f3c1e-0d3a-4c55-8a4e-1a2b3c4d5e70" collection_name="$1">
  <taxii_11:Exclusive_Begin_Timestamp>$2</taxii_11:Exclusive_Begin_Timestamp>
  <taxii_11:Inclusive_End_Timestamp>$3</taxii_11:Inclusive_End_Timestamp>
  <taxii_11:Poll_Parameters allow_asynch="false">
    <taxii_11:Response_Type>FULL</taxii_11:Response_Type>
    <taxii_11:Content_Binding binding_id="$STIX111"/>
    <taxii_11:Query format_id="urn:taxii.mitre.org:query:default:1.0">
      <tdq:Default_Query targeting_expression_id="$STIX111">
        <tdq:Criteria operator="OR">
          <tdq:Criterion negate="false">
            <tdq:Target>STIX_Package/STIX_Header/Description</tdq:Target>
            <tdq:Test capability_id="urn:taxii.mitre.org:query:capability:regex-1" relationship="matches">
              <tdq:Parameter name="value">.*</tdq:Parameter>
            </tdq:Test>
          </tdq:Criterion>
        </tdq:Criteria>
      </tdq:Default_Query>
    </taxii_11:Query>
  </taxii_11:Poll_Parameters>
</taxii_11:Poll_Request>
EOF
}

scenario_body() {
    case $1 in
        poll-1k) poll_request indicators 2014-05-08T00:12:00Z 2014-05-08T01:00:00Z ;;
        poll-1k+block) poll_request indicators 2014-05-08T00:00:00Z 2014-05-08T00:01:00Z ;;
        *) die "unknown scenario $1" ;;
    esac
}
scenario_blocks() { case $1 in poll-1k) echo 0 ;; poll-1k+block) echo 1 ;; esac; }

write_lua() { # BODYFILE LUAFILE
    {
        echo 'wrk.method = "POST"'
        for h in "${HEADERS[@]}"; do
            printf 'wrk.headers["%s"] = "%s"\n' "${h%%: *}" "${h#*: }"
        done
        printf 'wrk.body = [==[%s]==]\n' "$(cat "$1")"
        cat <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKRESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
EOF
    } > "$2"
}

# One curl, checked: HTTP 200, 1.1 headers, a Poll_Response with BLOCKS content blocks.
check_poll() { # TARGET BODYFILE BLOCKS
    local args=() h out code
    for h in "${HEADERS[@]}"; do args+=(-H "$h"); done
    out=$TMP/check-$1.xml
    code=$(curl -sS -o "$out" -D "$out.head" -w '%{http_code}' "${args[@]}" \
        --data-binary "@$2" "$(url_of "$1")/services/poll") || die "$1: curl failed"
    [ "$code" = 200 ] || die "$1: HTTP $code: $(head -c 400 "$out")"
    grep -qi '^X-TAXII-Content-Type: urn:taxii.mitre.org:message:xml:1.1' "$out.head" \
        || die "$1: no 1.1 X-TAXII-Content-Type in the answer"
    grep -q '<taxii_11:Poll_Response ' "$out" || die "$1: not a Poll_Response: $(head -c 400 "$out")"
    if [ "$1" = gateway-rules ]; then
        grep -q 'collection_name="community-indicators"' "$out" || die "$1: the answer is not under the public name"
    fi
    local n
    n=$(grep -c '<taxii_11:Content_Block>' "$out" || true)
    [ "$n" = "$3" ] || die "$1: $n content blocks, expected $3"
    wc -c < "$out"
}

# ---------------------------------------------------------------------------------------------
# Part 1: requests/s and latency
# ---------------------------------------------------------------------------------------------
# CPU time (clock ticks) of the processes that serve a target: the sample upstream for
# `direct`, the proxy process otherwise (nginx: its workers). Per request, it compares the
# proxies' cost far less noisily than requests/s on shared cores.
serving_pids() {
    case $1 in
        direct) echo "$PID_upstream" ;;
        passthrough) echo "$PID_passthrough" ;;
        gateway) echo "$PID_gateway" ;;
        gateway-ops) echo "$PID_gateway_ops" ;;
        gateway-rules) echo "$PID_gateway_rules" ;;
        nginx) pgrep -P "$(cat "$TMP/nginx.pid")" | tr '\n' ' ' ;;
    esac
}
ticks_of() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo "$t"; }
HZ=$(getconf CLK_TCK)

us() { awk -v u="$1" 'BEGIN { if (u >= 1000) printf "%.2f ms", u / 1000; else printf "%.0f us", u }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# Other work on the machine (a build, tests) skews every figure: look for it over one second.
busy=$({ head -1 /proc/stat; sleep 1; head -1 /proc/stat; } | awk '
    { idle = $5 + $6; total = 0; for (i = 2; i <= NF; i++) total += $i }
    NR == 1 { i0 = idle; t0 = total } NR == 2 { printf "%.0f", 100 * (1 - (idle - i0) / (total - t0)) }')
if [ "$busy" -gt 10 ]; then
    log "WARNING: the CPUs were ${busy} % busy before the benchmark: other work on this machine skews the figures"
fi
log "wrk -t$WRK_THREADS -c$CONNS, ${WARMUP}s warm-up + ${DURATION}s per target, $ROUNDS round(s); proxies: $PROXY_THREADS worker thread(s); $(nproc) cores"
REPORT=$TMP/report.txt
: > "$REPORT"
for sc in $SCENARIOS; do
    body=$TMP/$sc.xml
    scenario_body "$sc" > "$body"
    write_lua "$body" "$TMP/$sc.lua"
    # gateway-rules: the same poll under the public name.
    sed 's/collection_name="indicators"/collection_name="community-indicators"/' "$body" > "$TMP/$sc-rules.xml"
    write_lua "$TMP/$sc-rules.xml" "$TMP/$sc-rules.lua"
    body_of() { if [ "$1" = gateway-rules ]; then echo "$TMP/$sc-rules.xml"; else echo "$body"; fi; }
    lua_of() { if [ "$1" = gateway-rules ]; then echo "$TMP/$sc-rules.lua"; else echo "$TMP/$sc.lua"; fi; }
    size=""
    for t in $TARGETS; do size=$(check_poll "$t" "$(body_of "$t")" "$(scenario_blocks "$sc")"); done
    req_bytes=$(wc -c < "$body")
    log "$sc: ${req_bytes}-byte Poll_Request, ${size}-byte Poll_Response (HTTP 200, checked on every target)"
    : > "$TMP/$sc.results"
    for round in $(seq "$ROUNDS"); do
        for t in $TARGETS; do
            url=$(url_of "$t")/services/poll
            wrk -t"$WRK_THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$(lua_of "$t")" "$url" >/dev/null
            pids=$(serving_pids "$t")
            # shellcheck disable=SC2086
            ticks0=$(ticks_of $pids)
            out=$(wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 5s -s "$(lua_of "$t")" "$url")
            # shellcheck disable=SC2086
            ticks1=$(ticks_of $pids)
            line=$(grep '^WRKRESULT' <<<"$out") || die "$t: no wrk result: $out"
            read -r _ n dur p50 p99 sockerr staterr <<<"$line"
            rps=$(awk -v n="$n" -v d="$dur" 'BEGIN { printf "%.0f", n / (d / 1e6) }')
            cpu=$(awk -v a="$ticks0" -v b="$ticks1" -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.1f", (b - a) / hz * 1e6 / n }')
            echo "$t $rps $p50 $p99 $sockerr $staterr $cpu" >> "$TMP/$sc.results"
            log "$sc round $round $t: $rps req/s, p50 $(us "$p50"), p99 $(us "$p99"), ${cpu} us CPU/req, errors: $sockerr socket, $staterr HTTP status"
            [ "$staterr" = 0 ] || log "WARNING: $t answered $staterr non-2xx/3xx statuses under load"
        done
    done
    # The answer is still a 200 Poll_Response after the load.
    for t in $TARGETS; do check_poll "$t" "$(body_of "$t")" "$(scenario_blocks "$sc")" >/dev/null; done
    base=$(awk '$1 == "passthrough" { print $2 }' "$TMP/$sc.results" | median)
    base_cpu=$(awk '$1 == "passthrough" { print $7 }' "$TMP/$sc.results" | median)
    {
        echo
        echo "## $sc: ${req_bytes} B Poll_Request -> ${size} B Poll_Response; wrk -t$WRK_THREADS -c$CONNS ${DURATION}s; $ROUNDS round(s), medians"
        printf '%-12s %10s %10s %10s %14s %12s %14s %7s\n' target "req/s" p50 p99 "vs passthrough" "CPU us/req" "vs passthrough" errors
        for t in $TARGETS; do
            rps=$(awk -v t="$t" '$1 == t { print $2 }' "$TMP/$sc.results" | median)
            p50=$(awk -v t="$t" '$1 == t { print $3 }' "$TMP/$sc.results" | median)
            p99=$(awk -v t="$t" '$1 == t { print $4 }' "$TMP/$sc.results" | median)
            cpu=$(awk -v t="$t" '$1 == t { print $7 }' "$TMP/$sc.results" | median)
            errs=$(awk -v t="$t" '$1 == t { s += $5 + $6 } END { print s + 0 }' "$TMP/$sc.results")
            rps=$(printf '%.0f' "$rps")
            cpu=$(printf '%.1f' "$cpu")
            printf '%-12s %10s %10s %10s %14s %12s %14s %7s\n' "$t" "$rps" "$(us "$p50")" "$(us "$p99")" \
                "$(awk -v a="$rps" -v b="$base" 'BEGIN { printf "%.2f", a / b }')" "$cpu" \
                "$(awk -v a="$cpu" -v b="$base_cpu" 'BEGIN { printf "%.2f", a / b }')" "$errs"
        done
        # What a feature costs: its target against the plain gateway, in the same run.
        gw=$(awk '$1 == "gateway" { print $2 }' "$TMP/$sc.results" | median)
        gw_cpu=$(awk '$1 == "gateway" { print $7 }' "$TMP/$sc.results" | median)
        for t in $TARGETS; do
            case $t in gateway-*) ;; *) continue ;; esac
            rps=$(awk -v t="$t" '$1 == t { print $2 }' "$TMP/$sc.results" | median)
            cpu=$(awk -v t="$t" '$1 == t { print $7 }' "$TMP/$sc.results" | median)
            printf '%s vs gateway: %s of its req/s, %s of its CPU per request\n' "$t" \
                "$(awk -v a="$rps" -v b="$gw" 'BEGIN { printf "%.2f", a / b }')" \
                "$(awk -v a="$cpu" -v b="$gw_cpu" 'BEGIN { printf "%.2f", a / b }')"
        done
    } >> "$REPORT"
done

# ---------------------------------------------------------------------------------------------
# Part 2: peak RSS of the gateway while a ~1 GB Poll_Response streams through it
# ---------------------------------------------------------------------------------------------
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

stream_big() { # TARGET PID -> "bytes seconds code maxrss_kb cpu_s"
    local args=() h pid=$2 max=0 rss ticks0 ticks1 hz
    for h in "${HEADERS[@]}"; do args+=(-H "$h"); done
    hz=$(getconf CLK_TCK)
    ticks0=$(cpu_ticks "$pid")
    curl -sS -o /dev/null -w '%{size_download} %{time_total} %{http_code}\n' "${args[@]}" \
        --data-binary "@$TMP/poll-big-request.xml" "$(url_of "$1")/services/poll-big" \
        >"$TMP/big-$1.curl" 2>&1 &
    local cpid=$!
    while kill -0 "$cpid" 2>/dev/null; do
        rss=$(status_kb "$pid" VmRSS)
        [ "${rss:-0}" -gt "$max" ] && max=$rss
        sleep 0.05
    done
    wait "$cpid" || die "$1: curl failed: $(cat "$TMP/big-$1.curl")"
    ticks1=$(cpu_ticks "$pid")
    echo "$(cat "$TMP/big-$1.curl") $max $(awk -v a="$ticks0" -v b="$ticks1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')"
}

if [ "$BIG_BYTES" != 0 ]; then
    [ -x "$GEN" ] || die "no $GEN (cargo build --release --example gen_message)"
    log "generating a ${BIG_BYTES}-byte Poll_Response (examples/gen_message, about 10 s)"
    "$GEN" 1.1 "$BIG_BYTES" "$TMP/poll-big.xml" 2>"$TMP/gen.log" || die "gen_message: $(cat "$TMP/gen.log")"
    big_size=$(wc -c < "$TMP/poll-big.xml")
    poll_request demo-indicators 2014-05-08T00:00:00Z 2014-05-09T00:00:00Z > "$TMP/poll-big-request.xml"
    start gateway-big "$BIG_GW_PORT" "$BIN" run --config "$TMP/gateway-big.toml"
    {
        echo
        echo "## ${big_size} B Poll_Response ($(sed 's/.*bytes, //' "$TMP/gen.log")) streamed to curl > /dev/null"
        printf '%-24s %5s %8s %10s %10s %10s %10s\n' via HTTP "MB/s" "CPU s/GB" "idle RSS" "peak RSS" "(VmHWM)"
    } >> "$REPORT"
    # Origin alone first (also brings the file into the page cache), then the passthrough, then
    # a fresh gateway process that has served nothing else.
    cat "$TMP/poll-big.xml" > /dev/null
    for t in origin passthrough gateway-big; do
        case $t in
            origin) pid=$(cat "$TMP/nginx.pid") ; name="nginx origin (direct)" ;;
            passthrough) pid=$PID_passthrough ; name="passthrough" ;;
            gateway-big) pid=$PID_gateway_big ; name="gateway (fresh process)" ;;
        esac
        idle=$(status_kb "$pid" VmRSS)
        if [ "$t" = origin ]; then
            # The nginx master does no work; the origin's worker is its child.
            pid=$(pgrep -P "$pid" | head -1)
            idle=$(status_kb "$pid" VmRSS)
        fi
        read -r bytes secs code peak cpu <<<"$(stream_big "$t" "$pid")"
        hwm=$(status_kb "$pid" VmHWM)
        [ "$code" = 200 ] || die "$t: HTTP $code for the big poll"
        [ "$bytes" = "$big_size" ] || die "$t: $bytes bytes received, $big_size expected (cut or refused?)"
        mbs=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.0f", b / s / 1e6 }')
        cpugb=$(awk -v c="$cpu" -v b="$bytes" 'BEGIN { printf "%.2f", c / (b / 1e9) }')
        log "big poll via $t: $bytes bytes in ${secs}s, HTTP $code, peak VmRSS $(mib "$peak"), VmHWM $(mib "$hwm")"
        [ "$hwm" -gt "$peak" ] && peak=$hwm
        printf '%-24s %5s %8s %10s %10s %10s %10s\n' "$name" "$code" "$mbs" "$cpugb" "$(mib "$idle")" "$(mib "$peak")" "$(mib "$hwm")" >> "$REPORT"
    done
    rm -f "$TMP/poll-big.xml"
fi

if [ -f "$TMP/audit.jsonl" ]; then
    records=$(wc -l < "$TMP/audit.jsonl")
    "$BIN" audit verify "$TMP/audit.jsonl" >/dev/null || die "the audit log written under load does not verify"
    echo "gateway-ops wrote $records audit records; audit verify: ok" >> "$REPORT"
fi

echo
echo "# taxii-gateway load benchmark: $(nproc) cores shared by wrk/curl and the servers; loopback; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# proxies: $PROXY_THREADS worker thread(s) each; sample upstream: 2 threads; nginx $("$NGINX" -v 2>&1 | sed 's|.*/||')"
echo "# source: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown); CPUs ${busy} % busy before the start"
cat "$REPORT"
log "done in $((SECONDS - START)) s"
