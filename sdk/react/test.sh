#!/usr/bin/env bash
# Build and test @norchain/react with the machine's Node.js and npm (no global installs).
set -euo pipefail
cd "$(dirname "$0")"
exec </dev/null
npm ci --no-audit --no-fund
npm run build
npm test
