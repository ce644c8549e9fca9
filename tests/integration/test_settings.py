"""Top-level settings of the README's Configuration table that other modules never set:
region, logging, request-head limits, the shutdown grace from a config file, the admin
token's length, ixmage_prefix and the derived account token. Each test sets the setting
on a real server and asserts its effect, on both sides where it is a limit."""
import hashlib
import json
import re
import signal
import socket
import threading
import time
import urllib.parse

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, CORPUS, SECRET_KEY, Imgd
from settings_util import dims, full_log, refused_start, server_with

JPEG = (CORPUS / "flowers.jpeg").read_bytes()


def regional_client(endpoint: str, region: str):
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        region_name=region, config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


# --- region -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def paris(tmp_path_factory):
    server = Imgd(tmp_path_factory.mktemp("region") / "data", env={"IMGD_REGION": "eu-west-3"}).start()
    yield server
    server.stop()


def test_region_is_reported_and_scopes_signatures(paris):
    s3 = regional_client(paris.endpoint, "eu-west-3")
    s3.create_bucket(Bucket="paris", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    assert s3.get_bucket_location(Bucket="paris")["LocationConstraint"] == "eu-west-3"
    s3.put_object(Bucket="paris", Key="a.txt", Body=b"bonjour")
    assert s3.get_object(Bucket="paris", Key="a.txt")["Body"].read() == b"bonjour"
    # us-east-1 and auto are accepted as well (clients that default to them).
    for region in ("us-east-1", "auto"):
        other = regional_client(paris.endpoint, region)
        assert other.get_object(Bucket="paris", Key="a.txt")["Body"].read() == b"bonjour", region
    # Any other region is refused before the signature is even checked.
    wrong = regional_client(paris.endpoint, "eu-central-1")
    with pytest.raises(ClientError) as e:
        wrong.get_object(Bucket="paris", Key="a.txt")
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Code"] == "AuthorizationHeaderMalformed"
    assert "eu-central-1" in err["Error"]["Message"] and "eu-west-3" in err["Error"]["Message"]
    # A bucket may not be created for another region.
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="berlin", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_default_region_refuses_a_paris_signature(imgd):
    # The other side of the setting: without it, eu-west-3 is just another wrong region.
    s3 = imgd.client()
    s3.create_bucket(Bucket="not-paris")
    with pytest.raises(ClientError) as e:
        regional_client(imgd.endpoint, "eu-west-3").list_objects_v2(Bucket="not-paris")
    assert e.value.response["Error"]["Code"] == "AuthorizationHeaderMalformed"
    assert s3.get_bucket_location(Bucket="not-paris").get("LocationConstraint") in (None, "", "us-east-1")


# --- logging ------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# `serve` prints this line on stdout, which the fixtures write to the same file as stderr.
STDOUT_BANNER = "imgd listening on "


def log_lines(server: Imgd) -> list[str]:
    return [ANSI.sub("", line) for line in full_log(server).splitlines() if line.strip()]


def provoke_connection_error(port: int):
    """Garbage instead of HTTP: the listener logs the failed connection at debug level."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01 this is not http\r\n\r\n")
        try:
            s.recv(1024)
        except OSError:
            pass


def test_json_logs_at_debug_level(tmp_path):
    server = server_with(tmp_path / "data", keep_log_env=False,
                         env={"IMGD_LOG_FORMAT": "json", "IMGD_LOG_LEVEL": "debug"}).start()
    try:
        provoke_connection_error(server.port)
        time.sleep(0.5)
    finally:
        server.stop()
    records = []
    for line in log_lines(server):
        if line.startswith(STDOUT_BANNER):
            continue  # stdout shares the file; the logs are stderr
        doc = json.loads(line)  # every log line is one JSON object
        assert isinstance(doc, dict) and {"level", "fields", "target"} <= doc.keys(), line
        records.append(doc)
    levels = {r["level"] for r in records}
    assert "DEBUG" in levels and "INFO" in levels, levels
    ours = [r for r in records if r["target"].split("::")[0] in ("imgd", "server", "store", "varcache")]
    assert ours and all("message" in r["fields"] for r in ours), ours
    assert any(r["fields"]["message"] == "imgd is serving the S3 API" and r["level"] == "INFO" for r in ours)
    assert any(r["level"] == "DEBUG" for r in ours), "imgd's own debug events are logged too"


def test_text_logs_at_warn_level_from_a_config_file(tmp_path):
    cfg = tmp_path / "imgd.toml"
    cfg.write_text('log_format = "text"\nlog_level = "warn"\nclock_start = 1700000000\n')
    server = server_with(tmp_path / "data", keep_log_env=False, args=["--config", str(cfg)]).start()
    try:
        provoke_connection_error(server.port)
        requests.get(f"{server.endpoint}/_imgd/health", timeout=5)
    finally:
        server.stop()
    # A log file gets no colour codes (stderr is not a terminal).
    assert "\x1b[" not in full_log(server)
    lines = log_lines(server)
    # clock_start is announced with a warning, so the log is not simply empty.
    assert any(" WARN " in line and "clock_start" in line for line in lines), lines
    for line in lines:
        assert " INFO " not in line and " DEBUG " not in line, line
        if not line.startswith(STDOUT_BANNER):
            with pytest.raises(ValueError):
                json.loads(line)


def test_imgd_log_overrides_log_level(tmp_path):
    server = server_with(tmp_path / "data", env={"IMGD_LOG_LEVEL": "warn", "IMGD_LOG": "info"}).start()
    server.stop()
    lines = log_lines(server)
    assert any(" INFO " in line and "imgd is serving the S3 API" in line for line in lines), lines


# --- request heads ------------------------------------------------------------------

def head_status(port: int, header_bytes: int) -> bytes:
    """Sends a GET whose X-Big header has `header_bytes` bytes; returns the status line."""
    big = "x" * header_bytes
    request = f"GET /_imgd/health HTTP/1.1\r\nHost: a\r\nX-Big: {big}\r\nConnection: close\r\n\r\n".encode()
    got = b""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        # A refusal may come before the whole head is sent; read while sending.
        def send():
            try:
                s.sendall(request)
            except OSError:
                pass

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            while chunk := s.recv(65536):
                got += chunk
        except ConnectionResetError:
            pass
        sender.join(10)
    return got.split(b"\r\n", 1)[0]


@pytest.fixture(scope="module")
def big_heads(tmp_path_factory):
    server = Imgd(tmp_path_factory.mktemp("heads") / "data", env={"IMGD_MAX_HEADER_BYTES": "200000"}).start()
    yield server
    server.stop()


def test_max_header_bytes_raised_serves_large_heads(big_heads, imgd):
    r = requests.get(f"{big_heads.endpoint}/_imgd/health", headers={"X-Big": "x" * 100_000}, timeout=20)
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["ready"] is True
    assert head_status(big_heads.port, 195_000) == b"HTTP/1.1 200 OK"
    # With the default (64 KiB) the same 100 KB head is refused.
    assert head_status(imgd.port, 100_000).startswith(b"HTTP/1.1 431")


def test_max_header_bytes_just_over_the_configured_value_gets_431(big_heads):
    """Regression (issue 10): the limit was only hyper's read-buffer size, which grows by
    doubling, so 200000 really allowed heads up to 256 KiB. imgd now checks the head
    itself and says why in S3's XML."""
    answer = head_status(big_heads.port, 205_000)
    assert answer.startswith(b"HTTP/1.1 431"), answer
    assert requests.get(f"{big_heads.endpoint}/_imgd/health", timeout=5).status_code == 200


def test_header_read_timeout_secs_both_sides(tmp_path):
    server = Imgd(tmp_path / "data", env={"IMGD_HEADER_READ_TIMEOUT_SECS": "3"}).start()
    try:
        # A head that arrives in two parts within the timeout is served.
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
            s.sendall(b"GET /_imgd/health HTTP/1.1\r\nHost: a\r\n")
            time.sleep(1)
            s.sendall(b"Connection: close\r\n\r\n")
            assert s.recv(1024).startswith(b"HTTP/1.1 200")
        # One that stops half-way is dropped once the timeout passes.
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
            s.sendall(b"GET /_imgd/health HTTP/1.1\r\nHost: a\r\nX-Slow: ")
            started = time.monotonic()
            try:
                data = s.recv(1024)
            except ConnectionResetError:
                data = b""
            waited = time.monotonic() - started
        assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
        assert 2 <= waited < 15, waited
    finally:
        server.stop()


# --- shutdown grace -----------------------------------------------------------------

def test_shutdown_grace_secs_from_a_config_file(tmp_path):
    cfg = tmp_path / "imgd.toml"
    cfg.write_text("shutdown_grace_secs = 2\n")
    server = server_with(tmp_path / "data", args=["--config", str(cfg)]).start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="grace")
        url = s3.generate_presigned_url("put_object", Params={"Bucket": "grace", "Key": "never"}, ExpiresIn=300)
        u = urllib.parse.urlsplit(url)
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            # An upload that never finishes keeps a request in flight.
            head = f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Length: 100000\r\n\r\n"
            sock.sendall(head.encode())
            sock.sendall(b"x" * 1000)
            time.sleep(0.3)
            started = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            server.proc.wait(25)
            waited = time.monotonic() - started
        # It waited for the in-flight request, but only for the configured 2 s, not 30.
        assert 1.5 <= waited < 20, waited
        assert "grace period over" in full_log(server)
    finally:
        server.stop()


