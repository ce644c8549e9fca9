"""The Telegram blob backend (`[storage] backend = "telegram"`) against a Bot API emulator
on loopback (telegram_emulator.py): chunked round trips, ranges, the send queue under
429s and 5xx errors, a kill -9 mid-upload, an outage, deletes, and the seed's own flow
(PicGo into a Telegram-backed bucket, an S3 origin persisted in the background, cached
variants)."""
import hashlib
import io
import signal
import subprocess
import threading
import time
import uuid

import pytest
import requests
from botocore.exceptions import ClientError
from PIL import Image

from conftest import ACCESS_KEY, BIN, CORPUS, SECRET_KEY, Imgd, metric, picgo_upload
from telegram_emulator import BotApi

TOKEN = "123456:ABC-imgd_test_token_XYZ"
CHAT = "@imgd_blobs"
CHUNK = 19 * 1024 * 1024
JPEG = (CORPUS / "flowers.jpeg").read_bytes()


def telegram_env(api: BotApi, extra: dict | None = None) -> dict:
    env = {
        "IMGD_STORAGE_BACKEND": "telegram",
        "IMGD_STORAGE_TELEGRAM_BOT_TOKEN": TOKEN,
        "IMGD_STORAGE_TELEGRAM_CHAT_ID": CHAT,
        "IMGD_STORAGE_TELEGRAM_API_BASE": api.base,
        "IMGD_STORAGE_TELEGRAM_SEND_INTERVAL_MS": "0",
        "IMGD_FETCH_ALLOW": "127.0.0.1/32",
    }
    env.update(extra or {})
    return env


@pytest.fixture
def api():
    a = BotApi(TOKEN, CHAT)
    yield a
    a.close()


@pytest.fixture
def server(tmp_path, api):
    s = Imgd(tmp_path / "data", env=telegram_env(api)).start()
    yield s
    s.stop()
    # The token never reaches the log.
    assert TOKEN.split(":")[1] not in s.log_path.read_text(errors="replace")


def noise(n: int, seed: int = 1) -> bytes:
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:n])


def test_round_trips_are_bit_identical_in_chunks_within_the_limits(server, api):
    s3 = server.client()
    s3.create_bucket(Bucket="tgb")
    for name, size in [("one", 1), ("five", 5 * 1000 * 1000), ("hundred", 100 * 1000 * 1000), ("empty", 0)]:
        data = noise(size, seed=size)
        before = len(api.messages)
        s3.put_object(Bucket="tgb", Key=name, Body=data)
        got = s3.get_object(Bucket="tgb", Key=name)["Body"].read()
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), name
        new = api.stored()[before:]
        assert b"".join(new) == data
        assert len(new) == -(-size // CHUNK)
        # Every document fits the cloud API: 50 MB up, 20 MB down.
        assert all(0 < len(d) <= 20 * 1000 * 1000 for d in new)
    assert api.calls.get("sendPhoto") is None  # documents only, never recompressed photos
    # A multipart upload through boto3's transfer manager, too.
    data = noise(30 * 1000 * 1000, seed=7)
    s3.upload_fileobj(io.BytesIO(data), "tgb", "multi")
    assert s3.get_object(Bucket="tgb", Key="multi")["Body"].read() == data


def test_ranges_fetch_only_the_chunks_they_touch_and_are_then_cached(server, api):
    s3 = server.client()
    s3.create_bucket(Bucket="tgb")
    data = noise(45 * 1000 * 1000, seed=3)
    s3.put_object(Bucket="tgb", Key="big", Body=data)
    file_ids = [m["file_id"] for _, m in sorted(api.messages.items())]
    assert len(file_ids) == 3
    start, end = CHUNK - 10, CHUNK + 9  # across the first chunk boundary
    r = s3.get_object(Bucket="tgb", Key="big", Range=f"bytes={start}-{end}")
    assert r["Body"].read() == data[start:end + 1]
    assert sorted(api.downloads) == file_ids[:2]
    # Again, and a range inside the second chunk: served from the hot-chunk cache.
    assert s3.get_object(Bucket="tgb", Key="big", Range=f"bytes={start}-{end}")["Body"].read() == data[start:end + 1]
    assert s3.get_object(Bucket="tgb", Key="big", Range=f"bytes={CHUNK + 5}-{CHUNK + 99}")["Body"].read() \
        == data[CHUNK + 5:CHUNK + 100]
    assert sorted(api.downloads) == file_ids[:2]
    assert api.calls["getFile"] == 2
    # The tail, across the second boundary, fetches the third chunk only.
    r = s3.get_object(Bucket="tgb", Key="big", Range=f"bytes={2 * CHUNK - 1}-")
    assert r["Body"].read() == data[2 * CHUNK - 1:]
    assert sorted(api.downloads) == file_ids


def test_without_the_cache_getfile_answers_are_still_reused(tmp_path, api):
    server = Imgd(tmp_path / "data", env=telegram_env(api, {"IMGD_STORAGE_TELEGRAM_CACHE": "false"})).start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="tgb")
        data = noise(300_000, seed=9)
        s3.put_object(Bucket="tgb", Key="k", Body=data)
        for _ in range(3):
            assert s3.get_object(Bucket="tgb", Key="k")["Body"].read() == data
        assert s3.get_object(Bucket="tgb", Key="k", Range="bytes=1000-1999")["Body"].read() == data[1000:2000]
        assert len(api.downloads) == 4  # nothing kept on disk
        assert api.calls["getFile"] == 1  # the path is reused
        assert not any((tmp_path / "data" / "telegram" / "cache").glob("*.*"))
    finally:
        server.stop()


