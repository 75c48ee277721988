#!/usr/bin/env bash
# Builds the real control plane used by the e2e suite from Go modules, at pinned
# versions, into a cache that later runs reuse:
#   etcd                     go.etcd.io/etcd/server/v3
#   kube-apiserver,
#   kube-controller-manager,
#   kubectl                  k8s.io/kubernetes (cmd/...)
# k8s.io/kubernetes cannot be `go install`ed directly (its go.mod replaces the
# staging modules with local paths), so we build it from a throwaway module that
# pins each staging module to the matching v0.x release.
set -euo pipefail

K8S_VERSION="${ENVICUTOR_K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${ENVICUTOR_ETCD_VERSION:-v3.6.16}"
CACHE="${ENVICUTOR_CACHE:-$HOME/.cache/envicutor}"
OUT="$CACHE/controlplane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-r2"
BIN="$OUT/bin"

built() { [[ -x "$BIN/kube-apiserver" && -x "$BIN/kube-controller-manager" && -x "$BIN/etcd" && -x "$BIN/kubectl" ]]; }
if built; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null || { echo "build-binaries: Go is required to build the control plane" >&2; exit 1; }
mkdir -p "$BIN"
# One build at a time: a second run (another test command started meanwhile)
# would remove the module directory the first one is building in.
exec 9>"$OUT/.build.lock"
flock 9
if built; then
  echo "$BIN"
  exit 0
fi
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0

log() { echo "[controlplane] $*" >&2; }

# etcd: its server module has a main package at its root.
if [[ ! -x "$BIN/etcd" ]]; then
  log "building etcd $ETCD_VERSION (first run only)"
  work="$OUT/etcd-mod"; rm -rf "$work"; mkdir -p "$work"
  (cd "$work" && go mod init envicutor.local/etcd >/dev/null 2>&1 \
    && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2 \
    && go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3 >&2)
  mv "$BIN/etcd.tmp" "$BIN/etcd"
fi

if [[ ! -x "$BIN/kube-apiserver" || ! -x "$BIN/kube-controller-manager" || ! -x "$BIN/kubectl" ]]; then
  log "building kube-apiserver, kube-controller-manager and kubectl $K8S_VERSION (first run only, several minutes)"
  work="$OUT/k8s-mod"; rm -rf "$work"; mkdir -p "$work"
  cd "$work"
  go mod init envicutor.local/k8s >/dev/null 2>&1
  modfile="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
  staging_version="v0${K8S_VERSION#v1}"
  # Every `k8s.io/x => ./staging/src/k8s.io/x` becomes `k8s.io/x => k8s.io/x v0.N.M`.
  grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$modfile" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}' >> go.mod
  go get "k8s.io/kubernetes@$K8S_VERSION" >&2
  # Stamp the version the way Kubernetes' own build does, so /version and kubectl report it.
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  for cmd in kube-apiserver kube-controller-manager kubectl; do
    go build -trimpath -ldflags "$ldflags" -o "$BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" >&2
    mv "$BIN/$cmd.tmp" "$BIN/$cmd"
  done
fi
echo "$BIN"
