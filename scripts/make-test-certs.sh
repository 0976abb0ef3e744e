#!/usr/bin/env bash
# TEST-ONLY certificates for the example configurations and the test suite: a CA, a server
# certificate for 127.0.0.1 / ::1 / localhost, and partner client certificates. Never use
# them outside tests: the private keys are committed on purpose.
# Usage: scripts/make-test-certs.sh [DIR]   (default config/tls; needs openssl)
#        ONLY="gamma ..." scripts/make-test-certs.sh [DIR]   issues only the named leaf
#        certificates with the CA already in DIR, leaving every other file as it is.
set -euo pipefail
dir=${1:-$(cd "$(dirname "$0")/.." && pwd)/config/tls}
mkdir -p "$dir"
cd "$dir"
days=3650
only=${ONLY:-}
wanted() { [ -z "$only" ] || [[ " $only " == *" $1 "* ]]; }
if [ -z "$only" ]; then
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days $days \
  -subj "/O=taxii-gateway TEST ONLY/CN=taxii-gateway test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout ca.key -out ca.crt 2>/dev/null
fi
issue() { # name subject san extendedKeyUsage
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$2" \
    -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s' "$4" "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days $days \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
! wanted server || issue server "/O=taxii-gateway TEST ONLY/CN=localhost" "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" serverAuth
! wanted partner-alpha || issue partner-alpha "/O=Alpha TEST ONLY/CN=alpha" "" clientAuth
# Partner gamma of policies/opentaxii.toml, matched by its SHA-256 fingerprint.
! wanted gamma || issue gamma "/O=Gamma TEST ONLY/CN=gamma" "" clientAuth
rm -f ca.srl
cat > README.md <<'MD'
# TEST-ONLY TLS material

Made by `scripts/make-test-certs.sh`. The private keys are committed on purpose, for the example
configurations and the test suite; **never use them outside tests**.

| file | what |
|---|---|
| `ca.crt`, `ca.key` | the test CA |
| `server.crt`, `server.key` | the gateway's (and test upstreams') certificate: localhost, 127.0.0.1, ::1 |
| `partner-alpha.crt`, `partner-alpha.key` | a partner's client certificate (CN=alpha) |
| `gamma.crt`, `gamma.key` | partner gamma's client certificate (CN=gamma), named by its SHA-256 fingerprint in `policies/opentaxii.toml` |
MD
echo "test-only certificates written to $dir" >&2
