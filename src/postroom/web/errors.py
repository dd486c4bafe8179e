"""The one place where Postroom errors become HTTP responses."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from postroom.errors import (
    AccessDenied,
    BlobStoreError,
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PostroomError,
    SecretError,
    SourceError,
)

logger = logging.getLogger("postroom.web")

STATUS: list[tuple[type[PostroomError], int]] = [
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (AccessDenied, 403),
    (NotAuthenticated, 401),
    (SecretError, 500),
    (ConfigurationError, 500),
    (BlobStoreError, 500),
    (SourceError, 502),
]


def status_for(error: PostroomError) -> int:
    return next((code for kind, code in STATUS if isinstance(error, kind)), 400)


def error_body(error: PostroomError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": type(error).__name__, "message": str(error)}
    if isinstance(error, InvalidInput):
        body["detail"] = [
            {"loc": ["body", *e.field.split(".")], "field": e.field, "msg": e.message, "type": "value_error"}
            for e in error.errors
        ]
    return body


async def _postroom_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PostroomError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
    return JSONResponse(error_body(exc), status_code=status_for(exc), headers=headers)


async def _request_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """Malformed requests get the same shape as rule violations: every field with its problem."""
    assert isinstance(exc, RequestValidationError)
    detail = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        field = ".".join(loc[1:]) if loc and loc[0] in {"body", "query", "path"} else ".".join(loc)
        detail.append({"loc": loc, "field": field, "msg": err["msg"], "type": err["type"]})
    message = "; ".join(f"{d['field'] or 'body'}: {d['msg']}" for d in detail)
    return JSONResponse({"error": "InvalidInput", "message": message, "detail": detail}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """What the framework itself refuses (no such path, wrong method, unreadable body), in the same
    shape as every other error: ``{"error": "MethodNotAllowed", "message": ...}``."""
    assert isinstance(exc, HTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail else phrase
    body = {
        "error": phrase.title().replace(" ", "").replace("-", ""),
        "message": f"{request.method} {request.url.path}: {detail}",
    }
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug: logged with its traceback, answered as JSON without internals."""
    logger.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    message = f"{request.method} {request.url.path}: internal error ({type(exc).__name__}); see the server log"
    return JSONResponse({"error": "InternalError", "message": message}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_exception_handler(PostroomError, _postroom_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(HTTPException, _http_error)
