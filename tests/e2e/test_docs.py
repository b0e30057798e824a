"""The OpenAPI document and its docs page: complete, with examples, and usable offline."""

from __future__ import annotations

import re
from typing import Any

import httpx


def test_docs_page_loads_everything_from_the_api_itself(api):
    page = httpx.get(api.url + "/docs").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/") for a in assets), assets  # no CDN
    for asset in assets:
        assert httpx.get(api.url + asset).status_code == 200, asset


def test_openapi_documents_every_route_with_examples(api):
    spec = httpx.get(api.url + "/openapi.json").json()
    paths = spec["paths"]
    for route in (
        "/api/persons",
        "/api/persons/{person_id}/faces",
        "/api/recognize",
        "/api/verify",
        "/api/detect",
        "/api/cameras",
        "/api/cameras/{camera_id}/stream.mjpeg",
        "/api/events",
        "/api/events/stream",
        "/api/workers",
        "/api/workers/{worker_id}/drain",
    ):
        assert route in paths, route
    schemas = spec["components"]["schemas"]
    for name in ("PersonIn", "PersonPatch", "CameraIn", "EchoIn"):
        assert schemas[name].get("examples"), name
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"


FACE_PATHS = (
    "/api/persons",
    "/api/persons/{person_id}",
    "/api/persons/{person_id}/faces",
    "/api/faces/{face_id}",
    "/api/faces/{face_id}/crop.jpg",
    "/api/recognize",
    "/api/verify",
    "/api/detect",
)


def _has_example(spec: dict[str, Any], media: dict[str, Any]) -> bool:
    """An example on the media type itself, or on the schema it refers to (an array's items for a list)."""
    if media.get("example") is not None or media.get("examples"):
        return True
    schema = media.get("schema", {})
    schema = schema.get("items", schema) if schema.get("type") == "array" else schema
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return bool(schema.get("examples"))


def test_every_response_of_the_face_endpoints_has_an_example(api):
    spec = httpx.get(api.url + "/openapi.json").json()
    checked = 0
    for path in FACE_PATHS:
        for method, operation in spec["paths"][path].items():
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            assert {"401", "422"} <= set(responses), where
            for status, response in responses.items():
                for media_type, media in response.get("content", {}).items():
                    if media_type == "application/json":
                        assert _has_example(spec, media), f"{where} {status} has no example"
                        checked += 1
    assert checked >= 40  # every status of every route above, not a vacuous pass
    for path in ("/api/recognize", "/api/verify", "/api/detect", "/api/persons/{person_id}/faces"):
        responses = spec["paths"][path]["post"]["responses"]
        assert {"404" if "person_id" in path else "415", "413", "503"} <= set(responses), path
        assert responses["503"]["headers"]["Retry-After"]["schema"]["type"] == "integer", path
    schemas = spec["components"]["schemas"]
    for name in ("PersonOut", "PersonPage", "FaceOut", "EnrollOut", "RecognizeOut", "VerifyOut", "DetectOut"):
        assert schemas[name].get("examples"), name
