#!/usr/bin/env bash
# helm, built from its Go module (cached); the chart e2e test lints, renders and applies the chart with it.
set -euo pipefail
bash scripts/build-helm.sh >/dev/null
