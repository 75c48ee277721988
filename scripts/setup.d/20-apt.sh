#!/usr/bin/env bash
# Every Debian package the project needs, in one place, installed only when missing:
#   nix-bin                      Nix, for Runtime installs
#   patchelf, busybox-static,    what nix/pkgs (the offline stand-in for nixpkgs)
#   python3.11, gcc-12, g++-12,  assembles its packages from
#   nodejs
#   openssl                      test tooling
#   iproute2, nftables           networked boxes: namespaces, veth pairs, their rules
#   keyutils                     keyctl: the agent clears a box user's keyrings after each run
#   qemu-system-x86,             a cgroup v2 guest for the isolate 2.x --cg tests (e2e/vm; this
#   linux-image-amd64            machine is cgroup v1): qemu and the guest's kernel
#   libseccomp-dev               runc's seccomp support (cgo), built by e2e/node/build-node.sh
#   containernetworking-plugins  CNI plugins (bridge, host-local, loopback) of the e2e node
#   umoci                        builds the OCI images the e2e node runs (images/build.sh)
set -euo pipefail
packages=(nix-bin patchelf busybox-static python3.11 gcc-12 g++-12 nodejs openssl iproute2 keyutils nftables qemu-system-x86 linux-image-amd64 libseccomp-dev containernetworking-plugins umoci)
need=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
((${#need[@]})) || exit 0
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "[setup] missing Debian packages: ${need[*]} (install them with: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "[setup] apt-get install ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A new machine often has another apt running (unattended upgrades, a second
# install): wait for its lock for up to 20 minutes instead of failing at once.
lock=(-o DPkg::Lock::Timeout=1200)
apt-get "${lock[@]}" update -qq >&2
apt-get "${lock[@]}" install -y -qq "${need[@]}" >&2
