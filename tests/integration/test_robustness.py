"""Bad input, durability under kill -9, concurrent writers, graceful shutdown, memory."""
import concurrent.futures
import datetime
import hashlib
import os
import re
import signal
import socket
import threading
import time
import urllib.parse

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, SECRET_KEY, Imgd, s3_client


def signed(method, url, body=b"", headers=None, when=None):
    """A SigV4-signed request built by botocore's own signer, sent with `requests`."""
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    req.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    auth = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1")
    if when is not None:
        real = datetime.datetime

        class Frozen(real):
            @classmethod
            def utcnow(cls):
                return when

            @classmethod
            def now(cls, tz=None):
                return when.replace(tzinfo=tz) if tz else when

        import botocore.auth as ba

        ba.datetime.datetime = Frozen
        try:
            auth.add_auth(req)
        finally:
            ba.datetime.datetime = real
    else:
        auth.add_auth(req)
    prepared = req.prepare()
    return requests.request(method, prepared.url, headers=dict(prepared.headers), data=body, timeout=30)


def raw_http(port, data: bytes, read=True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        if not read:
            return b""
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def test_malformed_xml_is_refused(imgd, bucket):
    r = signed("POST", f"{imgd.endpoint}/{bucket}?delete", body=b"<Delete><Object><Key>oops", headers={
        "Content-MD5": __import__("base64").b64encode(hashlib.md5(b"<Delete><Object><Key>oops").digest()).decode()})
    assert r.status_code == 400, r.text
    assert "<Code>MalformedXML</Code>" in r.text


def test_clock_skew_over_15_minutes_is_refused(imgd, bucket):
    skewed = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
    r = signed("GET", f"{imgd.endpoint}/{bucket}?list-type=2", when=skewed)
    assert r.status_code == 403 and "RequestTimeTooSkewed" in r.text, r.text
    fine = datetime.datetime.utcnow() - datetime.timedelta(minutes=5)
    assert signed("GET", f"{imgd.endpoint}/{bucket}?list-type=2", when=fine).status_code == 200


def test_tampered_signature_is_refused(imgd, bucket):
    req = AWSRequest(method="GET", url=f"{imgd.endpoint}/{bucket}?list-type=2")
    req.headers["x-amz-content-sha256"] = hashlib.sha256(b"").hexdigest()
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(req)
    p = req.prepare()
    headers = dict(p.headers)
    headers["Authorization"] = headers["Authorization"][:-1] + ("0" if headers["Authorization"][-1] != "0" else "1")
    r = requests.get(p.url, headers=headers, timeout=10)
    assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text


def test_truncated_and_overlong_bodies_store_nothing(imgd, s3, bucket):
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "trunc"}, ExpiresIn=300)
    u = urllib.parse.urlsplit(url)
    head = (f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Length: 100000\r\n\r\n").encode()
    raw_http(imgd.port, head + b"x" * 50_000)  # client gives up half-way
    time.sleep(0.3)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="trunc")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # A Content-Length that disagrees with the signed payload hash is refused too.
    r = signed("PUT", f"{imgd.endpoint}/{bucket}/mismatch", body=b"abc")
    assert r.status_code == 200
    req = AWSRequest(method="PUT", url=f"{imgd.endpoint}/{bucket}/mismatch2", data=b"abcdef")
    req.headers["x-amz-content-sha256"] = hashlib.sha256(b"abc").hexdigest()
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(req)
    p = req.prepare()
    r = requests.put(p.url, headers=dict(p.headers), data=b"abcdef", timeout=10)
    assert r.status_code in (400, 403), r.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="mismatch2")
    assert s3.get_object(Bucket=bucket, Key="mismatch")["Body"].read() == b"abc"


def test_oversized_headers_get_431_and_server_keeps_serving(imgd):
    big = "x" * (200 * 1024)
    request = f"GET /_imgd/health HTTP/1.1\r\nHost: a\r\nX-Big: {big}\r\n\r\n".encode()
    got = b""
    with socket.create_connection(("127.0.0.1", imgd.port), timeout=10) as s:
        # The server answers before reading the whole head and then closes; read while
        # sending so the answer is taken before the connection resets.
        sender = threading.Thread(target=lambda: _send_quietly(s, request), daemon=True)
        sender.start()
        try:
            while chunk := s.recv(65536):
                got += chunk
        except ConnectionResetError:
            pass
        sender.join(5)
    assert got.startswith(b"HTTP/1.1 431"), got[:100]
    assert requests.get(f"{imgd.endpoint}/_imgd/health", timeout=5).status_code == 200


def _send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass


def test_unknown_internal_route_is_not_s3(imgd):
    r = requests.get(f"{imgd.endpoint}/_imgd/nope", timeout=5)
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    m = requests.get(f"{imgd.endpoint}/_imgd/metrics", timeout=5)
    assert m.status_code == 200 and "imgd_http_requests_total" in m.text


