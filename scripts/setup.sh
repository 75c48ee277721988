#!/usr/bin/env bash
# One-step set-up for a fresh machine, run by `npm test`, `npm run demo` and `npm run bench`.
# Idempotent and quick when everything is already there. Each concern lives in
# scripts/setup.d/NN-*.sh, run in order.
set -euo pipefail
cd "$(dirname "$0")/.."
for step in scripts/setup.d/*.sh; do
  bash "$step"
done
