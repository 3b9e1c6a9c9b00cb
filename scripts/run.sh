#!/usr/bin/env bash
# The README's run command. On a fresh machine of this kind (Debian 12, root, Node 20) it installs
# what is needed, builds, and starts a standalone kubelet-ts node: its own containerd, the example
# static pods in examples/static-pods (a server, a crasher, a pod with init containers, a job),
# HTTPS on :10250 with client-certificate authentication, /healthz on 127.0.0.1:10248.
#   bash scripts/run.sh                 # the standalone node on managed containerd
#   bash scripts/run.sh --embedded-runtime=sim   # ... on the simulated runtime instead
#   bash scripts/run.sh <command> ...   # any kubelet-ts command (see: bash scripts/run.sh help)
# A demo CA and an admin client certificate are made once under /var/lib/kubelet-ts/demo-pki.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build >/dev/null 2>&1 || npm run build

if [ "$#" -gt 0 ] && [ "${1#--}" = "$1" ]; then
  exec node dist/src/cli.js "$@"
fi

pki=/var/lib/kubelet-ts/demo-pki
if [ ! -f "$pki/admin.crt" ]; then
  mkdir -p "$pki" && chmod 700 "$pki"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
    -subj /CN=kubelet-ts-demo-ca -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/O=system:masters/CN=demo-admin" -keyout "$pki/admin.key" -out "$pki/admin.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' > "$pki/admin.ext"
  openssl x509 -req -in "$pki/admin.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial 1 -days 365 \
    -extfile "$pki/admin.ext" -out "$pki/admin.crt" 2>/dev/null
fi
cat <<MSG
kubelet-ts: starting a standalone node with the pods in examples/static-pods. Look at:
  curl -sk --cert $pki/admin.crt --key $pki/admin.key https://127.0.0.1:10250/pods
  curl -sk --cert $pki/admin.crt --key $pki/admin.key https://127.0.0.1:10250/metrics
  curl -sk --cert $pki/admin.crt --key $pki/admin.key https://127.0.0.1:10250/containerLogs/default/web-\$(hostname)/server
  curl -s http://127.0.0.1:10248/healthz
Logs are JSON on stdout. Ctrl-C stops the kubelet; containers keep running and the next start adopts them.
MSG
exec node dist/src/cli.js \
  --pod-manifest-path "$PWD/examples/static-pods" \
  --root-dir /var/lib/kubelet-ts \
  --cert-dir /var/lib/kubelet-ts/pki \
  --client-ca-file "$pki/ca.crt" \
  --authorization-mode AlwaysAllow \
  "$@"