# --- admin token --------------------------------------------------------------------

def test_admin_token_needs_16_characters(tmp_path):
    short = refused_start(tmp_path / "short", {"IMGD_ADMIN_TOKEN": "x" * 15})
    assert short.returncode != 0
    assert "admin_token" in short.stderr and "16" in short.stderr, short.stderr
    token = "y" * 16
    server = Imgd(tmp_path / "data", env={"IMGD_ADMIN_TOKEN": token}).start()
    try:
        server.client().create_bucket(Bucket="listed")
        url = f"{server.endpoint}/_imgd/admin/buckets"
        r = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200 and "listed" in r.text
        wrong = requests.get(url, headers={"Authorization": f"Bearer {'z' * 16}"}, timeout=10)
        assert wrong.status_code == 401 and "listed" not in wrong.text
    finally:
        server.stop()


# --- ixmage prefix and the derived account token ------------------------------------

def derived_token(access_key: str) -> str:
    """How imgd derives the account token from the root key (config.rs account_token)."""
    return hashlib.sha256(f"imgd-account:{access_key}".encode()).hexdigest()[:16]


def ixmage_key(token: str, query: str, secret: str) -> str:
    return hashlib.sha1((token + "".join(sorted(query)) + secret).encode()).hexdigest()


@pytest.fixture(scope="module")
def prefixed(tmp_path_factory):
    server = Imgd(tmp_path_factory.mktemp("ixprefix") / "data", env={"IMGD_IXMAGE_PREFIX": "/_img"}).start()
    s3 = server.client()
    for b in ("pub", "locked"):
        s3.create_bucket(Bucket=b)
        s3.put_object(Bucket=b, Key="a.jpg", Body=JPEG, ContentType="image/jpeg")
    server.cli("bucket", "policy", "pub", "--delivery", "public")
    server.cli("bucket", "policy", "locked", "--delivery", "signed", "--schemes", "ixmage")
    yield server
    server.stop()


