#!/usr/bin/env bash
# A real node for the e2e suite (e2e/node): kubelet and kube-scheduler, containerd 2,
# runc and the sandbox's pause program, built from Go modules (cached in
# ~/.cache/envicutor/node; the first build takes several minutes).
set -euo pipefail
bash e2e/node/build-node.sh >/dev/null
