#!/usr/bin/env bash
# Builds the seed corpus of the `scan` fuzz target in fuzz/corpus/scan (gitignored) from the
# shared fixtures: every message of draft1/, 1.0/, 1.1/ and bad/, each behind the 4-byte HTTP
# context prefix the target reads (see fuzz_targets/scan.rs):
#   - no HTTP context (byte 0 = 0): the body alone decides, as `inspect` does;
#   - a POST with the headers of the fixture's dialect (bad/ gets the 1.1 headers);
#   - a POST with the headers of another dialect (a dialect mismatch);
# plus a few Draft 1 GETs (query, NUL, empty body). The `stream` target gets the same messages
# in fuzz/corpus/stream behind its 3-byte prefix (piece sizes, hold limit).
# Usage: fuzz/seed.sh [FIXTURES_DIR]   (default: $TAXII_FIXTURES, else ../shared/fixtures beside
# the repository)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
fixtures=${1:-${TAXII_FIXTURES:-$here/../../shared/fixtures}}
out=$here/corpus/scan
[ -d "$fixtures" ] || { echo "seed.sh: no fixtures at $fixtures" >&2; exit 1; }
stream=$here/corpus/stream
mkdir -p "$out" "$stream" "$here/corpus/writer"

# byte 0: method (0 none, 1 GET, 2 POST); byte 1: Content-Type | X-TAXII-Content-Type << 4;
# byte 2: X-TAXII-Protocol | X-TAXII-Services << 4; byte 3: small limits (0x7f: roomy).
prefix_none='\x00\x00\x00\x7f'
prefix_draft1='\x02\x11\x01\x7f' # application/xml, TAXII_1.0/TAXII_XML_BINDING_1.0, TAXII_HTTP_BINDING_1.0
prefix_v10='\x02\x31\x15\x7f'    # ..., urn:...:message:xml:1.0, urn:...:protocol:http:1.0, services:1.0
prefix_v11='\x0a\x41\x26\x7f'    # HTTPS; ..., message:xml:1.1, protocol:https:1.0, services:1.1

seed() { # name prefix file
  { printf "$2"; cat "$3"; } >"$out/$1"
}

n=0
for dir in draft1 1.0 1.1 bad; do
  [ -d "$fixtures/$dir" ] || continue
  case $dir in
    draft1) own=$prefix_draft1 other=$prefix_v11 ;;
    1.0) own=$prefix_v10 other=$prefix_draft1 ;;
    *) own=$prefix_v11 other=$prefix_v10 ;;
  esac
  for f in "$fixtures/$dir"/*.xml; do
    [ -e "$f" ] || continue
    base=$dir-$(basename "$f" .xml)
    seed "$base-none" "$prefix_none" "$f"
    seed "$base-post" "$own" "$f"
    seed "$base-mismatch" "$other" "$f"
    { printf '\x06\x20\x00'; cat "$f"; } >"$stream/$base-pieces"     # pieces of 7 and 33 bytes
    { printf '\x3f\x00\xff'; cat "$f"; } >"$stream/$base-small-hold" # 64 and 1, hold 524 bytes
    n=$((n + 5))
  done
done

# Draft 1 GETs: TAXII_HTTPS_BINDING_1.0, the query, NUL, no body.
get() { # name query
  { printf '\x01\x00\x02\x7f'; printf '%s' "$2"; printf '\x00'; } >"$out/$1"
  n=$((n + 1))
}
get get-discovery 'message_type=discovery_request&message_id=a84798beffe840ee3722c893288bd375&x-acme-tlp=GREEN'
get get-feed-information 'message_type=FEED_INFORMATION_REQUEST&message_id=a847%2D98be'
get get-repeated 'message_type=discovery_request&message_id=1&message_id=2'
get get-bad-percent 'message_type=discovery_request&message_id=a%4&x=%FF'

echo "seed.sh: $n inputs in $out and $stream"