def body_for(key: str, size: int) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def test_concurrent_puts_to_one_key_leave_one_whole_version(s3, bucket):
    bodies = [os.urandom(256 * 1024 + i) for i in range(8)]

    def put(b):
        s3.put_object(Bucket=bucket, Key="contended", Body=b)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, bodies))
    final = s3.get_object(Bucket=bucket, Key="contended")["Body"].read()
    assert final in bodies
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("contended", len(final))]


def blob_files(data_dir):
    return [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]


def test_kill_9_mid_upload_loses_nothing_acknowledged(tmp_path):
    server = Imgd(tmp_path / "data").start()
    s3 = s3_client(server.endpoint)
    s3.create_bucket(Bucket="durable")
    acked, stop = {}, threading.Event()
    lock = threading.Lock()

    def writer(n):
        c = s3_client(server.endpoint)
        i = 0
        while not stop.is_set():
            key = f"w{n}/obj{i}"
            size = [10_000, 300_000, 2_000_000][i % 3]
            try:
                c.put_object(Bucket="durable", Key=key, Body=body_for(key, size))
                with lock:
                    acked[key] = size
            except Exception:
                return
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    time.sleep(3)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) > 20, "the writers should have stored something before the kill"

    server.start()
    s3 = s3_client(server.endpoint)
    for key, size in acked.items():
        got = s3.get_object(Bucket="durable", Key=key)["Body"].read()
        assert got == body_for(key, size), key
    listed = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="durable"):
        listed += page.get("Contents", [])
    for o in listed:  # anything visible is whole
        got = s3.get_object(Bucket="durable", Key=o["Key"])["Body"].read()
        assert len(got) == o["Size"] and got == body_for(o["Key"], o["Size"])
    # Start-up removed what interrupted uploads left: one blob per object.
    assert len(blob_files(server.data_dir)) == len(listed)
    server.stop()


def presigned_put_head(server, bucket: str, key: str, length: int) -> bytes:
    url = s3_client(server.endpoint).generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    u = urllib.parse.urlsplit(url)
    return f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Length: {length}\r\n\r\n".encode()


def assert_not_served(port: int) -> str:
    """A connection made now is refused, or reset/closed without an answer."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
    except ConnectionRefusedError:
        return "refused"
    with s:
        s.settimeout(5)
        try:
            s.sendall(b"GET /_imgd/health HTTP/1.1\r\nHost: a\r\n\r\n")
            data = s.recv(1024)
        except (ConnectionResetError, BrokenPipeError):
            return "reset"
        except socket.timeout:
            raise AssertionError("a connection made after SIGTERM was accepted and left waiting")
        assert data == b"", f"a connection made after SIGTERM was served: {data[:80]!r}"
        return "closed"


def test_graceful_shutdown_finishes_a_short_in_flight_request(tmp_path):
    """With a long grace, a request in flight at SIGTERM completes with 200 and is stored;
    new connections are refused meanwhile; the process exits as soon as it is done,
    without waiting out the grace period."""
    server = Imgd(tmp_path / "data", env={"IMGD_SHUTDOWN_GRACE_SECS": "20"}).start()
    s3_client(server.endpoint).create_bucket(Bucket="grace")
    body = os.urandom(2_000_000)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(presigned_put_head(server, "grace", "slow", len(body)))
            sock.sendall(body[:1_000_000])
            time.sleep(0.3)
            server.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert assert_not_served(server.port) in ("refused", "reset", "closed")
            sock.sendall(body[1_000_000:])
            resp = sock.recv(65536)
            finished = time.monotonic()
        assert resp.startswith(b"HTTP/1.1 200"), resp[:200]
        assert server.proc.wait(15) == 0
        assert time.monotonic() - finished < 10, "the process waited out the grace period"
    finally:
        server.stop()
    server.start()
    try:
        got = s3_client(server.endpoint).get_object(Bucket="grace", Key="slow")["Body"].read()
        assert got == body
    finally:
        server.stop()


def test_graceful_shutdown_stops_waiting_after_the_grace_period(tmp_path):
    """A request still in flight when the grace period (2 s) ends does not hold the process:
    during the grace it is not cut off and new connections are refused; after it the
    process exits although the request never finished, and nothing half-uploaded shows."""
    grace = 2
    server = Imgd(tmp_path / "data", env={"IMGD_SHUTDOWN_GRACE_SECS": str(grace)}).start()
    s3_client(server.endpoint).create_bucket(Bucket="grace")
    total = 50_000_000
    stop = threading.Event()
    send_error: list[BaseException] = []
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)

    def trickle():
        # A client that keeps sending, slowly, far longer than the grace period.
        try:
            while not stop.is_set():
                sock.sendall(b"x" * 1024)
                time.sleep(0.05)
        except OSError as e:
            send_error.append(e)

    try:
        sock.sendall(presigned_put_head(server, "grace", "never-done", total))
        sock.sendall(b"x" * 100_000)
        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        time.sleep(0.5)
        server.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        time.sleep(0.5)
        assert assert_not_served(server.port) in ("refused", "reset", "closed")
        # Within the grace period the in-flight upload is still being read.
        time.sleep(max(0.0, signalled + grace - 0.7 - time.monotonic()))
        assert server.proc.poll() is None, "imgd exited before the grace period was over"
        assert not send_error, f"the in-flight upload was cut off during the grace period: {send_error}"
        sock.settimeout(0.2)
        try:
            early = sock.recv(1024)
        except socket.timeout:
            early = None
        assert early is None, f"the in-flight request was answered or closed early: {early!r}"
        code = server.proc.wait(grace + 10)
        took = time.monotonic() - signalled
        assert took < grace + 5, f"exit took {took:.1f} s after SIGTERM with a {grace} s grace"
        assert code == 0
    finally:
        stop.set()
        sock.close()
        server.stop()
    server.start()
    try:
        with pytest.raises(ClientError) as e:
            s3_client(server.endpoint).head_object(Bucket="grace", Key="never-done")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    finally:
        server.stop()


def held_connection(port: int) -> socket.socket:
    """A keep-alive connection that has been served once and is now idle."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /_imgd/health HTTP/1.1\r\nHost: a\r\n\r\n")
    assert read_response(s).startswith(b"HTTP/1.1 200")
    return s


