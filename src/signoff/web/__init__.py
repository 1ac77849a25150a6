"""The web UI: login, the keyboard-driven review workspace, and pages for leads, model owners and auditors.

Server-rendered with Jinja2; the CSS and the one page script are written here and served by the app itself,
so the UI works offline.
"""

from __future__ import annotations

from signoff.web.site import mount

__all__ = ["mount"]
