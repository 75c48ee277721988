# Builder of the stand-in package set (see default.nix). Runs under a static
# busybox `sh` inside the Nix build sandbox, where only /nix/store exists: it
# copies a tree of Debian files ($src), points every ELF file at the store's
# glibc (interpreter + RUNPATH, with patchelf), adds bin/ entries, and finally
# runs $check, which proves the package works with nothing from /usr or /lib.
set -eu

mkdir_busybox_path() {
  "$busybox" mkdir -p "$TMPDIR/bin"
  for applet in $("$busybox" --list); do
    "$busybox" ln -sf "$busybox" "$TMPDIR/bin/$applet"
  done
  export PATH="$TMPDIR/bin"
}
mkdir_busybox_path

ldso="$glibc/lib/ld-linux-x86-64.so.2"
# patchelf is a Debian binary too: run it through the store's dynamic loader.
patchelf() { "$ldso" --library-path "$patchelfLibs" "$patchelfBin" "$@"; }

mkdir -p "$out"
if [ -n "${src:-}" ]; then
  cp -RP "$src/." "$out/"
  chmod -R u+w "$out"
fi

# merged /usr: absolute symlinks (/lib/x, /usr/lib/x) now point into $out
find "$out" -type l | while read -r link; do
  target="$(readlink "$link")"
  case "$target" in
  /nix/store/*) ;;
  /lib/* | /bin/* | /sbin/* | /lib64/*) ln -sfn "$out/usr$target" "$link" ;;
  /*) ln -sfn "$out$target" "$link" ;;
  esac
done

is_elf() { [ "$(dd if="$1" bs=4 count=1 2>/dev/null)" = "$(printf '\177ELF')" ]; }

rpath="$out/usr/lib/x86_64-linux-gnu:$glibc/lib${extraRpath:+:$extraRpath}"
find "$out" -type f \( -perm -u+x -o -name '*.so' -o -name '*.so.*' \) | while read -r f; do
  is_elf "$f" || continue
  if patchelf --print-interpreter "$f" >/dev/null 2>&1; then
    patchelf --set-interpreter "$ldso" --set-rpath "$rpath" "$f"
  elif patchelf --print-rpath "$f" >/dev/null 2>&1; then
    patchelf --set-rpath "$rpath" "$f"
  fi
done

# bins: "name=relative/target" entries become $out/bin/name -> ../relative/target
if [ -n "${bins:-}" ]; then
  mkdir -p "$out/bin"
  for spec in $bins; do
    ln -sfn "../${spec#*=}" "$out/bin/${spec%%=*}"
  done
fi

# Variables a user of the package needs (convention of this package set,
# read by src/agent/nix): one NAME=VALUE per line.
if [ -n "${envicutorEnv:-}" ]; then
  mkdir -p "$out/nix-support"
  printf '%s\n' $envicutorEnv >"$out/nix-support/envicutor-env"
fi

if [ -n "${postInstall:-}" ]; then eval "$postInstall"; fi

if [ -n "${check:-}" ]; then
  echo "checking $out with nothing but /nix/store"
  eval "$check"
fi
