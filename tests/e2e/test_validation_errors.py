"""422 answers say what is wrong and where, and never echo the request: camera URLs carry passwords."""

from __future__ import annotations

from typing import Any

from harness import Api

PASSWORD = "TopSecret9"
URL = f"rtsp://admin:{PASSWORD}@192.0.2.10:554/stream1"


def _refused(api: Api, method: str, path: str, body: Any) -> list[dict[str, Any]]:
    response = api.http.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert PASSWORD not in response.text and "input" not in response.text
    detail = response.json()["detail"]
    assert detail and all({"type", "loc", "msg"} <= item.keys() for item in detail)
    return detail  # type: ignore[no-any-return]


SHAPES = [
    ({"url": URL}, ["body", "name"], "missing"),  # no name: the whole body used to come back
    ({"name": "Door", "url": URL + "/" + "x" * 2000}, ["body", "url"], "string_too_long"),
    ({"name": "Door", "url": [URL]}, ["body", "url"], "string_type"),
    ({"name": "Door", "url": URL, "process_fps": 99}, ["body", "process_fps"], "less_than_equal"),
]


def test_camera_validation_errors_never_echo_the_url(api: Api):
    for body, where, kind in SHAPES:
        detail = _refused(api, "POST", "/api/cameras", body)
        assert [(item["loc"], item["type"]) for item in detail] == [(where, kind)], body
    assert api.http.get("/api/cameras").json() == []


def test_limits_stay_for_the_dashboards_sentences(api: Api):
    (item,) = _refused(api, "POST", "/api/cameras", {"name": "Door", "url": URL + "x" * 2000})
    assert item["ctx"] == {"max_length": 2000}


def test_every_route_hides_its_input(api: Api):
    camera = api.http.post("/api/cameras", json={"name": "Door", "url": "rtsp://192.0.2.10/s"}).json()
    _refused(api, "PATCH", f"/api/cameras/{camera['id']}", {"url": URL, "detection_width": "wide"})
    _refused(api, "POST", "/api/persons", {"name": "", "external_id": PASSWORD})
    response = api.http.get("/api/events", params={"limit": PASSWORD})
    assert response.status_code == 422 and PASSWORD not in response.text


def test_assigning_events_says_which_target_is_missing_or_doubled(api: Api):
    (neither,) = _refused(api, "POST", "/api/events/assign", {"event_ids": [1]})
    assert neither["msg"] == (
        "Value error, say whose faces these are: give person_id (an enrolled person) or name (a new person)"
    )
    (both,) = _refused(api, "POST", "/api/events/assign", {"event_ids": [1], "person_id": 1, "name": "Ada"})
    assert both["msg"].endswith("give either person_id (an enrolled person) or name (a new person), not both")
