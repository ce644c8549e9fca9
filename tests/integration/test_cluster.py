"""imgd as a cluster: two nodes sharing nothing but a private PostgreSQL (metadata) and a
private Garage (blobs), clients alternating between them. The commands are those of
docs/deployment.md."""
import concurrent.futures
import hashlib
import io
import os
import re
import signal
import socket
import threading
import time

import pytest
import requests
from PIL import Image

import test_boto3
import test_clients
from conftest import CORPUS, Imgd
from origin_server import Origin
from garage_server import Garage
from pg_server import Postgres

SAW = (CORPUS / "2569067123_aca715a2ee_o.jpg").read_bytes()
FLOWERS = (CORPUS / "flowers.jpeg").read_bytes()
ADMIN = "cluster-admin-token"


class Cluster:
    def __init__(self, root):
        self.pg = Postgres()
        try:
            self._start(root)
        except BaseException:
            self.close()
            raise

    def _start(self, root):
        self.nodes = []
        self.garage = None
        self.garage = Garage(root / "garage")
        self.env = {
            "IMGD_DATABASE_URL": self.pg.url,
            "IMGD_DATABASE_ACQUIRE_TIMEOUT_SECS": "2",
            "IMGD_DATABASE_MAX_CONNECTIONS": "6",
            "IMGD_ADMIN_TOKEN": ADMIN,
            "IMGD_FETCH_ALLOW": "127.0.0.1/32",
            **self.garage.imgd_env("/cluster/"),
        }
        self.nodes = [Imgd(root / f"node-{n}" / "data", env=dict(self.env)) for n in "ab"]
        for node in self.nodes:
            node.start()

    def close(self):
        for node in getattr(self, "nodes", []):
            node.stop()
        if getattr(self, "garage", None) is not None:
            self.garage.close()
        self.pg.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    yield c
    c.close()


@pytest.fixture
def a(cluster):
    return cluster.nodes[0]


@pytest.fixture
def b(cluster):
    return cluster.nodes[1]


def fresh_bucket(node, **kw) -> str:
    name = f"c-{os.urandom(5).hex()}"
    node.client().create_bucket(Bucket=name, **kw)
    return name


def until(check, timeout: float = 1.0, what: str = "the change"):
    """Polls `check` until it returns a true value; fails if `timeout` passes first. Returns
    the seconds it took."""
    start = time.monotonic()
    while True:
        got = check()
        if got:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what} did not reach the other node within {timeout} s")
        time.sleep(0.02)


def width_of(body: bytes) -> int:
    return Image.open(io.BytesIO(body)).size[0]


def test_both_nodes_are_ready_and_say_what_they_use(cluster):
    for node in cluster.nodes:
        health = requests.get(f"{node.endpoint}/_imgd/health", timeout=5).json()
        assert health == {"status": "ok", "live": True, "ready": True, "database": "ok", "blob_store": "ok"}
        assert requests.get(f"{node.endpoint}/_imgd/health/live", timeout=5).json()["live"] is True


def test_upload_through_a_read_and_process_through_b(a, b):
    bucket = fresh_bucket(a)
    a.client().put_object(Bucket=bucket, Key="saw.jpg", Body=SAW, ContentType="image/jpeg")
    got = b.client().get_object(Bucket=bucket, Key="saw.jpg")
    assert got["Body"].read() == SAW
    ranged = b.client().get_object(Bucket=bucket, Key="saw.jpg", Range="bytes=100-199")["Body"].read()
    assert ranged == SAW[100:200]
    url = b.client().generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "saw.jpg"})
    r = requests.get(url + "&x-oss-process=image/resize,w_120", timeout=30)
    assert r.status_code == 200, r.text
    assert width_of(r.content) == 120


def test_overwrite_through_b_reaches_a_bytes_and_variant_within_a_second(a, b):
    bucket = fresh_bucket(a, ACL="public-read")
    a.client().put_object(Bucket=bucket, Key="pic.jpg", Body=SAW, ContentType="image/jpeg")
    variant = f"{a.endpoint}/{bucket}/pic.jpg?x-oss-process=image/resize,w_64"
    first = requests.get(variant, timeout=30)
    assert first.status_code == 200
    # Served twice on A, so the second answer comes from A's variant cache.
    again = requests.get(variant, timeout=30)
    assert again.content == first.content
    b.client().put_object(Bucket=bucket, Key="pic.jpg", Body=FLOWERS, ContentType="image/jpeg")
    flowers_variant = requests.get(f"{b.endpoint}/{bucket}/pic.jpg?x-oss-process=image/resize,w_64",
                                   timeout=30).content
    assert flowers_variant != first.content
    until(lambda: a.client().get_object(Bucket=bucket, Key="pic.jpg")["Body"].read() == FLOWERS,
          what="the overwritten bytes")
    until(lambda: requests.get(variant, timeout=30).content == flowers_variant, what="the new variant")
    # And a delete through B is a 404 on A.
    b.client().delete_object(Bucket=bucket, Key="pic.jpg")
    until(lambda: requests.get(variant, timeout=30).status_code in (403, 404), what="the delete")


