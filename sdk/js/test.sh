#!/usr/bin/env bash
# Build and test @norchain/sdk with the machine's Node.js and npm (no global installs):
# the ES module, CommonJS and declaration builds, then Node's own test runner.
set -euo pipefail
cd "$(dirname "$0")"
exec </dev/null
npm ci --no-audit --no-fund
npm run build
npm test
