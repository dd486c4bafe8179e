"""Templates and static files: Jinja2 with autoescaping, and ``/static/`` URLs that carry a hash of
the file's content, so that browsers may keep them for a year."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from postroom import __version__
from postroom.web.portal.middleware import CSRF_FIELD, CSRF_HEADER, session_state

STATIC_DIR = Path(__file__).parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
CACHE_FOREVER = "public, max-age=31536000, immutable"


class CachedStaticFiles(StaticFiles):
    """Static files with long cache headers; their URLs change when their content does."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = CACHE_FOREVER
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


class Renderer:
    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("postroom.web.portal", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._hashes: dict[str, str] = {}
        self.env.globals.update(static_url=self.static_url, version=__version__, csrf_field=CSRF_FIELD)

    def static_url(self, name: str) -> str:
        """``/static/NAME?v=HASH``; a missing file (static/vendor not fetched) fails loudly."""
        digest = self._hashes.get(name)
        if digest is None:
            path = STATIC_DIR / name
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path}: missing; run scripts/fetch-assets (or `make .venv/.installed`) to fetch the portal's "
                    "front-end files"
                )
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            self._hashes[name] = digest
        return f"/static/{name}?v={digest}"

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        state = session_state(request)
        values: dict[str, Any] = {
            "request": request,
            "csrf_token": state.session.csrf,
            "csrf_headers": '{"%s": "%s"}' % (CSRF_HEADER, state.session.csrf),  # noqa: UP031 (JSON braces)
            "viewer": None,
            "tenant": None,
            "active": "",
        }
        values.update(context or {})
        html = self.env.get_template(template).render(values)
        return HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render a page with the portal's renderer (``portal.install`` puts it on the app)."""
    renderer = request.app.state.portal
    assert isinstance(renderer, Renderer)
    return renderer.render(request, template, context, status_code=status_code, headers=headers)