def test_bucket_policy_and_secret_revocation_on_a_hold_on_b_within_a_second(a, b):
    bucket = fresh_bucket(a)
    a.client().put_object(Bucket=bucket, Key="saw.jpg", Body=SAW, ContentType="image/jpeg")
    plain = f"{b.endpoint}/{bucket}/saw.jpg"
    assert requests.get(plain, timeout=10).status_code == 403
    # B has this bucket's view cached now; A's policy change must reach it.
    a.cli("bucket", "policy", bucket, "--delivery", "signed", "--schemes", "cloudflare")
    out = a.cli("secret", "create", "--bucket", bucket).stdout
    secret_id = re.search(r"id\s+= (\S+)", out).group(1)
    secret = re.search(r"secret = (\S+)", out).group(1)
    link = a.cli("sign", "--scheme", "cloudflare", "--secret", secret, plain).stdout.strip()
    until(lambda: requests.get(link, timeout=10).status_code == 200, what="the signed policy")
    revoke = requests.post(f"{a.endpoint}/_imgd/admin/secrets/{secret_id}/revoke",
                           headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert revoke.status_code == 200, revoke.text
    until(lambda: requests.get(link, timeout=10).status_code == 403, what="the revocation")
    r = requests.get(link, timeout=10)
    assert "SecretRevoked" in r.text
    # Public through A's admin API: B serves it anonymously at once.
    a.cli("bucket", "policy", bucket, "--delivery", "public")
    until(lambda: requests.get(plain, timeout=10).status_code == 200, what="the public policy")


def test_multipart_parts_through_both_nodes(a, b):
    bucket = fresh_bucket(b)
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(5 * 1024 * 1024), os.urandom(1234)]
    upload = a.client().create_multipart_upload(Bucket=bucket, Key="big.bin")["UploadId"]
    etags = []
    for n, data in enumerate(parts, start=1):
        node = (a, b)[n % 2]
        etags.append(node.client().upload_part(Bucket=bucket, Key="big.bin", UploadId=upload,
                                               PartNumber=n, Body=data)["ETag"])
    listed = a.client().list_parts(Bucket=bucket, Key="big.bin", UploadId=upload)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2, 3]
    b.client().complete_multipart_upload(
        Bucket=bucket, Key="big.bin", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]})
    whole = a.client().get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert hashlib.sha256(whole).digest() == hashlib.sha256(b"".join(parts)).digest()


def blob_names(cluster) -> set:
    return {o["Key"] for o in cluster.garage.objects("cluster/")}


