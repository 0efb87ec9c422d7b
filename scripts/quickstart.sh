#!/usr/bin/env bash
# One command from a fresh clone to a working nbhook: system packages, npm install, build, then
# run the example notebook with parameters and show what it returned.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
echo "== npm ci"; npm ci --no-audit --no-fund
echo "== build"; npm run build --silent
echo "== kernels"; node dist/cli/main.js kernels
echo "== nbhook run examples/hello.ipynb -p name Ada -p times 2"
node dist/cli/main.js run examples/hello.ipynb -p name Ada -p times 2 \
  -o examples/hello.out.ipynb --response-out /tmp/nbhook-hello-response.json
echo "== response body"; cat /tmp/nbhook-hello-response.json; echo
