"""HEIC input end to end against the real binary: uploaded over the S3 API and rendered
by x-oss-process, served unprocessed as stored, fetched from an HTTP origin; HEIC output
and broken HEIC files refused with the door's XML error while the server keeps serving.

The files are crates/imaging's fixtures (crates/imaging/tests/fixtures/make.py): a
320x240 photo as HEIC, the same photo stored sideways with irot and EXIF orientation 6
(as iPhones write it), and a HEIC cut short."""
import io
import uuid

import pytest
import requests
from PIL import Image, ImageChops, ImageStat

from conftest import ROOT, Imgd

FIXTURES = ROOT / "crates" / "imaging" / "tests" / "fixtures"
PHOTO_JPG = (FIXTURES / "photo.jpg").read_bytes()
PHOTO = (FIXTURES / "photo.heic").read_bytes()
IPHONE = (FIXTURES / "iphone.heic").read_bytes()
TRUNCATED = (FIXTURES / "truncated.heic").read_bytes()


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


@pytest.fixture(scope="module")
def heic_bucket(imgd):
    s3 = imgd.client()
    name = f"heic-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name, ACL="public-read")
    for key, body in (("photo.heic", PHOTO), ("iphone.heic", IPHONE), ("cut.heic", TRUNCATED)):
        s3.put_object(Bucket=name, Key=key, Body=body, ContentType="image/heic")
    return name


def get(imgd, bucket: str, key: str, ops: str | None = None) -> requests.Response:
    params = {"x-oss-process": ops} if ops else None
    return requests.get(f"{imgd.endpoint}/{bucket}/{key}", params=params, timeout=60)


def test_a_heic_upload_renders_to_an_upright_jpeg(imgd, heic_bucket):
    expected = Image.open(io.BytesIO(PHOTO_JPG)).convert("RGB").resize((200, 150), Image.LANCZOS)
    for key in ("photo.heic", "iphone.heic"):
        r = get(imgd, heic_bucket, key, "image/resize,w_200/format,jpg")
        assert r.status_code == 200, (key, r.text)
        assert r.headers["Content-Type"] == "image/jpeg"
        img = Image.open(io.BytesIO(r.content))
        assert img.format == "JPEG" and img.size == (200, 150), (key, img.size)
        # Upright, and turned once: the photo itself, not it upside down.
        upright = mean_difference(img, expected)
        upside_down = mean_difference(img, expected.transpose(Image.ROTATE_180))
        assert upright < 6 and upside_down > 3 * upright, (key, upright, upside_down)


def test_an_unprocessed_get_returns_the_stored_heic(imgd, heic_bucket):
    r = get(imgd, heic_bucket, "iphone.heic")
    assert r.status_code == 200
    assert r.content == IPHONE
    assert r.headers["Content-Type"] == "image/heic"


def test_heic_output_is_refused_with_the_xml_error(imgd, heic_bucket):
    for key in ("photo.heic", "iphone.heic"):
        r = get(imgd, heic_bucket, key, "image/resize,w_100/format,heic")
        assert r.status_code == 400, r.text
        assert "<Error>" in r.text and "<Code>" in r.text and "heic is not supported" in r.text


def test_a_broken_heic_is_a_clean_4xx_and_the_server_carries_on(imgd, heic_bucket):
    r = get(imgd, heic_bucket, "cut.heic", "image/resize,w_100/format,jpg")
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert "<Error>" in r.text and "<Code>" in r.text
    assert requests.get(f"{imgd.endpoint}/_imgd/health", timeout=10).status_code == 200
    ok = get(imgd, heic_bucket, "photo.heic", "image/resize,w_80/format,png")
    assert ok.status_code == 200 and Image.open(io.BytesIO(ok.content)).size == (80, 60)


def test_a_heic_from_an_http_origin_is_fetched_and_rendered(tmp_path):
    from origin_server import Origin

    origin = Origin()
    server = Imgd(tmp_path / "data", env={"IMGD_FETCH_ALLOW": "127.0.0.1/32"}).start()
    try:
        # The origin's Content-Type is not trusted; the bytes say HEIC.
        origin.serve("/p/photo.heic", PHOTO, headers={"Content-Type": "application/octet-stream"})
        name = f"o-{uuid.uuid4().hex[:8]}"
        server.cli("bucket", "create", name, "--public")
        server.cli("bucket", "origin", name, "--http", f"{origin.base}/p")
        r = requests.get(f"{server.endpoint}/{name}/photo.heic", params={"x-oss-process": "image/resize,w_160/format,webp"}, timeout=60)
        assert r.status_code == 200, r.text
        assert Image.open(io.BytesIO(r.content)).size == (160, 120)
        plain = requests.get(f"{server.endpoint}/{name}/photo.heic", timeout=60)
        assert plain.status_code == 200 and plain.content == PHOTO
        assert plain.headers["Content-Type"] == "image/heic"
    finally:
        server.stop()
        origin.close()
