"""Frontdesk web front end: the demo chat page and the chat widget's static files.

The server mounts ``STATIC_DIR`` at ``/static`` and serves ``STATIC_DIR / "index.html"`` at ``/``.
"""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
