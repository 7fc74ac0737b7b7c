#!/usr/bin/env bash
# Build and test @norchain/react with the machine's Node.js and npm (no global installs).
set -euo pipefail
cd "$(dirname "$0")"
exec </dev/null
# The declarations use @norchain/sdk's types (a link to ../js): built there first.
if [ ! -f ../js/dist/types/index.d.ts ]; then
  (cd ../js && npm ci --no-audit --no-fund && npm run build)
fi
npm ci --no-audit --no-fund
npm run build
npm test
npm run typecheck
