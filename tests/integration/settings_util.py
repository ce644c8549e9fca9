"""Helpers shared by the test_settings*.py modules: a server started with extra CLI
arguments or without the suite's IMGD_LOG, metrics, S3 error fields, generated images."""
import io
import pathlib
import re
import subprocess

import requests
from PIL import Image

from conftest import BIN, Imgd, ImgdCustom, metric  # noqa: F401 (re-exported)


def server_with(data_dir, env=None, args=(), keep_log_env=True) -> ImgdCustom:
    """An imgd whose `serve` gets `args` (`--config PATH`) and, unless `keep_log_env`,
    runs without the IMGD_LOG the suite always sets, so `log_level` is what decides."""
    return ImgdCustom(data_dir, env=env, serve_args=args, drop=() if keep_log_env else ("IMGD_LOG",))


def full_log(server: Imgd) -> str:
    try:
        return server.log_path.read_text(errors="replace")
    except OSError:
        return ""


def refused_start(data_dir: pathlib.Path, env: dict, timeout: float = 20.0) -> subprocess.CompletedProcess:
    """Runs `imgd serve` expecting it to refuse to start; returns the finished process."""
    probe = Imgd(data_dir, env=env)
    data_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.run([BIN, "serve"], env=probe.env(), capture_output=True, text=True, timeout=timeout)


def code_of(r: requests.Response) -> str | None:
    m = re.search(r"<Code>([^<]+)</Code>", r.text)
    return m.group(1) if m else None


def message_of(r: requests.Response) -> str:
    m = re.search(r"<Message>([^<]*)</Message>", r.text)
    return m.group(1) if m else ""


def dims(body: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(body)).size


def png(w: int, h: int, color=(200, 30, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), color).save(out, "PNG")
    return out.getvalue()


def noisy_png(w: int, h: int) -> bytes:
    """A PNG that does not compress much, so its size is predictable and not tiny."""
    import random

    rnd = random.Random(w * 1000 + h)
    im = Image.frombytes("RGB", (w, h), bytes(rnd.getrandbits(8) for _ in range(w * h * 3)))
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def gif(frames: int, side: int = 16) -> bytes:
    """An animated GIF with `frames` visibly different frames."""
    colors = [((i * 23) % 256, 255 - (i * 11) % 256, (i * 7) % 256) for i in range(frames)]
    images = [Image.new("RGB", (side, side), c) for c in colors]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=50, loop=0)
    return out.getvalue()


def gif_frames(body: bytes) -> int:
    return getattr(Image.open(io.BytesIO(body)), "n_frames", 1)


def weekly_link(secret: str, bucket: str, size: str, url: str, proxy: bool = False) -> str:
    """An imageproxy-py link (compat.md §1): this ISO week's HMAC over bucket/ext_url."""
    import base64
    import datetime
    import hashlib
    import hmac

    year, week, _ = datetime.datetime.now(datetime.timezone.utc).isocalendar()
    ext = base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    msg = f"{bucket}/{ext}" + ("/proxy" if proxy else "")
    mac = hmac.new(f"{secret}{year:04d}{week:02d}".encode(), msg.encode(), hashlib.sha256).digest()[:12]
    sig = base64.urlsafe_b64encode(mac).decode().rstrip("=")
    return f"/{bucket}/{size}/{sig}/{ext}" + ("/proxy" if proxy else "")
