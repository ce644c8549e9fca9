"""Text watermarks in any script, through the real server: the seed's Chinese example,
OSS's `type_` font names and the refusal of unknown ones.

The system fonts come from the Debian packages scripts/install-build-deps.sh installs
(scripts/test.sh runs it first). Set FONTS_CHECK_PNG=/some/file.png to keep one render.
"""
import base64
import io
import os
import pathlib
import uuid
import xml.etree.ElementTree as ET

import pytest
import requests
from PIL import Image

from conftest import CORPUS

# The seed's example (004): "Hello 图片服务!" in OSS's default font, wqy-zenhei.
SEED = "image/watermark,text_SGVsbG8g5Zu-54mH5pyN5YqhIQ"
SEED_TEXT = "Hello 图片服务!"
# A private-use code point no font has: its render is the missing-glyph box.
NO_FONT_HAS = "\U0010FFFD"

FONT_FILES = {
    "fonts-wqy-zenhei": "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "fonts-wqy-microhei": "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "fonts-droid-fallback": "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "fonts-noto-cjk": "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
}


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def require_system_fonts():
    missing = [f"{path} (package {pkg})" for pkg, path in FONT_FILES.items()
               if not pathlib.Path(path).is_file()]
    assert not missing, ("system fonts missing, run scripts/install-build-deps.sh: "
                         + ", ".join(missing))


@pytest.fixture(scope="module")
def base(imgd):
    """URL prefix of a public bucket holding a corpus JPEG and a plain white PNG."""
    bucket = f"fonts-{uuid.uuid4().hex[:10]}"
    imgd.cli("bucket", "create", bucket, "--public")
    s3 = imgd.client()
    s3.put_object(Bucket=bucket, Key="flowers.jpg", Body=(CORPUS / "flowers.jpeg").read_bytes(),
                  ContentType="image/jpeg")
    white = io.BytesIO()
    Image.new("RGB", (480, 160), "white").save(white, "PNG")
    s3.put_object(Bucket=bucket, Key="white.png", Body=white.getvalue(), ContentType="image/png")
    return f"{imgd.endpoint}/{bucket}"


def process(base: str, key: str, ops: str) -> requests.Response:
    return requests.get(f"{base}/{key}", params={"x-oss-process": ops}, timeout=60)


def pixels(base: str, ops: str) -> bytes:
    """RGB pixels of `ops` drawn on the white PNG, as PNG so no codec noise differs."""
    r = process(base, "white.png", f"{ops}/format,png")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "image/png"
    return Image.open(io.BytesIO(r.content)).convert("RGB").tobytes()


def mark(text: str, extra: str = "") -> str:
    return f"image/watermark,text_{b64(text)},size_60,g_nw,x_10,y_10{extra}"


def ink(rgb: bytes) -> int:
    return sum(1 for i in range(0, len(rgb), 3) if rgb[i] < 128)


def test_the_system_fonts_are_installed():
    require_system_fonts()


def test_the_seed_example_draws_real_cjk_glyphs(base):
    require_system_fonts()
    r = process(base, "flowers.jpg", SEED)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "image/jpeg"
    original = Image.open(CORPUS / "flowers.jpeg")
    assert Image.open(io.BytesIO(r.content)).size == original.size

    # Old behaviour: every CJK character came out as the same missing-glyph box. Each
    # ideograph alone must have ink, differ from the box, and differ from the others.
    box = pixels(base, mark(NO_FONT_HAS))
    singles = {c: pixels(base, mark(c)) for c in "图片服务"}
    for c, rgb in singles.items():
        assert ink(rgb) > 300, f"{c} drew almost nothing"
        assert rgb != box, f"{c} is drawn as the missing-glyph box"
    assert len(set(singles.values())) == 4, "the four ideographs render identically"

    # The whole line differs from the same line with boxes in the CJK positions.
    seed = process(base, "white.png", f"{SEED},g_nw,x_10,y_10/format,png")
    assert seed.status_code == 200, seed.text
    boxed = "".join(c if c.isascii() else NO_FONT_HAS for c in SEED_TEXT)
    assert Image.open(io.BytesIO(seed.content)).convert("RGB").tobytes() != pixels(
        base, f"image/watermark,text_{b64(boxed)},g_nw,x_10,y_10")
    if os.environ.get("FONTS_CHECK_PNG"):
        pathlib.Path(os.environ["FONTS_CHECK_PNG"]).write_bytes(seed.content)


def test_type_names_choose_the_font(base):
    require_system_fonts()
    text = mark(SEED_TEXT)
    default = pixels(base, text)
    zenhei = pixels(base, mark(SEED_TEXT, f",type_{b64('wqy-zenhei')}"))
    microhei = pixels(base, mark(SEED_TEXT, f",type_{b64('wqy-microhei')}"))
    # No free FangZheng Kaiti exists: it draws with the documented Noto Serif CJK SC.
    kaiti = pixels(base, mark(SEED_TEXT, f",type_{b64('fangzhengkaiti')}"))
    heiti = pixels(base, mark(SEED_TEXT, f",type_{b64('fangzhengheiti')}"))
    assert default == zenhei, "no type_ must mean OSS's default, wqy-zenhei"
    assert len({zenhei, microhei, kaiti, heiti}) == 4, "type_ does not change the font"
    for rgb in (zenhei, microhei, kaiti, heiti):
        assert ink(rgb) > 1000
    # The same name always draws the same thing (the font is loaded once, not per call).
    assert pixels(base, mark(SEED_TEXT, f",type_{b64('wqy-microhei')}")) == microhei


def test_the_built_in_font_draws_latin(base):
    # Needs no system font: Noto Sans is compiled in.
    plain = pixels(base, mark("imgd", f",type_{b64('notosans')}"))
    assert ink(plain) > 300


@pytest.mark.parametrize("font", ["comic-sans", "WQY-ZENHEI", "fangzheng"])
def test_an_unknown_type_is_refused_naming_it(base, font):
    r = process(base, "flowers.jpg", mark("hi", f",type_{b64(font)}"))
    assert r.status_code == 400, f"{r.status_code} {r.headers.get('Content-Type')}"
    error = ET.fromstring(r.content)
    assert error.findtext("Code") == "InvalidArgument", r.text
    message = error.findtext("Message") or ""
    assert f'"{font}"' in message, message
    for accepted in ("wqy-zenhei", "wqy-microhei", "fangzhengshusong", "fangzhengkaiti",
                     "fangzhengheiti", "fangzhengfangsong", "droidsansfallback", "notosans"):
        assert accepted in message, message
