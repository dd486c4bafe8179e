"""The FastAPI application: REST API under /api/v1, the connector protocol under /api/connector/v1,
OpenAPI at /api/docs."""

from __future__ import annotations

from fastapi import FastAPI

from postroom import __version__
from postroom.runtime import Runtime
from postroom.web import errors, portal
from postroom.web.api import (
    archive,
    auth,
    connector_v1,
    connectors,
    dashboard,
    directories,
    filing_rules,
    filings,
    locations,
    processes,
    profiles,
    runs,
    schedules,
    secrets,
    tenants,
    users,
)


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Postroom",
        version=__version__,
        description="Email archive, folder synchronization and filing. Authenticate with an API token.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.runtime = runtime
    errors.install(app)
    for module in (
        auth,
        tenants,
        users,
        secrets,
        directories,
        profiles,
        runs,
        schedules,
        locations,
        filings,
        filing_rules,
        connectors,
        processes,
        archive,
        dashboard,
    ):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(connector_v1.router)  # its own prefix: /api/connector/v1, versioned apart

    @app.get("/api/v1/health", tags=["system"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    portal.install(app, runtime)  # the pages at /, after the API so that /api/ stays the API's
    return app
