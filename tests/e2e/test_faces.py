"""Enrollment, recognition, verification and detection with real photos, a real API and worker."""

from __future__ import annotations

import signal
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import psutil
import pytest
from harness import Api, Worker, wait_until

MB = 1024 * 1024


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Worker]]:
    """One API and one worker for the module: loading the models takes a few seconds."""
    tmp = tmp_path_factory.mktemp("faces")
    api = Api(
        tmp, MAX_UPLOAD_MB="2", ENROLL_MIN_FACE_SIZE="100", HEARTBEAT_INTERVAL="1", HEARTBEAT_TIMEOUT="3"
    )
    api.start()
    worker = Worker(api, "face-worker", tmp)
    worker.start()
    worker.wait_registered(timeout=60)
    yield api, worker
    worker.stop()
    api.stop()


@pytest.fixture
def api(system: tuple[Api, Worker]) -> Api:
    return system[0]


@pytest.fixture(scope="module")
def photos(sample_faces: Path) -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in sample_faces.iterdir()}


def _jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


def _image(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


@pytest.fixture
def obama(api: Api, photos: dict[str, bytes]) -> Iterator[int]:
    """A person enrolled from two photos, deleted afterwards."""
    person = api.http.post("/api/persons", json={"name": "Barack Obama"}).json()
    files = [("files", ("obama.jpg", photos["obama"])), ("files", ("obama2.jpg", photos["obama2"]))]
    enrolled = api.http.post(f"/api/persons/{person['id']}/faces", files=files).json()
    assert enrolled["enrolled"] == 2, enrolled
    yield person["id"]
    api.http.delete(f"/api/persons/{person['id']}")


def _recognize(api: Api, data: bytes, **form: str) -> httpx.Response:
    return api.http.post("/api/recognize", files={"file": ("photo", data)}, data=form)


def test_enrolled_person_is_recognized_and_others_are_unknown(api, photos, obama):
    third = _recognize(api, photos["obama3"]).json()
    assert len(third["faces"]) == 1
    match = third["faces"][0]["match"]
    assert match["person_id"] == obama and match["name"] == "Barack Obama"
    assert match["distance"] < 0.6 and 0.5 < match["similarity"] <= 1
    assert third["faces"][0]["box"]["width"] > 100

    biden = _recognize(api, photos["biden"]).json()["faces"][0]
    assert biden["match"] is None
    assert biden["candidates"][0]["person_id"] == obama and biden["candidates"][0]["distance"] > 0.6

    strict = _recognize(api, photos["obama3"], threshold="0.2").json()
    assert strict["threshold"] == 0.2 and strict["faces"][0]["match"] is None


def test_rgba_png_and_partial_faces_behave(api, photos, obama):
    rgba = _recognize(api, photos["32bit"]).json()["faces"]
    assert len(rgba) == 1 and rgba[0]["match"]["person_id"] == obama
    for name in ("obama_partial_face", "obama_partial_face2"):
        faces = _recognize(api, photos[name]).json()["faces"]
        assert len(faces) == 1, name
        assert faces[0]["match"] is not None and faces[0]["match"]["person_id"] == obama, name


def test_verify_same_and_different(api, photos):
    def verify(a: str, b: str) -> dict:
        files = {"file1": ("a.jpg", photos[a]), "file2": ("b.jpg", photos[b])}
        return api.http.post("/api/verify", files=files).json()

    same = verify("obama", "obama3")
    assert same["same_person"] is True and same["distance"] < 0.6 and same["box1"]["width"] > 0
    different = verify("obama", "biden")
    assert different["same_person"] is False and different["distance"] > 0.6
    assert different["similarity"] < same["similarity"]


def test_detect_returns_boxes_landmarks_and_quality_in_original_coordinates(api, photos):
    image = _image(photos["obama"])
    doubled = cv2.resize(image, None, fx=2, fy=2)
    small = api.http.post("/api/detect", files={"file": ("a.jpg", photos["obama"])}).json()
    large = api.http.post("/api/detect", files={"file": ("b.jpg", _jpeg(doubled))}).json()
    assert (large["width"], large["height"]) == (2 * small["width"], 2 * small["height"])
    (a,), (b,) = small["faces"], large["faces"]
    assert len(a["landmarks"]) == 5 and a["quality"]["size"] > 100
    assert b["box"]["x"] == pytest.approx(2 * a["box"]["x"], abs=12)
    assert b["box"]["width"] == pytest.approx(2 * a["box"]["width"], rel=0.15)


def test_enrollment_gives_a_result_per_file_and_one_bad_file_blocks_nothing(api, photos):
    person = api.http.post("/api/persons", json={"name": "Mixed Bag"}).json()
    left, right = _image(photos["obama"]), _image(photos["biden"])
    right = cv2.resize(right, None, fx=left.shape[0] / right.shape[0], fy=left.shape[0] / right.shape[0])
    pair = np.hstack([left, right[: left.shape[0]]])
    tiny = cv2.resize(_image(photos["obama"]), None, fx=0.3, fy=0.3)
    blank = np.full((400, 400, 3), 127, np.uint8)
    files = [
        ("files", ("good.jpg", photos["obama3"])),
        ("files", ("pair.jpg", _jpeg(pair))),
        ("files", ("tiny.jpg", _jpeg(tiny))),
        ("files", ("wall.jpg", _jpeg(blank))),
        ("files", ("notes.txt", b"just some text, no image here")),
        ("files", ("cut.jpg", photos["obama"][:5000])),
        ("files", ("empty.jpg", b"")),
        ("files", ("bomb.png", _png_claiming(100_000, 100_000))),
    ]
    out = api.http.post(f"/api/persons/{person['id']}/faces", files=files).json()
    codes = {r["filename"]: r["code"] for r in out["results"]}
    assert codes == {
        "good.jpg": None,
        "pair.jpg": "multiple_faces",
        "tiny.jpg": "face_too_small",
        "wall.jpg": "no_face",
        "notes.txt": "unsupported_type",
        "cut.jpg": "invalid_image",
        "empty.jpg": "invalid_image",
        "bomb.png": "too_large",
    }
    assert out["enrolled"] == 1 and out["refused"] == 7
    assert all(r["reason"] for r in out["results"] if r["status"] == "refused")
    faces = api.http.get(f"/api/persons/{person['id']}/faces").json()
    assert [f["source_name"] for f in faces] == ["good.jpg"]
    crop = api.http.get(faces[0]["crop_url"])
    assert crop.headers["content-type"] == "image/jpeg" and _image(crop.content).shape[0] > 50
    api.http.delete(f"/api/persons/{person['id']}")


MULTIPART = {"content-type": "multipart/form-data; boundary=x"}


def _part(name: str, filename: str, data: bytes) -> bytes:
    head = f'--x\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n\r\n'
    return head.encode() + data + b"\r\n"


class LongBody:
    """A multipart body of 100 MB, far over any limit here: ``before``, then one part that goes on.

    ``sent`` counts what the client handed to its socket: a server that stops reading stops it
    (give or take what the socket buffers hold).
    """

    def __init__(self, before: bytes, name: str, filename: str) -> None:
        self.head = before + _part(name, filename, b"")[:-2]
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        for _ in range(1600):
            self.sent += 64 * 1024
            yield b"\0" * (64 * 1024)


def _post_long(api: Api, url: str, body: LongBody, *, limit: int = 20 * MB) -> httpx.Response:
    response = api.http.post(url, content=body, headers=MULTIPART)
    assert body.sent < limit, f"the client sent {body.sent / MB:.0f} MB before the answer"
    return response


def test_a_photo_over_the_limit_is_refused_alone(api, photos):
    person = api.http.post("/api/persons", json={"name": "Oversized"}).json()
    url = f"/api/persons/{person['id']}/faces"
    body = (
        _part("files", "good.jpg", photos["obama3"])
        + _part("files", "huge.jpg", b"\xff\xd8\xff\xe0" + b"\0" * (3 * MB))  # MAX_UPLOAD_MB is 2
        + _part("files", "good2.jpg", photos["obama2"])
        + b"--x--\r\n"
    )
    response = api.http.post(url, content=body, headers=MULTIPART)
    assert response.status_code == 200, response.text
    results = {r["filename"]: r for r in response.json()["results"]}
    assert results["good.jpg"]["status"] == results["good2.jpg"]["status"] == "enrolled"
    assert results["huge.jpg"]["status"] == "refused" and results["huge.jpg"]["code"] == "too_large"
    assert "2 MB (MAX_UPLOAD_MB)" in results["huge.jpg"]["reason"]
    assert len(api.http.get(url).json()) == 2
    api.http.delete(f"/api/persons/{person['id']}")


def test_a_file_name_is_stored_without_control_characters_and_at_most_255_long(api, photos):
    person = api.http.post("/api/persons", json={"name": "Odd Names"}).json()
    url = f"/api/persons/{person['id']}/faces"
    long_name = "n" * 300 + ".jpg"
    body = (
        _part("files", "a\x01b\x7f\u202e\tc.jpg", photos["obama3"])
        + _part("files", long_name, photos["obama2"])
        + _part("files", "\x00\x1b", photos["obama"])
        + b"--x--\r\n"
    )
    response = api.http.post(url, content=body, headers=MULTIPART)
    assert response.status_code == 200, response.text
    expected = ["ab c.jpg", "n" * 251 + ".jpg", "upload"]
    assert [r["filename"] for r in response.json()["results"]] == expected
    assert sorted(f["source_name"] for f in api.http.get(url).json()) == sorted(expected)
    api.http.delete(f"/api/persons/{person['id']}")


def test_an_enrollment_body_over_the_total_limit_is_cut_off_and_enrolls_nothing(api, photos):
    person = api.http.post("/api/persons", json={"name": "Streamed"}).json()
    url = f"/api/persons/{person['id']}/faces"
    body = LongBody(_part("files", "good.jpg", photos["obama3"]), "files", "huge.jpg")
    # The whole body limit is 40 MB (2 MB x ENROLL_MAX_FILES): the server stops reading there,
    # long before the 100 MB end.
    response = _post_long(api, url, body, limit=60 * MB)
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "too_large"
    assert "MAX_UPLOAD_MB per photo x ENROLL_MAX_FILES" in response.json()["detail"]
    assert api.http.get(url).json() == []
    api.http.delete(f"/api/persons/{person['id']}")


def test_enrollment_refuses_before_reading_the_body(api, photos):
    nobody = _post_long(api, "/api/persons/999999/faces", LongBody(b"", "files", "a.jpg"))
    assert nobody.status_code == 404 and nobody.json()["code"] == "not_found"
    person = api.http.post("/api/persons", json={"name": "Bounded"}).json()
    url = f"/api/persons/{person['id']}/faces"
    many = b"".join(_part("files", f"{i}.jpg", b"x") for i in range(20))  # ENROLL_MAX_FILES is 20
    cases = {
        "more than 20 files sent": LongBody(many, "files", "21.jpg"),
        "unexpected form field 'file'": LongBody(b"", "file", "a.jpg"),
    }
    for words, body in cases.items():
        response = _post_long(api, url, body)
        assert response.status_code == 422 and words in response.json()["detail"], response.text
    text = b'--x\r\nContent-Disposition: form-data; name="files"\r\n\r\nhello\r\n--x--\r\n'
    assert "must hold files" in api.http.post(url, content=text, headers=MULTIPART).json()["detail"]
    assert "no photos" in api.http.post(url, content=b"--x--\r\n", headers=MULTIPART).json()["detail"]
    cut = _part("files", "a.jpg", photos["obama3"])
    assert "ends before" in api.http.post(url, content=cut, headers=MULTIPART).json()["detail"]
    assert api.http.get(url).json() == []
    api.http.delete(f"/api/persons/{person['id']}")


def _png_claiming(width: int, height: int) -> bytes:
    """A complete, tiny PNG whose header claims ``width`` x ``height``: a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 422, "empty"),
        (b"%PDF-1.4 not an image", 415, "accepted: JPEG, PNG, WebP, BMP, TIFF"),
        (b"GIF89a" + b"\0" * 100, 415, "GIF"),
        (_png_claiming(100_000, 100_000), 413, "pixels"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 50, 422, ""),
    ],
    ids=["empty", "pdf", "gif", "pixel-bomb", "corrupt-jpeg"],
)
def test_bad_images_get_precise_errors_and_the_worker_survives(system, data, status, words):
    api, worker = system
    response = _recognize(api, data)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert api.online()["face-worker"]["pid"] == worker.pid


def test_truncated_photo_is_refused(system, photos):
    api, worker = system
    response = _recognize(api, photos["obama"][: len(photos["obama"]) // 2])
    assert response.status_code == 422 and response.json()["code"] == "invalid_image"
    # Cut, then given an end-of-image marker: OpenCV alone would find a face in the half-grey picture.
    response = _recognize(api, photos["obama"][:100_000] + b"\xff\xd9")
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_image" and "truncated JPEG" in response.json()["detail"]
    assert api.online()["face-worker"]["pid"] == worker.pid


def test_oversize_upload_is_refused_before_it_is_read(api):
    body = b"\xff\xd8" + b"\0" * (5 * MB)
    declared = api.http.post("/api/recognize", files={"file": ("big.jpg", body)})
    assert declared.status_code == 413 and "2 MB (MAX_UPLOAD_MB)" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies as bytes arrive
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
        for _ in range(100):
            yield b"\0" * (64 * 1024)

    streamed = api.http.post(
        "/api/recognize", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert streamed.status_code == 413 and "MAX_UPLOAD_MB" in streamed.json()["detail"]


def test_every_error_answer_has_a_detail_and_a_code(api, photos):
    def chunked() -> Iterator[bytes]:
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
        for _ in range(100):
            yield b"\0" * (64 * 1024)

    answers = {
        "unauthorized": httpx.get(api.url + "/api/persons"),
        "not_found": api.http.get("/api/persons/999999"),
        "invalid_request": api.http.post("/api/persons", json={"name": 5}),
        "too_large": api.http.post(
            "/api/recognize", content=chunked(), headers={"content-type": "multipart/form-data; boundary=x"}
        ),
        "unsupported_type": _recognize(api, b"GIF89a" + b"\0" * 100),
        "invalid_image": _recognize(api, b""),
    }
    for code, response in answers.items():
        assert response.status_code >= 400 and set(response.json()) == {"detail", "code"}, response.text
        assert response.json()["code"] == code and response.json()["detail"], response.text
    assert api.http.get("/api/nowhere").json() == {"detail": "Not Found", "code": "not_found"}


def test_deleted_person_is_not_recognized_by_the_next_request(api, photos, obama):
    assert _recognize(api, photos["obama3"]).json()["faces"][0]["match"]["person_id"] == obama
    faces = api.http.get(f"/api/persons/{obama}/faces").json()
    assert api.http.delete(f"/api/persons/{obama}").status_code == 204
    after = _recognize(api, photos["obama3"]).json()["faces"][0]
    assert after["match"] is None and after["candidates"] == []
    assert api.http.get(f"/api/persons/{obama}").status_code == 404
    assert api.http.get(faces[0]["crop_url"]).status_code == 404
    assert not list((api.data_dir / "faces").glob(f"{faces[0]['id']}.jpg"))


def test_deleting_one_face_keeps_the_others(api, photos, obama):
    first, second = api.http.get(f"/api/persons/{obama}/faces").json()
    assert api.http.delete(f"/api/faces/{first['id']}").status_code == 204
    assert api.http.delete(f"/api/faces/{first['id']}").status_code == 404
    assert [f["id"] for f in api.http.get(f"/api/persons/{obama}/faces").json()] == [second["id"]]
    match = _recognize(api, photos["obama3"]).json()["faces"][0]["match"]
    assert match["face_id"] == second["id"]


def test_people_crud_search_and_paging(api):
    made = [
        api.http.post("/api/persons", json={"name": n, "external_id": f"x-{n}", "metadata": {"n": n}}).json()
        for n in ("Ada Lovelace", "Alan Turing", "Grace Hopper")
    ]
    conflict = api.http.post("/api/persons", json={"name": "Impostor", "external_id": "x-Alan Turing"})
    assert conflict.status_code == 409 and "already used" in conflict.json()["detail"]
    assert api.http.post("/api/persons", json={"name": ""}).status_code == 422
    found = api.http.get("/api/persons", params={"q": "TURING"}).json()
    assert [p["name"] for p in found["items"]] == ["Alan Turing"] and found["total"] == 1
    assert api.http.get("/api/persons", params={"q": "%"}).json()["total"] == 0
    page = api.http.get("/api/persons", params={"limit": 2, "offset": 1}).json()
    assert page["limit"] == 2 and len(page["items"]) <= 2 and page["total"] >= 3
    patched = api.http.patch(f"/api/persons/{made[0]['id']}", json={"name": "Ada King"}).json()
    assert patched["name"] == "Ada King" and patched["metadata"] == {"n": "Ada Lovelace"}
    assert api.http.patch("/api/persons/999999", json={"name": "x"}).status_code == 404
    assert api.http.post("/api/persons/999999/faces", files={"files": ("a.jpg", b"x")}).status_code == 404
    for person in made:
        assert api.http.delete(f"/api/persons/{person['id']}").status_code == 204


def test_names_and_searches_refuse_blank_text_and_control_characters(api):
    for name in ("", "   ", "\t\n", "Ada\x00Lovelace", "Ada\nLovelace", "\x7f"):
        refused = api.http.post("/api/persons", json={"name": name})
        assert refused.status_code == 422, repr(name)
        body = refused.json()
        assert body["code"] == "invalid_request" and body["detail"][0]["loc"] == ["body", "name"]
    assert api.http.post("/api/persons", json={"name": "Ada", "external_id": "x\x00"}).status_code == 422
    person = api.http.post("/api/persons", json={"name": "  Ada Lovelace  "}).json()
    assert person["name"] == "Ada Lovelace"
    assert api.http.patch(f"/api/persons/{person['id']}", json={"name": " "}).status_code == 422
    assert api.http.patch(f"/api/persons/{person['id']}", json={"name": "A\x00"}).status_code == 422
    search = api.http.get("/api/persons", params={"q": "\x00"})
    assert search.status_code == 422 and "control characters" in search.json()["detail"][0]["msg"]
    assert api.http.get("/api/persons", params={"q": "ada lo"}).json()["total"] == 1
    api.http.delete(f"/api/persons/{person['id']}")


def test_a_file_field_sent_twice_is_refused(api, photos):
    twice = [("file", ("a.jpg", photos["obama"])), ("file", ("b.jpg", photos["biden"]))]
    for route in ("/api/recognize", "/api/detect"):
        response = api.http.post(route, files=twice)
        assert response.status_code == 422, route
        assert response.json() == {"detail": "send one file in 'file', not 2", "code": "invalid_request"}
    files = [("file1", ("a.jpg", photos["obama"])), ("file1", ("b.jpg", photos["biden"]))]
    files.append(("file2", ("c.jpg", photos["obama3"])))
    response = api.http.post("/api/verify", files=files)
    assert response.status_code == 422 and "'file1'" in response.json()["detail"]


def test_no_worker_means_503(make_api, photos):
    lonely = make_api()
    response = _recognize(lonely, photos["obama"])
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.json()["code"] == "unavailable"


def test_a_crash_in_the_face_engine_fails_one_job_and_the_worker_stays(system, photos):
    api, worker = system
    big = _jpeg(cv2.resize(_image(photos["obama"]), None, fx=3, fy=3))
    answers: list[httpx.Response] = []
    request = threading.Thread(target=lambda: answers.append(_recognize(api, big)))
    engine = psutil.Process(worker.pid).children()
    assert engine, "the worker computes in a child process"
    request.start()
    wait_until(lambda: api.worker("face-worker")["status"] == "busy", 10, "the job to start")
    for child in engine:
        child.send_signal(signal.SIGKILL)
    request.join(60)
    assert answers[0].status_code == 422 and "crashed" in answers[0].json()["detail"]
    assert api.online()["face-worker"]["pid"] == worker.pid
    assert len(_recognize(api, photos["obama3"]).json()["faces"]) == 1
    assert "starting a fresh one" in worker.log()


def test_heartbeats_flow_while_the_worker_computes(system, photos):
    api, _ = system
    since = api.worker("face-worker")["connected_since"]
    big = _jpeg(cv2.resize(_image(photos["obama2"]), None, fx=2, fy=2))
    busy_until = time.monotonic() + 8  # back-to-back work for well over the 3 s heartbeat timeout
    while time.monotonic() < busy_until:
        assert _recognize(api, big).status_code == 200
    info = api.worker("face-worker")
    assert info["connected_since"] == since and info["status"] != "offline"
    assert "silent for" not in api.log()


def test_strangers_cannot_make_the_api_read_a_big_body(api):
    big = b"\xff\xd8" + b"\0" * MB

    def chunks() -> Iterator[bytes]:  # a client that never finishes: the answer must not wait for it
        yield b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n"
        while True:
            yield b"\0" * (64 * 1024)

    for headers in ({}, {"X-API-Key": "wrong-key"}, {"Cookie": "facegrid_session=forged"}):
        response = httpx.post(api.url + "/api/recognize", files={"file": ("a.jpg", big)}, headers=headers)
        assert response.status_code == 401, headers
        endless = httpx.post(
            api.url + "/api/recognize",
            content=chunks(),
            headers={**headers, "content-type": "multipart/form-data; boundary=x"},
            timeout=30,
        )
        assert endless.status_code == 401
