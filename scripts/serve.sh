#!/usr/bin/env bash
# Install (first run only) and start Frontdesk: API, websocket, widget page and admin console.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/frontdesk serve "$@"
