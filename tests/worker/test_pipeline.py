"""FacePipeline on real photos: who matches whom, where boxes land, and what it refuses."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cv2
import dlib
import numpy as np
import pytest
from app.vision.decode import decode_image
from app.vision.detect import CnnDetector, HogDetector, create_detector, shrink
from app.vision.embed import EMBEDDING_SIZE, distance
from app.vision.errors import UnknownDetector, UnreadableImage
from app.vision.pipeline import DetectedFace, FaceAnalysis, FacePipeline

ReadSample = Callable[[str], bytes]
OBAMAS = ("obama.jpg", "obama2.jpg", "obama3.jpg")
SAME_PERSON = 0.6  # dlib's documented threshold for its ResNet descriptors


def encode(image: np.ndarray, ext: str = ".jpg") -> bytes:
    ok, buffer = cv2.imencode(ext, image, [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == ".jpg" else [])
    assert ok
    return buffer.tobytes()


def only_face(analysis: FaceAnalysis) -> DetectedFace:
    assert len(analysis.faces) == 1 and analysis.found == 1, analysis
    return analysis.faces[0]


@pytest.fixture(scope="module")
def embeddings(pipeline: FacePipeline, read_sample: ReadSample) -> dict[str, np.ndarray]:
    found = {}
    for name in (*OBAMAS, "biden.jpg", "32bit.png", "obama_partial_face.jpg", "obama_partial_face2.jpg"):
        embedding = only_face(pipeline.analyze(read_sample(name))).embedding
        assert embedding is not None
        found[name] = embedding
    return found


# --- recognition ------------------------------------------------------------------


def test_photos_of_one_person_are_within_threshold(embeddings: dict[str, np.ndarray]):
    for i, a in enumerate(OBAMAS):
        for b in OBAMAS[i + 1 :]:
            assert distance(embeddings[a], embeddings[b]) < SAME_PERSON, (a, b)


def test_different_people_are_beyond_threshold(embeddings: dict[str, np.ndarray]):
    for name in OBAMAS:
        assert distance(embeddings[name], embeddings["biden.jpg"]) > SAME_PERSON, name


def test_embedding_is_128_float32_values(embeddings: dict[str, np.ndarray]):
    vector = embeddings["obama.jpg"]
    assert vector.shape == (EMBEDDING_SIZE,) and vector.dtype == np.float32
    assert 0.5 < float(np.linalg.norm(vector)) < 1.5


def test_32_bit_png_matches_the_same_photo_as_jpeg(embeddings: dict[str, np.ndarray]):
    # 32bit.png is obama2.jpg with an (opaque) alpha channel added.
    assert distance(embeddings["32bit.png"], embeddings["obama2.jpg"]) < 0.1


# --- geometry ----------------------------------------------------------------------


def test_boxes_are_in_original_image_coordinates(pipeline: FacePipeline, read_sample: ReadSample):
    photo = decode_image(read_sample("obama.jpg"))
    doubled = cv2.resize(photo, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    small = only_face(pipeline.analyze(encode(photo)))
    large = only_face(pipeline.analyze(encode(doubled)))
    tolerance = 0.05 * large.box.width
    for a, b in zip(
        (small.box.x, small.box.y, small.box.width, small.box.height),
        (large.box.x, large.box.y, large.box.width, large.box.height),
        strict=True,
    ):
        assert abs(2 * a - b) <= tolerance
    for (xa, ya), (xb, yb) in zip(small.landmarks, large.landmarks, strict=True):
        assert abs(2 * xa - xb) <= tolerance and abs(2 * ya - yb) <= tolerance


def test_large_image_is_shrunk_for_detection_and_boxes_mapped_back(
    pipeline: FacePipeline, read_sample: ReadSample
):
    photo = decode_image(read_sample("obama.jpg"))
    tripled = cv2.resize(photo, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)  # 2730x3411
    small, fx, fy = shrink(tripled, 960)
    assert small.shape[:2] == (960, 768)
    assert (fx, fy) == (pytest.approx(2730 / 768), pytest.approx(3411 / 960))
    face = only_face(pipeline.analyze(encode(tripled)))
    reference = only_face(pipeline.analyze(encode(photo)))
    assert face.box.width == pytest.approx(3 * reference.box.width, rel=0.1)
    assert face.box.x == pytest.approx(3 * reference.box.x, rel=0.1)
    assert face.box.y == pytest.approx(3 * reference.box.y, rel=0.1)
    # Embedded at full resolution: still the same face.
    assert face.embedding is not None and reference.embedding is not None
    assert distance(face.embedding, reference.embedding) < 0.2


@pytest.mark.parametrize(
    ("name", "edge"),
    [("obama_partial_face.jpg", "left"), ("obama_partial_face2.jpg", "right")],
)
def test_partial_faces_are_found_clipped_and_still_recognised(
    pipeline: FacePipeline, read_sample: ReadSample, embeddings: dict[str, np.ndarray], name: str, edge: str
):
    # The frame cuts off part of the face (one eye's outer half). HOG still fires on
    # the rest; its box runs past the edge and is clipped for the report, quality's
    # `visible` says how much is missing, and the descriptor still matches.
    face = only_face(pipeline.analyze(read_sample(name)))
    if edge == "left":
        assert face.box.x == 0
    else:
        assert face.box.right == decode_image(read_sample(name)).shape[1]
    assert 0.6 < face.quality.visible < 0.95
    assert face.quality.score == pytest.approx(face.quality.visible, abs=0.01)
    assert distance(embeddings[name], embeddings["obama.jpg"]) < SAME_PERSON


def test_image_without_a_face_gives_no_faces(pipeline: FacePipeline, read_sample: ReadSample):
    photo = decode_image(read_sample("obama.jpg"))
    below_the_face = photo[600:, :]  # suit, arms, flag
    assert pipeline.analyze(encode(below_the_face)).faces == []


def test_min_face_size_filters(pipeline: FacePipeline, read_sample: ReadSample):
    data = read_sample("biden.jpg")
    size = only_face(pipeline.analyze(data, embed=False)).quality.size
    assert len(pipeline.analyze(data, embed=False, min_face_size=size).faces) == 1
    assert pipeline.analyze(data, embed=False, min_face_size=size + 1).found == 0


def test_several_faces_come_largest_first_and_max_faces_keeps_the_largest(
    pipeline: FacePipeline, read_sample: ReadSample, embeddings: dict[str, np.ndarray]
):
    obama, biden = decode_image(read_sample("obama.jpg")), decode_image(read_sample("biden.jpg"))
    height = max(obama.shape[0], biden.shape[0])
    pad = lambda image: cv2.copyMakeBorder(image, 0, height - image.shape[0], 0, 0, cv2.BORDER_CONSTANT)  # noqa: E731
    both = encode(np.hstack([pad(obama), pad(biden)]))
    faces = pipeline.analyze(both).faces
    assert len(faces) == 2
    assert faces[0].quality.size > faces[1].quality.size  # Biden's face is the larger one
    assert faces[0].box.x > obama.shape[1]
    capped = pipeline.analyze(both, max_faces=1)
    assert [f.box for f in capped.faces] == [faces[0].box] and capped.found == 2
    assert faces[0].embedding is not None
    assert distance(faces[0].embedding, embeddings["biden.jpg"]) < 0.1


# --- quality, crops, serialisation -------------------------------------------------------


def test_blur_lowers_sharpness_and_score(pipeline: FacePipeline, read_sample: ReadSample):
    photo = decode_image(read_sample("obama.jpg"))
    sharp = only_face(pipeline.analyze(encode(photo), embed=False)).quality
    blurred = only_face(pipeline.analyze(encode(cv2.GaussianBlur(photo, (0, 0), 6)), embed=False)).quality
    assert sharp.score == 1.0
    assert blurred.sharpness < sharp.sharpness / 10
    assert blurred.score < 0.3


def test_without_embed_faces_have_landmarks_and_quality_only(pipeline: FacePipeline, read_sample: ReadSample):
    face = only_face(pipeline.analyze(read_sample("obama.jpg"), embed=False))
    assert face.embedding is None and face.crop_jpeg is None
    assert len(face.landmarks) == 5
    box = face.box
    assert all(box.x <= x < box.right and box.y <= y < box.bottom for x, y in face.landmarks)
    (left_outer, _, right_outer, _, nose) = face.landmarks
    assert right_outer[0] < nose[0] < left_outer[0]  # the subject's left eye is on the image's right


def test_results_are_json_and_crops_are_jpeg(pipeline: FacePipeline, read_sample: ReadSample):
    analysis = pipeline.analyze(read_sample("obama.jpg"), crops=True)
    assert (analysis.width, analysis.height) == (910, 1137)
    face = only_face(analysis)
    assert face.crop_jpeg is not None
    crop = cv2.imdecode(np.frombuffer(face.crop_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert crop is not None and max(crop.shape[:2]) <= 256
    plain = json.loads(json.dumps(face.to_dict()))
    assert set(plain) == {"box", "score", "landmarks", "quality", "embedding"}
    assert len(plain["embedding"]) == EMBEDDING_SIZE
    assert set(plain["box"]) == {"x", "y", "width", "height"}
    assert set(plain["quality"]) == {"size", "sharpness", "visible", "score"}
    assert "embedding" not in only_face(pipeline.analyze(read_sample("obama.jpg"), embed=False)).to_dict()


def test_bad_bytes_raise_unreadable_image(pipeline: FacePipeline):
    with pytest.raises(UnreadableImage):
        pipeline.analyze(b"not an image")


# --- threads, start-up, configuration ---------------------------------------------------


def test_concurrent_calls_give_the_same_results(pipeline: FacePipeline, read_sample: ReadSample):
    # One dlib HOG detector shared by two threads segfaulted; the pipeline must not.
    names = ["obama.jpg", "biden.jpg", "obama2.jpg", "obama_partial_face.jpg"]
    serial = {name: only_face(pipeline.analyze(read_sample(name))) for name in names}
    threads_seen: set[int] = set()

    def run(name: str) -> tuple[str, DetectedFace]:
        threads_seen.add(threading.get_ident())
        return name, only_face(pipeline.analyze(read_sample(name)))

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, names * 2))
    assert len(threads_seen) > 1
    for name, face in results:
        expected = serial[name]
        assert face.box == expected.box
        assert face.embedding is not None and expected.embedding is not None
        assert np.array_equal(face.embedding, expected.embedding)


def test_self_test_passes_and_times_each_stage(pipeline: FacePipeline):
    timings = pipeline.self_test()
    assert set(timings) == {"decode_ms", "detect_ms", "embed_ms"}
    assert all(value >= 0 for value in timings.values())


def test_models_lists_versions(pipeline: FacePipeline):
    models = pipeline.models()
    assert models["dlib"] == dlib.__version__
    assert models["opencv"] == cv2.__version__
    assert models["embedding"].startswith("dlib_face_recognition_resnet_model_v1.dat sha256:")
    assert models["landmarks"].startswith("shape_predictor_5_face_landmarks.dat sha256:")
    assert models["detector"].startswith("dlib-hog-frontal (upsample=0, max_side=960)")
    assert models["face_recognition_models"] == "0.3.0"


def test_default_pipeline_finds_the_same_face(pipeline: FacePipeline, read_sample: ReadSample):
    default = FacePipeline()  # upsample 1, detection at 960 px: what the worker runs
    data = read_sample("obama.jpg")
    face = only_face(default.analyze(data))
    reference = only_face(pipeline.analyze(data))
    assert face.box.width == pytest.approx(reference.box.width, rel=0.15)
    assert face.embedding is not None and reference.embedding is not None
    assert distance(face.embedding, reference.embedding) < 0.1


def test_detectors_are_chosen_by_name():
    assert isinstance(create_detector("hog", upsample=0), HogDetector)
    with pytest.raises(UnknownDetector, match="available: cnn, hog"):
        create_detector("yolo")
    with pytest.raises(UnknownDetector):
        FacePipeline("yolo")


def test_cnn_detector_finds_the_face_in_original_coordinates(read_sample: ReadSample):
    # The CNN is slow on CPU (seconds per image), so it runs on a small image here; a
    # 320 px max side also exercises the shrink-and-map-back path.
    photo = decode_image(read_sample("obama.jpg"))
    small = cv2.resize(photo, (455, 568), interpolation=cv2.INTER_AREA)
    rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
    cnn = CnnDetector(upsample=0, max_side=320)
    found = cnn.detect(rgb)
    assert len(found) == 1 and found[0].score > 0.5
    hog = HogDetector(upsample=0, max_side=None).detect(rgb)[0]
    box = found[0].box
    assert abs((box.x + box.right) / 2 - (hog.box.x + hog.box.right) / 2) < 0.15 * hog.box.width
    assert abs((box.y + box.bottom) / 2 - (hog.box.y + hog.box.bottom) / 2) < 0.2 * hog.box.height
