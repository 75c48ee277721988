#!/usr/bin/env bash
# npm packages, including the pinned Node 24 the project's scripts run on
# (the `node` package puts node_modules/.bin/node first on npm scripts' PATH).
set -euo pipefail
stamp=node_modules/.package-lock.json
if [[ ! -f "$stamp" || package-lock.json -nt "$stamp" ]]; then
  echo "[setup] installing npm packages" >&2
  # Some npm 11 releases leave other platforms' optional packages (e.g. biome's
  # android builds) out of the lock and then refuse `npm ci`; `npm install`
  # installs the same locked versions.
  npm ci --no-audit --no-fund >&2 2>/dev/null || npm install --no-audit --no-fund >&2
fi
node_major="$(node_modules/.bin/node -p 'process.versions.node.split(".")[0]')"
[[ "$node_major" == "24" ]] || { echo "[setup] expected Node 24 in node_modules/.bin, got $node_major" >&2; exit 1; }
