"""The administration portal: server-rendered pages (Jinja2 + htmx) over the same services as the
REST API, at ``/``; the API stays under ``/api/``.

``auth`` signs people in and out (a signed session cookie, ``session``), ``middleware`` checks the
CSRF token of every POST, ``errors`` turns errors into pages, and one module per page group
(``dashboard``, ``profiles``) holds the routes. Templates are in ``templates/``, our CSS and the
pinned third-party files (``static/vendor/``, fetched at build time) in ``static/``.
"""

from __future__ import annotations

from fastapi import FastAPI

from postroom.runtime import Runtime
from postroom.web.portal import (
    archive,
    auth,
    connectors,
    dashboard,
    directories,
    errors,
    filing_rules,
    locations,
    processes,
    profiles,
    schedules,
    secrets,
    tokens,
    users,
)
from postroom.web.portal.middleware import PortalMiddleware
from postroom.web.portal.rendering import STATIC_DIR, CachedStaticFiles, Renderer
from postroom.web.portal.session import CookieSigner, session_keys

# Every page group's router; the tests try each route of these (CSRF, tenant isolation).
ROUTERS = (
    auth.router,
    dashboard.router,
    profiles.router,
    archive.router,
    locations.router,
    filing_rules.router,
    connectors.router,
    processes.router,
    schedules.router,
    secrets.router,
    directories.router,
    users.router,
    tokens.router,
)


def install(app: FastAPI, runtime: Runtime) -> None:
    """Add the portal's pages, static files, session cookie and error pages to ``app``."""
    renderer = Renderer()
    app.state.portal = renderer
    # Secure cookies when the site is reached over https (the request's scheme, or POSTROOM_PUBLIC_URL).
    always_secure = (runtime.settings.public_url or "").lower().startswith("https://")
    app.add_middleware(
        PortalMiddleware,
        signer=CookieSigner(session_keys(runtime.settings)),
        forbidden=lambda request, message: errors.error_page(renderer, request, 403, message),
        always_secure=always_secure,
    )
    errors.install(app, renderer)
    app.mount("/static", CachedStaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router)
