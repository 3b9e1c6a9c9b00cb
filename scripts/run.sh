#!/usr/bin/env bash
# The README's run command. On a fresh machine of this kind (Debian 12, root, Node 20) it installs
# what the runtime layer needs, builds, and starts the main job. Until the kubelet itself lands
# (issue 3) the main job is the runtime layer the kubelet will drive:
#   bash scripts/run.sh                 # private containerd under /var/lib/kubelet-ts, images
#                                       # imported, CRI on unix:///var/lib/kubelet-ts/containerd/containerd.sock
#   bash scripts/run.sh sim-runtime     # the simulated runtime on unix:///run/kubelet-ts/sim.sock
#   bash scripts/run.sh <command> ...   # any kubelet-ts command (see: bash scripts/run.sh help)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build >/dev/null

if [ "$#" = 0 ]; then
  set -- containerd up --state-dir /var/lib/kubelet-ts/containerd
elif [ "$1" = sim-runtime ] && [ "$#" = 1 ]; then
  mkdir -p /run/kubelet-ts
  set -- sim-runtime --listen unix:///run/kubelet-ts/sim.sock --control unix:///run/kubelet-ts/sim-control.sock
fi
exec node dist/src/cli.js "$@"
