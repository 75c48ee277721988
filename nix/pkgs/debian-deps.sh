#!/usr/bin/env bash
# Maintainer helper: which Debian packages provide the shared libraries that the
# ELF files of the given Debian packages need (what to list in default.nix).
#   nix/pkgs/debian-deps.sh python3.11-minimal libpython3.11-stdlib
set -euo pipefail
for pkg in "$@"; do dpkg -L "$pkg"; done | sort -u | while read -r f; do
  [[ -f "$f" && ! -L "$f" ]] || continue
  [[ "$(head -c 4 "$f" 2>/dev/null | od -An -c | tr -d ' ')" == '177ELF' ]] || continue
  ldd "$f" 2>/dev/null | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
  real="$(readlink -f "$lib")"
  dpkg -S "$lib" 2>/dev/null || dpkg -S "${lib/#\/lib\//\/usr\/lib\/}" 2>/dev/null || dpkg -S "$real" 2>/dev/null || echo "?: $lib"
done | cut -d: -f1 | sort -u
