#!/usr/bin/env bash
# A signed file:// binary cache of the stand-in package set, for tests: the
# same substitution path as production with a real cache (nix-build with
# --option substituters file://... --option trusted-public-keys ...).
#
#   nix/pkgs/make-binary-cache.sh [-f PACKAGE-SET.nix] DIR [ATTR...]
#
# (default package set: nix/pkgs; default attrs: all its packages)
# Writes DIR/secret.key + DIR/public.key (generated once), DIR/cache (the
# cache), and prints one JSON line: {"url":..., "publicKey":..., "paths":[...]}.
# The build's out-links are removed afterwards, so the store paths stay
# collectable (tests delete them to force substitution).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
set_file="$here"
if [[ "${1:-}" == "-f" ]]; then
  set_file="$2"
  shift 2
fi
dir="$(mkdir -p "$1" && cd "$1" && pwd)"
shift
attrs=("$@")
((${#attrs[@]})) || attrs=(bash coreutils python3 nodejs gcc busyboxStatic)

if [[ ! -f "$dir/secret.key" ]]; then
  nix-store --generate-binary-cache-key envicutor-test-cache-1 "$dir/secret.key" "$dir/public.key"
fi

args=()
for a in "${attrs[@]}"; do args+=(-A "$a"); done
roots="$dir/build-roots"
rm -rf "$roots"
mkdir -p "$roots"
mapfile -t paths < <(nix-build "$set_file" "${args[@]}" --out-link "$roots/result")

# Sign in the local store too, then copy the closures; the narinfo files carry
# the signatures that --option trusted-public-keys checks on the other side.
nix --extra-experimental-features nix-command store sign --recursive --key-file "$dir/secret.key" "${paths[@]}"
nix --extra-experimental-features nix-command copy --to "file://$dir/cache?compression=zstd" "${paths[@]}"
rm -rf "$roots"

printf '{"url":"file://%s/cache","publicKey":"%s","paths":[' "$dir" "$(cat "$dir/public.key")"
sep=""
for p in "${paths[@]}"; do
  printf '%s"%s"' "$sep" "$p"
  sep=","
done
printf ']}\n'
