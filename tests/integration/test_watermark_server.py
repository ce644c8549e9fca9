"""Image watermarks end to end: a mark image from the same bucket (`watermark,image_`),
where it lands (`g_`, `x_`, `y_`), how strongly (`t_`), its own nested process and `P_`
scaling, the mark's ETag inside the variant's ETag, and the variant cache dropping what a
mark was used in when the mark is overwritten or deleted.

The main image is one flat grey and the mark one flat colour, both PNG, and every render
is PNG, so a pixel differs from the unwatermarked render exactly where the mark was drawn.
"""
import base64
import io
import re

import pytest
import requests
from PIL import Image, ImageChops

from conftest import Imgd, metric

ADMIN = "admin-token-for-watermark-tests"
W, H = 400, 300
GREY = (128, 128, 128)
RED = (255, 0, 0)
BLUE = (0, 0, 255)
MARK_W, MARK_H = 80, 40


def png(size, colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode(body: bytes) -> Image.Image:
    return Image.open(io.BytesIO(body)).convert("RGB")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = Imgd(tmp_path_factory.mktemp("watermark") / "data", env={"IMGD_ADMIN_TOKEN": ADMIN}).start()
    s3 = server.client()
    s3.create_bucket(Bucket="marks", ACL="public-read")
    s3.put_object(Bucket="marks", Key="main.png", Body=png((W, H), GREY), ContentType="image/png")
    s3.put_object(Bucket="marks", Key="logo.png", Body=png((MARK_W, MARK_H), RED), ContentType="image/png")
    yield server
    server.stop()


def get(srv, ops: str, key: str = "main.png", **kw) -> requests.Response:
    r = requests.get(f"{srv.endpoint}/marks/{key}", params={"x-oss-process": ops}, timeout=60, **kw)
    assert r.status_code == 200, (ops, r.status_code, r.text[:300])
    assert r.headers["Content-Type"] == "image/png"
    return r


def mark_ops(mark: str = "logo.png", extra: str = "") -> str:
    return f"image/watermark,image_{b64(mark)}{extra}/format,png"


PLAIN = "image/format,png"


def changed_box(srv, ops: str) -> tuple[tuple[int, int, int, int] | None, Image.Image]:
    """The bounding box (left, top, right, bottom; right/bottom exclusive) of the pixels
    that differ from the unwatermarked render, and the watermarked image."""
    base = decode(get(srv, PLAIN).content)
    marked = decode(get(srv, ops).content)
    assert marked.size == base.size == (W, H)
    return ImageChops.difference(base, marked).getbbox(), marked


def test_unwatermarked_render_is_the_flat_source(srv):
    img = decode(get(srv, PLAIN).content)
    assert img.getextrema() == ((128, 128), (128, 128), (128, 128))


@pytest.mark.parametrize("gravity,box", [
    # Default gravity is south-east with 10 px margins.
    ("", (W - 10 - MARK_W, H - 10 - MARK_H, W - 10, H - 10)),
    (",g_se", (W - 10 - MARK_W, H - 10 - MARK_H, W - 10, H - 10)),
    (",g_nw", (10, 10, 10 + MARK_W, 10 + MARK_H)),
    (",g_nw,x_30,y_50", (30, 50, 30 + MARK_W, 50 + MARK_H)),
    (",g_center", ((W - MARK_W) // 2, (H - MARK_H) // 2, (W - MARK_W) // 2 + MARK_W, (H - MARK_H) // 2 + MARK_H)),
    (",g_north,y_0", ((W - MARK_W) // 2, 0, (W - MARK_W) // 2 + MARK_W, MARK_H)),
])
def test_the_mark_changes_exactly_the_pixels_where_it_is_placed(srv, gravity, box):
    got, marked = changed_box(srv, mark_ops(extra=gravity))
    assert got == box, (gravity, got)
    left, top, right, bottom = box
    assert marked.getpixel(((left + right) // 2, (top + bottom) // 2)) == RED
    # Inside the box every pixel is the mark; outside nothing changed (getbbox above).
    assert marked.crop(box).getextrema() == ((255, 255), (0, 0), (0, 0))


def test_opacity_blends_the_mark_and_zero_draws_nothing(srv):
    box = (W - 10 - MARK_W, H - 10 - MARK_H, W - 10, H - 10)
    centre = ((box[0] + box[2]) // 2, (box[1] + box[3]) // 2)
    full_box, full = changed_box(srv, mark_ops(extra=",t_100"))
    assert full_box == box and full.getpixel(centre) == RED
    half_box, half = changed_box(srv, mark_ops(extra=",t_50"))
    assert half_box == box
    r, g, b = half.getpixel(centre)
    # Half of red over grey: (255+128)/2 and 128/2, within rounding.
    assert abs(r - 191) <= 2 and abs(g - 64) <= 2 and abs(b - 64) <= 2, (r, g, b)
    faint_box, faint = changed_box(srv, mark_ops(extra=",t_20"))
    assert faint_box == box
    fr, fg, _ = faint.getpixel(centre)
    assert 128 < fr < r and 64 < fg < 128, faint.getpixel(centre)
    none_box, _ = changed_box(srv, mark_ops(extra=",t_0"))
    assert none_box is None


def test_nested_process_and_p_scale_the_mark(srv):
    # The mark's own process: resized to 40 px wide before it is placed.
    nested, _ = changed_box(srv, mark_ops("logo.png?x-oss-process=image/resize,w_40", ",g_nw"))
    assert nested == (10, 10, 10 + 40, 10 + 20)
    # P_: the mark fits 20 % of the main image (80x60 here), keeping its 2:1 shape.
    scaled, _ = changed_box(srv, mark_ops(extra=",P_20,g_nw"))
    assert scaled == (10, 10, 10 + 80, 10 + 40)
    smaller, _ = changed_box(srv, mark_ops(extra=",P_10,g_nw"))
    assert smaller == (10, 10, 10 + 40, 10 + 20)


def test_mark_etag_is_part_of_the_variant_and_overwrites_drop_variants(srv):
    s3 = srv.client()
    s3.put_object(Bucket="marks", Key="main2.png", Body=png((W, H), GREY), ContentType="image/png")
    s3.put_object(Bucket="marks", Key="badge.png", Body=png((MARK_W, MARK_H), RED), ContentType="image/png")
    ops = mark_ops("badge.png", ",g_nw")
    centre = (10 + MARK_W // 2, 10 + MARK_H // 2)
    jobs = metric(srv, "imgd_process_jobs_total")

    first = get(srv, ops, key="main2.png")
    assert decode(first.content).getpixel(centre) == RED
    plain = get(srv, PLAIN, key="main2.png")
    assert metric(srv, "imgd_process_jobs_total") - jobs == 2
    # Both are cached: asked again, neither is rendered.
    again = get(srv, ops, key="main2.png")
    assert again.content == first.content and again.headers["ETag"] == first.headers["ETag"]
    assert get(srv, PLAIN, key="main2.png").headers["ETag"] == plain.headers["ETag"]
    assert metric(srv, "imgd_process_jobs_total") - jobs == 2
    assert requests.get(f"{srv.endpoint}/marks/main2.png", params={"x-oss-process": ops},
                        headers={"If-None-Match": first.headers["ETag"]}, timeout=30).status_code == 304

    # Overwrite the mark (same size, another colour): the watermarked variant is
    # rendered anew with the new mark, under a new ETag; the old ETag no longer matches.
    s3.put_object(Bucket="marks", Key="badge.png", Body=png((MARK_W, MARK_H), BLUE), ContentType="image/png")
    after = get(srv, ops, key="main2.png")
    assert metric(srv, "imgd_process_jobs_total") - jobs == 3
    assert decode(after.content).getpixel(centre) == BLUE
    assert after.headers["ETag"] != first.headers["ETag"]
    stale = requests.get(f"{srv.endpoint}/marks/main2.png", params={"x-oss-process": ops},
                         headers={"If-None-Match": first.headers["ETag"]}, timeout=30)
    assert stale.status_code == 200 and decode(stale.content).getpixel(centre) == BLUE
    # The variant without the mark did not depend on it: same ETag, still cached.
    untouched = get(srv, PLAIN, key="main2.png")
    assert untouched.headers["ETag"] == plain.headers["ETag"]
    assert metric(srv, "imgd_process_jobs_total") - jobs == 3

    # Overwriting with identical bytes keeps the ETag (it is the mark's, not a time).
    s3.put_object(Bucket="marks", Key="badge.png", Body=png((MARK_W, MARK_H), BLUE), ContentType="image/png")
    assert get(srv, ops, key="main2.png").headers["ETag"] == after.headers["ETag"]

    # Deleting the mark drops the variant too: the request now names the missing mark.
    s3.delete_object(Bucket="marks", Key="badge.png")
    gone = requests.get(f"{srv.endpoint}/marks/main2.png", params={"x-oss-process": ops}, timeout=30)
    assert gone.status_code == 400 and "badge.png" in gone.text, gone.text


def test_a_missing_mark_is_a_clear_400(srv):
    r = requests.get(f"{srv.endpoint}/marks/main.png", params={"x-oss-process": mark_ops("nosuch.png")}, timeout=30)
    assert r.status_code == 400
    assert "<Code>InvalidArgument</Code>" in r.text and "nosuch.png" in r.text
