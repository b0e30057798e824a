"""Regions of interest: where a tracked face is looked for between scans, and at what scale.

Geometry is checked with plain boxes; :func:`detect_near` runs the real HOG detector on a
real photo (the pipeline's region detector, upsample 0).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from app.cameras.regions import Region, detect_near, distinct, region_around
from app.cameras.track import iou
from app.vision.box import Box
from app.vision.decode import decode_image
from app.vision.detect import Detection
from app.vision.pipeline import FacePipeline


def test_a_region_is_the_face_grown_by_its_size_on_each_side_and_scaled_to_100_px():
    region = region_around(Box(200, 100, 50, 50), 640, 360)
    assert region == Region(Box(150, 50, 150, 150), (300, 300))


def test_a_big_face_is_shrunk_and_its_region_clipped_to_the_frame():
    region = region_around(Box(100, 50, 250, 250), 640, 360)
    assert region == Region(Box(0, 0, 600, 360), (240, 144))


def test_a_face_cut_by_the_edge_keeps_the_part_of_its_region_inside():
    region = region_around(Box(-10, 300, 80, 80), 640, 360)
    assert region is not None and region.box == Box(0, 220, 150, 140)
    assert region.size == (188, 175)  # still scaled by the face's size (100 / 80), not the clipped part's


def test_a_face_outside_the_frame_has_no_region():
    assert region_around(Box(700, 0, 50, 50), 640, 360) is None
    assert region_around(Box(0, -120, 50, 50), 640, 360) is None


def test_boxes_found_in_the_crop_map_back_to_frame_pixels():
    face = Box(203, 97, 48, 52)
    region = region_around(face, 640, 360)
    assert region is not None
    sx, sy = region.size[0] / region.box.width, region.size[1] / region.box.height
    in_crop = Box.from_edges(
        (face.x - region.box.x) * sx, (face.y - region.box.y) * sy,
        (face.right - region.box.x) * sx, (face.bottom - region.box.y) * sy,
    )
    assert region.to_frame(in_crop) == face
    assert region.to_frame(Box(-20, 0, 40, 40)).x < region.box.x  # unclipped, like every detection


def test_the_crop_is_the_region_resized_and_in_rgb():
    image = np.zeros((360, 640, 3), np.uint8)
    image[50:200, 150:300] = (255, 0, 0)  # blue in BGR, exactly the region
    region = region_around(Box(200, 100, 50, 50), 640, 360)
    assert region is not None
    crop = region.crop(image)
    assert crop.shape == (300, 300, 3)
    assert (crop == (0, 0, 255)).all()  # blue in RGB


def test_one_face_seen_from_two_regions_counts_once():
    a = Detection(Box(100, 100, 80, 80), 1.5)
    b = Detection(Box(104, 98, 80, 80), 2.0)  # the same face, from an overlapping region
    c = Detection(Box(300, 100, 80, 80), 0.5)
    assert distinct([a, b, c]) == [b, c]
    assert distinct([]) == []


def test_a_tracked_face_is_found_near_its_last_box(
    pipeline: FacePipeline, read_sample: Callable[[str], bytes]
):
    # obama.jpg: its face is about (361, 134, 256, 256). The last box is off by a quarter
    # of the face, and a second track overlaps it: the face is found once, where it is.
    image = decode_image(read_sample("obama.jpg"))
    height, width = image.shape[:2]
    full = pipeline.region_detector.detect(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    assert len(full) == 1
    face = full[0].box
    last = Box(face.x + 60, face.y - 50, face.width, face.height)
    near = detect_near(pipeline.region_detector, image, [last, Box(last.x + 20, last.y, 200, 200)])
    assert len(near) == 1 and iou(near[0].box, face) > 0.7, (near, face)
    corner = Box(0, height - 40, 40, 40)  # small, far from the face: its region holds no face
    assert region_around(corner, width, height) is not None
    assert detect_near(pipeline.region_detector, image, [corner]) == []
