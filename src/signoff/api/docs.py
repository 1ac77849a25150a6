"""The API's documentation page, /docs (Swagger UI), served with its scripts from this server.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, unpinned, on the web UI's origin and without its security
headers. The Swagger UI build here comes from fastapi-offline (MIT, on PyPI), a package that exists to ship it, so
the browser loads nothing from another origin and the project vendors no front-end files. ReDoc is not served: its
build fetches its logo from its makers' CDN. The page carries the web UI's headers; its policy allows the one
inline script Swagger UI needs, by its hash, and inline styles, which Swagger UI sets as it renders.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from signoff.web.security import SECURITY_HEADERS

ASSETS = "/docs-assets"


def _headers(page: bytes) -> dict[str, str]:
    inline = re.findall(rb"<script>(.*?)</script>", page, re.DOTALL)
    hashes = "".join(f" 'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'" for s in inline)
    policy = (
        f"default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return {**SECURITY_HEADERS, "Content-Security-Policy": policy}


def install(app: FastAPI) -> None:
    """Serve /docs and its assets (the app is made with ``docs_url=None, redoc_url=None``)."""
    app.mount(ASSETS, StaticFiles(directory=str(resources.files("fastapi_offline") / "static")), name="docs-assets")
    assert app.openapi_url is not None
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon.png",
    ).body
    headers = _headers(bytes(page))

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)