def test_ixmage_prefix_routes_links_and_the_default_prefix_does_not(prefixed):
    token = derived_token(ACCESS_KEY)
    r = requests.get(f"{prefixed.endpoint}/_img/{token}/pub/a.jpg?w=40", timeout=30)
    assert r.status_code == 200, r.text
    assert dims(r.content)[0] == 40
    old = requests.get(f"{prefixed.endpoint}/_ix/{token}/pub/a.jpg?w=40", timeout=30)
    assert old.status_code in (400, 403, 404), old.status_code
    assert not old.content.startswith(b"\xff\xd8")


def test_derived_account_token_signs_ixmage_links(prefixed):
    out = prefixed.cli("secret", "create", "--bucket", "locked").stdout
    secret = re.search(r"secret = (\S+)", out).group(1)
    token = derived_token(ACCESS_KEY)
    query = "width=60"
    key = ixmage_key(token, query, secret)
    r = requests.get(f"{prefixed.endpoint}/_img/{token}/locked/a.jpg?{query}&key={key}", timeout=30)
    assert r.status_code == 200, r.text
    assert dims(r.content)[0] == 60
    # A token derived from another key, signed consistently, is not this account's.
    other = derived_token("SOMEOTHERACCESSKEY01")
    r = requests.get(f"{prefixed.endpoint}/_img/{other}/locked/a.jpg?{query}&key={ixmage_key(other, query, secret)}",
                     timeout=30)
    assert r.status_code == 404
    # The right token without a key: the bucket is locked.
    assert requests.get(f"{prefixed.endpoint}/_img/{token}/locked/a.jpg?{query}", timeout=30).status_code == 403


def test_default_ixmage_prefix_and_derived_token(imgd):
    s3 = imgd.client()
    s3.create_bucket(Bucket="ix-default")
    s3.put_object(Bucket="ix-default", Key="a.jpg", Body=JPEG, ContentType="image/jpeg")
    imgd.cli("bucket", "policy", "ix-default", "--delivery", "public")
    token = derived_token(ACCESS_KEY)
    r = requests.get(f"{imgd.endpoint}/_ix/{token}/ix-default/a.jpg?w=30", timeout=30)
    assert r.status_code == 200 and dims(r.content)[0] == 30
    wrong = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert requests.get(f"{imgd.endpoint}/_ix/{wrong}/ix-default/a.jpg?w=30", timeout=30).status_code == 404


def test_ixmage_prefix_that_could_be_a_bucket_is_refused(tmp_path):
    bad = refused_start(tmp_path / "bad", {"IMGD_IXMAGE_PREFIX": "/img"})
    assert bad.returncode != 0 and "ixmage_prefix" in bad.stderr, bad.stderr
