"""The dashboard in real headless Chromium against a real API and worker, with real sample faces
and the generated video camera: what a person does on a first day, page by page.

Screenshots of every page land in tests/artifacts/dashboard/ (git-ignored).
"""

from __future__ import annotations

import re
from typing import Any

from browsing import Browsing
from harness import Api, free_port, wait_until

SIGN_IN = re.compile(r"/login(#.*)?$")  # a redirect keeps the page's #fragment
LIVE_IMAGE = "() => [...document.querySelectorAll('.live-img')].some(i => i.naturalWidth > 0)"


def _natural_widths(page: Any, selector: str) -> list[int]:
    return page.eval_on_selector_all(selector, "imgs => imgs.map(i => i.naturalWidth)")


def test_a_first_day_with_the_dashboard(browsing: Browsing, system: Api, sample_faces, video, group_photo):
    b, page = browsing, browsing.page

    # Signing in.
    page.goto(system.url + "/#/people")
    page.wait_for_url(SIGN_IN)
    b.shot("01-sign-in")
    b.sign_in()
    page.wait_for_selector("text=All good")  # a worker is online, nothing needs attention
    page.wait_for_selector("text=dash-worker")

    # A person, enrolled from two photos dropped at once.
    b.go("#/people")
    page.wait_for_selector("text=No people yet")
    page.fill("#new-name", "Barack Obama")
    page.click("text=Add person")
    page.wait_for_selector("h1:has-text('Barack Obama')")
    page.set_input_files(
        "input[type=file]", [str(sample_faces / "obama2.jpg"), str(sample_faces / "obama3.jpg")]
    )
    page.wait_for_selector("text=2 of 2 photos enrolled.", timeout=60_000)
    assert page.locator(".enroll-result.ok").count() == 2
    page.wait_for_function(
        "() => [...document.querySelectorAll('.face-tile img')].filter(i => i.naturalWidth).length == 2"
    )
    assert all(w > 0 for w in _natural_widths(page, ".enroll-result img.crop"))
    b.shot("02-person-enrolled")
    obama = system.http.get("/api/persons", params={"q": "Obama"}).json()["items"][0]
    assert obama["face_count"] == 2

    # The events page, open in a second tab before any camera runs: events must arrive live.
    events_tab = b.new_page()
    events_tab.goto(system.url + "/#/events")
    events_tab.wait_for_selector("text=No events yet")
    events_tab.wait_for_selector(".live-state >> text=live")
    events_tab.evaluate("() => { window.notReloaded = true; }")

    # The video camera, added with the form, and its live view.
    b.go("#/cameras")
    page.wait_for_selector("text=No cameras yet")
    page.click("text=Add camera")
    page.click("button:has-text('Add camera')")  # empty: the form says what is missing
    page.wait_for_selector("text=Give the camera a name.")
    assert page.evaluate("() => document.activeElement.id") == "f-name"
    page.fill("#f-name", "Hall")
    page.fill("#f-url", str(video))
    page.fill("#f-process_fps", "45")
    page.click("button:has-text('Add camera')")
    page.wait_for_selector("text=Enter a number from 0.1 to 30.")
    page.fill("#f-process_fps", "6")
    page.check("#f-loop")
    b.shot("03-camera-form")
    page.click("button:has-text('Add camera')")
    page.wait_for_url(system.url + "/#/cameras")
    page.wait_for_function(LIVE_IMAGE, timeout=60_000)
    page.wait_for_selector(".camera-card >> text=streaming")
    b.shot("04-cameras-live")
    camera = system.http.get("/api/cameras").json()[0]
    assert camera["status"]["viewers"] == 1

    # The enrolled person's event appears in the other tab without a reload.
    events_tab.wait_for_selector(".event-row:has-text('Barack Obama')", timeout=60_000)
    assert events_tab.evaluate("() => window.notReloaded === true")
    assert events_tab.locator(".event-row:has-text('Hall')").count() >= 1
    events_tab.wait_for_selector(".event-row:has-text('unknown')", timeout=60_000)  # Biden, not enrolled
    b.shot("05-events-live", events_tab)

    # Leaving the cameras page ends the live view, so the worker stops rendering frames.
    b.go("#/overview")
    wait_until(
        lambda: system.http.get(f"/api/cameras/{camera['id']}").json()["status"]["viewers"] == 0,
        10,
        "the live view to close",
    )
    page.wait_for_selector("td:has-text('Hall')")
    page.wait_for_selector(".event-line")
    b.shot("06-overview")

    # The event opened: snapshot with the face's box.
    known = system.http.get("/api/events", params={"person_id": obama["id"]}).json()["items"][0]
    b.go(f"#/events/{known['id']}")
    page.wait_for_selector("svg.overlay rect.face.known")
    assert page.locator("svg.overlay text").text_content() == "Barack Obama"
    assert _natural_widths(page, ".snapshot-img")[0] == 640
    assert page.get_attribute("svg.overlay", "viewBox") == "0 0 640 360"
    b.shot("07-event-detail")

    # An unknown face, given to a new person in one step: the event names him from then on.
    b.go("#/unknown")
    page.wait_for_selector(".pick-tile img")
    event_id = page.locator(".pick-tile").first.get_attribute("data-event")
    page.locator(".pick-tile input.pick").first.check()
    page.check("#mode-new")
    page.fill("#target-new", "Joe Biden")
    page.click("button:has-text('Add 1 face')")
    page.wait_for_selector("text=1 face added to Joe Biden.", timeout=60_000)
    page.wait_for_selector(f".pick-tile.done[data-event='{event_id}'] >> text=added to Joe Biden")
    b.shot("08-unknown-assigned")
    biden = system.http.get("/api/persons", params={"q": "Biden"}).json()["items"]
    assert [p["face_count"] for p in biden] == [1]
    b.go("#/events")
    page.wait_for_selector(f"li[data-event='{event_id}'] .who >> text=Joe Biden")
    b.go("#/unknown")
    page.wait_for_selector(".pick-grid, .empty")
    assert page.locator(f".pick-tile[data-event='{event_id}']").count() == 0

    # Try a photo: both faces boxed and named, with candidates.
    b.go("#/try")
    page.set_input_files("input[type=file]", str(group_photo))
    page.wait_for_selector("text=2 faces found: 2 recognised, 0 unknown.", timeout=60_000)
    labels = page.locator("svg.overlay text").all_text_contents()
    assert sorted(labels) == ["1 · Barack Obama", "2 · Joe Biden"]
    assert page.locator(".face-result .candidates li").count() >= 2
    b.shot("09-try-a-photo")

    # The remaining pages, for the record.
    b.go("#/people")
    page.wait_for_selector(".person-line:has-text('Joe Biden')")
    b.shot("10-people")
    b.go(f"#/cameras/{camera['id']}")
    page.wait_for_selector("text=Current:")
    assert page.input_value("#f-url") == ""  # the stored address is never put back in a field
    b.shot("11-camera-edit")

    # What needs attention comes first: a camera that cannot connect, then no worker at all.
    system.http.post("/api/cameras", json={"name": "Gate", "url": f"rtsp://127.0.0.1:{free_port()}/none"})
    b.go("#/overview")
    page.wait_for_selector(".attention li.error:has-text('Camera “Gate” is')", timeout=30_000)
    system.dashboard_worker.stop()  # type: ignore[attr-defined]
    page.wait_for_selector(".attention li.error:has-text('No worker is connected')", timeout=15_000)
    page.wait_for_selector("td:has-text('offline')")
    b.shot("14-overview-needs-attention")

    # Signing out: nothing is reachable any more, in either tab.
    events_tab.close()
    page.click("text=Sign out")
    page.wait_for_url(system.url + "/login?ended=1")
    page.wait_for_selector("text=You have been signed out")
    page.goto(system.url + "/#/events")
    page.wait_for_url(SIGN_IN)
    status = page.evaluate("() => fetch('/api/persons').then(r => r.status)")
    assert status == 401
    assert page.evaluate("() => fetch('/static/js/app.js').then(r => r.status)") == 401
    assert not [c for c in b.context.cookies() if c["name"] == "facegrid_session"]