def read_response(s: socket.socket, timeout: float = 10) -> bytes:
    """One small response (headers and a Content-Length body); b"" if nothing arrives in
    `timeout` seconds."""
    s.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return data
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        while len(rest) < length:
            chunk = s.recv(4096)
            if not chunk:
                break
            rest += chunk
        return head + b"\r\n\r\n" + rest
    except socket.timeout:
        return data


def test_max_connections_makes_extra_clients_wait(tmp_path):
    server = Imgd(tmp_path / "data", env={"IMGD_MAX_CONNECTIONS": "2"}).start()
    held: list[socket.socket] = []
    try:
        # The limit not reached: with one connection held, a second is served at once.
        held.append(held_connection(server.port))
        second = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        held.append(second)
        second.sendall(b"GET /_imgd/health HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(second, timeout=10).startswith(b"HTTP/1.1 200")

        # The limit reached: with two held (idle, kept alive), a third waits ...
        third = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        held.append(third)
        third.sendall(b"GET /_imgd/health HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(third, timeout=1.5) == b"", "a third connection was served beyond max_connections"
        # ... and is served once one of the two closes.
        held.pop(0).close()
        assert read_response(third, timeout=15).startswith(b"HTTP/1.1 200")
        # The held ones were not dropped to make room: the second still answers.
        second.sendall(b"GET /_imgd/health HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(second, timeout=10).startswith(b"HTTP/1.1 200")
    finally:
        for s in held:
            s.close()
        server.stop()


def peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def test_one_gib_put_and_get_keep_memory_flat(tmp_path):
    server = Imgd(tmp_path / "data").start()
    s3 = s3_client(server.endpoint)
    s3.create_bucket(Bucket="big")
    size = 1024 * 1024 * 1024
    src = tmp_path / "gib.bin"
    with open(src, "wb") as f:
        block = os.urandom(1024 * 1024)
        for _ in range(size // len(block)):
            f.write(block)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "big", "Key": "gib"}, ExpiresIn=600)
    with open(src, "rb") as f:
        r = requests.put(url, data=f, headers={"Content-Length": str(size)}, timeout=600)
    assert r.status_code == 200, r.text
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": "big", "Key": "gib"}, ExpiresIn=600)
    h = hashlib.md5()
    n = 0
    with requests.get(get_url, stream=True, timeout=600) as r:
        assert r.status_code == 200
        for chunk in r.iter_content(1024 * 1024):
            h.update(chunk)
            n += len(chunk)
    assert n == size
    assert f'"{h.hexdigest()}"' == s3.head_object(Bucket="big", Key="gib")["ETag"]
    peak = peak_rss_mb(server.proc.pid)
    print(f"peak RSS after 1 GiB PUT+GET: {peak:.1f} MB")
    assert peak < 150, f"peak RSS {peak:.1f} MB"
    server.stop()


def test_many_slow_clients_cannot_exhaust_memory_or_block_others(tmp_path):
    server = Imgd(tmp_path / "data", env={"IMGD_HEADER_READ_TIMEOUT_SECS": "2", "IMGD_MAX_CONNECTIONS": "400"}).start()
    slow = []
    try:
        for _ in range(300):  # each sends half a request head and then nothing
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.sendall(b"GET /_imgd/health HTTP/1.1\r\nHost: a\r\nX-Slow: ")
            slow.append(s)
        # Others are still served while the slow ones hold their connections.
        assert requests.get(f"{server.endpoint}/_imgd/health", timeout=5).status_code == 200
        time.sleep(3)
        # Past the head-read timeout the server has dropped every slow connection.
        closed = 0
        for s in slow:
            s.settimeout(2)
            try:
                data = s.recv(1024)
                closed += 1 if (data == b"" or data.startswith(b"HTTP/1.1 408")) else 0
            except ConnectionResetError:
                closed += 1
            except socket.timeout:
                pass  # still open: the server did not enforce the timeout
        assert closed == len(slow)
        assert peak_rss_mb(server.proc.pid) < 100
        assert requests.get(f"{server.endpoint}/_imgd/health", timeout=5).status_code == 200
    finally:
        for s in slow:
            s.close()
        server.stop()
