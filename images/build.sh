#!/usr/bin/env bash
# Builds the controller and agent images (and the node's pause image) without a
# Docker daemon or a registry: the same file system images/Containerfile gives,
# assembled from Debian packages (`apt-get download` + dpkg-deb, no maintainer
# scripts), this checkout (tsc → dist/, the production node_modules, Node 24
# from node_modules/node), and written as OCI archives with umoci.
#
#   images/build.sh [controller] [agent] [pause]
#
# Environment:
#   ENVICUTOR_IMAGE_TAG      tag (default: package.json's version, the chart's appVersion)
#   ENVICUTOR_IMAGE_REPO     repository prefix (default ghcr.io/envicutor, what the chart names)
#   ENVICUTOR_IMAGE_OUT      where the archives go (default ~/.cache/envicutor/images/out)
#   ISOLATE_FROM             agent: a root holding usr/local/bin/isolate and usr/local/etc/isolate
#                            (this project never builds isolate: see README "Install on a cluster")
#   PAUSE_BIN                pause: the static pause program (e2e/node/build-node.sh builds it)
# Prints one line per image: "<reference> <archive>". The Debian base of each
# image is cached (keyed by its packages' versions) in ~/.cache/envicutor/images.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${ENVICUTOR_CACHE:-$HOME/.cache/envicutor}/images"
OUT="${ENVICUTOR_IMAGE_OUT:-$CACHE/out}"
REPO="${ENVICUTOR_IMAGE_REPO:-ghcr.io/envicutor}"
TAG="${ENVICUTOR_IMAGE_TAG:-$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$ROOT/package.json")}"
log() { echo "[images] $*" >&2; }

# What Node 24 needs, and on top of it what the agent runs (as nix/images/agent.nix):
# Nix, mount/umount, keyctl, ip, nft, coreutils, bash.
CONTROLLER_DEBS=(libc6 libgcc-s1 libstdc++6 ca-certificates tzdata)
AGENT_DEBS=("${CONTROLLER_DEBS[@]}" nix-bin bash dash coreutils mount util-linux keyutils iproute2 nftables libcap2-bin)

# Every package the given ones need (Depends and Pre-Depends, recursively), as name=version.
deb_closure() {
  local names
  mapfile -t names < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances "$@" 2>/dev/null | grep -E '^[a-z0-9]' | sort -u)
  # Virtual packages have no candidate and drop out.
  apt-cache policy "${names[@]}" 2>/dev/null |
    awk '/^[^ ].*:$/ { p = substr($0, 1, length($0) - 1) } $1 == "Candidate:" && $2 != "(none)" { print p "=" $2 }' |
    sort -u
}

