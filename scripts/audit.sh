#!/usr/bin/env bash
# pip-audit of the pinned dependencies. Fatal when the PyPI vulnerability API answers; skipped with a
# warning when it does not (an air-gapped mirror), because `pip-audit` without it audits nothing and
# still says "No known vulnerabilities found".
set -euo pipefail
cd "$(dirname "$0")/.."
probe="https://pypi.org/pypi/pip/24.0/json"  # a per-version page: the one pip-audit reads vulnerabilities from
if .venv/bin/python -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=5)" "$probe" 2>/dev/null; then
  .venv/bin/pip-audit -r constraints.txt --no-deps --disable-pip --strict --progress-spinner off
else
  echo "pip-audit skipped: the PyPI vulnerability API ($probe) is not reachable from here" >&2
fi