def test_kill_9_mid_upload_keeps_the_other_node_serving_and_lists_nothing_partial(cluster, a, b):
    bucket = fresh_bucket(a)
    b.client().put_object(Bucket=bucket, Key="kept.bin", Body=b"kept")
    before = blob_names(cluster)
    # A slow streaming PUT into A: headers and a first chunk, then A dies.
    sock = socket.create_connection(("127.0.0.1", a.port))
    url = a.client().generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "partial.bin"},
                                            HttpMethod="PUT")
    path = url.split(str(a.port), 1)[1]
    size = 64 * 1024 * 1024
    sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\nContent-Length: {size}\r\n\r\n".encode())
    sent = 0
    chunk = os.urandom(1024 * 1024)
    while sent < 20 * 1024 * 1024:
        sock.sendall(chunk)
        sent += len(chunk)
    time.sleep(0.5)
    a.stop(signal.SIGKILL)
    sock.close()
    try:
        # B keeps serving, and lists only what was committed.
        keys = [o["Key"] for o in b.client().list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert keys == ["kept.bin"]
        assert b.client().get_object(Bucket=bucket, Key="kept.bin")["Body"].read() == b"kept"
        leftovers = int(cluster.pg.sql("SELECT COUNT(*) FROM pending_blobs"))
        assert leftovers >= 1
    finally:
        a.start()
    # A restarted beside a live B must not take B's in-flight blobs for its own leftovers:
    # the dead upload's entry is younger than the sweep's age and stays.
    assert int(cluster.pg.sql("SELECT COUNT(*) FROM pending_blobs")) == leftovers
    # Once it is older than a day, a sweep removes the blob and its entry.
    cluster.pg.sql("UPDATE pending_blobs SET created_ms = 0")
    a.stop()
    a.start()
    assert int(cluster.pg.sql("SELECT COUNT(*) FROM pending_blobs")) == 0
    # Garage holds no blob that no row names: the dead upload's bytes are gone.
    assert blob_names(cluster) <= committed_blobs(cluster)
    assert before <= blob_names(cluster)
    assert b.client().get_object(Bucket=bucket, Key="kept.bin")["Body"].read() == b"kept"


def committed_blobs(cluster) -> set:
    rows = cluster.pg.sql("SELECT blob FROM objects UNION SELECT blob FROM parts")
    return {"cluster/" + r for r in rows.splitlines() if r}


def test_database_outage_gives_503_then_both_nodes_recover_with_nothing_lost(cluster, a, b):
    bucket = fresh_bucket(a)
    a.client().put_object(Bucket=bucket, Key="before.bin", Body=b"before")
    cluster.pg.stop()
    try:
        for node in (a, b):
            r = requests.get(f"{node.endpoint}/{bucket}/before.bin", timeout=30)
            assert r.status_code == 503, r.text
            assert r.headers.get("Retry-After") == "1"
            assert "<Code>ServiceUnavailable</Code>" in r.text
            health = requests.get(f"{node.endpoint}/_imgd/health", timeout=30)
            assert health.status_code == 503
            assert health.json()["database"] == "unreachable" and health.json()["blob_store"] == "ok"
            assert requests.get(f"{node.endpoint}/_imgd/health/live", timeout=5).status_code == 200
        signed = requests.put(a.client().generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": "during.bin"}, HttpMethod="PUT"),
            data=b"during", timeout=30)
        assert signed.status_code == 503, signed.text
        time.sleep(5)
    finally:
        cluster.pg.start()
        cluster.pg.wait_ready()

    def recovered():
        try:
            return all(n.client().get_object(Bucket=bucket, Key="before.bin")["Body"].read() == b"before"
                       for n in (a, b))
        except Exception:
            return False
    took = until(recovered, timeout=15, what="recovery")
    print(f"recovered {took:.2f} s after PostgreSQL came back")
    # The refused write left nothing; new writes work through both nodes.
    keys = [o["Key"] for o in b.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["before.bin"]
    b.client().put_object(Bucket=bucket, Key="after.bin", Body=b"after")
    assert a.client().get_object(Bucket=bucket, Key="after.bin")["Body"].read() == b"after"
    # Both nodes went back to listening: a change on one still reaches the other's cache.
    assert requests.get(f"{a.endpoint}/_imgd/health", timeout=5).status_code == 200


# --- the real-client tests, run once against the cluster ---------------------------------

def test_aws_cli_through_the_cluster(a, tmp_path):
    test_clients.test_aws_cli_mb_cp_multipart_ls_cp_back_presign(a, tmp_path)


def test_rclone_through_the_cluster(b, tmp_path):
    test_clients.test_rclone_copy_and_check(b, b.client(), tmp_path)


def test_boto3_through_the_cluster(a, b):
    test_boto3.test_put_get_head_with_default_crc32(b, b.client(), fresh_bucket(a))
    test_boto3.test_list_v1_and_v2_with_delimiter_and_paging(a.client(), fresh_bucket(b))
    test_boto3.test_multipart_upload_copy_list_abort(b.client(), fresh_bucket(a))
    test_boto3.test_range_and_conditional_requests(a.client(), fresh_bucket(b))


def test_a_direct_upload_url_is_used_once_across_both_nodes(a, b):
    bucket = fresh_bucket(a)
    account_id = a.cli("cf", "account", "create", "--bucket", bucket).stdout.split()[0]
    token = a.cli("cf", "token", "create", "--account", account_id, "--name", "cluster").stdout.strip()
    made = requests.post(f"{a.endpoint}/client/v4/accounts/{account_id}/images/v2/direct_upload",
                         headers={"Authorization": f"Bearer {token}"}, data={"id": "once"}, timeout=10)
    assert made.status_code == 200, made.text
    path = "/" + made.json()["result"]["uploadURL"].split("/", 3)[3]
    png = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(png, "PNG")
    barrier = threading.Barrier(6)

    def use(node):
        barrier.wait()
        return requests.post(node.endpoint + path, files={"file": ("x.png", png.getvalue(), "image/png")},
                             timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(use, [a, b, a, b, a, b]))
    assert sorted(codes)[0] == 200 and codes.count(200) == 1, codes
    assert all(c in (409, 410) for c in codes if c != 200), codes
    assert b.client().head_object(Bucket=bucket, Key="once")["ContentLength"] > 0


def test_blob_store_outage_gives_503_for_bytes_while_listings_still_answer(cluster, a, b):
    bucket = fresh_bucket(a)
    a.client().put_object(Bucket=bucket, Key="x.bin", Body=b"x" * 1000)
    cluster.garage.stop()
    try:
        r = requests.get(b.client().generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "x.bin"}),
                         timeout=60)
        assert r.status_code == 503 and "<Code>ServiceUnavailable</Code>" in r.text, r.text
        assert r.headers.get("Retry-After") == "1"
        keys = [o["Key"] for o in a.client().list_objects_v2(Bucket=bucket)["Contents"]]
        assert keys == ["x.bin"]
        health = requests.get(f"{a.endpoint}/_imgd/health", timeout=30)
        assert health.status_code == 503 and health.json()["blob_store"] == "unreachable"
        assert health.json()["database"] == "ok"
    finally:
        cluster.garage.start()
    until(lambda: requests.get(f"{b.endpoint}/_imgd/health", timeout=30).status_code == 200, timeout=30,
          what="blob store recovery")
    assert b.client().get_object(Bucket=bucket, Key="x.bin")["Body"].read() == b"x" * 1000


