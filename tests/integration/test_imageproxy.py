"""The imageproxy-py drop-in (compat.md §1) and SSRF refusals, against the real binary
and a test-owned origin on loopback."""
import base64
import datetime
import email.utils
import hashlib
import hmac
import io
import re
import socket
import time

import pytest
import requests
from PIL import Image

from conftest import CORPUS, Imgd, free_port, require_private_network
from origin_server import Origin

SECRET = "proxy-test-secret"


def week_key(secret: str, now: float) -> str:
    year, week, _ = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isocalendar()
    return f"{secret}{year:04d}{week:02d}"


def weekly_sig(secret: str, message: str, now: float) -> str:
    mac = hmac.new(week_key(secret, now).encode(), message.encode(), hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def ext(url: str) -> str:
    return base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def link(bucket: str, size: str, url: str, proxy: bool = False, now: float | None = None, secret: str = SECRET) -> str:
    now = time.time() if now is None else now
    e = ext(url)
    msg = f"{bucket}/{e}" + ("/proxy" if proxy else "")
    path = f"/{bucket}/{size}/{weekly_sig(secret, msg, now)}/{e}"
    return path + ("/proxy" if proxy else "")


def test_the_python_signer_matches_the_compat_vectors():
    e = "aHR0cHM6Ly9leGFtcGxlX3VybC9pbWcuanBn"
    assert ext("https://example_url/img.jpg") == e
    now = 1640730000
    assert weekly_sig("1234", f"i/{e}", now) == "gnjO6SJxYbeT9VBz"
    assert weekly_sig("123456", f"i/{e}", now) == "4f3OT_te_O37pMOZ"
    assert weekly_sig("1234", f"i/{e}/proxy", now) == "u21SyNepGvwmqYgs"
    assert weekly_sig("1234", f"f/{e}", now) == "1sVGmLd4j_ZmRR9-"


class Proxy:
    def __init__(self, tmp_path, allow: str | None = "127.0.0.1/32", extra: dict | None = None):
        self.port = free_port()
        env = {
            "IMGD_IMAGEPROXY_LISTEN": f"127.0.0.1:{self.port}",
            "IMGD_IMAGEPROXY_SECRET": SECRET,
        }
        if allow:
            env["IMGD_FETCH_ALLOW"] = allow
        env.update(extra or {})
        self.imgd = Imgd(tmp_path / "data", env=env).start()

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(f"http://127.0.0.1:{self.port}{path}", timeout=30, **kw)

    def stop(self):
        self.imgd.stop()


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.close()


@pytest.fixture
def proxy(tmp_path):
    p = Proxy(tmp_path)
    yield p
    p.stop()


JPEG = (CORPUS / "flowers.jpeg").read_bytes()


def dims(body: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(body)).size


def test_permanent_mode_stores_once_and_derives_every_size(proxy, origin):
    origin.serve("/flowers.jpg", JPEG, headers={"Content-Type": "text/plain"})
    url = f"{origin.base}/flowers.jpg"
    full = proxy.get(link("i", "full", url))
    assert full.status_code == 200, full.text
    assert full.content == JPEG
    # Sniffed, not taken from the origin's Content-Type.
    assert full.headers["content-type"] == "image/jpeg"
    src_w, src_h = dims(JPEG)

    r = proxy.get(link("i", "150x250", url))
    assert r.status_code == 200
    w, h = dims(r.content)
    assert w <= 250 and h <= 150 and (w == 250 or h == 150)
    assert abs(w / h - src_w / src_h) < 0.02

    r = proxy.get(link("i", "x250", url))
    assert dims(r.content)[0] == 250
    r = proxy.get(link("i", "500x", url))
    assert dims(r.content)[1] == 500
    # A disallowed side is dropped, the allowed one kept; extra parts are ignored.
    r = proxy.get(link("i", "150x251", url))
    assert dims(r.content)[1] == 150
    r = proxy.get(link("i", "150x250x9", url))
    assert dims(r.content) == (w, h)
    assert origin.hits("/flowers.jpg") == 1

    # Originals are kept per (bucket, ext_url): bucket f fetches its own copy.
    assert proxy.get(link("f", "full", url)).status_code == 200
    assert origin.hits("/flowers.jpg") == 2
    s3 = proxy.imgd.client()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="imageproxy")["Contents"]]
    assert sorted(k.split("/")[0] for k in keys) == ["f", "i"]


