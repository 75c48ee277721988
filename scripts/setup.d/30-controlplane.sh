#!/usr/bin/env bash
# etcd, kube-apiserver, kube-controller-manager and kubectl built from Go modules (cached).
set -euo pipefail
if [[ -n "${ENVICUTOR_E2E_KUBECONFIG:-}" ]]; then exit 0; fi
bash e2e/controlplane/build-binaries.sh >/dev/null
