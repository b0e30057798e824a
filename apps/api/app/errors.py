"""Error answers: every one has the same body, ``{"detail": ..., "code": ...}``.

``detail`` says what happened in words (for validation errors, the list of what each
field got wrong, without the input it got); ``code`` is for programs. Each exception kind the API raises gets
its HTTP status here, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from .jobs import DispatchError, JobFailed, JobTimeout
from .people import Conflict, NotFound
from .recognition import ImageRejected

RETRY_AFTER_SECONDS = 5

JOB_ERROR_STATUS = {"bad_input": 422, "invalid_image": 422, "too_large": 413, "unsupported_type": 415}
"""A job error code (from a worker, or the dispatcher's own ``too_large``) -> HTTP status.
Any other code (``internal``, ``unsupported``) is the server side's fault: 502."""

_CODE_BY_STATUS = {413: "too_large", 415: "unsupported_type", 422: "invalid_request", 503: "unavailable"}
"""The ``code`` of an HTTPException: these, or the status's own name (401 -> ``unauthorized``)."""


def error_response(status: int, detail: Any, code: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail, "code": code}, status, headers=headers)


def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):  # statuses without a body
        return Response(status_code=exc.status_code, headers=exc.headers)
    status = exc.status_code
    code = _CODE_BY_STATUS.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")
    return error_response(status, exc.detail, code, exc.headers)


_SAFE_CONTEXT = {"min_length", "max_length", "gt", "ge", "lt", "le", "multiple_of", "expected", "pattern"}
"""Error context that describes the rule, never the input (a ValueError's text, say, may quote it)."""


def _validation_error(_: Request, exc: Exception) -> Response:
    """What is wrong where, never the input: a camera URL sent without a name must not come
    back, password and all, in the answer (FastAPI's own list echoes ``input``)."""
    assert isinstance(exc, RequestValidationError)
    detail: list[dict[str, Any]] = []
    for error in exc.errors():
        item = {"type": error["type"], "loc": list(error["loc"]), "msg": error["msg"]}
        context = {k: v for k, v in (error.get("ctx") or {}).items() if k in _SAFE_CONTEXT}
        if context:
            item["ctx"] = context
        detail.append(item)
    return error_response(422, jsonable_encoder(detail), "invalid_request")


def _dispatch_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, DispatchError)
    if isinstance(exc, JobFailed):
        return error_response(JOB_ERROR_STATUS.get(exc.code, 502), exc.message, exc.code)
    if isinstance(exc, JobTimeout):
        return error_response(504, str(exc), exc.code)
    return error_response(503, str(exc), exc.code, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def _image_rejected(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ImageRejected)
    return error_response(exc.status, exc.message, exc.code)


def _not_found(_: Request, exc: Exception) -> Response:
    return error_response(404, str(exc), "not_found")


def _conflict(_: Request, exc: Exception) -> Response:
    return error_response(409, str(exc), "conflict")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DispatchError, _dispatch_error)
    app.add_exception_handler(ImageRejected, _image_rejected)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
