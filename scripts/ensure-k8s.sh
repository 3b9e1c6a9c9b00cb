#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries the cluster tests need (kube-apiserver,
# kube-controller-manager, kube-scheduler, v1.20.2) from Debian's `kubernetes` source package,
# once, and caches them outside the repo. Also installs etcd-server. Prints the binary folder.
#   bash scripts/ensure-k8s.sh             # build what is missing, print the bin folder
#   KTS_K8S_CACHE=/path bash scripts/ensure-k8s.sh
#   KTS_K8S_EXTRA=kubelet bash scripts/ensure-k8s.sh   # also the Go kubelet, for side-by-side benchmarks
# A build of all three takes about 10 minutes on 2 cores; later runs take a second.
set -euo pipefail

cache="${KTS_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubelet-ts/k8s-v1.20.2}"
bin="$cache/bin"
targets=(kube-apiserver kube-controller-manager kube-scheduler)
# Extra cmd/ targets from the same source, space-separated (the benchmarks' Go kubelet); the tests need none.
read -r -a extra <<<"${KTS_K8S_EXTRA:-}"
targets+=("${extra[@]}")
log="$cache/build.log"
mkdir -p "$cache"

need_pkgs=()
for p in etcd-server golang-go rsync jq dpkg-dev; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    need_pkgs+=("$p")
  fi
done

missing=()
for t in "${targets[@]}"; do
  [ -x "$bin/$t" ] || missing+=("$t")
done

if [ "${#missing[@]}" = 0 ] && ! [[ " ${need_pkgs[*]} " == *" etcd-server "* ]]; then
  echo "$bin"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "ensure-k8s: need root to install ${need_pkgs[*]} and build ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive

# deb-src entry: the same archive as the deb entries, for `apt-get source`.
src_list=/etc/apt/sources.list.d/kubelet-ts-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  cat > "$src_list" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  need_update=1
else
  need_update=0
fi

if [ "${#need_pkgs[@]}" != 0 ] || [ "$need_update" = 1 ]; then
  echo "ensure-k8s: apt-get update" >&2
  apt-get update -qq >"$cache/apt-update.log" 2>&1 || { tail -5 "$cache/apt-update.log" >&2; exit 1; }
fi
if [ "${#need_pkgs[@]}" != 0 ]; then
  echo "ensure-k8s: installing ${need_pkgs[*]}" >&2
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1
  fi
  if ! apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >"$cache/apt-install.log" 2>&1; then
    [ "$own_policy" = 1 ] && rm -f "$policy"
    echo "ensure-k8s: apt-get install failed; see $cache/apt-install.log" >&2
    tail -10 "$cache/apt-install.log" >&2
    exit 1
  fi
  [ "$own_policy" = 1 ] && rm -f "$policy"
fi

if [ "${#missing[@]}" = 0 ]; then
  echo "$bin"
  exit 0
fi

src="$cache/src"
tree="$src/kubernetes-1.20.2"
if [ ! -f "$tree/Makefile" ]; then
  mkdir -p "$src"
  (
    cd "$src"
    if ! ls kubernetes_*.orig.tar.gz >/dev/null 2>&1; then
      echo "ensure-k8s: downloading Debian's kubernetes source package" >&2
      apt-get source --download-only kubernetes >"$cache/apt-source.log" 2>&1 || { tail -5 "$cache/apt-source.log" >&2; exit 1; }
    fi
    orig=$(ls kubernetes_*.orig.tar.gz | head -1)
    rm -rf unpack && mkdir unpack
    tar -C unpack -xzf "$orig"
    top=$(ls unpack | head -1)
    rm -rf "$tree"
    mv "unpack/$top" "$tree"
    rmdir unpack
  )
fi

cd "$tree"
mkdir -p .go/src/k8s.io
[ -e .go/src/k8s.io/kubernetes ] || ln -s ../../.. .go/src/k8s.io/kubernetes
mkdir -p "$bin"
for t in "${missing[@]}"; do
  echo "ensure-k8s: building $t (a few minutes on 2 cores; log $log)" >&2
  if ! GOPATH="$tree/.go" GOCACHE="$cache/gocache" CGO_ENABLED=0 GOFLAGS=-mod=vendor \
      make WHAT="cmd/$t" >>"$log" 2>&1; then
    echo "ensure-k8s: building $t failed; last lines of $log:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
  built=$(find "$tree/_output" -type f -name "$t" -perm -u+x | head -1)
  [ -n "$built" ] || { echo "ensure-k8s: $t not found under _output after the build" >&2; exit 1; }
  install -m 0755 "$built" "$bin/$t"
done
echo "$bin"