# A root file system of Debian packages, unpacked (merged /usr, as bookworm installs it). Prints its dir.
debian_rootfs() {
  local name="$1"
  shift
  local pkgs key dir debs
  mapfile -t pkgs < <(deb_closure "$@")
  key="$(printf '%s\n' "${pkgs[@]}" | sha256sum | cut -c1-16)"
  dir="$CACHE/rootfs-$name-$key"
  if [[ ! -f "$dir.done" ]]; then
    log "$name base: ${#pkgs[@]} Debian packages"
    debs="$CACHE/debs"
    mkdir -p "$debs"
    (cd "$debs" && apt-get download -qq "${pkgs[@]}" >&2)
    rm -rf "$dir"
    mkdir -p "$dir/usr/bin" "$dir/usr/sbin" "$dir/usr/lib" "$dir/usr/lib64"
    for l in bin sbin lib lib64; do ln -s "usr/$l" "$dir/$l"; done
    for p in "${pkgs[@]}"; do
      local v="${p#*=}"
      local f=("$debs/${p%%=*}_${v//:/%3a}_"*.deb)
      dpkg-deb --fsys-tarfile "${f[0]}" | tar -x --keep-directory-symlink -C "$dir"
    done
    rm -rf "$dir/usr/share/doc" "$dir/usr/share/man" "$dir/usr/share/info" "$dir/usr/share/locale"
    mkdir -p "$dir/tmp" "$dir/var/tmp" "$dir/root" "$dir/run" "$dir/etc/ssl/certs"
    chmod 1777 "$dir/tmp" "$dir/var/tmp"
    # ca-certificates' bundle is made by its maintainer script, which dpkg-deb does not run.
    cat "$dir"/usr/share/ca-certificates/*/*.crt >"$dir/etc/ssl/certs/ca-certificates.crt"
    ldconfig -r "$dir"
    touch "$dir.done"
  fi
  echo "$dir"
}

# /app: dist/ (tsc), package.json and the production node_modules of this checkout.
app_tree() {
  local dir="$1"
  mkdir -p "$dir/app/node_modules" "$dir/usr/local/bin"
  # tsc emits even with type errors (npm run typecheck is the gate for those): say so, go on.
  (cd "$ROOT" && node_modules/.bin/tsc -p tsconfig.build.json --outDir "$dir/app/dist" --sourceMap false >&2) ||
    log "tsc reported errors (above); dist/ was emitted anyway"
  cp "$ROOT/package.json" "$dir/app/"
  # npm ls lists every production package's directory (nested ones too).
  (
    cd "$ROOT"
    npm ls --omit=dev --all --parseable 2>/dev/null | sed 1d | while read -r p; do
      rel="${p#"$ROOT"/}"
      [[ -e "$dir/app/$rel" ]] || cp -a --parents "$rel" "$dir/app/"
    done
  )
  cp "$(readlink -f "$ROOT/node_modules/node/bin/node")" "$dir/usr/local/bin/node"
}

# root, nonroot (the controller's 65532) and Nix's build users: nixbld1-32
# (uids 30001-32, group nixbld 30000, as nix/images/agent.nix), or, with
# NIX_USERS_FROM=/etc, the nixbld users and group of that passwd and group
# (a node whose /nix is also used by its own Nix: Nix sets the store's group
# to the build group it knows).
passwd_files() {
  local dir="$1" i
  mkdir -p "$dir/etc"
  {
    echo "root:x:0:0:root:/root:/bin/bash"
    echo "nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin"
    if [[ -n "${NIX_USERS_FROM:-}" ]]; then
      grep -E '^nixbld[0-9]+:' "$NIX_USERS_FROM/passwd"
    else
      for i in $(seq 1 32); do echo "nixbld$i:x:$((30000 + i)):30000:Nix build user $i:/var/empty:/usr/sbin/nologin"; done
    fi
  } >"$dir/etc/passwd"
  {
    echo "root:x:0:"
    echo "nonroot:x:65532:"
    if [[ -n "${NIX_USERS_FROM:-}" ]]; then
      grep -E '^nixbld:' "$NIX_USERS_FROM/group"
    else
      echo "nixbld:x:30000:$(seq -s, -f 'nixbld%g' 1 32)"
    fi
  } >"$dir/etc/group"
}

# An OCI layout with one layer per directory given, tagged $TAG; then its archive.
oci_image() {
  local ref="$1" archive="$2" work="$3"
  shift 3
  local layout="$work/layout" layer
  umoci init --layout "$layout"
  umoci new --image "$layout:$TAG"
  for layer in "$@"; do
    umoci insert --history.created_by "images/build.sh: $(basename "$layer")" --image "$layout:$TAG" "$layer" /
  done
  umoci config --image "$layout:$TAG" "${CONFIG[@]}" \
    --config.label "org.opencontainers.image.version=$TAG" \
    --config.label "org.opencontainers.image.source=https://github.com/envicutor/envicutor"
  mkdir -p "$(dirname "$archive")"
  tar -C "$layout" -cf "$archive.tmp" .
  mv "$archive.tmp" "$archive"
  echo "$ref $archive"
}

build_controller() {
  local work base
  work="$(mktemp -d)"
  base="$(debian_rootfs controller "${CONTROLLER_DEBS[@]}")"
  app_tree "$work/app"
  passwd_files "$work/app"
  CONFIG=(--config.user 65532:65532 --config.workingdir /app
    --config.entrypoint /usr/local/bin/node --config.entrypoint dist/controller/main.js
    --config.env PATH=/usr/local/bin:/usr/bin:/bin --config.env NODE_ENV=production
    --config.exposedports 8080/tcp --config.label org.opencontainers.image.title=envicutor-controller)
  oci_image "$REPO/envicutor-controller:$TAG" "$OUT/envicutor-controller-$TAG.oci.tar" "$work" "$base" "$work/app"
  rm -rf "$work"
}

build_agent() {
  local work base
  [[ -x "${ISOLATE_FROM:-}/usr/local/bin/isolate" ]] ||
    { echo "images: agent needs ISOLATE_FROM=<root with usr/local/bin/isolate>" >&2; exit 1; }
  work="$(mktemp -d)"
  base="$(debian_rootfs agent "${AGENT_DEBS[@]}")"
  app_tree "$work/app"
  passwd_files "$work/app"
  mkdir -p "$work/app/usr/local/bin" "$work/app/usr/local/etc" "$work/app/etc/nix" \
    "$work/app/var/lib/envicutor" "$work/app/var/local/lib/isolate"
  cp "$ISOLATE_FROM/usr/local/bin/isolate" "$work/app/usr/local/bin/isolate"
  [[ -f "$ISOLATE_FROM/usr/local/etc/isolate" ]] && cp "$ISOLATE_FROM/usr/local/etc/isolate" "$work/app/usr/local/etc/isolate"
  cp "$ROOT/images/nix.conf" "$work/app/etc/nix/nix.conf"
  cp "$ROOT/images/envicutor-seed-host-store" "$work/app/usr/local/bin/"
  CONFIG=(--config.user 0:0 --config.workingdir /app
    --config.entrypoint /usr/local/bin/node --config.entrypoint dist/agent/main.js
    --config.env PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin --config.env NODE_ENV=production
    --config.env HOME=/root --config.env USER=root
    --config.env ENVICUTOR_ISOLATE_CONFIG=/usr/local/etc/isolate
    --config.exposedports 8081/tcp --config.label org.opencontainers.image.title=envicutor-agent)
  oci_image "$REPO/envicutor-agent:$TAG" "$OUT/envicutor-agent-$TAG.oci.tar" "$work" "$base" "$work/app"
  rm -rf "$work"
}

build_pause() {
  local work
  [[ -x "${PAUSE_BIN:-}" ]] || { echo "images: pause needs PAUSE_BIN=<static pause program>" >&2; exit 1; }
  work="$(mktemp -d)"
  mkdir -p "$work/root"
  cp "$PAUSE_BIN" "$work/root/pause"
  CONFIG=(--config.entrypoint /pause --config.user 65535:65535)
  TAG="${PAUSE_TAG:-$TAG}" oci_image "envicutor.local/pause:${PAUSE_TAG:-$TAG}" "$OUT/pause-${PAUSE_TAG:-$TAG}.oci.tar" "$work" "$work/root"
  rm -rf "$work"
}

(($#)) || set -- controller agent
for image in "$@"; do
  case "$image" in
  controller | agent | pause) "build_$image" ;;
  *) echo "images: unknown image $image (controller, agent, pause)" >&2; exit 2 ;;
  esac
done
