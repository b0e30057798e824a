"""The OpenAPI document and its docs page: complete, with examples, and usable offline."""

from __future__ import annotations

import re

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
    for name in ("PersonIn", "CameraIn", "EnrollOut", "RecognizeOut", "VerifyOut"):
        assert schemas[name].get("examples"), name
    recognize = paths["/api/recognize"]["post"]["responses"]
    assert {"413", "415", "422", "503"} <= set(recognize)
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
