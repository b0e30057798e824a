"""The dashboard's pages in real headless Chromium: phone width, keyboard, dropped photos, and
API errors as sentences. Screenshots land in tests/artifacts/dashboard/."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from browsing import PHONE, Browsing
from harness import Api
from stream_servers import MjpegServer
from video_fixture import read_frames


def _drop(page: Any, selector: str, files: list[tuple[str, bytes, str]]) -> None:
    """Drop files on an element, as dragging them from the desktop does."""
    payload = [{"name": n, "type": t, "b64": base64.b64encode(d).decode()} for n, d, t in files]
    transfer = page.evaluate_handle(
        """files => {
            const dt = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.b64), c => c.charCodeAt(0));
                dt.items.add(new File([bytes], f.name, {type: f.type}));
            }
            return dt;
        }""",
        payload,
    )
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def test_photos_dropped_at_once_get_a_result_each(browsing: Browsing, system: Api, sample_faces, group_photo):
    page = browsing.page
    person = system.http.post("/api/persons", json={"name": "Dropped Photos"}).json()
    browsing.sign_in()
    browsing.go(f"#/people/{person['id']}")
    page.wait_for_selector("text=No faces yet")
    _drop(
        page,
        ".dropzone",
        [
            ("obama.jpg", (sample_faces / "obama.jpg").read_bytes(), "image/jpeg"),
            ("two-people.jpg", Path(group_photo).read_bytes(), "image/jpeg"),
            ("notes.jpg", b"these are not the pixels you are looking for", "image/jpeg"),
        ],
    )
    page.wait_for_selector("text=1 of 3 photos enrolled.", timeout=60_000)
    assert page.locator(".enroll-result.ok").count() == 1
    refused = page.locator(".enroll-result.refused").all_inner_texts()
    assert any("two-people.jpg" in r and "2 faces found" in r for r in refused), refused
    assert any("notes.jpg" in r and "Not enrolled" in r for r in refused), refused
    page.wait_for_selector(".face-tile img")
    browsing.shot("13-enroll-dropped")
    page.click(".face-tile >> text=Remove")  # confirm() is accepted by the fixture
    page.wait_for_selector("text=No faces yet")
    assert system.http.get(f"/api/persons/{person['id']}").json()["face_count"] == 0


def test_pages_fit_a_phone_and_are_keyboard_reachable(browser: Any, system: Api):
    b = Browsing(browser, system, viewport=PHONE)
    try:
        page = b.page
        b.sign_in()
        page.wait_for_selector("text=Workers")
        names = []
        for _ in range(12):
            page.keyboard.press("Tab")
            names.append(page.evaluate("() => document.activeElement.textContent.trim()"))
        for label in (
            "Skip to content",
            "Overview",
            "Cameras",
            "People",
            "Events",
            "Unknown faces",
            "Try a photo",
            "Sign out",
        ):
            assert label in names, names
        drain = "button[data-key='worker:dash-worker']"
        page.focus(drain)
        page.wait_for_timeout(3500)  # one refresh of the overview later, focus has not moved
        assert page.evaluate("() => document.activeElement.dataset.key") == "worker:dash-worker"
        page.focus("nav >> text=People")
        page.keyboard.press("Enter")
        page.wait_for_selector("h1:has-text('People')")
        for route, ready, name in (
            ("#/overview", "text=Workers", "phone-overview"),
            ("#/cameras", ".camera-card, .empty", "phone-cameras"),
            ("#/cameras/new", "#f-name", "phone-camera-form"),
            ("#/people", ".person-line, .empty", "phone-people"),
            ("#/events", ".event-row, .empty", "phone-events"),
            ("#/unknown", "form.assign", "phone-unknown"),
            ("#/try", ".dropzone", "phone-try"),
        ):
            b.go(route)
            page.wait_for_selector(ready)
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{route} is {overflow} px wider than a phone"
            b.shot(name)
        assert not b.errors, b.errors
    finally:
        b.close()


def test_a_camera_failing_with_a_long_reason_reads_well_on_a_phone(browser: Any, system: Api, video):
    # A camera whose credentials are wrong: a long reason next to a red badge, at 390 px.
    with MjpegServer(read_frames(video)[:12], 12, credentials=("admin", "right-pw")) as camera_server:
        assert isinstance(camera_server, MjpegServer)
        url = camera_server.url(userinfo="admin:wrong-pw")
        camera = system.http.post("/api/cameras", json={"name": "Back door", "url": url}).json()
        b = Browsing(browser, system, viewport=PHONE)
        try:
            b.sign_in()
            page = b.page
            attention = ".attention li.error:has-text('Camera “Back door” is')"
            page.wait_for_selector(attention, timeout=30_000)
            assert "the camera refused the user name or password" in page.inner_text(attention)
            for route, row in (("#/overview", "tr:has-text('Back door')"), ("#/cameras", ".camera-card")):
                b.go(route)
                page.wait_for_selector(f"{row} .badge.error")
                heights = page.eval_on_selector_all(
                    ".badge", "els => els.map(e => [e.textContent, e.getBoundingClientRect().height])"
                )
                assert all(h < 32 for _, h in heights), f"{route}: badges taller than a line: {heights}"
                b.shot(f"phone-failing-camera-{route[2:]}")
            assert not b.errors, b.errors
        finally:
            b.close()
            system.http.delete(f"/api/cameras/{camera['id']}")


def test_a_camera_address_the_api_refuses_is_explained_at_the_field(browsing: Browsing, system: Api):
    page = browsing.page
    browsing.sign_in()
    browsing.go("#/cameras/new")
    page.fill("#f-name", "Typo")
    page.fill("#f-url", "htp//192.0.2.1/stream")
    page.click("button:has-text('Add camera')")
    page.wait_for_selector("#f-url-error >> text=This is not a camera address.")
    assert page.get_attribute("#f-url", "aria-invalid") == "true"
    assert not [c for c in system.http.get("/api/cameras").json() if c["name"] == "Typo"]


def test_api_errors_read_as_sentences(browsing: Browsing, system: Api):
    page = browsing.page
    browsing.sign_in()
    sentences = page.evaluate("""async () => {
        const { describe } = await import('/static/js/errors.js');
        return [
            describe(422, {detail: [
                {type: 'string_too_short', loc: ['body', 'name'], msg: 'x', ctx: {min_length: 1}},
                {type: 'less_than_equal', loc: ['body', 'process_fps'], msg: 'x', ctx: {le: 30}}]}),
            describe(404, {detail: 'no person 7'}),
            describe(503, {detail: "no connected worker can run 'analyze' jobs"}),
            describe(500, null),
        ];
    }""")
    assert sentences[0] == "Name cannot be empty. Frames analysed per second must be 30 or less."
    assert sentences[1] == "No person 7."
    assert sentences[2].startswith("No worker is available right now")
    assert "error 500" in sentences[3]
    # A real refusal from the API, shown where the person acted.
    system.http.post("/api/persons", json={"name": "Taken", "external_id": "emp-1"})
    browsing.go("#/people")
    page.fill("#new-name", "Someone else")
    page.fill("#new-external", "emp-1")
    page.click("text=Add person")
    page.wait_for_selector(".alert.error >> text=External_id 'emp-1' is already used by another person.")
    browsing.shot("12-error-sentence")


def test_a_stray_anchor_or_unknown_page_still_lands_somewhere(browsing: Browsing, system: Api):
    browsing.sign_in()
    page = browsing.new_page()  # a fresh load, as from a bookmark
    page.goto(system.url + "/#main")
    page.wait_for_url(system.url + "/#/overview")
    browsing.go("#/nowhere", page)
    page.wait_for_selector("text=There is no such page.")
