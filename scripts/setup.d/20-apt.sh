#!/usr/bin/env bash
# Debian packages: Nix (nix-bin) for Runtime installs; openssl for test certificates.
set -euo pipefail
need=()
command -v nix-build >/dev/null || need+=(nix-bin)
command -v openssl >/dev/null || need+=(openssl)
command -v ip >/dev/null || need+=(iproute2)
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "[setup] missing ${need[*]}: install them (Debian: apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "[setup] apt-get install ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need[@]}" >&2
fi
