#!/usr/bin/env bash
# Installs the Debian packages the tests and the run command need, when they are missing.
# Fast and silent when everything is present; one `apt-get update` otherwise. Needs root.
set -euo pipefail

# prometheus: for promtool (tests check /metrics with `promtool check metrics`).
# chromium: headless, for the test that renders the benchmark harness's HTML report.
packages=(containerd runc containernetworking-plugins busybox-static umoci skopeo iproute2 docker-registry openssl prometheus chromium)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" = 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "ensure-deps: missing Debian packages: ${missing[*]}; run as root (or: sudo apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "ensure-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq >/tmp/kts-apt-update.log 2>&1; then
  echo "ensure-deps: apt-get update failed; see /tmp/kts-apt-update.log" >&2
  tail -5 /tmp/kts-apt-update.log >&2
  exit 1
fi
# Packages such as prometheus and docker-registry would start their daemons on install; kubelet-ts
# only wants their binaries, so service starts are refused for the duration of the install.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1
fi
trap 'if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/kts-apt-install.log 2>&1; then
  echo "ensure-deps: apt-get install ${missing[*]} failed; see /tmp/kts-apt-install.log" >&2
  tail -10 /tmp/kts-apt-install.log >&2
  exit 1
fi
echo "ensure-deps: installed ${missing[*]}" >&2
