"""Camera URLs: what each means, which are refused (in a sentence), and redaction that errs on masking."""

from __future__ import annotations

import pytest
from facegrid_common.camera_source import InvalidSource, SourceKind, parse_source, redact

SECRETS = ("s3cret", "pa?ss", "pw3", "pw5", "zz@", "pw7zz", "pw8zz", "hunter2", "p@ssw0rd", "p%40ssw0rd")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/stream1", "rtsp://***:***@10.0.0.5:554/stream1"),
        ("rtsp://admin@10.0.0.5/stream1", "rtsp://***@10.0.0.5/stream1"),
        (
            "http://user%40corp.example:p%40ss%3Aw%2Frd@cam.lan/video.mjpg",
            "http://***:***@cam.lan/video.mjpg",
        ),
        ("rtsp://admin:p@ss/w@rd@cam/s", "rtsp://***:***@cam/s"),  # unencoded @ and / in the password
        ("RTSPS://Admin:Pw@cam/s", "RTSPS://***:***@cam/s"),
        ("http://cam/video.cgi?user=admin&pwd=s3cret&res=hd", "http://cam/video.cgi?user=***&pwd=***&res=hd"),
        ("http://127.0.0.1:9/v.mjpg?api_key=hunter2", "http://127.0.0.1:9/v.mjpg?api_key=***"),
        ("http://cam/v.mjpg?X-Auth-Token=hunter2&sessionid=abc", "http://cam/v.mjpg?X-Auth-Token=***&sessionid=***"),
        ("rtsp://admin:pa?ss@127.0.0.1:9/s", "rtsp://***:***@127.0.0.1:9/s"),  # unencoded ?
        ("rtsp://user:pw3#frag@host", "rtsp://***:***@host"),  # unencoded #
        ("rtsp://user:pw5 zz@host", "rtsp://***:***@host"),  # a space cuts the password
        ("rtsp://user:pw5 zz", "rtsp://***:*** zz"),  # ...with no host after it: the authority goes
        ("rtsp:/user:pw7zz@host", "rtsp:/***:***@host"),  # one slash
        ("rtsp:user:pw7zz@host", "rtsp:***:***@host"),  # none
        ("file not found: user:pw8zz@127.0.0.1:1", "file not found: ***:***@127.0.0.1:1"),  # no scheme
        ("http://cam/snap@2x.jpg", "http://cam/snap@2x.jpg"),
        ("rtsp://10.0.0.5:554/stream1", "rtsp://10.0.0.5:554/stream1"),
        ("rtsp://[::1]:554/s", "rtsp://[::1]:554/s"),
        ("/srv/clips/door.mp4", "/srv/clips/door.mp4"),
        ("streaming again (rtsp://cam:554/s), 12 fps", "streaming again (rtsp://cam:554/s), 12 fps"),
        (
            "proxy http://relay/?src=rtsp%3A%2F%2Fadmin%3As3cret%40cam%2Fs failed",
            "proxy http://relay/?src=rtsp%3A%2F%2F***:***%40cam%2Fs failed",
        ),
        (
            "could not open 'rtsp://admin:s3cret@cam/s' (timeout)",
            "could not open 'rtsp://***:***@cam/s' (timeout)",
        ),
        (
            "camera 1 (rtsp://admin:pa?ss@127.0.0.1:9/s) -> worker w1",
            "camera 1 (rtsp://***:***@127.0.0.1:9/s) -> worker w1",
        ),
    ],
)
def test_redact_hides_credentials(text: str, shown: str):
    assert redact(text) == shown
    assert redact(shown) == shown  # masking twice changes nothing


@pytest.mark.parametrize(
    ("url", "kind", "target"),
    [
        ("rtsp://cam/s", SourceKind.RTSP, "rtsp://cam/s"),
        ("rtsps://cam/s", SourceKind.RTSP, "rtsps://cam/s"),
        ("  rtsp://cam/s ", SourceKind.RTSP, "rtsp://cam/s"),
        ("rtsp://admin:p%40ss@[::1]:8554/s", SourceKind.RTSP, "rtsp://admin:p%40ss@[::1]:8554/s"),
        ("http://cam/video.mjpg", SourceKind.HTTP, "http://cam/video.mjpg"),
        ("https://cam/video.mjpg", SourceKind.HTTP, "https://cam/video.mjpg"),
        ("/srv/clips/door.mp4", SourceKind.FILE, "/srv/clips/door.mp4"),
        ("/srv/my clips/door.mp4", SourceKind.FILE, "/srv/my clips/door.mp4"),
        ("file:///srv/clips/my%20door.mp4", SourceKind.FILE, "/srv/clips/my door.mp4"),
        ("/dev/video2", SourceKind.DEVICE, "/dev/video2"),
        ("0", SourceKind.DEVICE, 0),
        (3, SourceKind.DEVICE, 3),
    ],
)
def test_parse_source_kinds(url: str | int, kind: SourceKind, target: str | int):
    source = parse_source(url)
    assert (source.kind, source.target) == (kind, target)
    assert source.is_live == (kind is not SourceKind.FILE)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://admin:s3cret@cam/x", "ftp:// addresses are not supported"),
        ("ftp://x/y", "not supported"),
        ("garbage thing", "not a camera address"),
        ("htp//192.0.2.1/stream", "not a camera address"),
        ("clips/door.mp4", "absolute path"),
        ("", "empty"),
        ("   ", "empty"),
        ("a\nb", "control characters"),
        ("99", "out of range"),
        ("rtsp://admin:s3cret@/x", "no host"),
        ("rtsp://admin:pa?ss@127.0.0.1:9/s", "%3F"),
        ("rtsp://admin:1234?s3cret@127.0.0.1:9/s", "ambiguous"),
        ("rtsp://admin:p@ssw0rd/x@cam/s", "ambiguous"),
        ("rtsp://user:pw3#frag@host", "%23"),
        ("rtsp://user:pw5 zz@host", "contains a space"),
        ("rtsp:/user:pw7zz@host", "write rtsp://"),
        ("user:pw8zz@127.0.0.1:1", "not a camera address"),
        ("rtsp://cam:99999/s", "port"),
    ],
)
def test_parse_source_refuses_in_a_sentence_without_echoing_secrets(url: str, says: str):
    with pytest.raises(InvalidSource) as caught:
        parse_source(url)
    message = str(caught.value)
    assert says in message and message.endswith(".") and message[0].isupper()
    assert not any(secret in message for secret in SECRETS) and "user" not in message.split(";")[0]


def test_source_never_shows_its_credentials():
    source = parse_source("rtsp://admin:p%40ssw0rd@cam/s")
    assert "p%40ssw0rd" not in repr(source) and "p@ssw0rd" not in repr(source)
    assert source.display == "rtsp://***:***@cam/s"
    # A library echoing the decoded password on its own is caught too.
    assert source.scrub("auth failed for admin with p@ssw0rd") == "auth failed for *** with ***"
