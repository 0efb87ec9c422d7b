#!/usr/bin/env bash
# One command from a fresh clone to a running nbhook: system packages, npm install, build, then
# the server on http://127.0.0.1:5000 (data in ~/.nbhook, or $NBHOOK_HOME) with the example
# notebook deployed. Ctrl-C stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${NBHOOK_PORT:-5000}"
URL="http://127.0.0.1:${PORT}"
export NBHOOK_URL="$URL"
bash scripts/install-system-deps.sh --no-browser  # Chromium is for the tests only
echo "== npm ci"; npm ci --no-audit --no-fund
echo "== build"; npm run build --silent
echo "== kernels"; node dist/cli/main.js kernels
echo "== nbhook serve (port $PORT)"
node dist/cli/main.js serve --port "$PORT" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 100); do
  curl -fsS "$URL/health" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "the server did not start (see above)"; exit 1; }
  sleep 0.1
done
echo "== nbhook add examples/hello.ipynb --inline"
hook=$(node dist/cli/main.js add examples/hello.ipynb --inline)
cat <<MSG

nbhook is serving on $URL with examples/hello.ipynb deployed at:
  $hook
Try it:
  curl '$hook?name=Ada&times=2'
  curl -X POST -H 'Content-Type: application/json' -d '{"name": "Grace", "times": 3}' '$hook'
See it in a browser: $URL/ (sign in with the admin API token: printed at the server's first start,
  kept for the CLI in ${NBHOOK_HOME:-$HOME/.nbhook}/api-token; API docs at $URL/docs)
Manage it: node dist/cli/main.js currents | list examples/hello.ipynb | runs examples/hello.ipynb
Stop with Ctrl-C.
MSG
wait "$server"