def test_sizes_paths_and_signatures_are_refused_like_upstream(proxy, origin):
    origin.serve("/a.jpg", JPEG)
    url = f"{origin.base}/a.jpg"
    good = link("i", "full", url)
    assert proxy.get(link("i", "151x251", url)).status_code == 400
    assert proxy.get(link("i", "big", url)).status_code == 400
    assert proxy.get("/i/full/onlythree").status_code == 400
    assert proxy.get(good + "/extra").status_code == 400
    # The size is not signed: any allowed size works with the same signature.
    parts = good.split("/")
    parts[2] = "250x"
    assert proxy.get("/".join(parts)).status_code == 200
    # A changed URL, bucket, or a signature from another secret: 410.
    parts = good.split("/")
    assert proxy.get("/".join(["", "f"] + parts[2:])).status_code == 410
    assert proxy.get(link("i", "full", url, secret="other")).status_code == 410
    tampered = good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1]
    assert proxy.get(tampered).status_code == 410
    # Last week's key still works; the week before that has aged out.
    now = time.time()
    assert proxy.get(link("i", "full", url, now=now - 7 * 86400)).status_code == 200
    assert proxy.get(link("i", "full", url, now=now - 14 * 86400)).status_code == 410
    # Padded ext_url is accepted, signed as sent. The query makes the URL's length
    # leave base64 padding, whatever the port's digits.
    suffix = "?p"
    while len(url + suffix) % 3 == 0:
        suffix += "p"
    origin.serve("/a.jpg" + suffix, JPEG)
    padded = base64.urlsafe_b64encode((url + suffix).encode()).decode()
    assert padded.endswith("=")
    sig = weekly_sig(SECRET, f"i/{padded}", now)
    assert proxy.get(f"/i/full/{sig}/{padded}").status_code == 200


def test_proxy_mode_streams_without_storing_and_signs_the_suffix(proxy, origin):
    origin.serve("/p.png", (CORPUS / "with-alpha.png").read_bytes())
    url = f"{origin.base}/p.png"
    r = proxy.get(link("i", "150x150", url, proxy=True))
    assert r.status_code == 200
    assert r.content == (CORPUS / "with-alpha.png").read_bytes()
    assert r.headers["content-type"] == "image/png"
    s3 = proxy.imgd.client()
    assert s3.list_objects_v2(Bucket="imageproxy").get("KeyCount", 0) == 0
    # The Python server's bug (signing without /proxy) is not accepted.
    e = ext(url)
    sig_without_suffix = weekly_sig(SECRET, f"i/{e}", time.time())
    assert proxy.get(f"/i/full/{sig_without_suffix}/{e}/proxy").status_code == 410
    # Once stored by a permanent link, proxy links serve the stored copy.
    assert proxy.get(link("i", "full", url)).status_code == 200
    hits = origin.hits("/p.png")
    assert proxy.get(link("i", "full", url, proxy=True)).status_code == 200
    assert origin.hits("/p.png") == hits


def test_failing_sources_get_520_and_back_off(proxy, origin):
    origin.serve("/broken.jpg", b"oops", status=500)
    origin.serve("/page.jpg", b"<html><body>not an image</body></html>", headers={"Content-Type": "image/jpeg"})
    r = proxy.get(link("i", "full", f"{origin.base}/broken.jpg"))
    assert r.status_code == 520
    assert origin.hits("/broken.jpg") == 1
    # Within the backoff window the source is not asked again.
    r = proxy.get(link("i", "150x", f"{origin.base}/broken.jpg"))
    assert r.status_code == 520 and "next attempt" in r.text
    assert origin.hits("/broken.jpg") == 1
    r = proxy.get(link("i", "full", f"{origin.base}/page.jpg"))
    assert r.status_code == 520
    assert proxy.get(link("i", "full", "http://127.0.0.1:1/closed.jpg")).status_code == 520


def test_cache_headers_never_outlive_the_link(proxy, origin):
    origin.serve("/c.jpg", JPEG)
    url = f"{origin.base}/c.jpg"
    now = time.time()
    r = proxy.get(link("i", "full", url, now=now - 7 * 86400))
    assert r.status_code == 200
    max_age = int(r.headers["cache-control"].split("max-age=")[1])
    # Signed last week: valid until the end of this ISO week.
    monday = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).date()
    monday -= datetime.timedelta(days=monday.weekday())
    end = datetime.datetime.combine(monday, datetime.time(), datetime.timezone.utc).timestamp() + 7 * 86400
    assert max_age <= end - now + 2
    etag = r.headers["etag"]
    r2 = proxy.get(link("i", "full", url), headers={"If-None-Match": etag})
    assert r2.status_code == 304


