"""Errors on portal pages become HTML pages; on ``/api/`` they stay JSON (``web/errors.py``).

The status of each Postroom error comes from ``web.errors.status_for``, so the portal and the
API agree. Not signed in (401) is a redirect to the sign-in page that comes back afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from postroom.errors import NotAuthenticated, PostroomError
from postroom.web.errors import status_for
from postroom.web.portal.auth import login_redirect
from postroom.web.portal.middleware import is_portal_path
from postroom.web.portal.rendering import Renderer

logger = logging.getLogger("postroom.web.portal")
Handler = Callable[[Request, Exception], Response | Awaitable[Response]]

TITLES = {
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Not possible right now",
    422: "Not understood",
    500: "Something went wrong",
}


def error_page(renderer: Renderer, request: Request, status: int, message: str) -> Response:
    title = TITLES.get(status) or HTTPStatus(status).phrase
    return renderer.render(
        request, "error.html", {"status": status, "title": title, "message": message}, status_code=status
    )


def install(app: FastAPI, renderer: Renderer) -> None:
    """Wrap the API's handlers: portal paths get pages, everything else what it got before."""

    def wrap(kind: type[Exception] | int, page: Callable[[Request, Exception], Response]) -> None:
        original = app.exception_handlers[kind]

        async def handler(request: Request, exc: Exception) -> Response:
            if is_portal_path(request.url.path) and "portal_session" in request.scope.get("state", {}):
                return page(request, exc)
            result = original(request, exc)
            return await result if isinstance(result, Awaitable) else result

        app.add_exception_handler(kind, handler)

    def postroom_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PostroomError)
        if isinstance(exc, NotAuthenticated):
            return login_redirect(request)
        return error_page(renderer, request, status_for(exc), str(exc))

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            message = f"There is no page at {request.url.path}."
        else:
            message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return error_page(renderer, request, exc.status_code, message)

    def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return error_page(renderer, request, 422, f"The address has a value that is not understood: {problems}")

    def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
        return error_page(renderer, request, 500, f"Internal error ({type(exc).__name__}); see the server log.")

    wrap(PostroomError, postroom_error)
    wrap(HTTPException, http_error)
    wrap(RequestValidationError, validation_error)
    wrap(Exception, unexpected)
