#!/usr/bin/env bash
# A signed file:// binary cache of the stand-in package set, for tests: the
# same substitution path as production with a real cache (nix-build with
# --option substituters file://... --option trusted-public-keys ...).
#
#   nix/pkgs/make-binary-cache.sh DIR [ATTR...]      (default attrs: all packages)
#
# Writes DIR/secret.key + DIR/public.key (generated once), DIR/cache (the
# cache), and prints one JSON line: {"url":..., "publicKey":..., "paths":[...]}.
# The build's out-links are removed afterwards, so the store paths stay
# collectable (tests delete them to force substitution).
set -euo pipefail
dir="$(mkdir -p "$1" && cd "$1" && pwd)"
shift
here="$(cd "$(dirname "$0")" && pwd)"
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
mapfile -t paths < <(nix-build "$here" "${args[@]}" --out-link "$roots/result")

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
