#!/usr/bin/env bash
# Nix for Runtime installs (single-user, root, local store) with the build
# sandbox ON, plus the Debian packages nix/pkgs assembles its stand-in package
# set from (this machine reaches no Nix cache and no nixpkgs; see nix/README.md).
# Idempotent: quick when everything is already in place.
set -euo pipefail

# Debian packages: Nix itself; patchelf and a static busybox (the package set's
# bootstrap tools); the interpreters and compilers the package set repackages.
need=()
command -v nix-build >/dev/null || need+=(nix-bin)
command -v patchelf >/dev/null || need+=(patchelf)
[[ -x /usr/bin/busybox ]] && ! ldd /usr/bin/busybox >/dev/null 2>&1 || need+=(busybox-static)
[[ -x /usr/bin/python3.11 ]] || need+=(python3.11)
command -v gcc-12 >/dev/null || need+=(gcc-12)
command -v g++-12 >/dev/null || need+=(g++-12)
command -v node >/dev/null || need+=(nodejs)
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

[[ $(id -u) -eq 0 ]] || { echo "[setup] nix: not root, leaving the Nix configuration alone" >&2; exit 0; }

# Build users: the sandbox runs builds as members of nixbld (Debian's nix-bin
# usually creates them; a minimal image may not).
getent group nixbld >/dev/null || groupadd --system nixbld
for i in $(seq 1 10); do
  if ! id "nixbld$i" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /var/empty --shell /usr/sbin/nologin \
      --gid nixbld --groups nixbld --comment "Nix build user $i" "nixbld$i"
  fi
done

# Store and GC-root directories (Nix creates most of them itself on first use;
# the store must be root-owned, group nixbld, sticky).
mkdir -p /nix/store /nix/var/nix/gcroots/auto /nix/var/nix/profiles
chown root:nixbld /nix/store
chmod 1775 /nix/store

# nix.conf: sandbox on (Debian ships it off); no default substituter, since
# cache.nixos.org is unreachable here and every command would wait on retries.
# Installs pass their own --option substituters / trusted-public-keys.
conf=/etc/nix/nix.conf
want='# Written by envicutor scripts/setup.d/40-nix.sh (edit there).
build-users-group = nixbld
sandbox = true
substituters =
experimental-features = nix-command'
mkdir -p /etc/nix
if [[ "$(cat "$conf" 2>/dev/null)" != "$want" ]]; then
  [[ -f "$conf" && ! -f "$conf.orig" ]] && cp "$conf" "$conf.orig"
  printf '%s\n' "$want" >"$conf"
  echo "[setup] wrote $conf (sandbox = true)" >&2
fi