@pytest.mark.parametrize("ttl", [60, 10_000_000])
def test_cache_ttl_secs_caps_max_age_and_the_link_caps_it_again(tmp_path, origin, ttl):
    """`[imageproxy] cache_ttl_secs` is the max-age while the link lives longer; when the
    link ends sooner, its end is. The clock is fixed so the link's remaining life is known:
    Thursday 2025-01-09 00:00 UTC, in ISO week 2025-W02 (which began on Monday the 6th)."""
    origin.serve("/t.jpg", JPEG)
    url = f"{origin.base}/t.jpg"
    now = int(datetime.datetime(2025, 1, 9, tzinfo=datetime.timezone.utc).timestamp())
    monday = now - 3 * 86400
    p = Proxy(tmp_path, extra={"IMGD_CLOCK_START": str(now), "IMGD_IMAGEPROXY_CACHE_TTL_SECS": str(ttl)})
    try:
        # Signed last week: refused from next Monday, 4 days away. Signed this week: 11.
        for signed_at, life in ((monday - 86400, 4 * 86400), (monday + 3600, 11 * 86400)):
            for size in ("full", "150x"):
                r = p.get(link("i", size, url, now=signed_at))
                assert r.status_code == 200, r.text
                max_age = int(re.search(r"max-age=(\d+)", r.headers["cache-control"]).group(1))
                if ttl < life:
                    assert max_age == ttl, (size, life, r.headers["cache-control"])
                else:
                    # Capped by the link; the clock has run on a little since start-up.
                    assert life - 120 <= max_age <= life, (size, life, r.headers["cache-control"])
                expires = email.utils.parsedate_to_datetime(r.headers["expires"]).timestamp()
                assert expires == now + life, r.headers["expires"]  # the link's end, whatever the TTL
    finally:
        p.stop()


def test_week_edges_with_a_controlled_clock(tmp_path, origin):
    origin.serve("/w.jpg", JPEG)
    url = f"{origin.base}/w.jpg"
    # Three seconds before Monday 2025-01-06 00:00 UTC (ISO 2025-W02 begins). Just
    # before the edge it is 2025-W01 (which began on 2024-12-30, in calendar 2024).
    edge = int(datetime.datetime(2025, 1, 6, tzinfo=datetime.timezone.utc).timestamp())
    p = Proxy(tmp_path, extra={"IMGD_CLOCK_START": str(edge - 3)})
    try:
        w52 = edge - 10 * 86400  # a moment in 2024-W52
        w01 = edge - 3 * 86400  # 2025-W01, whose key suffix is 202501 though it began in 2024
        assert week_key("s", w01).endswith("202501")
        old = link("i", "full", url, now=w52)
        cur = link("i", "full", url, now=w01)
        nxt = link("i", "full", url, now=edge + 3600)
        assert p.get(old).status_code == 200
        assert p.get(cur).status_code == 200
        assert p.get(nxt).status_code == 410
        r = p.get(old)
        assert int(r.headers["cache-control"].split("max-age=")[1]) <= 3
        time.sleep(4)
        assert p.get(old).status_code == 410
        assert p.get(cur).status_code == 200
        assert p.get(nxt).status_code == 200
    finally:
        p.stop()


DENIED_HOSTS = [
    "127.0.0.1",
    "localhost",
    "2130706433",
    "0177.0.0.1",
    "0x7f.0.0.1",
    "0x7f000001",
    "127.1",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::]",
    "[::1]",
]

DENIED_ELSEWHERE = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/a.jpg",
    "http://192.168.1.1/a.jpg",
    "http://172.16.0.1/a.jpg",
    "http://100.64.0.1/a.jpg",
    "http://0.0.0.0/a.jpg",
    "http://224.0.0.1/a.jpg",
    "http://[fc00::1]/a.jpg",
    "http://[fe80::1]/a.jpg",
    "http://[::ffff:10.0.0.1]/a.jpg",
    "http://[::ffff:169.254.169.254]/a.jpg",
]


