"""Settings given in a configuration file passed with `--config`: the [fetch] limits (on
the imageproxy door and on a bucket origin), and the [[buckets]] keys origin,
origin_miss_ttl_secs, referers and public_styles, an account [[secrets]] entry and
account_token. Also the s3 storage backend, with a second imgd as the S3 store."""
import os
import hashlib
import socket
import time
import tomllib
import uuid

import pytest
import requests

from conftest import ACCESS_KEY, CORPUS, SECRET_KEY, Imgd, free_port
from origin_server import Origin
from settings_util import code_of, dims, server_with, weekly_link

PNG = (CORPUS / "with-alpha.png").read_bytes()
JPEG = (CORPUS / "flowers.jpeg").read_bytes()
# Valid TOML as written (so it can be read as such); the origin's and the imageproxy
# listener's ports are filled in at start-up.
CONFIG = """
account_token = "cfgaccount01"

[fetch]
allow = ["127.0.0.1"]
max_redirects = 1
connect_timeout_ms = 1000
read_timeout_ms = 1500
deadline_ms = 4000
proxy_max_bytes = 1362     # the size of with-alpha.png
origin_max_bytes = 3000

[imageproxy]
listen = "127.0.0.1:PROXY_PORT"
secret = "fetch-settings-proxy-secret"

[[buckets]]
name = "fromorigin"
delivery = "public"
origin = { kind = "http", base_url = "ORIGIN_BASE/o" }
origin_miss_ttl_secs = 2
referers = ["example.com", "*.example.org"]

# Origin failures back a bucket's origin off, so each failing test has its own bucket.
[[buckets]]
name = "bigorigin"
delivery = "public"
origin = { kind = "http", base_url = "ORIGIN_BASE/o" }

[[buckets]]
name = "sloworigin"
delivery = "public"
origin = { kind = "http", base_url = "ORIGIN_BASE/o" }

[[buckets]]
name = "cfgsigned"
delivery = "signed"
schemes = ["cloudflare", "ixmage"]
public_styles = ["thumb"]
[buckets.styles]
thumb = "image/resize,w_32"

[[buckets]]
name = "cfgsigned2"
delivery = "signed"
schemes = ["cloudflare"]

[[secrets]]
value = "account-wide-secret-1"
description = "account-wide, from the config file"
"""
SETTINGS = tomllib.loads(CONFIG)
PROXY_SECRET = SETTINGS["imageproxy"]["secret"]
PROXY_MAX = SETTINGS["fetch"]["proxy_max_bytes"]
ORIGIN_MAX = SETTINGS["fetch"]["origin_max_bytes"]
ACCOUNT_TOKEN = SETTINGS["account_token"]
ACCOUNT_SECRET = SETTINGS["secrets"][0]["value"]
assert len(PNG) == PROXY_MAX


def padded(n: int) -> bytes:
    """A PNG followed by zeros up to `n` bytes (decoders stop at IEND)."""
    return PNG + b"\0" * (n - len(PNG))


@pytest.fixture(scope="module")
def srv(tmp_path_factory, origin):
    root = tmp_path_factory.mktemp("fetchcfg")
    port = free_port()
    cfg = root / "imgd.toml"
    cfg.write_text(CONFIG.replace("PROXY_PORT", str(port)).replace("ORIGIN_BASE", origin.base))
    server = server_with(root / "data", args=["--config", str(cfg)]).start()
    server.proxy_port = port
    s3 = server.client()
    for b in ("cfgsigned", "cfgsigned2"):
        s3.put_object(Bucket=b, Key="x.jpg", Body=JPEG, ContentType="image/jpeg")
    yield server
    server.stop()


def proxied(srv, path: str, **kw) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{srv.proxy_port}{path}", timeout=60, **kw)


def fresh(name: str) -> str:
    """A path no other test (or earlier run of this one) fetched: originals are stored
    per URL and failures back off per URL."""
    return f"/{uuid.uuid4().hex[:8]}-{name}"


# --- [fetch] on the imageproxy door ---------------------------------------------------

