"""The admin console: server-rendered Jinja2 pages for running bots and reading conversations."""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).parent / "templates"
