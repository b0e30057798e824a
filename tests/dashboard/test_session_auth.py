"""Signing in to the dashboard, the session cookie on the REST API, and the CSRF rule: httpx
against a real API process (no worker needed)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from harness import Api

COOKIE = "facegrid_session"
CSRF = {"X-FaceGrid-CSRF": "1"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("session-api")
    api = Api(tmp)
    api.start()
    yield api
    api.stop()


def browser_like(api: Api) -> httpx.Client:
    """A client that keeps cookies and follows nothing by itself, like a browser tab we can inspect."""
    return httpx.Client(base_url=api.url, timeout=30, follow_redirects=False)


@contextmanager
def signed_in(api: Api) -> Iterator[httpx.Client]:
    with browser_like(api) as client:
        response = client.post("/login", data={"api_key": api.api_key})
        assert response.status_code == 303 and response.headers["location"] == "/"
        yield client


def test_only_the_sign_in_page_and_its_stylesheet_are_open(api):
    with browser_like(api) as anonymous:
        home = anonymous.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/login"
        page = anonymous.get("/login")
        assert page.status_code == 200 and 'name="api_key"' in page.text and 'action="/login"' in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert anonymous.get("/static/style.css").status_code == 200
        for path in ("/static/js/app.js", "/static/index.html", "/static/js/pages/events.js"):
            assert anonymous.get(path).status_code == 401, path
        assert anonymous.get("/api/workers").status_code == 401
        assert anonymous.get("/api/events/stream").status_code == 401


def test_signing_in_sets_a_strict_httponly_session_cookie(api):
    with browser_like(api) as client:
        response = client.post("/login", data={"api_key": api.api_key})
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert cookie.startswith(f"{COOKIE}=")
        assert {"httponly", "samesite", "path", "max-age"} <= attributes
        assert "samesite=strict" in cookie.lower()
        assert "secure" not in attributes  # plain http on loopback; https gets Secure
        assert int(cookie.lower().split("max-age=")[1].split(";")[0]) == 12 * 3600
        index = client.get("/")
        assert index.status_code == 200 and '<script type="module" src="/static/js/app.js">' in index.text
        assert client.get("/static/js/app.js").headers["content-type"].startswith("text/javascript")
        assert client.get("/login").headers["location"] == "/"  # already signed in


def test_a_wrong_or_empty_key_is_refused_with_a_sentence(api):
    with browser_like(api) as client:
        wrong = client.post("/login", data={"api_key": "not-the-key-at-all-123"})
        assert wrong.status_code == 401 and "That key is not right" in wrong.text
        assert COOKIE not in wrong.headers.get("set-cookie", "")
        empty = client.post("/login", data={"api_key": "  "})
        assert empty.status_code == 400 and "Enter the API key" in empty.text
        assert client.get("/").status_code == 303


def test_the_cookie_opens_the_api_and_changes_need_the_csrf_header(api):
    with signed_in(api) as client:
        assert client.get("/api/workers").status_code == 200
        refused = client.post("/api/persons", json={"name": "Mallory's forged form"})
        assert refused.status_code == 403 and "X-FaceGrid-CSRF" in refused.json()["detail"]
        assert client.get("/api/persons", params={"q": "Mallory"}).json()["total"] == 0
        wrong_value = client.post("/api/persons", json={"name": "x"}, headers={"X-FaceGrid-CSRF": "yes"})
        assert wrong_value.status_code == 403
        created = client.post("/api/persons", json={"name": "Ada"}, headers=CSRF)
        assert created.status_code == 201
        person = created.json()["id"]
        assert client.patch(f"/api/persons/{person}", json={"name": "Ada L."}).status_code == 403
        assert client.delete(f"/api/persons/{person}").status_code == 403
        assert client.delete(f"/api/persons/{person}", headers=CSRF).status_code == 204


def test_the_api_key_header_still_works_without_the_csrf_header(api):
    created = api.http.post("/api/persons", json={"name": "Scripted"})
    assert created.status_code == 201
    assert api.http.delete(f"/api/persons/{created.json()['id']}").status_code == 204
    with httpx.Client(base_url=api.url, headers={"X-API-Key": "wrong-key-wrong-key"}) as bad:
        assert bad.get("/api/workers").json()["detail"] == "invalid API key"


def test_a_bad_api_key_is_not_rescued_by_a_good_cookie(api):
    with signed_in(api) as client:
        assert client.get("/api/workers", headers={"X-API-Key": "wrong-key-wrong-key"}).status_code == 401


def test_an_unknown_cookie_is_refused(api):
    with httpx.Client(base_url=api.url, cookies={COOKIE: "forged-session-id"}) as client:
        response = client.get("/api/workers")
        assert response.status_code == 401 and "sign in again" in response.json()["detail"]
        assert client.get("/", follow_redirects=False).status_code == 303


def test_signing_out_ends_the_session_everywhere(api):
    with signed_in(api) as client:
        old = client.cookies[COOKIE]
        out = client.post("/logout")
        assert out.status_code == 303 and out.headers["location"] == "/login?ended=1"
        assert f'{COOKIE}=""' in out.headers["set-cookie"] or "max-age=0" in out.headers["set-cookie"].lower()
        assert "signed out" in client.get("/login?ended=1").text
    with httpx.Client(base_url=api.url, cookies={COOKIE: old}, follow_redirects=False) as replay:
        assert replay.get("/api/workers").status_code == 401  # the old id is dead server-side
        assert replay.get("/").status_code == 303
        assert replay.get("/static/js/app.js").status_code == 401


def test_each_sign_in_gets_a_fresh_session(api):
    with signed_in(api) as client:
        first = client.cookies[COOKIE]
        client.post("/login", data={"api_key": api.api_key})
        second = client.cookies[COOKIE]
        assert first != second
    with httpx.Client(base_url=api.url, cookies={COOKIE: first}) as stale:
        assert stale.get("/api/workers").status_code == 401


def test_forms_posted_from_another_site_are_refused(api):
    with browser_like(api) as client:
        evil = {"Origin": "https://evil.example"}
        assert client.post("/login", data={"api_key": api.api_key}, headers=evil).status_code == 403
        assert (
            client.post("/login", data={"api_key": api.api_key}, headers={"Origin": "null"}).status_code
            == 403
        )
        same = client.post("/login", data={"api_key": api.api_key}, headers={"Origin": api.url})
        assert same.status_code == 303
        assert client.post("/logout", headers=evil).status_code == 403
        assert client.get("/api/workers").status_code == 200  # still signed in


def test_static_files_stay_inside_their_folder(api):
    with signed_in(api) as client:
        for path in ("/static/%2e%2e/routes.py", "/static/..%2fsessions.py", "/static/js/../../routes.py"):
            assert client.get(path).status_code == 404, path
        assert client.get("/static/nothing.js").status_code == 404


def test_sessions_expire(make_api):
    api = make_api(SESSION_HOURS="0.0005")  # 1.8 s
    with signed_in(api) as client:
        session = client.cookies[COOKIE]
        assert client.get("/api/workers").status_code == 200
    time.sleep(2.0)
    # Sent by hand: the server must refuse it even from a client that ignores the cookie's Max-Age.
    with httpx.Client(base_url=api.url, cookies={COOKIE: session}, follow_redirects=False) as late:
        response = late.get("/api/workers")
        assert response.status_code == 401 and "sign in again" in response.json()["detail"]
        assert late.get("/").headers["location"] == "/login"
