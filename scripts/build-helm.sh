#!/usr/bin/env bash
# Builds the helm CLI from its Go module (helm.sh/helm/v3) at a pinned version
# into a cache that later runs reuse, and prints the directory holding `helm`:
#   ~/.cache/envicutor/helm/<version>/bin
# The version is stamped the way helm's own Makefile does, so `helm version`
# and the Kubernetes version `helm lint`/`helm template` assume are right.
set -euo pipefail

HELM_VERSION="${ENVICUTOR_HELM_VERSION:-v3.22.0}"
CACHE="${ENVICUTOR_CACHE:-$HOME/.cache/envicutor}"
BIN="$CACHE/helm/$HELM_VERSION/bin"

if [[ -x "$BIN/helm" ]]; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null || { echo "build-helm: Go is required to build helm" >&2; exit 1; }
mkdir -p "$BIN"
# One build at a time (set-ups started together built it twice); whoever
# waited finds it built.
exec 9>"$BIN/../.build.lock"
flock 9
if [[ -x "$BIN/helm" ]]; then
  echo "$BIN"
  exit 0
fi
echo "[helm] building helm $HELM_VERSION from helm.sh/helm/v3 (first run only)" >&2
started=$SECONDS

# helm's Makefile derives the default Kubernetes version from its client-go
# dependency (v0.N.M → 1.N); read it from the module's go.mod.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
gomod="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "helm.sh/helm/v3@$HELM_VERSION" \
  | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
client_go="$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$gomod")"
k8s_minor="$(echo "$client_go" | cut -d. -f2)"

ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
if [[ -n "$k8s_minor" ]]; then
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
  done
fi

# go install of a module at a version builds it with its own go.mod (helm has no
# replace directives); GOBIN puts the binary straight into the cache.
(cd "$work" && CGO_ENABLED=0 GOFLAGS="-buildvcs=false" GOBIN="$work/bin" \
  go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2)
mv "$work/bin/helm" "$BIN/helm"
echo "[helm] built $("$BIN/helm" version --short) in $((SECONDS - started))s" >&2
echo "$BIN"
