"""Error codes and HTTP statuses: one table, CODE_STATUS, that every answer and example follows."""

from __future__ import annotations

from app.errors import CODE_STATUS, status_of
from app.images import ImageError, InvalidImage, TooManyPixels, UnsupportedImageType
from app.routes.responses import _EXAMPLES, _IMAGE_422


def test_every_documented_example_has_its_codes_status():
    examples = [(status, e) for status, named in _EXAMPLES.items() for e in named.values()]
    examples += [(422, e) for e in _IMAGE_422.values()]
    for status, example in examples:
        assert status_of(example["code"]) == status, example


def test_image_errors_and_worker_faults_map_through_the_table():
    for error in (ImageError, InvalidImage, UnsupportedImageType, TooManyPixels):
        assert error.code in CODE_STATUS
    assert status_of("internal") == status_of("unsupported") == 502