def test_max_redirects_one_hop_passes_two_fail(srv, origin):
    one, two_a, two_b, target = fresh("r1"), fresh("r2a"), fresh("r2b"), fresh("t.png")
    origin.serve(target, PNG)
    origin.serve(one, b"", status=302, headers={"Location": target})
    origin.serve(two_a, b"", status=302, headers={"Location": two_b})
    origin.serve(two_b, b"", status=302, headers={"Location": target})
    ok = proxied(srv, weekly_link(PROXY_SECRET, "i", "full", origin.base + one))
    assert ok.status_code == 200 and ok.content == PNG
    bad = proxied(srv, weekly_link(PROXY_SECRET, "i", "full", origin.base + two_a))
    assert bad.status_code == 520 and "redirects (limit 1)" in bad.text, bad.text
    assert origin.hits(two_b) == 1  # the second hop was asked, its redirect not followed


def test_proxy_max_bytes_both_sides(srv, origin):
    at, over = fresh("at.png"), fresh("over.png")
    origin.serve(at, PNG)
    origin.serve(over, padded(PROXY_MAX + 1))
    ok = proxied(srv, weekly_link(PROXY_SECRET, "i", "full", origin.base + at))
    assert ok.status_code == 200 and ok.content == PNG
    bad = proxied(srv, weekly_link(PROXY_SECRET, "i", "full", origin.base + over))
    assert bad.status_code == 520 and f"larger than {PROXY_MAX} bytes" in bad.text, bad.text


def test_read_timeout_ms_both_sides(srv, origin):
    quick, stall = fresh("quick.png"), fresh("stall.png")
    origin.serve(quick, PNG, delay=0.2)
    # Answers after 3 s: past the 1.5 s read timeout, within the 4 s deadline.
    origin.serve(stall, PNG, delay=3)
    assert proxied(srv, weekly_link(PROXY_SECRET, "i", "full", origin.base + quick)).content == PNG
    bad = proxied(srv, weekly_link(PROXY_SECRET, "i", "full", origin.base + stall))
    assert bad.status_code == 520 and "timed out" in bad.text, bad.text


