"""Error answers as the OpenAPI document shows them: the one body, with examples per status."""

from __future__ import annotations

from typing import Any

from ..errors import RETRY_AFTER_SECONDS
from ..schemas import ErrorOut

Responses = dict[int | str, dict[str, Any]]

_INVALID_FIELD = {
    "detail": [
        {
            "type": "less_than_equal",
            "loc": ["body", "top_k"],
            "msg": "Input should be less than or equal to 50",
            "input": "99",
            "ctx": {"le": 50},
        }
    ],
    "code": "invalid_request",
}

_EXAMPLES: dict[int, dict[str, dict[str, Any]]] = {
    401: {"no key": {"detail": "missing X-API-Key header", "code": "unauthorized"}},
    404: {"no such row": {"detail": "no person 42", "code": "not_found"}},
    409: {"taken": {"detail": "external_id 'emp-42' is already used by another person", "code": "conflict"}},
    413: {
        "file too large": {"detail": "file is larger than 20 MB", "code": "too_large"},
        "too many pixels": {
            "detail": "image is 100000x100000 = 10,000,000,000 pixels, over the 40,000,000-pixel limit",
            "code": "too_large",
        },
    },
    415: {
        "not an image FaceGrid reads": {
            "detail": "unsupported image type (this looks like HEIC); accepted: JPEG, PNG, WebP, BMP, TIFF",
            "code": "unsupported_type",
        }
    },
    422: {"invalid field": _INVALID_FIELD},
    502: {"worker fault": {"detail": "the face engine failed: out of memory", "code": "internal"}},
    503: {
        "no worker": {
            "detail": "no worker available for 'analyze' jobs (none connected, or all draining)",
            "code": "unavailable",
        }
    },
    504: {"no answer": {"detail": "'analyze' job got no answer within 30 s", "code": "timeout"}},
}

_IMAGE_422 = {
    "broken image": {
        "detail": "invalid JPEG image: truncated: no end-of-image marker after the image data",
        "code": "invalid_image",
    },
    "no face": {"detail": "no face found in file2", "code": "no_face"},
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "example": RETRY_AFTER_SECONDS},
    }
}


def error_responses(descriptions: dict[int, str], *, images: bool = False) -> Responses:
    """OpenAPI ``responses`` for these statuses: each route's own description, the shared examples
    (with ``images``, a 422 also shows how an image is refused)."""
    responses: Responses = {}
    for status, description in descriptions.items():
        named = {**_EXAMPLES[status], **(_IMAGE_422 if images and status == 422 else {})}
        examples = {name: {"value": value} for name, value in named.items()}
        responses[status] = {
            "model": ErrorOut,
            "description": description,
            "content": {"application/json": {"examples": examples}},
        }
        if status == 503:
            responses[status]["headers"] = _RETRY_AFTER
    return responses


UNAUTHORIZED = error_responses({401: "No X-API-Key (or dashboard session), or a wrong one"})
