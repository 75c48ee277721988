#!/usr/bin/env bash
# Builds the programs of a real Kubernetes node for the e2e suite from Go
# modules, at pinned versions, into a cache that later runs reuse (like
# e2e/controlplane/build-binaries.sh, and with the same Go module and build
# caches, so kubelet reuses most of the control plane's compiled packages):
#   kubelet, kube-scheduler      k8s.io/kubernetes (cmd/...), the apiserver's version
#   containerd, ctr,
#   containerd-shim-runc-v2      github.com/containerd/containerd/v2 (Kubernetes 1.36 needs containerd 2)
#   runc                         github.com/opencontainers/runc (cgo, libseccomp-dev)
#   pause                        the sandbox's pause program, k8s.io/kubernetes build/pause/linux/pause.c (gcc, static)
# CNI plugins come from Debian's containernetworking-plugins (/usr/lib/cni).
# Prints the bin directory on stdout; progress goes to stderr.
set -euo pipefail

K8S_VERSION="${ENVICUTOR_K8S_VERSION:-v1.36.3}"
CONTAINERD_VERSION="${ENVICUTOR_CONTAINERD_VERSION:-v2.4.2}"
RUNC_VERSION="${ENVICUTOR_RUNC_VERSION:-v1.5.3}"
CACHE="${ENVICUTOR_CACHE:-$HOME/.cache/envicutor}"
OUT="$CACHE/node/k8s-$K8S_VERSION-containerd-$CONTAINERD_VERSION-runc-$RUNC_VERSION-r1"
BIN="$OUT/bin"
ALL=(kubelet kube-scheduler containerd ctr containerd-shim-runc-v2 runc pause)

have_all() {
  local b
  for b in "${ALL[@]}"; do [[ -x "$BIN/$b" ]] || return 1; done
}
if have_all; then
  echo "$BIN"
  exit 0
fi
# --check: only say whether the cache holds them (the e2e test skips, loudly, when not).
if [[ "${1:-}" == "--check" ]]; then
  echo "build-node: not built yet in $BIN (run scripts/setup.sh)" >&2
  exit 3
fi

command -v go >/dev/null || { echo "build-node: Go is required to build the node" >&2; exit 1; }
mkdir -p "$BIN"
# One build at a time (two set-ups at once would remove each other's work tree);
# whoever waited finds the binaries built.
exec 9>"$OUT/.build.lock"
flock 9
if have_all; then
  echo "$BIN"
  exit 0
fi
export GOFLAGS="-mod=mod -buildvcs=false"
log() { echo "[node] $*" >&2; }
# go build into a temp name, then rename: an interrupted build never looks complete.
gobuild() {
  local out="$1"
  shift
  go build -trimpath -o "$BIN/$out.tmp" "$@" >&2
  mv "$BIN/$out.tmp" "$BIN/$out"
}

build_kubernetes() {
  log "building kubelet and kube-scheduler $K8S_VERSION (first run only)"
  local work="$OUT/k8s-mod"
  rm -rf "$work"
  mkdir -p "$work"
  (
    cd "$work"
    go mod init envicutor.local/k8s-node >/dev/null 2>&1
    # k8s.io/kubernetes replaces its staging modules with local paths; pin each
    # to the matching v0.x release (as build-binaries.sh does).
    local modfile
    modfile="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
    grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$modfile" |
      awk -v v="v0${K8S_VERSION#v1}" '{print "replace " $1 " => " $1 " " v}' >>go.mod
    go get "k8s.io/kubernetes@$K8S_VERSION" >&2
    local minor="${K8S_VERSION#v1.}" ldflags="-s -w" pkg cmd
    minor="${minor%%.*}"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    done
    for cmd in kubelet kube-scheduler; do
      [[ -x "$BIN/$cmd" ]] || CGO_ENABLED=0 gobuild "$cmd" -ldflags "$ldflags" "k8s.io/kubernetes/cmd/$cmd"
    done
  )
}

build_containerd() {
  log "building containerd, ctr and containerd-shim-runc-v2 $CONTAINERD_VERSION (first run only)"
  local work="$OUT/containerd-mod" m=github.com/containerd/containerd/v2
  rm -rf "$work"
  mkdir -p "$work"
  (
    cd "$work"
    go mod init envicutor.local/containerd >/dev/null 2>&1
    go get "$m@$CONTAINERD_VERSION" >&2
    local ldflags="-s -w -X $m/version.Version=$CONTAINERD_VERSION -X $m/version.Revision=module"
    # No btrfs/devmapper/zfs snapshotters (cgo and headers); overlayfs and native remain.
    local tags="no_btrfs no_devmapper no_zfs"
    CGO_ENABLED=0 gobuild containerd -tags "$tags" -ldflags "$ldflags" "$m/cmd/containerd"
    CGO_ENABLED=0 gobuild ctr -tags "$tags" -ldflags "$ldflags" "$m/cmd/ctr"
    CGO_ENABLED=0 gobuild containerd-shim-runc-v2 -tags "$tags" -ldflags "$ldflags" "$m/cmd/containerd-shim-runc-v2"
  )
}

build_runc() {
  log "building runc $RUNC_VERSION (first run only; cgo with libseccomp)"
  local work="$OUT/runc-mod"
  rm -rf "$work"
  mkdir -p "$work"
  (
    cd "$work"
    go mod init envicutor.local/runc >/dev/null 2>&1
    go get "github.com/opencontainers/runc@$RUNC_VERSION" >&2
    CGO_ENABLED=1 gobuild runc -tags seccomp -ldflags "-s -w -X main.version=${RUNC_VERSION#v}" github.com/opencontainers/runc
  )
}

build_pause() {
  log "building pause from k8s.io/kubernetes@$K8S_VERSION build/pause"
  local src
  src="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')/build/pause/linux/pause.c"
  gcc -Os -Wall -Werror -static -DVERSION="$K8S_VERSION" -o "$BIN/pause.tmp" "$src"
  mv "$BIN/pause.tmp" "$BIN/pause"
}

# (if, not ||: set -e does not apply inside a function called as a condition)
if [[ ! -x "$BIN/kubelet" || ! -x "$BIN/kube-scheduler" ]]; then build_kubernetes; fi
if [[ ! -x "$BIN/containerd" || ! -x "$BIN/ctr" || ! -x "$BIN/containerd-shim-runc-v2" ]]; then build_containerd; fi
if [[ ! -x "$BIN/runc" ]]; then build_runc; fi
if [[ ! -x "$BIN/pause" ]]; then build_pause; fi
have_all || { echo "build-node: incomplete build in $BIN" >&2; exit 1; }
echo "$BIN"
