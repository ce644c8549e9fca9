"""`imgd process IN OUT --ops ...`: the engine on local files, with the output format taken
from the output file's extension when the ops name none."""
import json
import os
import subprocess

import pytest
from PIL import Image

from conftest import BIN, CORPUS

JPEG = CORPUS / "2569067123_aca715a2ee_o.jpg"  # 2725x2225
PNG_ALPHA = CORPUS / "with-alpha.png"  # 256x192, RGBA

MAGIC = {
    "jpg": lambda b: b[:3] == b"\xff\xd8\xff",
    "png": lambda b: b[:8] == b"\x89PNG\r\n\x1a\n",
    "webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
    "avif": lambda b: b[4:12] == b"ftypavif",
    "gif": lambda b: b[:6] in (b"GIF87a", b"GIF89a"),
    "bmp": lambda b: b[:2] == b"BM",
    "tiff": lambda b: b[:4] in (b"II*\x00", b"MM\x00*"),
}
PIL_FORMAT = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF", "gif": "GIF", "bmp": "BMP",
              "tiff": "TIFF"}


def process(src, out, ops, timeout=120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGD_")}
    return subprocess.run([BIN, "process", str(src), str(out), "--ops", ops], env=env, capture_output=True,
                          text=True, timeout=timeout)


def kind(path) -> str | None:
    data = path.read_bytes()
    return next((name for name, test in MAGIC.items() if test(data)), None)


def test_the_extension_chooses_the_format(tmp_path):
    # The defect: out.png used to receive JPEG bytes.
    out = tmp_path / "out.png"
    r = process(JPEG, out, "image/resize,w_300")
    assert r.returncode == 0, r.stderr
    assert kind(out) == "png"
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] == 300 and abs(im.size[1] - 245) <= 1
    assert r.stderr.strip().endswith("image/png") and "300x" in r.stderr


@pytest.mark.parametrize("ext,fmt", [("jpg", "jpg"), ("JPEG", "jpg"), ("webp", "webp"), ("avif", "avif"),
                                     ("gif", "gif"), ("bmp", "bmp"), ("tif", "tiff"), ("tiff", "tiff")])
def test_every_image_extension(tmp_path, ext, fmt):
    out = tmp_path / f"out.{ext}"
    r = process(PNG_ALPHA, out, "image/resize,w_100")
    assert r.returncode == 0, r.stderr
    assert kind(out) == fmt
    with Image.open(out) as im:
        assert im.format == PIL_FORMAT[fmt] and im.size == (100, 75)


def test_a_source_keeps_nothing_of_its_format_when_the_name_says_otherwise(tmp_path):
    # A PNG source written as .jpg is a JPEG, and the other way round.
    out = tmp_path / "alpha.jpg"
    assert process(PNG_ALPHA, out, "image/resize,w_64").returncode == 0
    assert kind(out) == "jpg"
    back = tmp_path / "back.webp"
    assert process(out, back, "image/resize,w_32").returncode == 0
    assert kind(back) == "webp"


def test_an_explicit_format_that_agrees_is_fine(tmp_path):
    for name, ops in (("a.webp", "image/resize,w_50/format,webp"), ("b.jpeg", "image/format,jpg/resize,w_50"),
                      ("c.png", "image/resize,w_50/format,auto")):
        r = process(JPEG, tmp_path / name, ops)
        assert r.returncode == 0, (name, r.stderr)
        assert kind(tmp_path / name) == {"a.webp": "webp", "b.jpeg": "jpg", "c.png": "png"}[name]


def test_an_extension_that_contradicts_format_is_refused(tmp_path):
    out = tmp_path / "out.png"
    r = process(JPEG, out, "image/resize,w_300/format,webp")
    assert r.returncode != 0
    assert "out.png asks for png but the ops say format,webp" in r.stderr, r.stderr
    assert not out.exists()


def test_other_extensions_need_a_format(tmp_path):
    out = tmp_path / "out.img"
    r = process(JPEG, out, "image/resize,w_40")
    assert r.returncode != 0 and "cannot tell an image format from the name" in r.stderr, r.stderr
    assert not out.exists()
    # With format, any name will do.
    r = process(JPEG, out, "image/resize,w_40/format,png")
    assert r.returncode == 0, r.stderr
    assert kind(out) == "png"
    with Image.open(out) as im:
        assert im.size[0] == 40


def test_the_readme_example(tmp_path):
    out = tmp_path / "thumb.png"
    r = process(JPEG, out, "image/auto-orient,1/resize,w_300/rotate,90/format,png")
    assert r.returncode == 0, r.stderr
    with Image.open(out) as im:
        # Rotated a quarter turn: the 300 px width became the height.
        assert im.format == "PNG" and im.size[1] == 300 and abs(im.size[0] - 245) <= 1


def test_json_actions_write_json(tmp_path):
    info = tmp_path / "info.json"
    r = process(JPEG, info, "image/info")
    assert r.returncode == 0, r.stderr
    doc = json.loads(info.read_text())
    assert int(doc["ImageWidth"]["value"]) == 2725 and int(doc["ImageHeight"]["value"]) == 2225
    assert doc["Format"]["value"] == "jpg"
    hue = tmp_path / "hue.txt"
    r = process(PNG_ALPHA, hue, "image/average-hue")
    assert r.returncode == 0, r.stderr
    rgb = json.loads(hue.read_text())["RGB"]
    assert rgb.startswith("0x") and len(rgb) == 8
    # JSON under an image name is the same mistake as JPEG under .png.
    bad = tmp_path / "info.png"
    r = process(JPEG, bad, "image/info")
    assert r.returncode != 0 and "the ops write JSON, not png" in r.stderr, r.stderr
    assert not bad.exists()


def test_refusals_are_clear(tmp_path):
    out = tmp_path / "out.png"
    style = process(JPEG, out, "style/thumb")
    assert style.returncode != 0 and "styles belong to buckets" in style.stderr, style.stderr
    missing = process(tmp_path / "missing.jpg", out, "image/resize,w_10")
    assert missing.returncode != 0
    assert f"reading {tmp_path / 'missing.jpg'}" in missing.stderr and "No such file" in missing.stderr
    bad_ops = process(JPEG, out, "image/resize,w_0")
    assert bad_ops.returncode != 0
    assert "resize: parameter w must be between 1 and 16384, got 0" in bad_ops.stderr, bad_ops.stderr
    broken = process(CORPUS / "truncated.jpg", out, "image/resize,w_10")
    assert broken.returncode != 0, broken.stderr
    assert f"processing {CORPUS / 'truncated.jpg'}: the image could not be decoded" in broken.stderr
    assert not out.exists()
