"""Cloudflare's transform URLs, `/cdn-cgi/image/<options>/<bucket>/<key>`, on objects of a
bucket that allows anonymous reads: every option, checked on the pixels and sizes of what
comes back (corpus pictures, and small generated ones whose every pixel is known), unknown
options refused with their name, `format=json`, and `onerror=redirect`."""
import io
import statistics

import pytest
import requests
from PIL import Image, ImageFilter

from conftest import CORPUS, Imgd

FLAG = (CORPUS / "Flag_of_the_Netherlands-16bit.png").read_bytes()  # 900x600, red/white/blue rows
FLOWERS = (CORPUS / "flowers.jpeg").read_bytes()  # 1920x1080
LOW = (CORPUS / "low-contrast.jpg").read_bytes()  # 300x245
GIF = (CORPUS / "animated-loop-3.gif").read_bytes()  # 370x285, 10 frames
BUCKET, PRIVATE = "cft", "cft-private"

RED, GREEN, BLUE, YELLOW, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 255, 255)


def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **kw)
    return out.getvalue()


def blocks(w: int, h: int, cells: list[list[tuple]]) -> Image.Image:
    """An image split into equal cells of flat colours, `cells[row][col]`."""
    im = Image.new("RGB", (w, h))
    rows, cols = len(cells), len(cells[0])
    for r in range(rows):
        for c in range(cols):
            box = (c * w // cols, r * h // rows, (c + 1) * w // cols, (r + 1) * h // rows)
            im.paste(cells[r][c], box)
    return im


def quad() -> bytes:  # 400x200: red | green over blue | yellow
    return encode(blocks(400, 200, [[RED, GREEN], [BLUE, YELLOW]]))


def bordered() -> bytes:  # a 140x80 red block in a white border (30 left/right, 20 top/bottom)
    im = Image.new("RGB", (200, 120), WHITE)
    im.paste(RED, (30, 20, 170, 100))
    return encode(im)


def half_transparent() -> bytes:  # 100x100: transparent left half, opaque blue right half
    im = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    im.paste((0, 0, 255, 255), (50, 0, 100, 100))
    return encode(im)


def with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "ImgdTestMake"  # Make
    exif[0x013B] = "Some Artist"  # Artist
    exif[0x8298] = "(c) imgd tests"  # Copyright
    return encode(blocks(120, 80, [[RED, BLUE]]), "JPEG", quality=90, exif=exif.tobytes())


OBJECTS = {
    "flag.png": FLAG, "flowers.jpeg": FLOWERS, "low.jpg": LOW, "anim.gif": GIF,
    "quad.png": quad(),
    "lr.png": encode(blocks(400, 200, [[RED, BLUE]])),
    "tb.png": encode(blocks(200, 400, [[RED], [BLUE]])),
    "grey.png": encode(Image.new("RGB", (100, 100), (128, 128, 128))),
    "bordered.png": bordered(),
    "alpha.png": half_transparent(),
    "exif.jpg": with_exif(),
    "notes.txt": b"this is not a picture\n" * 10,
    "dir/sub/flag.png": FLAG,
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = Imgd(tmp_path_factory.mktemp("cf-transform") / "data").start()
    s3 = server.client()
    s3.create_bucket(Bucket=BUCKET, ACL="public-read")  # anonymous reads: delivery is public
    s3.create_bucket(Bucket=PRIVATE)
    for key, body in OBJECTS.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    s3.put_object(Bucket=PRIVATE, Key="flag.png", Body=FLAG)
    yield server
    server.stop()


def tx(srv, options: str, key: str, bucket: str = BUCKET, **kw) -> requests.Response:
    return requests.get(f"{srv.endpoint}/cdn-cgi/image/{options}/{bucket}/{key}", timeout=60, **kw)


def img(srv, options: str, key: str, **kw) -> Image.Image:
    r = tx(srv, options, key, **kw)
    assert r.status_code == 200, (options, key, r.status_code, r.text[:300])
    assert r.headers["Content-Type"].startswith("image/"), r.headers["Content-Type"]
    return Image.open(io.BytesIO(r.content))


def size(srv, options: str, key: str) -> tuple[int, int]:
    return img(srv, options, key).size


def about(got: tuple[int, int], want: tuple[int, int]) -> bool:
    """Sizes equal but for the rounding of a side derived from the aspect ratio."""
    return all(abs(a - b) <= 1 for a, b in zip(got, want))


def near(px, want, tol: int = 40) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(px[:3], want))


def pixels(im: Image.Image) -> list:
    """Every pixel value, row by row (Pillow 13 renamed getdata)."""
    return list(getattr(im, "get_flattened_data", im.getdata)())


def rgb(im: Image.Image) -> Image.Image:
    return im.convert("RGB")


def mean_grey(im: Image.Image) -> float:
    return statistics.fmean(pixels(im.convert("L")))


def stdev_grey(im: Image.Image) -> float:
    return statistics.pstdev(pixels(im.convert("L")))


@pytest.mark.parametrize("options,want", [
    ("width=300", (300, 200)),
    ("w=300", (300, 200)),
    ("height=100", (150, 100)),
    ("h=100", (150, 100)),
    ("fit=scale-down,width=300,height=300", (300, 200)),
    ("fit=scale-down,width=2000,height=2000", (900, 600)),  # never enlarged
    ("fit=contain,width=300,height=300", (300, 200)),
    ("fit=contain,width=1800,height=1800", (1800, 1200)),  # enlarged to fit
    ("fit=cover,width=300,height=300", (300, 300)),
    ("fit=cover,width=1800,height=300", (1800, 300)),
    ("fit=crop,width=300,height=300", (300, 300)),
    ("fit=crop,width=1800,height=1800", (900, 600)),  # smaller than the box: as scale-down
    ("fit=pad,width=300,height=300", (300, 300)),
    ("fit=squeeze,width=300,height=100", (300, 100)),
    ("width=150,dpr=2", (300, 200)),
    ("height=100,dpr=3", (450, 300)),
])
def test_fit_and_size(srv, options, want):
    assert size(srv, options, "flag.png") == want


def test_keys_with_slashes_and_corpus_sizes(srv):
    assert size(srv, "width=90", "dir/sub/flag.png") == (90, 60)
    assert size(srv, "fit=scale-down,width=400,height=300", "flowers.jpeg") == (400, 225)
    assert size(srv, "fit=cover,width=64,height=64", "low.jpg") == (64, 64)


def test_squeeze_stretches_and_cover_crops(srv):
    squeezed = rgb(img(srv, "fit=squeeze,width=100,height=100,format=png", "quad.png"))
    for xy, want in (((25, 25), RED), ((75, 25), GREEN), ((25, 75), BLUE), ((75, 75), YELLOW)):
        assert near(squeezed.getpixel(xy), want), (xy, squeezed.getpixel(xy))
    # Cover keeps the aspect ratio: the centre 200x200 of lr.png is half red, half blue.
    covered = rgb(img(srv, "fit=cover,width=100,height=100,format=png", "lr.png"))
    assert near(covered.getpixel((10, 50)), RED) and near(covered.getpixel((90, 50)), BLUE)


def test_pad_fills_with_the_background(srv):
    padded = rgb(img(srv, "fit=pad,width=300,height=300,background=%2300ff00,format=png", "flag.png"))
    assert padded.size == (300, 300)
    # The 300x200 flag sits in the middle; 50 rows of pad above and below.
    assert near(padded.getpixel((150, 10)), GREEN, 10) and near(padded.getpixel((150, 290)), GREEN, 10)
    assert near(padded.getpixel((150, 70)), (174, 28, 40))
    assert near(padded.getpixel((150, 150)), WHITE, 10)
    assert near(padded.getpixel((150, 230)), (33, 70, 139))
    named = rgb(img(srv, "fit=pad,width=300,height=300,background=blue,format=png", "flag.png"))
    assert near(named.getpixel((150, 10)), BLUE, 10)


def test_background_under_transparency(srv):
    flat = rgb(img(srv, "background=%23ff0000,format=jpeg", "alpha.png"))
    assert near(flat.getpixel((20, 50)), RED) and near(flat.getpixel((80, 50)), BLUE)


def test_quality(srv):
    low = tx(srv, "width=600,quality=10,format=jpeg", "flowers.jpeg")
    high = tx(srv, "width=600,q=95,format=jpeg", "flowers.jpeg")
    assert low.status_code == high.status_code == 200
    assert len(low.content) * 2 < len(high.content), (len(low.content), len(high.content))
    assert Image.open(io.BytesIO(low.content)).size == Image.open(io.BytesIO(high.content)).size
    assert about(Image.open(io.BytesIO(low.content)).size, (600, 338))


@pytest.mark.parametrize("fmt,ctype,pil", [
    ("avif", "image/avif", "AVIF"), ("webp", "image/webp", "WEBP"), ("jpeg", "image/jpeg", "JPEG"),
    ("png", "image/png", "PNG"), ("baseline-jpeg", "image/jpeg", "JPEG"),
])
def test_formats(srv, fmt, ctype, pil):
    for spelled in (f"format={fmt}", f"f={fmt}"):
        r = tx(srv, f"width=200,{spelled}", "flowers.jpeg")
        assert r.status_code == 200 and r.headers["Content-Type"] == ctype, (spelled, r.headers.get("Content-Type"))
        im = Image.open(io.BytesIO(r.content))
        assert im.format == pil and about(im.size, (200, 113)), im.size


def jpeg_sof_markers(body: bytes) -> set[int]:
    """The SOFn markers of a JPEG's header segments (C0 baseline, C2 progressive)."""
    found, i = set(), 2
    while i + 4 <= len(body) and body[i] == 0xFF:
        marker = body[i + 1]
        if marker == 0xDA:  # start of scan: the header is over
            break
        length = int.from_bytes(body[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            found.add(marker)
        i += 2 + length
    return found


def test_baseline_jpeg_is_not_progressive(srv):
    r = tx(srv, "width=300,format=baseline-jpeg", "flowers.jpeg")
    assert jpeg_sof_markers(r.content) == {0xC0}, jpeg_sof_markers(r.content)


def test_format_auto_follows_accept(srv):
    for accept, want in (("image/avif,image/webp,*/*", "image/avif"), ("image/webp,*/*", "image/webp")):
        r = tx(srv, "width=100,format=auto", "flowers.jpeg", headers={"Accept": accept})
        assert r.status_code == 200 and r.headers["Content-Type"] == want, (accept, r.headers.get("Content-Type"))
        assert "accept" in r.headers.get("Vary", "").lower()
    plain = tx(srv, "width=100,f=auto", "flowers.jpeg", headers={"Accept": "*/*"})
    assert plain.headers["Content-Type"] in ("image/jpeg", "image/png")
    assert "accept" in plain.headers.get("Vary", "").lower()


def test_format_json(srv):
    r = tx(srv, "width=300,format=json", "flag.png")
    assert r.status_code == 200 and "json" in r.headers["Content-Type"]
    info = r.json()
    assert (info["width"], info["height"]) == (300, 200)
    orig = info["original"]
    assert orig["file_size"] == len(FLAG)
    assert (orig["width"], orig["height"]) == (900, 600)
    assert "png" in orig["format"].lower()
    j = tx(srv, "f=json", "flowers.jpeg").json()
    assert (j["width"], j["height"]) == (1920, 1080) and "jpeg" in j["original"]["format"].lower()


@pytest.mark.parametrize("options,key,want", [
    ("fit=cover,width=100,height=100,gravity=left", "lr.png", RED),
    ("fit=cover,width=100,height=100,gravity=right", "lr.png", BLUE),
    ("fit=cover,width=100,height=100,g=top", "tb.png", RED),
    ("fit=cover,width=100,height=100,g=bottom", "tb.png", BLUE),
    ("fit=cover,width=100,height=100,gravity=0x0.5", "lr.png", RED),
    ("fit=cover,width=100,height=100,gravity=1x0.5", "lr.png", BLUE),
    ("fit=cover,width=100,height=100,gravity=0.5x0", "tb.png", RED),
    ("fit=cover,width=100,height=100,gravity=0.5x1", "tb.png", BLUE),
])
def test_gravity(srv, options, key, want):
    im = rgb(img(srv, options + ",format=png", key))
    assert im.size == (100, 100)
    for xy in ((5, 5), (50, 50), (94, 94)):
        assert near(im.getpixel(xy), want), (options, xy, im.getpixel(xy))


def test_gravity_centre_and_auto(srv):
    centre = rgb(img(srv, "fit=cover,width=100,height=100,gravity=0.5x0.5,format=png", "lr.png"))
    assert near(centre.getpixel((10, 50)), RED) and near(centre.getpixel((90, 50)), BLUE)
    assert size(srv, "fit=cover,width=100,height=100,gravity=auto", "flowers.jpeg") == (100, 100)


def test_blur(srv):
    sharp = rgb(img(srv, "format=png", "lr.png"))
    blurred = rgb(img(srv, "blur=30,format=png", "lr.png"))
    assert blurred.size == (400, 200)
    assert near(sharp.getpixel((199, 100)), RED, 5)
    mid = blurred.getpixel((199, 100))
    assert mid[0] > 60 and mid[2] > 60, mid  # red and blue mixed at the edge
    row = lambda im: [im.getpixel((x, 100))[0] for x in range(150, 250)]  # noqa: E731
    assert statistics.pstdev(row(blurred)) < statistics.pstdev(row(sharp))


@pytest.mark.parametrize("options,compare", [
    ("brightness=2", lambda m: m > 180),
    ("brightness=0.5", lambda m: m < 100),
    ("gamma=2", lambda m: m > 140),
    ("gamma=0.5", lambda m: m < 116),
])
def test_brightness_and_gamma(srv, options, compare):
    base = mean_grey(img(srv, "format=png", "grey.png"))
    assert 120 < base < 136
    got = mean_grey(img(srv, options + ",format=png", "grey.png"))
    assert compare(got), (options, got)


def test_contrast(srv):
    base = stdev_grey(img(srv, "format=png", "low.jpg"))
    more = stdev_grey(img(srv, "contrast=2,format=png", "low.jpg"))
    less = stdev_grey(img(srv, "contrast=0.5,format=png", "low.jpg"))
    assert more > base * 1.3 and less < base * 0.8, (base, more, less)


def chroma(im: Image.Image) -> float:
    return statistics.fmean(max(p) - min(p) for p in pixels(rgb(im)))


def test_saturation(srv):
    base = img(srv, "width=200,format=png", "flowers.jpeg")
    grey = img(srv, "width=200,saturation=0,format=png", "flowers.jpeg")
    vivid = img(srv, "width=200,saturation=2,format=png", "flowers.jpeg")
    assert chroma(base) > 20
    assert all(max(p) - min(p) <= 3 for p in pixels(rgb(grey))), "saturation=0 left colour"
    assert chroma(vivid) > chroma(base) * 1.2


def test_sharpen(srv):
    def edges(options):
        return statistics.fmean(pixels(img(srv, options, "flowers.jpeg").convert("L").filter(ImageFilter.FIND_EDGES)))
    base = edges("width=400,format=png")
    sharpened = edges("width=400,sharpen=5,format=png")
    assert sharpened > base * 1.1, (base, sharpened)


def test_rotate(srv):
    r90 = rgb(img(srv, "rotate=90,format=png", "quad.png"))
    r180 = rgb(img(srv, "rotate=180,format=png", "quad.png"))
    r270 = rgb(img(srv, "rotate=270,format=png", "quad.png"))
    assert r90.size == r270.size == (200, 400) and r180.size == (400, 200)
    assert near(r180.getpixel((10, 10)), YELLOW) and near(r180.getpixel((390, 190)), RED)
    # One of 90/270 is clockwise (top-left shows the original bottom-left, blue), the other
    # counter-clockwise (the original top-right, green).
    corners = {tuple(r90.getpixel((10, 10))), tuple(r270.getpixel((10, 10)))}
    assert any(near(c, BLUE) for c in corners) and any(near(c, GREEN) for c in corners), corners
    # rotate applies before resizing: width refers to the rotated image.
    assert size(srv, "rotate=90,width=100", "quad.png") == (100, 200)


@pytest.mark.parametrize("flip,corner", [("h", GREEN), ("v", BLUE), ("hv", YELLOW)])
def test_flip(srv, flip, corner):
    im = rgb(img(srv, f"flip={flip},format=png", "quad.png"))
    assert im.size == (400, 200)
    assert near(im.getpixel((10, 10)), corner), (flip, im.getpixel((10, 10)))


def test_flip_applies_before_rotate(srv):
    # Cloudflare mirrors the stored picture, then turns it: rotate(flip_h(x)), which for
    # a quarter turn is the turned picture mirrored top to bottom, not left to right.
    turned = rgb(img(srv, "rotate=90,format=png", "quad.png"))
    both = rgb(img(srv, "flip=h,rotate=90,format=png", "quad.png"))
    w, h = turned.size
    assert both.size == (w, h)
    for x, y in [(10, 10), (w - 10, 10), (10, h - 10), (w - 10, h - 10)]:
        assert near(both.getpixel((x, y)), turned.getpixel((x, h - 1 - y))), (x, y)
        assert not near(both.getpixel((x, y)), turned.getpixel((w - 1 - x, y))), (x, y)


def test_trim(srv):
    im = rgb(img(srv, "trim=10;20;30;40,format=png", "quad.png"))
    assert im.size == (400 - 20 - 40, 200 - 10 - 30)
    assert near(im.getpixel((0, 0)), RED) and near(im.getpixel((339, 159)), YELLOW)
    border = rgb(img(srv, "trim=border,format=png", "bordered.png"))
    w, h = border.size
    assert abs(w - 140) <= 2 and abs(h - 80) <= 2, border.size
    assert near(border.getpixel((w // 2, h // 2)), RED) and near(border.getpixel((1, 1)), RED, 60)


def exif_of(srv, options) -> dict:
    return dict(img(srv, options, "exif.jpg").getexif())


def test_metadata(srv):
    keep = exif_of(srv, "width=60,metadata=keep,format=jpeg")
    assert keep.get(0x010F) == "ImgdTestMake" and keep.get(0x8298) == "(c) imgd tests", keep
    copyright_only = exif_of(srv, "width=60,metadata=copyright,format=jpeg")
    assert copyright_only.get(0x8298) == "(c) imgd tests", copyright_only
    assert 0x010F not in copyright_only and 0x013B not in copyright_only, copyright_only
    assert exif_of(srv, "width=60,metadata=none,format=jpeg") == {}


def test_anim(srv):
    animated = img(srv, "width=185,format=webp", "anim.gif")
    assert getattr(animated, "n_frames", 1) == 10 and about(animated.size, (185, 142))
    still = img(srv, "width=185,format=webp,anim=false", "anim.gif")
    assert getattr(still, "n_frames", 1) == 1 and about(still.size, (185, 142))
    also_still = img(srv, "anim=false", "anim.gif")
    assert getattr(also_still, "n_frames", 1) == 1
    explicit = img(srv, "anim=true,format=webp", "anim.gif")
    assert getattr(explicit, "n_frames", 1) == 10


@pytest.mark.parametrize("options,named", [
    ("width=100,frobnicate=3", "frobnicate"),
    ("wdth=100", "wdth"),
    ("fit=stretch,width=100", "fit"),
    ("width=abc", "width"),
    ("format=tiff", "format"),
    ("flip=x", "flip"),
    ("metadata=all", "metadata"),
])
def test_bad_options_are_400_naming_them(srv, options, named):
    r = tx(srv, options, "flag.png")
    assert r.status_code == 400, (options, r.status_code)
    assert named in r.text, (options, r.text[:300])


def test_onerror_redirect(srv):
    failed = tx(srv, "width=100", "notes.txt")
    assert 400 <= failed.status_code < 600 and failed.status_code != 200
    r = tx(srv, "width=100,onerror=redirect", "notes.txt", allow_redirects=False)
    assert r.status_code in (302, 307), (r.status_code, r.text[:200])
    location = r.headers["Location"]
    assert location in (f"/{BUCKET}/notes.txt", f"{srv.endpoint}/{BUCKET}/notes.txt"), location
    followed = tx(srv, "width=100,onerror=redirect", "notes.txt")
    assert followed.status_code == 200 and followed.content == OBJECTS["notes.txt"]
    # A working transform is not redirected.
    fine = tx(srv, "width=100,onerror=redirect", "flag.png", allow_redirects=False)
    assert fine.status_code == 200 and about(Image.open(io.BytesIO(fine.content)).size, (100, 67))


def test_missing_and_private_sources(srv):
    assert tx(srv, "width=100", "nope.png").status_code == 404
    assert tx(srv, "width=100", "flag.png", bucket="no-such-bucket").status_code == 404
    private = tx(srv, "width=100", "flag.png", bucket=PRIVATE)
    assert private.status_code in (403, 404), private.status_code
    # The same object becomes transformable when its bucket's delivery is made public.
    srv.cli("bucket", "policy", PRIVATE, "--delivery", "public")
    r = tx(srv, "width=100", "flag.png", bucket=PRIVATE)
    assert r.status_code == 200 and about(Image.open(io.BytesIO(r.content)).size, (100, 67))
