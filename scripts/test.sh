#!/usr/bin/env bash
# The README's test command. On a fresh machine of this kind (Debian 12, root, Node 20) it
# installs what the tests need (containerd, runc, CNI plugins, busybox-static, umoci via apt;
# npm packages), builds, lints, and runs every test file, containerd ones included.
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh --quick    # no containerd, no cluster: unit tests and the simulated runtime only
#   bash scripts/test.sh FILE...    # given compiled test files (dist/test/...), after a build
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
files=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    *) files+=("$arg") ;;
  esac
done

if [ "$quick" = 0 ]; then
  bash scripts/ensure-deps.sh
  # The cluster suite's control plane (built once, cached outside the repo; about 10 minutes the first time).
  KTS_K8S_BIN=$(bash scripts/ensure-k8s.sh)
  export KTS_K8S_BIN
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build
npm run lint

# The fuzz suite (test/fuzz): thousands of cases in the full run, a few hundred in --quick.
# KTS_FUZZ_SEED=N replays a failing run (each fuzz test prints the seed it used).
if [ "$quick" = 1 ]; then export KTS_FUZZ_SCALE="${KTS_FUZZ_SCALE:-quick}"; else export KTS_FUZZ_SCALE="${KTS_FUZZ_SCALE:-full}"; fi

if [ "${#files[@]}" = 0 ]; then
  if [ "$quick" = 1 ]; then
    mapfile -t files < <(find dist/test -name '*.test.js' ! -path '*/containerd/*' ! -name '*containerd*' ! -path 'dist/test/cluster/*' | sort)
  else
    mapfile -t files < <(find dist/test -name '*.test.js' | sort)
  fi
fi
# One file at a time: the containerd suites each run a private containerd, and two at once on
# two cores only make each other slow.
exec node --test --test-concurrency=1 --test-timeout=600000 "${files[@]}"