def test_twenty_misses_on_both_nodes_make_one_origin_fetch(a, b):
    origin = Origin()
    try:
        # Slow enough that all twenty requests are waiting before the first answer.
        origin.serve("/o/saw.jpg", SAW, headers={"Content-Type": "image/jpeg"}, delay=1.5)
        bucket = f"c-{os.urandom(5).hex()}"
        a.cli("bucket", "create", bucket, "--public")
        a.cli("bucket", "origin", bucket, "--http", f"{origin.base}/o")
        barrier = threading.Barrier(20)

        def miss(node):
            barrier.wait()
            r = requests.get(f"{node.endpoint}/{bucket}/saw.jpg", timeout=60)
            return r.status_code, hashlib.sha256(r.content).hexdigest()

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(miss, [a, b] * 10))
        assert answers == [(200, hashlib.sha256(SAW).hexdigest())] * 20, answers
        assert origin.hits("/o/saw.jpg") == 1
        # Processing misses coalesce too (an object of its own, fetched once).
        origin.serve("/o/second.jpg", FLOWERS, headers={"Content-Type": "image/jpeg"}, delay=1.0)
        barrier = threading.Barrier(10)

        def processed(node):
            barrier.wait()
            r = requests.get(f"{node.endpoint}/{bucket}/second.jpg?x-oss-process=image/resize,w_50", timeout=60)
            return r.status_code, width_of(r.content) if r.status_code == 200 else r.text

        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(processed, [b, a] * 5))
        assert answers == [(200, 50)] * 10, answers
        assert origin.hits("/o/second.jpg") == 1
    finally:
        origin.close()


def test_a_node_killed_holding_a_fetch_claim_does_not_block_the_other(cluster, a, b):
    origin = Origin()
    try:
        origin.serve("/o/stuck.jpg", SAW, headers={"Content-Type": "image/jpeg"}, delay=4)
        bucket = f"c-{os.urandom(5).hex()}"
        a.cli("bucket", "create", bucket, "--public")
        a.cli("bucket", "origin", bucket, "--http", f"{origin.base}/o")
        lead = threading.Thread(target=lambda: requests.get(f"{a.endpoint}/{bucket}/stuck.jpg", timeout=30))
        lead.start()
        until(lambda: origin.hits("/o/stuck.jpg") == 1, timeout=5, what="A's fetch")
        started = time.monotonic()
        follower = concurrent.futures.ThreadPoolExecutor(1).submit(
            requests.get, f"{b.endpoint}/{bucket}/stuck.jpg", timeout=60)
        time.sleep(0.5)
        a.stop(signal.SIGKILL)
        lead.join()
        r = follower.result()
        took = time.monotonic() - started
        assert r.status_code == 200 and r.content == SAW
        # B fetched it itself once A's claim died with A, well before the claim patience.
        assert origin.hits("/o/stuck.jpg") == 2
        assert took < 20, took
    finally:
        origin.close()
        if a.proc is None:
            a.start()
