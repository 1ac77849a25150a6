"""Cookies, CSRF tokens and redirects for the web UI: plain functions, unit-tested without HTTP."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from signoff.domain import Role

SESSION_COOKIE = "signoff-session"
LOGIN_COOKIE = "signoff-login"  # the CSRF token of the login form, before there is a session
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

# Content Security Policy: scripts, styles and images from this server only; no inline script or style, no
# framing. Escaping is what keeps case data inert; this is the second line.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

LANDING: dict[Role, str] = {
    Role.ADMIN: "/review",
    Role.REVIEWER: "/review",
    Role.LEAD: "/lead",
    Role.OWNER: "/owner",
    Role.AUDITOR: "/audit",
    Role.INTAKE: "/account",
}


def cookie_name(base: str, secure: bool) -> str:
    """``__Host-`` pins a cookie to this host, path / and https; browsers refuse the prefix without Secure."""
    return f"__Host-{base}" if secure else base


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Compare in constant time; a missing token on either side never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (``/review?x=1``), else None: never another host or scheme."""
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ord(c) < 0x20 or c in "\\\x7f" for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