def test_a_429_storm_waits_and_nothing_is_acknowledged_before_it_is_stored(server, api):
    s3 = server.client()
    s3.create_bucket(Bucket="tgb")
    api.retry_after = 1
    api.rate_limit_next = 3
    data = noise(2_000_000, seed=4)
    done = {}

    def put():
        t = time.monotonic()
        done["etag"] = s3.put_object(Bucket="tgb", Key="storm", Body=data)["ETag"]
        done["secs"] = time.monotonic() - t
        done["stored"] = api.stored()

    thread = threading.Thread(target=put)
    thread.start()
    time.sleep(1.0)
    # Still waiting: nothing is visible yet.
    assert "etag" not in done
    assert head_status(s3, "storm") == 404
    thread.join(30)
    assert done["etag"] and done["secs"] >= 3
    assert done["stored"] == [data]  # stored before the client was told
    assert api.send_attempts == 4
    assert s3.get_object(Bucket="tgb", Key="storm")["Body"].read() == data
    # 5xx answers are retried with backoff.
    api.fail_next = 2
    s3.put_object(Bucket="tgb", Key="after-5xx", Body=b"x" * 1000)
    assert s3.get_object(Bucket="tgb", Key="after-5xx")["Body"].read() == b"x" * 1000


def test_past_the_write_deadline_the_client_gets_503_and_no_object(tmp_path, api):
    server = Imgd(tmp_path / "data", env=telegram_env(api, {"IMGD_STORAGE_TELEGRAM_WRITE_DEADLINE_SECS": "2"})).start()
    try:
        server.client().create_bucket(Bucket="tgb")
        api.retry_after = 3  # longer than the deadline
        api.rate_limit_next = 1000
        s3 = server.client()
        t = time.monotonic()
        status, headers, code = put_status(s3, "late", b"late")
        assert (status, code) == (503, "ServiceUnavailable") and headers["retry-after"]
        assert time.monotonic() - t < 10
        api.rate_limit_next = 0
        time.sleep(3)  # the queue honours the last retry_after
        # A stalled send hits the deadline too.
        api.stall_send = (api.send_attempts + 1, 6)
        assert put_status(s3, "stalled", b"stalled")[0] == 503
        names = [o["Key"] for o in s3.list_objects_v2(Bucket="tgb").get("Contents", [])]
        assert names == []
        api.stall_send = None
        s3.put_object(Bucket="tgb", Key="fine", Body=b"fine")
        assert s3.get_object(Bucket="tgb", Key="fine")["Body"].read() == b"fine"
    finally:
        server.stop()


def head_status(s3, key: str) -> int:
    try:
        s3.head_object(Bucket="tgb", Key=key)
        return 200
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"]


