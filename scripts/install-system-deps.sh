#!/usr/bin/env bash
# Installs the Debian packages nbhook needs, only those missing: Debian's Jupyter Python kernel
# (ipykernel, found through /usr/share/jupyter/kernels/python3), pandas (respond_csv with a
# DataFrame) and a threaded BLAS for its numpy; for the tests, Chromium (the dashboard's browser
# tests drive /usr/bin/chromium with playwright-core: never a browser download). With --bench, also nbconvert, the baseline the
# benchmark compares against. With --no-browser, no Chromium.
set -euo pipefail
need=()
have() { /usr/bin/python3 -c "import $1" 2>/dev/null; }
if [ ! -x /usr/bin/python3 ] || ! have ipykernel || [ ! -f /usr/share/jupyter/kernels/python3/kernel.json ]; then
  need+=(python3-ipykernel)
fi
have pandas || need+=(python3-pandas)
have jupyter_client || need+=(python3-jupyter-client)
# A threaded BLAS under numpy, as pip's numpy wheels bundle: its pool of native threads, started at
# import, is what a setup template must stop before forking (test/integration/setup-template.test.ts).
if command -v dpkg >/dev/null && ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
  need+=(libopenblas0-pthread)
fi
if [ "${1:-}" != "--no-browser" ] && [ ! -x /usr/bin/chromium ]; then
  need+=(chromium)
fi
if [ "${1:-}" = "--bench" ]; then
  command -v jupyter-nbconvert >/dev/null || need+=(jupyter-core jupyter-nbconvert python3-nbconvert)
fi
if [ ${#need[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "system packages: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${need[@]}"
