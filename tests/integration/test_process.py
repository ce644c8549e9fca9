"""Processing by URL: GET /{bucket}/{key}?x-oss-process=... through the real server."""
import io
import json

import pytest
import requests
from botocore.exceptions import ClientError
from PIL import Image

from conftest import CORPUS


@pytest.fixture(scope="module")
def images(imgd):
    s3 = imgd.client()
    s3.create_bucket(Bucket="proc-public", ACL="public-read")
    s3.create_bucket(Bucket="proc-private")
    for bucket in ("proc-public", "proc-private"):
        s3.put_object(Bucket=bucket, Key="saw.jpg", Body=(CORPUS / "2569067123_aca715a2ee_o.jpg").read_bytes(),
                      ContentType="image/jpeg")
    s3.put_object(Bucket="proc-public", Key="broken.jpg", Body=(CORPUS / "truncated.jpg").read_bytes())
    s3.put_object(Bucket="proc-public", Key="alpha.png", Body=(CORPUS / "with-alpha.png").read_bytes())
    s3.put_object(Bucket="proc-public", Key="anim.gif", Body=(CORPUS / "animated-loop-3.gif").read_bytes())
    return s3


def get(imgd, path, ops, **kw):
    return requests.get(f"{imgd.endpoint}/{path}", params={"x-oss-process": ops}, timeout=30, **kw)


def test_resize_and_formats_on_a_public_bucket(imgd, images):
    r = get(imgd, "proc-public/saw.jpg", "image/resize,w_100")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == (100, 82)
    for fmt, mime, pil in (("png", "image/png", "PNG"), ("webp", "image/webp", "WEBP"), ("jpg", "image/jpeg", "JPEG")):
        r = get(imgd, "proc-public/saw.jpg", f"image/resize,m_fill,w_64,h_64/format,{fmt}")
        assert r.status_code == 200 and r.headers["Content-Type"] == mime
        im = Image.open(io.BytesIO(r.content))
        assert im.format == pil and im.size == (64, 64)
    r = get(imgd, "proc-public/alpha.png", "image/resize,w_20")
    assert Image.open(io.BytesIO(r.content)).mode == "RGBA"


def test_variant_etag_and_304(imgd, images):
    source = requests.head(f"{imgd.endpoint}/proc-public/saw.jpg", timeout=10).headers["ETag"]
    a = get(imgd, "proc-public/saw.jpg", "image/resize,w_120")
    b = get(imgd, "proc-public/saw.jpg", "image/resize,w_121")
    assert a.headers["ETag"] not in (source, b.headers["ETag"])
    same = get(imgd, "proc-public/saw.jpg", "image/resize,w_120")
    assert same.headers["ETag"] == a.headers["ETag"]
    again = get(imgd, "proc-public/saw.jpg", "image/resize,w_120", headers={"If-None-Match": a.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""


def test_format_auto_follows_accept_and_varies(imgd, images):
    webp = get(imgd, "proc-public/saw.jpg", "image/resize,w_50/format,auto", headers={"Accept": "image/webp,*/*"})
    jpeg = get(imgd, "proc-public/saw.jpg", "image/resize,w_50/format,auto", headers={"Accept": "image/jpeg"})
    assert webp.headers["Content-Type"] == "image/webp" and jpeg.headers["Content-Type"] == "image/jpeg"
    assert webp.headers["Vary"] == "Accept" and jpeg.headers["Vary"] == "Accept"
    assert webp.headers["ETag"] != jpeg.headers["ETag"]
    # What the README promises: AVIF first when the client lists it, PNG for transparency
    # when neither modern format is accepted, and an animation stays animated.
    browser = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"
    avif = get(imgd, "proc-public/saw.jpg", "image/resize,w_50/format,auto", headers={"Accept": browser})
    assert avif.status_code == 200 and avif.headers["Content-Type"] == "image/avif"
    assert avif.content[4:12] == b"ftypavif" and avif.headers["Vary"] == "Accept"
    alpha = get(imgd, "proc-public/alpha.png", "image/resize,w_20/format,auto", headers={"Accept": "image/jpeg"})
    assert alpha.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(alpha.content)).mode == "RGBA"
    for accept, mime, frames_format in (("image/webp", "image/webp", "WEBP"), ("image/jpeg", "image/gif", "GIF")):
        anim = get(imgd, "proc-public/anim.gif", "image/resize,w_40/format,auto", headers={"Accept": accept})
        assert anim.status_code == 200 and anim.headers["Content-Type"] == mime, anim.text
        im = Image.open(io.BytesIO(anim.content))
        assert im.format == frames_format and getattr(im, "n_frames", 1) > 1


def test_info_and_average_hue(imgd, images):
    info = get(imgd, "proc-public/saw.jpg", "image/info")
    assert info.headers["Content-Type"] == "application/json"
    doc = info.json()
    assert doc["ImageWidth"]["value"] == "2725" and doc["ImageHeight"]["value"] == "2225"
    assert doc["Format"]["value"] == "jpg"
    hue = get(imgd, "proc-public/saw.jpg", "image/average-hue").json()
    assert hue["RGB"].startswith("0x") and len(hue["RGB"]) == 8


@pytest.mark.parametrize("ops,param", [
    ("image/resize,w_0", "w"),
    ("image/resize,w_100,bogus_1", "bogus"),
    ("image/nosuchaction,1", "nosuchaction"),
    ("image/rotate,361", "rotate"),
])
def test_bad_parameters_get_invalid_argument(imgd, images, ops, param):
    r = get(imgd, "proc-public/saw.jpg", ops)
    assert r.status_code == 400
    assert "<Code>InvalidArgument</Code>" in r.text and param in r.text, r.text


def test_broken_image_is_a_clear_4xx_and_the_server_keeps_serving(imgd, images):
    r = get(imgd, "proc-public/broken.jpg", "image/resize,w_10")
    assert r.status_code == 400 and "<Code>InvalidArgument</Code>" in r.text
    assert get(imgd, "proc-public/saw.jpg", "image/resize,w_10").status_code == 200


def test_private_bucket_needs_a_signature_and_sigv4_covers_the_process_parameter(imgd, images):
    assert get(imgd, "proc-private/saw.jpg", "image/resize,w_30").status_code == 403
    s3 = imgd.client()

    def add_process(request, **_):
        sep = "&" if "?" in request.url else "?"
        request.url += f"{sep}x-oss-process=image/resize,w_30/format,png"

    s3.meta.events.register("before-sign.s3.GetObject", add_process)
    got = s3.get_object(Bucket="proc-private", Key="saw.jpg")
    assert got["ContentType"] == "image/png"
    assert Image.open(io.BytesIO(got["Body"].read())).size[0] == 30