def put_status(s3, key: str, body: bytes) -> tuple[int, dict, str]:
    """A PUT that is expected to fail: its status, headers and error code."""
    try:
        s3.put_object(Bucket="tgb", Key=key, Body=body)
    except ClientError as e:
        meta = e.response["ResponseMetadata"]
        return meta["HTTPStatusCode"], meta["HTTPHeaders"], e.response["Error"]["Code"]
    return 200, {}, ""


def test_kill_9_during_a_chunked_upload_leaves_nothing_after_restart(tmp_path, api):
    server = Imgd(tmp_path / "data", env=telegram_env(api)).start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="tgb")
        api.stall_send = (2, 20)  # the second chunk hangs
        data = noise(45 * 1000 * 1000, seed=5)
        thread = threading.Thread(target=lambda: _ignore(lambda: s3.put_object(Bucket="tgb", Key="cut", Body=data)))
        thread.start()
        deadline = time.monotonic() + 30
        while len(api.messages) < 1 or api.send_attempts < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        first_chunk = next(iter(api.messages))
        server.stop(sig=signal.SIGKILL)
        thread.join(30)
        api.stall_send = None
        server.start()
        s3 = server.client()
        assert s3.list_objects_v2(Bucket="tgb").get("KeyCount") == 0
        assert head_status(s3, "cut") == 404
        # The start-up sweep deleted the interrupted write's messages.
        assert first_chunk in api.deleted and first_chunk not in api.messages
    finally:
        server.stop()


def _ignore(fn):
    try:
        fn()
    except Exception:
        pass


def test_an_outage_serves_cached_objects_and_503_for_the_rest(server, api):
    s3 = server.client()
    s3.create_bucket(Bucket="tgb", ACL="public-read")
    s3.put_object(Bucket="tgb", Key="hot.jpg", Body=JPEG, ContentType="image/jpeg")
    s3.put_object(Bucket="tgb", Key="cold.jpg", Body=JPEG[::-1], ContentType="image/jpeg")
    assert requests.get(f"{server.endpoint}/tgb/hot.jpg", timeout=10).content == JPEG
    api.down = True
    try:
        r = requests.get(f"{server.endpoint}/tgb/hot.jpg", timeout=10)
        assert r.status_code == 200 and r.content == JPEG
        r = requests.get(f"{server.endpoint}/tgb/cold.jpg", timeout=10)
        assert r.status_code == 503 and r.headers.get("Retry-After")
        assert "ServiceUnavailable" in r.text
        health = requests.get(f"{server.endpoint}/_imgd/health", timeout=10)
        assert health.status_code == 503 and health.json()["blob_store"] != "ok"
    finally:
        api.down = False
    assert requests.get(f"{server.endpoint}/tgb/cold.jpg", timeout=10).content == JPEG[::-1]


def test_deletes_delete_the_messages_and_forget_the_chunks(server, api):
    s3 = server.client()
    s3.create_bucket(Bucket="tgb")
    s3.put_object(Bucket="tgb", Key="a", Body=b"a" * 5000)
    s3.put_object(Bucket="tgb", Key="b", Body=b"b" * 5000)
    (a_msg, b_msg) = sorted(api.messages)
    api.undeletable.add(b_msg)  # e.g. too old for the bot to delete
    s3.delete_object(Bucket="tgb", Key="a")
    assert a_msg in api.deleted and a_msg not in api.messages
    s3.delete_object(Bucket="tgb", Key="b")
    assert b_msg not in api.deleted  # refused, and forgotten anyway
    # An overwrite deletes the replaced blob's message.
    s3.put_object(Bucket="tgb", Key="c", Body=b"1" * 10)
    old = max(api.messages)
    s3.put_object(Bucket="tgb", Key="c", Body=b"2" * 10)
    assert old in api.deleted
    assert s3.get_object(Bucket="tgb", Key="c")["Body"].read() == b"2" * 10


