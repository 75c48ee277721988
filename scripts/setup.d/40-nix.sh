#!/usr/bin/env bash
# Nix for Runtime installs (single-user, root, local store) with the build
# sandbox ON, for nix/pkgs' stand-in package set (this machine reaches no Nix
# cache and no nixpkgs; see nix/README.md).
# Idempotent: quick when everything is already in place.
set -euo pipefail

# The Debian packages (Nix, and what nix/pkgs repackages) come from 20-apt.sh.

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

# nix.conf: sandbox on (Debian ships it off) and never silently off
# (sandbox-fallback), builds as the nixbld users; no default substituter, since
# cache.nixos.org is unreachable here and every command would wait on retries.
# Installs pass their own --option substituters / trusted-public-keys, and
# force sandbox / sandbox-fallback / build-users-group themselves too (the
# agent runs packages' setup hooks in this sandbox, see src/agent/nix/hook-sandbox.ts).
conf=/etc/nix/nix.conf
want='# Written by envicutor scripts/setup.d/40-nix.sh (edit there).
build-users-group = nixbld
sandbox = true
sandbox-fallback = false
substituters =
experimental-features = nix-command'
mkdir -p /etc/nix
if [[ "$(cat "$conf" 2>/dev/null)" != "$want" ]]; then
  [[ -f "$conf" && ! -f "$conf.orig" ]] && cp "$conf" "$conf.orig"
  printf '%s\n' "$want" >"$conf"
  echo "[setup] wrote $conf (sandbox = true)" >&2
fi
