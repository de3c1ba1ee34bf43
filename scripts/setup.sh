#!/usr/bin/env bash
# Installs what GreenLane needs on this machine and builds it: npm packages (only when the lock
# file changed), Debian packages and the Kafka jars (infra/infra.sh install), then the TypeScript.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v node >/dev/null || { echo "Node.js 20 is required: sudo apt-get install -y nodejs npm" >&2; exit 1; }
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
  { echo "Node.js 20 or newer is required (found $(node --version))" >&2; exit 1; }

stamp=$(sha256sum package-lock.json | cut -c1-16)
if [ "$(cat node_modules/.greenlane-lock-stamp 2>/dev/null)" != "$stamp" ]; then
  echo "[setup] installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$stamp" >node_modules/.greenlane-lock-stamp
fi
bash infra/infra.sh install
echo "[setup] building" >&2
npx tsc -b
# The live web map's page: bundled by esbuild, basemap clipped from its npm package (liveops-web/README.md).
node liveops-web/scripts/build-page.mjs
