"""Back-to-source origins (HTTP and S3), coalescing and the variant cache, against the
real binary, a test-owned HTTP origin and a second imgd as an S3 origin."""
import concurrent.futures
import io
import os
import pathlib
import re
import time
import uuid

import pytest
import requests
from botocore.exceptions import ClientError
from PIL import Image

from conftest import ACCESS_KEY, CORPUS, SECRET_KEY, Imgd, metric
from origin_server import Origin

ADMIN = "admin-token-for-sources-tests"
JPEG = (CORPUS / "flowers.jpeg").read_bytes()
PNG = (CORPUS / "with-alpha.png").read_bytes()


def width(body: bytes) -> int:
    return Image.open(io.BytesIO(body)).size[0]


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.close()


@pytest.fixture
def server(tmp_path):
    s = Imgd(
        tmp_path / "data",
        env={"IMGD_FETCH_ALLOW": "127.0.0.1/32", "IMGD_ADMIN_TOKEN": ADMIN},
    ).start()
    yield s
    s.stop()


def public_bucket(server: Imgd, origin_args: list[str]) -> str:
    name = f"b-{uuid.uuid4().hex[:10]}"
    server.cli("bucket", "create", name, "--public")
    server.cli("bucket", "origin", name, *origin_args)
    return name


def wait_for_object(s3, bucket: str, key: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return s3.head_object(Bucket=bucket, Key=key)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_http_origin_streams_then_serves_locally(server, origin):
    big = os.urandom(16) + JPEG  # not an image: refused
    origin.serve("/photos/a.jpg", JPEG, headers={"Cache-Control": "max-age=77", "Content-Type": "application/x-junk"})
    origin.serve("/photos/junk.jpg", big)
    b = public_bucket(server, ["--http", f"{origin.base}/photos"])
    r = requests.get(f"{server.endpoint}/{b}/a.jpg", timeout=30)
    assert r.status_code == 200
    assert r.content == JPEG
    assert r.headers["content-type"] == "image/jpeg"
    s3 = server.client()
    head = wait_for_object(s3, b, "a.jpg")
    assert head["ContentLength"] == len(JPEG)
    assert head["ContentType"] == "image/jpeg"
    assert head["CacheControl"] == "max-age=77"
    r = requests.get(f"{server.endpoint}/{b}/a.jpg", timeout=30)
    assert r.content == JPEG and "etag" in r.headers
    assert origin.hits("/photos/a.jpg") == 1
    # S3 clients see the origin too: a boto3 get of a missing key fetches it.
    origin.serve("/photos/c.png", PNG)
    assert s3.get_object(Bucket=b, Key="c.png")["Body"].read() == PNG
    # A processed request on a miss fetches, stores and renders.
    origin.serve("/photos/p.jpg", JPEG)
    r = requests.get(f"{server.endpoint}/{b}/p.jpg?x-oss-process=image/resize,w_120", timeout=30)
    assert r.status_code == 200 and width(r.content) == 120
    wait_for_object(s3, b, "p.jpg")
    # A large source processed on a miss: the fetch is stored as fast as it arrives
    # (nobody streams it), not paced by a reader that does not exist.
    # A real photo followed by 37 MB that decoders ignore after its end marker, sent in
    # small writes so the body arrives in many chunks.
    photo = (CORPUS / "photo4000.jpg").read_bytes()
    tail = 37 * 1024 * 1024

    def padded():
        def chunks():
            yield photo
            for _ in range(tail // 16384):
                yield b"\0" * 16384
        return len(photo) + tail, chunks()

    big_len = len(photo) + tail
    origin.serve("/photos/big.jpg", padded)
    started = time.monotonic()
    r = requests.get(f"{server.endpoint}/{b}/big.jpg?x-oss-process=image/resize,w_300", timeout=60)
    assert r.status_code == 200 and width(r.content) == 300
    assert time.monotonic() - started < 10
    assert wait_for_object(s3, b, "big.jpg")["ContentLength"] == big_len
    # Non-images from the origin are refused with 502 and not stored.
    r = requests.get(f"{server.endpoint}/{b}/junk.jpg", timeout=30)
    assert r.status_code == 502
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=b, Key="junk.jpg")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def test_large_origin_objects_stream_end_to_end(server, origin):
    size = 256 * 1024 * 1024
    block = JPEG[:65536].ljust(65536, b"\0")

    def big():
        def chunks():
            sent = 0
            while sent < size:
                n = min(len(block), size - sent)
                yield block[:n]
                sent += n
        return size, chunks()

    origin.serve("/huge.jpg", big)
    b = public_bucket(server, ["--http", origin.base])
    before = peak_rss_mb(server.proc.pid)
    got = 0
    with requests.get(f"{server.endpoint}/{b}/huge.jpg", stream=True, timeout=120) as r:
        assert r.status_code == 200
        assert r.headers["content-length"] == str(size)
        for chunk in r.iter_content(1 << 20):
            got += len(chunk)
    assert got == size
    head = wait_for_object(server.client(), b, "huge.jpg", timeout=60)
    assert head["ContentLength"] == size
    # Neither the client stream nor the background store held the object in memory.
    assert peak_rss_mb(server.proc.pid) - before < 100


def test_s3_origin_is_a_second_imgd(server, tmp_path):
    upstream = Imgd(tmp_path / "upstream").start()
    try:
        up = upstream.client()
        up.create_bucket(Bucket="src")
        up.put_object(Bucket="src", Key="legacy/deep/x.jpg", Body=JPEG, ContentType="image/jpeg",
                      Metadata={"owner": "legacy"})
        b = public_bucket(server, [
            "--s3-endpoint", upstream.endpoint, "--s3-bucket", "src",
            "--s3-access-key", ACCESS_KEY, "--s3-secret-key", SECRET_KEY, "--s3-prefix", "legacy/",
        ])
        r = requests.get(f"{server.endpoint}/{b}/deep/x.jpg", timeout=30)
        assert r.status_code == 200 and r.content == JPEG
        head = wait_for_object(server.client(), b, "deep/x.jpg")
        assert head["Metadata"] == {"owner": "legacy"}
        assert requests.get(f"{server.endpoint}/{b}/deep/missing.jpg", timeout=30).status_code == 404
        # Wrong credentials: the origin refuses, imgd answers 502.
        bad = public_bucket(server, [
            "--s3-endpoint", upstream.endpoint, "--s3-bucket", "src",
            "--s3-access-key", ACCESS_KEY, "--s3-secret-key", "wrong" * 8,
        ])
        assert requests.get(f"{server.endpoint}/{bad}/legacy/deep/x.jpg", timeout=30).status_code == 502
    finally:
        upstream.stop()


def test_origin_errors_are_502_with_backoff(server, origin):
    origin.serve("/down.jpg", b"boom", status=503)
    b = public_bucket(server, ["--http", origin.base])
    assert requests.get(f"{server.endpoint}/{b}/down.jpg", timeout=30).status_code == 502
    assert origin.hits("/down.jpg") == 1
    r = requests.get(f"{server.endpoint}/{b}/down.jpg", timeout=30)
    assert r.status_code == 502 and "retried" in r.text
    assert origin.hits("/down.jpg") == 1
    time.sleep(1.2)
    origin.serve("/down.jpg", JPEG)
    assert requests.get(f"{server.endpoint}/{b}/down.jpg", timeout=30).status_code == 200
    assert origin.hits("/down.jpg") == 2
    # An origin that is not listening at all.
    dead = public_bucket(server, ["--http", "http://127.0.0.1:1"])
    assert requests.get(f"{server.endpoint}/{dead}/x.jpg", timeout=30).status_code == 502


def test_origin_404_is_remembered_then_forgotten(server, origin):
    b = public_bucket(server, ["--http", origin.base, "--miss-ttl", "2"])
    assert requests.get(f"{server.endpoint}/{b}/late.jpg", timeout=30).status_code == 404
    assert requests.get(f"{server.endpoint}/{b}/late.jpg", timeout=30).status_code == 404
    assert origin.hits("/late.jpg") == 1
    origin.serve("/late.jpg", JPEG)
    assert requests.get(f"{server.endpoint}/{b}/late.jpg", timeout=30).status_code == 404
    time.sleep(2.3)
    r = requests.get(f"{server.endpoint}/{b}/late.jpg", timeout=30)
    assert r.status_code == 200 and r.content == JPEG
    assert origin.hits("/late.jpg") == 2


def test_100_concurrent_misses_make_one_fetch_and_one_render(server, origin):
    origin.serve("/slow.jpg", JPEG, delay=0.5)
    b = public_bucket(server, ["--http", origin.base])
    fetches = metric(server, "imgd_origin_fetches_total", result="ok")
    jobs = metric(server, "imgd_process_jobs_total")
    url = f"{server.endpoint}/{b}/slow.jpg?x-oss-process=image/resize,w_64"

    def get(_):
        r = requests.get(url, timeout=60)
        return r.status_code, r.content

    with concurrent.futures.ThreadPoolExecutor(100) as pool:
        results = list(pool.map(get, range(100)))
    assert {s for s, _ in results} == {200}
    assert len({c for _, c in results}) == 1
    assert width(results[0][1]) == 64
    assert origin.hits("/slow.jpg") == 1
    assert metric(server, "imgd_origin_fetches_total", result="ok") - fetches == 1
    assert metric(server, "imgd_process_jobs_total") - jobs == 1

    # Plain GETs of a missing object coalesce too: one leader streams, the rest wait.
    origin.serve("/slow2.jpg", JPEG, delay=0.5)
    with concurrent.futures.ThreadPoolExecutor(100) as pool:
        results = list(pool.map(lambda _: requests.get(f"{server.endpoint}/{b}/slow2.jpg", timeout=60), range(100)))
    assert {r.status_code for r in results} == {200}
    assert all(r.content == JPEG for r in results)
    assert origin.hits("/slow2.jpg") == 1


def cache_stats(server: Imgd) -> dict:
    r = requests.get(f"{server.endpoint}/_imgd/admin/variants", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert r.status_code == 200
    return r.json()


def dir_bytes(path: pathlib.Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.name.startswith("index"))


def test_variant_cache_hits_invalidation_purge_and_restart(tmp_path):
    env = {"IMGD_ADMIN_TOKEN": ADMIN}
    server = Imgd(tmp_path / "data", env=env).start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="pics")
        server.cli("bucket", "set-public", "pics")
        s3.put_object(Bucket="pics", Key="a.jpg", Body=JPEG, ContentType="image/jpeg")
        url = f"{server.endpoint}/pics/a.jpg?x-oss-process=image/resize,w_200"
        jobs = metric(server, "imgd_process_jobs_total")
        first = requests.get(url, timeout=30)
        assert first.status_code == 200 and width(first.content) == 200
        second = requests.get(url, timeout=30)
        assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
        assert metric(server, "imgd_process_jobs_total") - jobs == 1
        assert metric(server, "imgd_variant_cache_hits_total") >= 1
        assert requests.get(url, headers={"If-None-Match": first.headers["etag"]}, timeout=30).status_code == 304

        # Overwrite: the old variant is gone, the new source is rendered.
        s3.put_object(Bucket="pics", Key="a.jpg", Body=PNG, ContentType="image/png")
        third = requests.get(url, timeout=30)
        assert third.headers["etag"] != first.headers["etag"]
        assert third.headers["content-type"] == "image/png"
        assert metric(server, "imgd_process_jobs_total") - jobs == 2

        # Purge by key through the CLI, then by prefix and bucket through the API.
        assert requests.get(url, timeout=30).status_code == 200
        out = server.cli("cache", "purge", "--bucket", "pics", "--key", "a.jpg").stdout
        assert '"purged":1' in out.replace(" ", "")
        requests.get(url, timeout=30)
        assert metric(server, "imgd_process_jobs_total") - jobs == 3
        r = requests.post(f"{server.endpoint}/_imgd/admin/variants/purge", json={"bucket": "pics", "prefix": "a"},
                          headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        assert r.json()["purged"] == 1
        r = requests.post(f"{server.endpoint}/_imgd/admin/variants/purge", json={"bucket": "pics", "prefix": "zzz"},
                          headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        assert r.json()["purged"] == 0
        bad = requests.post(f"{server.endpoint}/_imgd/admin/variants/purge", json={"key": "a.jpg"},
                            headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        assert bad.status_code == 400

        # format,auto: one cached variant per accept class, each sent with Vary: Accept.
        auto = f"{server.endpoint}/pics/a.jpg?x-oss-process=image/resize,w_90/format,auto"
        for _ in range(2):
            webp = requests.get(auto, headers={"Accept": "image/webp,*/*"}, timeout=30)
            plain = requests.get(auto, headers={"Accept": "*/*"}, timeout=30)
            assert webp.headers["content-type"] == "image/webp" and webp.headers["vary"] == "Accept"
            assert plain.headers["content-type"] != "image/webp" and plain.headers["vary"] == "Accept"
            assert webp.headers["etag"] != plain.headers["etag"]

        # Deleting the source drops its variants; the variant URL is 404.
        requests.get(url, timeout=30)
        s3.delete_object(Bucket="pics", Key="a.jpg")
        assert requests.get(url, timeout=30).status_code == 404

        # The cache survives a restart: the variant comes back without a render.
        s3.put_object(Bucket="pics", Key="b.jpg", Body=JPEG, ContentType="image/jpeg")
        burl = f"{server.endpoint}/pics/b.jpg?x-oss-process=image/resize,w_150"
        before = requests.get(burl, timeout=30).content
    finally:
        server.stop()
    server.start()
    try:
        jobs = metric(server, "imgd_process_jobs_total")
        after = requests.get(burl, timeout=30)
        assert after.content == before
        assert metric(server, "imgd_process_jobs_total") == jobs == 0
        assert metric(server, "imgd_variant_cache_hits_total", tier="disk") == 1
    finally:
        server.stop()


def test_variant_cache_bound_holds_under_churn(tmp_path):
    bound = 200_000
    env = {
        "IMGD_ADMIN_TOKEN": ADMIN,
        "IMGD_CACHE_MAX_DISK_BYTES": str(bound),
        "IMGD_CACHE_MAX_MEMORY_BYTES": "100000",
    }
    server = Imgd(tmp_path / "data", env=env).start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="churn")
        server.cli("bucket", "set-public", "churn")
        big = (CORPUS / "2569067123_aca715a2ee_o.jpg").read_bytes()
        s3.put_object(Bucket="churn", Key="a.jpg", Body=big, ContentType="image/jpeg")
        sizes = {}
        # Largest first, so the last (most recent) variants are small enough to keep.
        for w in range(400, 95, -5):
            r = requests.get(f"{server.endpoint}/churn/a.jpg?x-oss-process=image/resize,w_{w}", timeout=60)
            assert r.status_code == 200
            sizes[w] = len(r.content)
            stats = cache_stats(server)
            assert stats["disk_bytes"] <= bound, stats
        assert sum(sizes.values()) > 3 * bound  # the churn really exceeded the bound
        assert stats["evictions"] > 0
        assert dir_bytes(tmp_path / "data" / "variants") <= bound + 64 * 1024
        # The most recent variant is still cached.
        jobs = metric(server, "imgd_process_jobs_total")
        requests.get(f"{server.endpoint}/churn/a.jpg?x-oss-process=image/resize,w_100", timeout=60)
        assert metric(server, "imgd_process_jobs_total") == jobs
    finally:
        server.stop()