def trickle(chunks: int, gap: float):
    """A body that sends the PNG in `chunks` pieces, `gap` seconds apart: the last byte
    leaves (chunks - 1) * gap seconds after the head."""
    size = -(-len(PNG) // chunks)

    def body():
        def gen():
            for i in range(chunks):
                if i:
                    time.sleep(gap)
                yield PNG[i * size:(i + 1) * size]
        return len(PNG), gen()
    return body


def test_deadline_ms_both_sides(srv, origin):
    slow, slower = fresh("slow.png"), fresh("slower.png")
    # Every gap is well within the read timeout; only the total differs.
    origin.serve(slow, trickle(3, 0.5))  # 1 s
    origin.serve(slower, trickle(13, 0.5))  # 6 s, past the 4 s deadline
    ok = proxied(srv, weekly_link(PROXY_SECRET, "i", "full", origin.base + slow))
    assert ok.status_code == 200 and ok.content == PNG
    bad = proxied(srv, weekly_link(PROXY_SECRET, "i", "full", origin.base + slower))
    assert bad.status_code == 520 and "timed out" in bad.text, bad.text


def blackhole():
    """A loopback port whose accept queue is full, so further connects hang (Linux drops
    the SYN) instead of being refused."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        s = socket.socket()
        s.settimeout(0.5)
        fillers.append(s)
        try:
            s.connect(("127.0.0.1", port))
        except socket.timeout:
            return listener, fillers, port
    raise RuntimeError("could not fill the accept queue")


def test_connect_timeout_ms(srv):
    listener, fillers, port = blackhole()
    try:
        started = time.monotonic()
        bad = proxied(srv, weekly_link(PROXY_SECRET, "i", "full", f"http://127.0.0.1:{port}{fresh('x.png')}"))
        waited = time.monotonic() - started
        assert bad.status_code == 520, bad.text
        # 1 s connect timeout; the 4 s deadline (and the 5 s default) would take longer.
        assert waited < 3.5, waited
    finally:
        for s in fillers:
            s.close()
        listener.close()


# --- [fetch] and [[buckets]] origin on the delivery door ----------------------------

def test_config_file_origin_fetches_on_a_miss(srv, origin):
    origin.serve("/o/first.png", PNG)
    url = f"{srv.endpoint}/fromorigin/first.png"
    r = requests.get(url, timeout=60)
    assert r.status_code == 200 and r.content == PNG
    s3 = srv.client()
    deadline = time.monotonic() + 15
    while "Contents" not in s3.list_objects_v2(Bucket="fromorigin", Prefix="first.png"):
        assert time.monotonic() < deadline, "the origin copy was never stored"
        time.sleep(0.1)
    assert requests.get(url, timeout=60).content == PNG
    assert origin.hits("/o/first.png") == 1


def test_config_file_origin_miss_ttl(srv, origin):
    url = f"{srv.endpoint}/fromorigin/late.png"
    assert requests.get(url, timeout=30).status_code == 404
    origin.serve("/o/late.png", PNG)
    # Within the 2 s TTL the miss is remembered: the origin is not asked again.
    assert requests.get(url, timeout=30).status_code == 404
    assert origin.hits("/o/late.png") == 1
    time.sleep(2.5)
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.content == PNG
    assert origin.hits("/o/late.png") == 2


def test_origin_max_bytes_both_sides(srv, origin):
    origin.serve("/o/at.png", padded(ORIGIN_MAX))
    origin.serve("/o/over.png", padded(ORIGIN_MAX + 1))
    ok = requests.get(f"{srv.endpoint}/bigorigin/at.png", timeout=60)
    assert ok.status_code == 200 and ok.content == padded(ORIGIN_MAX)
    bad = requests.get(f"{srv.endpoint}/bigorigin/over.png", timeout=60)
    assert bad.status_code == 502, bad.text
    assert str(ORIGIN_MAX) in bad.text
    assert "Contents" not in srv.client().list_objects_v2(Bucket="bigorigin", Prefix="over.png")


def test_origin_hour_deadline_and_read_timeout(srv, origin):
    # Origins are not held to the 4 s deadline: they get at least an hour for large
    # objects...
    origin.serve("/o/trickle.png", trickle(11, 0.5))  # 5 s, past the 4 s deadline
    r = requests.get(f"{srv.endpoint}/sloworigin/trickle.png", timeout=60)
    assert r.status_code == 200 and r.content == PNG
    # ...but the read timeout applies to them too.
    origin.serve("/o/stall.png", PNG, delay=3)
    r = requests.get(f"{srv.endpoint}/sloworigin/stall.png", timeout=60)
    assert r.status_code == 502 and "timed out" in r.text, r.text


def test_config_file_referers(srv, origin):
    origin.serve("/o/ref.png", PNG)
    url = f"{srv.endpoint}/fromorigin/ref.png"
    assert requests.get(url, headers={"Referer": "https://example.com/page"}, timeout=30).content == PNG
    assert requests.get(url, headers={"Referer": "https://cdn.example.org/"}, timeout=30).status_code == 200
    r = requests.get(url, headers={"Referer": "https://example.net/"}, timeout=30)
    assert r.status_code == 403 and code_of(r) == "RefererDenied"


def test_config_file_public_styles(srv):
    r = requests.get(f"{srv.endpoint}/cfgsigned/x.jpg", params={"x-oss-process": "style/thumb"}, timeout=30)
    assert r.status_code == 200 and dims(r.content)[0] == 32
    # Any other processing, or the plain object, still needs a signature.
    assert requests.get(f"{srv.endpoint}/cfgsigned/x.jpg", params={"x-oss-process": "image/resize,w_32"},
                        timeout=30).status_code == 403
    assert requests.get(f"{srv.endpoint}/cfgsigned/x.jpg", timeout=30).status_code == 403


def test_config_file_account_secret_signs_for_every_bucket(srv):
    for bucket in ("cfgsigned", "cfgsigned2"):
        url = f"{srv.endpoint}/{bucket}/x.jpg?x-oss-process=image/resize,w_50"
        signed = srv.cli("sign", "--scheme", "cloudflare", "--secret", ACCOUNT_SECRET, url).stdout.strip()
        r = requests.get(signed, timeout=30)
        assert r.status_code == 200, (bucket, r.text)
        assert dims(r.content)[0] == 50
        forged = srv.cli("sign", "--scheme", "cloudflare", "--secret", "not-the-account-secret", url).stdout.strip()
        r = requests.get(forged, timeout=30)
        assert r.status_code == 403 and code_of(r) == "SignatureDoesNotMatch"
    # Listed as an account secret (no bucket), the value itself never shown.
    listed = [line.split("\t") for line in srv.cli("secret", "list").stdout.splitlines()]
    mine = [row for row in listed if row[-1] == "account-wide, from the config file"]
    assert len(mine) == 1 and mine[0][1:3] == ["account", "active"], listed
    assert ACCOUNT_SECRET not in srv.cli("secret", "list").stdout


def test_config_file_account_token(srv):
    query = "w=50"
    key = hashlib.sha1((ACCOUNT_TOKEN + "".join(sorted(query)) + ACCOUNT_SECRET).encode()).hexdigest()
    r = requests.get(f"{srv.endpoint}/_ix/{ACCOUNT_TOKEN}/cfgsigned/x.jpg?{query}&key={key}", timeout=30)
    assert r.status_code == 200, r.text
    assert dims(r.content)[0] == 50
    # Once configured, the token derived from the root key is no longer the account's.
    derived = hashlib.sha256(f"imgd-account:{ACCESS_KEY}".encode()).hexdigest()[:16]
    key = hashlib.sha1((derived + "".join(sorted(query)) + ACCOUNT_SECRET).encode()).hexdigest()
    assert requests.get(f"{srv.endpoint}/_ix/{derived}/cfgsigned/x.jpg?{query}&key={key}",
                        timeout=30).status_code == 404


# --- [storage] backend = "s3" -------------------------------------------------------

def test_storage_backend_s3_put_and_get_through_a_second_imgd(tmp_path):
    """Regression (issue 10): `[storage] backend = "s3"` answered 500 on the first PUT (the base
    binary logs "default HTTP transport is not installed" from OpenDAL). A second imgd on
    loopback is the S3 store; the first keeps its blobs there."""
    store = Imgd(tmp_path / "store").start()
    front = None
    try:
        store.client().create_bucket(Bucket="blobs")
        front = Imgd(tmp_path / "front", env={
            "IMGD_STORAGE_BACKEND": "s3",
            "IMGD_STORAGE_S3_ENDPOINT": store.endpoint,
            "IMGD_STORAGE_S3_REGION": "us-east-1",
            "IMGD_STORAGE_S3_BUCKET": "blobs",
            "IMGD_STORAGE_S3_ACCESS_KEY": ACCESS_KEY,
            "IMGD_STORAGE_S3_SECRET_KEY": SECRET_KEY,
        }).start()
        s3 = front.client()
        s3.create_bucket(Bucket="photos")
        body = JPEG
        s3.put_object(Bucket="photos", Key="a.jpg", Body=body, ContentType="image/jpeg")
        assert s3.get_object(Bucket="photos", Key="a.jpg")["Body"].read() == body
        # The bytes live in the second imgd's bucket, not on the first one's disk.
        behind = store.client()
        listed = behind.list_objects_v2(Bucket="blobs").get("Contents", [])
        assert [o["Size"] for o in listed] == [len(body)], listed
        assert behind.get_object(Bucket="blobs", Key=listed[0]["Key"])["Body"].read() == body
        blobs = tmp_path / "front" / "blobs"
        assert not blobs.exists() or not [p for p in blobs.rglob("*") if p.is_file()]
        # Larger than one 8 MiB part: the blob goes up as a multipart upload, which the
        # store behind refuses unless every part but the last is at least 5 MiB. A
        # processed read and a range read come from the remote blob too.
        big = os.urandom(19 * 1024 * 1024 + 3)
        s3.put_object(Bucket="photos", Key="big.bin", Body=big)
        assert s3.get_object(Bucket="photos", Key="big.bin")["Body"].read() == big
        part = s3.get_object(Bucket="photos", Key="big.bin", Range="bytes=9000000-9000009")["Body"].read()
        assert part == big[9000000:9000010]
        sizes = sorted(o["Size"] for o in behind.list_objects_v2(Bucket="blobs").get("Contents", []))
        assert sizes == sorted([len(body), len(big)])
        s3.delete_object(Bucket="photos", Key="big.bin")
        deadline = time.monotonic() + 15
        while True:
            sizes = [o["Size"] for o in behind.list_objects_v2(Bucket="blobs").get("Contents", [])]
            if sizes == [len(body)] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert sizes == [len(body)], "deleting an object removes its remote blob"
    except Exception:
        print("front log:\n" + (front.log() if front else ""))
        print("store log:\n" + store.log())
        raise
    finally:
        if front:
            front.stop()
        store.stop()