def test_ssrf_every_denied_form_is_refused_before_connecting(tmp_path, origin):
    require_private_network()
    origin.serve("/x.jpg", JPEG)
    p = Proxy(tmp_path, allow=None)
    try:
        for host in DENIED_HOSTS:
            r = p.get(link("i", "full", f"http://{host}:{origin.port}/x.jpg"))
            assert r.status_code == 520, (host, r.status_code, r.text)
            r = p.get(link("i", "full", f"http://{host}:{origin.port}/x.jpg", proxy=True))
            assert r.status_code == 520, (host, r.status_code, r.text)
        for url in DENIED_ELSEWHERE:
            started = time.monotonic()
            r = p.get(link("i", "full", url))
            assert r.status_code == 520, (url, r.text)
            assert "denied" in r.text.lower() or "not allowed" in r.text.lower(), (url, r.text)
            # Refused at once, not after a connect timeout.
            assert time.monotonic() - started < 2, url
        for scheme_url in ["file:///etc/passwd", "ftp://127.0.0.1/x.jpg", "gopher://127.0.0.1:70/"]:
            assert p.get(link("i", "full", scheme_url)).status_code in (400, 520)
        assert origin.connections == 0
    finally:
        p.stop()


def test_ssrf_redirect_to_a_denied_address_is_refused(tmp_path, origin):
    require_private_network()
    inner = Origin(host="127.0.0.2")
    try:
        inner.serve("/secret.jpg", JPEG)
        origin.serve("/hop.jpg", b"", status=302, headers={"Location": f"{inner.base}/secret.jpg"})
        origin.serve("/ok-hop.jpg", b"", status=301, headers={"Location": "/x.jpg"})
        origin.serve("/x.jpg", JPEG)
        origin.serve("/loop.jpg", b"", status=302, headers={"Location": "/loop.jpg"})
        p = Proxy(tmp_path, allow="127.0.0.1/32")
        try:
            r = p.get(link("i", "full", f"{origin.base}/hop.jpg"))
            assert r.status_code == 520
            assert inner.connections == 0
            assert p.get(link("i", "full", f"{origin.base}/ok-hop.jpg")).content == JPEG
            assert p.get(link("i", "full", f"{origin.base}/loop.jpg")).status_code == 520
            assert origin.hits("/loop.jpg") == 6  # the first request and five redirects
        finally:
            p.stop()
    finally:
        inner.close()


# A link generator written in PHP the way Gazelle's is specified (compat.md §1): the key
# suffix comes from PHP's own date('oW'), so the ISO week-year is PHP's, not ours.
PHP_SIGNER = r"""
$secret = $argv[1]; $bucket = $argv[2]; $url = $argv[3]; $proxy = $argv[4] === '1'; $now = (int)$argv[5];
$ext = rtrim(strtr(base64_encode($url), '+/', '-_'), '=');
$msg = $bucket . '/' . $ext . ($proxy ? '/proxy' : '');
$mac = substr(hash_hmac('sha256', $msg, $secret . date('oW', $now), true), 0, 12);
$sig = rtrim(strtr(base64_encode($mac), '+/', '-_'), '=');
echo '/' . $bucket . '/full/' . $sig . '/' . $ext . ($proxy ? '/proxy' : '');
"""


def php_link(bucket: str, url: str, proxy: bool, now: int) -> str:
    import subprocess
    out = subprocess.run(["php", "-r", PHP_SIGNER, SECRET, bucket, url, "1" if proxy else "0", str(now)],
                         capture_output=True, text=True, check=True, env={"TZ": "UTC"})
    return out.stdout


def test_links_from_a_php_generator_are_accepted(proxy, origin):
    origin.serve("/php.jpg", JPEG)
    url = f"{origin.base}/php.jpg"
    now = int(time.time())
    # PHP's week-year agrees with ours around the 2024/25 boundary that broke Gazelle.
    for t in (1735430400, 1735603200, 1735862400, 1640730000):
        assert php_link("i", url, False, t) == link("i", "full", url, now=t)
    assert proxy.get(php_link("i", url, False, now)).content == JPEG
    assert proxy.get(php_link("i", url, True, now)).status_code == 200
    assert proxy.get(php_link("t", url, False, now - 7 * 86400)).status_code == 200
    assert proxy.get(php_link("t", url, False, now - 15 * 86400)).status_code == 410
