"""Error answers: every one has the same body, ``{"detail": ..., "code": ...}``.

``detail`` says what happened in words (for validation errors, the list of what each
field got wrong, without the input it got); ``code`` is for programs. Each code gets its
HTTP status here, in :data:`CODE_STATUS`, and nowhere else: exceptions carry only a code.
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

from .jobs import DispatchError, JobFailed
from .people import Conflict, NotFound
from .recognition import ImageRejected

RETRY_AFTER_SECONDS = 5

CODE_STATUS = {
    "invalid_request": 422,
    "bad_input": 422,
    "invalid_image": 422,
    "no_face": 422,
    "multiple_faces": 422,
    "face_too_small": 422,
    "too_large": 413,
    "unsupported_type": 415,
    "unauthorized": 401,
    "not_found": 404,
    "conflict": 409,
    "unavailable": 503,
    "timeout": 504,
}
"""Every error ``code`` -> its HTTP status: the API's own, and a worker's job error codes.
Any other code (a worker's ``internal`` or ``unsupported``) is the server side's fault: 502."""

_HTTP_EXCEPTION_CODES = ("too_large", "unsupported_type", "invalid_request", "unavailable")
_CODE_BY_STATUS = {CODE_STATUS[code]: code for code in _HTTP_EXCEPTION_CODES}
"""The ``code`` of an HTTPException: these, or the status's own name (401 -> ``unauthorized``)."""


def status_of(code: str) -> int:
    return CODE_STATUS.get(code, 502)


def error_response(code: str, detail: Any, headers: Mapping[str, str] | None = None) -> Response:
    """The answer for an error ``code``, with its status from :data:`CODE_STATUS`."""
    return _answer(status_of(code), detail, code, headers)


def _answer(status: int, detail: Any, code: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail, "code": code}, status, headers=headers)


def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):  # statuses without a body
        return Response(status_code=exc.status_code, headers=exc.headers)
    status = exc.status_code
    code = _CODE_BY_STATUS.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")
    return _answer(status, exc.detail, code, exc.headers)


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
    return error_response("invalid_request", jsonable_encoder(detail))


def _dispatch_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, DispatchError)
    text = exc.message if isinstance(exc, JobFailed) else str(exc)
    busy = status_of(exc.code) == 503
    return error_response(exc.code, text, {"Retry-After": str(RETRY_AFTER_SECONDS)} if busy else None)


def _image_rejected(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ImageRejected)
    return error_response(exc.code, exc.message)


def _not_found(_: Request, exc: Exception) -> Response:
    return error_response("not_found", str(exc))


def _conflict(_: Request, exc: Exception) -> Response:
    return error_response("conflict", str(exc))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DispatchError, _dispatch_error)
    app.add_exception_handler(ImageRejected, _image_rejected)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