def test_the_seeds_flow_picgo_an_s3_origin_and_cached_variants(server, api, tmp_path):
    s3 = server.client()
    # 1. PicGo uploads through the S3 API into a Telegram-backed bucket.
    s3.create_bucket(Bucket="picgo", ACL="public-read")
    img = CORPUS / "with-alpha.png"
    url = picgo_upload(server.endpoint, "picgo", img, tmp_path)
    assert img.read_bytes() in api.stored()  # bit-identical in the chat
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == img.read_bytes()

    # 2. A bucket with an S3 origin answers a miss at once and persists it into Telegram.
    upstream = Imgd(tmp_path / "upstream").start()
    try:
        up = upstream.client()
        up.create_bucket(Bucket="legacy")
        up.put_object(Bucket="legacy", Key="old/photo.jpg", Body=JPEG, ContentType="image/jpeg")
        b = f"o-{uuid.uuid4().hex[:8]}"
        server.cli("bucket", "create", b, "--public")
        server.cli("bucket", "origin", b, "--s3-endpoint", upstream.endpoint, "--s3-bucket", "legacy",
                   "--s3-access-key", ACCESS_KEY, "--s3-secret-key", SECRET_KEY)
        r = requests.get(f"{server.endpoint}/{b}/old/photo.jpg", timeout=30)
        assert r.status_code == 200 and r.content == JPEG
        deadline = time.monotonic() + 20
        while JPEG not in api.stored():
            assert time.monotonic() < deadline, "the origin's object never reached Telegram"
            time.sleep(0.1)
        # The bytes land in the chat before the object's row commits, so the object
        # becomes visible a moment after the upload; wait for it, within the same bound.
        while True:
            try:
                s3.head_object(Bucket=b, Key="old/photo.jpg")
                break
            except ClientError:
                assert time.monotonic() < deadline, "the persisted origin object never became visible"
                time.sleep(0.1)
    finally:
        upstream.stop()
    # Served from imgd now, with the upstream gone.
    assert requests.get(f"{server.endpoint}/{b}/old/photo.jpg", timeout=10).content == JPEG

    # 3. A processed variant of a Telegram-stored image comes from the variant cache.
    variant = f"{server.endpoint}/{b}/old/photo.jpg?x-oss-process=image/resize,w_120"
    jobs = metric(server, "imgd_process_jobs_total")
    first = requests.get(variant, timeout=30)
    downloads = len(api.downloads)
    api.down = True  # even with Telegram away
    try:
        second = requests.get(variant, timeout=30)
    finally:
        api.down = False
    assert first.status_code == second.status_code == 200 and first.content == second.content
    assert Image.open(io.BytesIO(second.content)).size[0] == 120
    assert metric(server, "imgd_process_jobs_total") - jobs == 1
    assert len(api.downloads) == downloads


def test_chunk_size_and_cache_bound_are_configurable_and_checked(tmp_path, api):
    mib = 1024 * 1024
    server = Imgd(tmp_path / "data", env=telegram_env(api, {
        "IMGD_STORAGE_TELEGRAM_CHUNK_SIZE": str(mib), "IMGD_STORAGE_TELEGRAM_CACHE_MAX_BYTES": str(3 * mib)})).start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="tgb")
        data = noise(5 * mib, seed=11)
        s3.put_object(Bucket="tgb", Key="k", Body=data)
        assert [len(d) for d in api.stored()] == [mib] * 5
        assert s3.get_object(Bucket="tgb", Key="k")["Body"].read() == data
        assert len(api.downloads) == 5
        cache = tmp_path / "data" / "telegram" / "cache"
        kept = [p for p in cache.iterdir() if p.is_file()]
        assert len(kept) == 3 and sum(p.stat().st_size for p in kept) <= 3 * mib
        # The last three chunks are cached; the first comes from Telegram again.
        assert s3.get_object(Bucket="tgb", Key="k", Range=f"bytes={2 * mib}-")["Body"].read() == data[2 * mib:]
        assert len(api.downloads) == 5
        assert s3.get_object(Bucket="tgb", Key="k", Range="bytes=0-99")["Body"].read() == data[:100]
        assert api.downloads[5:] == [api.downloads[0]]
    finally:
        server.stop()
    # A chunk over the public API's 20 MB download limit is refused at start-up, by name.
    env = Imgd(tmp_path / "bad", env=telegram_env(api, {
        "IMGD_STORAGE_TELEGRAM_API_BASE": "https://api.telegram.org",
        "IMGD_STORAGE_TELEGRAM_CHUNK_SIZE": str(30 * mib)})).env()
    r = subprocess.run([BIN, "serve"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "storage.telegram_chunk_size" in r.stderr and "20 MB" in r.stderr
    assert TOKEN.split(":")[1] not in r.stderr
