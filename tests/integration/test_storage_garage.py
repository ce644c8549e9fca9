"""The S3 blob backend on its own, against a real Garage (issue 15).

imgd runs with `IMGD_STORAGE_BACKEND=s3` pointed at a private single-node Garage
(garage_server.py: fsync on for data and metadata), each imgd under its own
`IMGD_STORAGE_S3_ROOT` prefix, so what Garage's own listing shows under that prefix is
exactly that imgd's blobs. The tests are the filesystem backend's: real clients (aws CLI,
boto3, rclone) with multipart and ranged reads and an image render; the blob really in
Garage, one per object, gone on delete and overwrite; acknowledged writes surviving
kill -9; an upload killed partway leaving nothing listed and nothing in Garage once
start-up has swept; a 1 GiB PUT and GET in flat memory; and Garage going away and coming
back while imgd keeps serving.
"""
import concurrent.futures
import hashlib
import http.client
import io
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.parse
import uuid

import pytest
import requests
from botocore.exceptions import ClientError
from PIL import Image

from conftest import ACCESS_KEY, CORPUS, SECRET_KEY, Imgd, s3_client, tool
from garage_server import Garage

MiB = 1024 * 1024
S3_PART = 8 * MiB  # imgd's part size on the S3 backend (crates/store/src/blobs.rs)


# ---- helpers ---------------------------------------------------------------------------


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def body_for(key: str, size: int) -> bytes:
    seed = hashlib.sha256(key.encode()).digest() * 64  # 2 KiB, different per key
    return (seed * (size // len(seed) + 1))[:size]


def run(cmd, env=None):
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"{cmd} failed:\nstdout: {res.stdout}\nstderr: {res.stderr}"
    return res.stdout


def wait_until(what, predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def peak_rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


class OnGarage:
    """One imgd whose blobs live in `garage` under a prefix of their own."""

    def __init__(self, garage: Garage, data_dir, env=None):
        self.garage = garage
        self.prefix = f"t-{uuid.uuid4().hex[:10]}/"
        self.server = Imgd(data_dir, env={**garage.imgd_env(root="/" + self.prefix), **(env or {})})

    def start(self):
        self.server.start()
        return self

    def blobs(self) -> list[dict]:
        """What Garage holds under this imgd's root: its blobs, and nothing else."""
        found = self.garage.objects(self.prefix)
        for o in found:
            assert o["Key"].startswith(self.prefix + "blobs/"), o["Key"]
        return found

    def blob_sizes(self) -> list[int]:
        return sorted(o["Size"] for o in self.blobs())

    def wait_blob_sizes(self, sizes, timeout=20.0):
        """Waits until Garage holds exactly blobs of `sizes` (deletes of replaced blobs may
        finish just after the answer)."""
        want = sorted(sizes)
        try:
            wait_until(f"Garage to hold blobs of sizes {want}", lambda: self.blob_sizes() == want, timeout)
        except AssertionError:
            raise AssertionError(f"Garage holds {self.blob_sizes()}, wanted {want}") from None

    def no_local_blobs(self):
        blobs = self.server.data_dir / "blobs"
        assert not blobs.exists() or not [p for p in blobs.rglob("*") if p.is_file()], \
            "the s3 backend wrote blobs to the local data dir"


def listed(s3, bucket):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out += page.get("Contents", [])
    return out


def presigned_put_head(server: Imgd, bucket: str, key: str, length: int) -> bytes:
    url = s3_client(server.endpoint).generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600)
    u = urllib.parse.urlsplit(url)
    return f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Length: {length}\r\n\r\n".encode()


@pytest.fixture(scope="module")
def garage(tmp_path_factory):
    g = Garage(tmp_path_factory.mktemp("garage"))
    yield g
    g.close()


@pytest.fixture
def front(garage, tmp_path):
    on = OnGarage(garage, tmp_path / "data").start()
    yield on
    on.server.stop()


# ---- the blob is in Garage -------------------------------------------------------------


def test_each_object_is_one_blob_in_garage_gone_on_overwrite_and_delete(front):
    s3 = front.server.client()
    s3.create_bucket(Bucket="photos")
    small, mid, big = os.urandom(10_000), os.urandom(300_000), os.urandom(20 * MiB + 5)
    assert front.blob_sizes() == []
    s3.put_object(Bucket="photos", Key="small", Body=small)
    front.wait_blob_sizes([len(small)])
    s3.put_object(Bucket="photos", Key="mid", Body=mid)
    front.wait_blob_sizes([len(small), len(mid)])
    s3.put_object(Bucket="photos", Key="dir/big", Body=big)
    front.wait_blob_sizes([len(small), len(mid), len(big)])
    front.no_local_blobs()

    # The big blob went up to Garage as a multipart upload of 8 MiB parts (Garage's ETag
    # of a multipart object ends in -<parts>); the small ones as single PUTs.
    g = front.garage.client()
    by_size = {o["Size"]: o for o in front.blobs()}
    assert by_size[len(big)]["ETag"].strip('"').endswith("-3"), by_size[len(big)]
    assert "-" not in by_size[len(small)]["ETag"], by_size[len(small)]
    # Garage's bytes are the object's bytes.
    for body in (small, mid, big):
        got = g.get_object(Bucket=front.garage.bucket, Key=by_size[len(body)]["Key"])["Body"].read()
        assert sha(got) == sha(body)
    for key, body in (("small", small), ("mid", mid), ("dir/big", big)):
        assert sha(s3.get_object(Bucket="photos", Key=key)["Body"].read()) == sha(body), key

    # An overwrite replaces the blob: a new one of the new size, the old one removed.
    small2 = os.urandom(12_345)
    s3.put_object(Bucket="photos", Key="small", Body=small2)
    front.wait_blob_sizes([len(small2), len(mid), len(big)])
    assert s3.get_object(Bucket="photos", Key="small")["Body"].read() == small2

    # A body that fails its Content-MD5 was streamed whole into Garage first (9 MiB: a
    # completed multipart upload there); refusing it removes that blob again.
    bad = os.urandom(9 * MiB)
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket="photos", Key="bad", Body=bad, ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg==")
    assert err.value.response["Error"]["Code"] == "BadDigest", err.value.response
    front.wait_blob_sizes([len(small2), len(mid), len(big)])

    # Deletes remove the blob.
    s3.delete_object(Bucket="photos", Key="dir/big")
    front.wait_blob_sizes([len(small2), len(mid)])
    s3.delete_objects(Bucket="photos", Delete={"Objects": [{"Key": "small"}, {"Key": "mid"}]})
    front.wait_blob_sizes([])
    assert listed(s3, "photos") == []
    assert front.garage.uploads(front.prefix) == []


# ---- real clients ----------------------------------------------------------------------


def test_boto3_multipart_ranges_list_delete(front):
    s3 = front.server.client()
    s3.create_bucket(Bucket="mpu")
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(3 * MiB + 7)]
    whole = b"".join(parts)
    up = s3.create_multipart_upload(Bucket="mpu", Key="album/whole.bin")["UploadId"]
    etags = []
    for n, part in enumerate(parts, 1):
        etags.append(s3.upload_part(Bucket="mpu", Key="album/whole.bin", UploadId=up, PartNumber=n,
                                    Body=part)["ETag"])
    # Each part is a blob of its own in Garage while the upload is open.
    front.wait_blob_sizes([len(p) for p in parts])
    done = s3.complete_multipart_upload(
        Bucket="mpu", Key="album/whole.bin", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    assert done["ETag"].strip('"').endswith("-3"), done
    # Completion writes the object's one blob (through imgd's own 8 MiB parts: 2 of them
    # here) and removes the parts' blobs.
    front.wait_blob_sizes([len(whole)])
    (blob,) = front.blobs()
    assert blob["ETag"].strip('"').endswith(f"-{-(-len(whole) // S3_PART)}"), blob
    got = s3.get_object(Bucket="mpu", Key="album/whole.bin")
    assert got["ContentLength"] == len(whole) and sha(got["Body"].read()) == sha(whole)

    # Ranged reads, across the part boundaries of the upload and of the blob in Garage.
    for first, last in ((0, 0), (5 * MiB - 3, 5 * MiB + 2), (S3_PART - 10, S3_PART + 9),
                        (len(whole) - 1, len(whole) - 1), (123_456, 10 * MiB)):
        r = s3.get_object(Bucket="mpu", Key="album/whole.bin", Range=f"bytes={first}-{last}")
        assert r["ContentRange"] == f"bytes {first}-{last}/{len(whole)}", r["ContentRange"]
        assert r["Body"].read() == whole[first:last + 1], (first, last)
    suffix = s3.get_object(Bucket="mpu", Key="album/whole.bin", Range="bytes=-100")["Body"].read()
    assert suffix == whole[-100:]

    # An aborted upload leaves no part behind in Garage.
    up2 = s3.create_multipart_upload(Bucket="mpu", Key="aborted")["UploadId"]
    s3.upload_part(Bucket="mpu", Key="aborted", UploadId=up2, PartNumber=1, Body=os.urandom(5 * MiB))
    front.wait_blob_sizes([len(whole), 5 * MiB])
    s3.abort_multipart_upload(Bucket="mpu", Key="aborted", UploadId=up2)
    front.wait_blob_sizes([len(whole)])

    # boto3's managed transfer (its own multipart), then listing and delete.
    from boto3.s3.transfer import TransferConfig
    managed = os.urandom(11 * MiB)
    s3.upload_fileobj(io.BytesIO(managed), "mpu", "album/managed.bin",
                      Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB))
    front.wait_blob_sizes([len(whole), len(managed)])
    sink = io.BytesIO()
    s3.download_fileobj("mpu", "album/managed.bin", sink,
                        Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB))
    assert sha(sink.getvalue()) == sha(managed)
    page = s3.list_objects_v2(Bucket="mpu", Prefix="album/")
    assert [(o["Key"], o["Size"]) for o in page["Contents"]] == [
        ("album/managed.bin", len(managed)), ("album/whole.bin", len(whole))]
    s3.delete_object(Bucket="mpu", Key="album/whole.bin")
    s3.delete_object(Bucket="mpu", Key="album/managed.bin")
    front.wait_blob_sizes([])
    assert front.garage.uploads(front.prefix) == []


def test_aws_cli_cp_multipart_ls_range_rm(front, tmp_path):
    s3 = front.server.client()
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"))
    aws = [tool("aws"), "--endpoint-url", front.server.endpoint]
    src = tmp_path / "big.bin"
    data = os.urandom(20 * MiB)  # over the CLI's 8 MiB threshold: multipart
    src.write_bytes(data)
    run(aws + ["s3", "mb", "s3://awscli"], env)
    run(aws + ["s3", "cp", str(src), "s3://awscli/dir/big.bin"], env)
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello garage\n")
    run(aws + ["s3", "cp", str(small), "s3://awscli/dir/small.txt"], env)
    front.wait_blob_sizes([len(data), small.stat().st_size])
    listing = run(aws + ["s3", "ls", "s3://awscli/dir/"], env)
    assert "big.bin" in listing and str(len(data)) in listing and "small.txt" in listing, listing
    head = s3.head_object(Bucket="awscli", Key="dir/big.bin")
    assert head["ETag"].strip('"').endswith("-3"), head  # 8 + 8 + 4 MiB parts from the CLI
    back = tmp_path / "back.bin"
    run(aws + ["s3", "cp", "s3://awscli/dir/big.bin", str(back)], env)
    assert sha(back.read_bytes()) == sha(data)
    part = tmp_path / "part.bin"
    run(aws + ["s3api", "get-object", "--bucket", "awscli", "--key", "dir/big.bin",
               "--range", "bytes=8388600-8388700", str(part)], env)
    assert part.read_bytes() == data[8388600:8388701]
    run(aws + ["s3", "rm", "s3://awscli/dir/big.bin"], env)
    front.wait_blob_sizes([small.stat().st_size])
    assert "big.bin" not in run(aws + ["s3", "ls", "s3://awscli/dir/"], env)
    run(aws + ["s3", "rm", "s3://awscli/dir/small.txt"], env)
    front.wait_blob_sizes([])
    for f in (src, back):
        f.unlink()


def test_rclone_copy_check_delete(front, tmp_path):
    front.server.client().create_bucket(Bucket="rclone")
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    for i in range(4):
        (src / f"f{i}.bin").write_bytes(os.urandom(1000 * (i + 1)))
    (src / "sub" / "photo.jpg").write_bytes((CORPUS / "flowers.jpeg").read_bytes())
    (src / "sub" / "big.bin").write_bytes(os.urandom(12 * MiB))
    sizes = [p.stat().st_size for p in src.rglob("*") if p.is_file()]
    env = dict(os.environ, RCLONE_CONFIG=str(tmp_path / "rclone.conf"), RCLONE_CONFIG_IMGD_TYPE="s3",
               RCLONE_CONFIG_IMGD_PROVIDER="Other", RCLONE_CONFIG_IMGD_ENDPOINT=front.server.endpoint,
               RCLONE_CONFIG_IMGD_ACCESS_KEY_ID=ACCESS_KEY, RCLONE_CONFIG_IMGD_SECRET_ACCESS_KEY=SECRET_KEY,
               RCLONE_CONFIG_IMGD_REGION="us-east-1", RCLONE_CONFIG_IMGD_FORCE_PATH_STYLE="true")
    rclone = tool("rclone")
    run([rclone, "copy", str(src), "imgd:rclone/tree", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"], env)
    run([rclone, "check", str(src), "imgd:rclone/tree"], env)
    front.wait_blob_sizes(sizes)
    out = tmp_path / "out"
    run([rclone, "copy", "imgd:rclone/tree", str(out)], env)
    assert sha((out / "sub" / "big.bin").read_bytes()) == sha((src / "sub" / "big.bin").read_bytes())
    assert sorted(run([rclone, "lsf", "-R", "--files-only", "imgd:rclone/tree"], env).split()) == sorted(
        str(p.relative_to(src)) for p in src.rglob("*") if p.is_file())
    run([rclone, "delete", "imgd:rclone/tree/sub"], env)
    front.wait_blob_sizes([1000 * (i + 1) for i in range(4)])
    run([rclone, "purge", "imgd:rclone/tree"], env)
    front.wait_blob_sizes([])


def test_an_image_is_rendered_from_its_blob_in_garage(front):
    s3 = front.server.client()
    s3.create_bucket(Bucket="pics", ACL="public-read")
    jpeg = (CORPUS / "flowers.jpeg").read_bytes()
    s3.put_object(Bucket="pics", Key="flowers.jpg", Body=jpeg, ContentType="image/jpeg")
    front.wait_blob_sizes([len(jpeg)])
    original = Image.open(io.BytesIO(jpeg)).size
    r = requests.get(f"{front.server.endpoint}/pics/flowers.jpg",
                     params={"x-oss-process": "image/resize,w_100"}, timeout=60)
    assert r.status_code == 200, r.text[:500]
    img = Image.open(io.BytesIO(r.content))
    assert img.format == "JPEG" and img.size[0] == 100, img.size
    assert abs(img.size[1] - round(original[1] * 100 / original[0])) <= 1, (img.size, original)
    # Anonymous delivery of the original streams the Garage blob.
    r = requests.get(f"{front.server.endpoint}/pics/flowers.jpg", timeout=30)
    assert r.status_code == 200 and r.content == jpeg
    # Another process string: a variant-cache miss, so a second render read from Garage.
    r = requests.get(f"{front.server.endpoint}/pics/flowers.jpg",
                     params={"x-oss-process": "image/resize,w_64/format,png"}, timeout=60)
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size[0] == 64


# ---- durability ------------------------------------------------------------------------


def test_acknowledged_puts_survive_kill_9(garage, tmp_path):
    on = OnGarage(garage, tmp_path / "data").start()
    server = on.server
    s3_client(server.endpoint).create_bucket(Bucket="durable")
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

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    time.sleep(5)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    stop.set()
    for t in threads:
        t.join(60)
    assert len(acked) >= 10, f"the writers should have stored something before the kill: {len(acked)}"
    in_garage = len(on.blobs())
    assert in_garage >= len(acked)

    server.start()
    s3 = s3_client(server.endpoint)
    for key, size in acked.items():
        got = s3.get_object(Bucket="durable", Key=key)["Body"].read()
        assert got == body_for(key, size), key
    objects = listed(s3, "durable")
    for o in objects:  # anything visible is whole
        got = s3.get_object(Bucket="durable", Key=o["Key"])["Body"].read()
        assert len(got) == o["Size"] and got == body_for(o["Key"], o["Size"]), o["Key"]
    # Start-up removed what interrupted writes left in Garage: one blob per object.
    print(f"acked {len(acked)}, listed {len(objects)}, blobs in Garage before restart {in_garage}, "
          f"after {len(on.blobs())}")
    assert on.blob_sizes() == sorted(o["Size"] for o in objects)
    assert garage.uploads(on.prefix) == []
    server.stop()


def test_kill_9_mid_upload_leaves_nothing_listed_and_nothing_in_garage(garage, tmp_path):
    on = OnGarage(garage, tmp_path / "data").start()
    server = on.server
    s3 = server.client()
    s3.create_bucket(Bucket="slow")
    kept = os.urandom(100_000)
    s3.put_object(Bucket="slow", Key="kept", Body=kept)
    on.wait_blob_sizes([len(kept)])

    total = 64 * MiB
    sent = 0
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:
        sock.sendall(presigned_put_head(server, "slow", "partial", total))
        # Enough for imgd to have sent whole 8 MiB parts to Garage: an unfinished
        # multipart upload there, under imgd's root.
        chunk = os.urandom(MiB)
        while sent < 3 * S3_PART:
            sock.sendall(chunk)
            sent += len(chunk)
        wait_until("imgd's multipart upload to Garage", lambda: garage.uploads(on.prefix), timeout=30)
        sock.sendall(chunk)  # still streaming when it dies
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
    finally:
        sock.close()
    # Left behind in Garage by the dead process: the unfinished upload.
    assert garage.uploads(on.prefix), "the kill should have left an unfinished upload in Garage"

    server.start()
    s3 = server.client()
    assert [(o["Key"], o["Size"]) for o in listed(s3, "slow")] == [("kept", len(kept))]
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket="slow", Key="partial")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert s3.get_object(Bucket="slow", Key="kept")["Body"].read() == kept
    # The start-up sweep removed the orphan: Garage holds only the listed object's blob,
    # and no unfinished upload.
    on.wait_blob_sizes([len(kept)])
    wait_until("the unfinished upload to be gone from Garage", lambda: garage.uploads(on.prefix) == [])
    # And the key can be written whole afterwards.
    s3.put_object(Bucket="slow", Key="partial", Body=b"whole now")
    on.wait_blob_sizes([len(kept), 9])
    server.stop()


def test_kill_9_between_the_blob_and_its_row_leaves_an_orphan_the_sweep_removes(garage, tmp_path):
    """The other window of an interrupted write: the blob is whole in Garage (a single PUT
    and a completed multipart upload) but the row naming it is not committed yet. The
    metadata database is held locked from outside so imgd waits there, then dies."""
    on = OnGarage(garage, tmp_path / "data").start()
    server = on.server
    s3 = server.client()
    s3.create_bucket(Bucket="orphans")
    kept = os.urandom(50_000)
    s3.put_object(Bucket="orphans", Key="kept", Body=kept)
    on.wait_blob_sizes([len(kept)])
    db = sqlite3.connect(server.data_dir / "imgd.db", isolation_level=None, timeout=30)

    def pending() -> set[str]:
        return {row[0] for row in db.execute("SELECT blob FROM pending_blobs")}

    assert pending() == set()
    sizes = [2 * MiB + 1, 20 * MiB + 3]
    bodies = [os.urandom(n) for n in sizes]
    socks = []
    try:
        for n, body in enumerate(bodies):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            socks.append(s)
            s.sendall(presigned_put_head(server, "orphans", f"orphan{n}", len(body)))
            s.sendall(body[:MiB])
        # Each upload has listed its fresh blob as pending; now no row can be committed.
        wait_until("both uploads to list their blobs as pending", lambda: len(pending()) == 2)
        db.execute("BEGIN IMMEDIATE")
        for s, body in zip(socks, bodies):
            s.sendall(body[MiB:])
        on.wait_blob_sizes([len(kept)] + sizes, timeout=60)  # whole in Garage, owned by no row
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        db.execute("ROLLBACK")
    finally:
        for s in socks:
            s.close()
    orphans = {o["Key"].removeprefix(on.prefix) for o in on.blobs() if o["Size"] in sizes}
    assert orphans == pending(), (orphans, pending())
    db.close()

    server.start()
    s3 = server.client()
    assert [o["Key"] for o in listed(s3, "orphans")] == ["kept"]
    on.wait_blob_sizes([len(kept)])
    assert garage.uploads(on.prefix) == []
    db = sqlite3.connect(server.data_dir / "imgd.db")
    assert db.execute("SELECT count(*) FROM pending_blobs").fetchone()[0] == 0
    db.close()
    assert s3.get_object(Bucket="orphans", Key="kept")["Body"].read() == kept
    server.stop()


# ---- memory ----------------------------------------------------------------------------


class CycledBody:
    """`size` bytes made of 17 random 1 MiB blocks in turn: a period no multiple of the
    8 MiB part size, so parts swapped or repeated change the hash, while Garage (which
    stores blocks by content) keeps only 17 MiB on disk."""

    def __init__(self, size: int):
        self.size, self.pos = size, 0
        self.blocks = [os.urandom(MiB) for _ in range(17)]

    def __len__(self):
        return self.size

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.pos if n is None or n < 0 else min(n, self.size - self.pos)
        out = bytearray()
        while len(out) < n:
            block, off = divmod(self.pos, MiB)
            take = min(n - len(out), MiB - off)
            out += self.blocks[block % 17][off:off + take]
            self.pos += take
        return bytes(out)

    def md5(self) -> str:
        h = hashlib.md5()
        for i in range(self.size // MiB):
            h.update(self.blocks[i % 17])
        return h.hexdigest()


def test_one_gib_put_and_get_keep_memory_flat_on_garage(tmp_path):
    garage = Garage(tmp_path / "garage")
    on = None
    try:
        on = OnGarage(garage, tmp_path / "data").start()
        server = on.server
        s3 = server.client()
        s3.create_bucket(Bucket="big")
        size = 1024 * MiB
        body = CycledBody(size)
        baseline = peak_rss_mib(server.proc.pid)
        url = urllib.parse.urlsplit(s3.generate_presigned_url(
            "put_object", Params={"Bucket": "big", "Key": "gib"}, ExpiresIn=900))
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=900, blocksize=MiB)
        started = time.monotonic()
        conn.request("PUT", f"{url.path}?{url.query}", body=body, headers={"Content-Length": str(size)})
        resp = conn.getresponse()
        text = resp.read()
        conn.close()
        put_s = time.monotonic() - started
        assert resp.status == 200, text[:500]
        after_put = peak_rss_mib(server.proc.pid)
        (blob,) = on.blobs()
        assert blob["Size"] == size
        assert blob["ETag"].strip('"').endswith(f"-{size // S3_PART}"), blob  # 128 parts of 8 MiB
        on.no_local_blobs()

        get_url = s3.generate_presigned_url("get_object", Params={"Bucket": "big", "Key": "gib"}, ExpiresIn=900)
        h, n = hashlib.md5(), 0
        started = time.monotonic()
        with requests.get(get_url, stream=True, timeout=900) as r:
            assert r.status_code == 200
            for chunk in r.iter_content(MiB):
                h.update(chunk)
                n += len(chunk)
        get_s = time.monotonic() - started
        assert n == size
        assert h.hexdigest() == body.md5()
        assert f'"{h.hexdigest()}"' == s3.head_object(Bucket="big", Key="gib")["ETag"]
        peak = peak_rss_mib(server.proc.pid)
        print(f"imgd on Garage, 1 GiB: RSS baseline {baseline:.1f} MiB, peak after PUT {after_put:.1f} MiB, "
              f"after GET {peak:.1f} MiB; PUT {put_s:.1f} s, GET {get_s:.1f} s; "
              f"Garage peak RSS {peak_rss_mib(garage.proc.pid):.1f} MiB")
        assert peak < 150, f"peak RSS {peak:.1f} MiB"
        s3.delete_object(Bucket="big", Key="gib")
        on.wait_blob_sizes([])
    finally:
        if on:
            on.server.stop()
        garage.close()


# ---- the store goes away ---------------------------------------------------------------


def test_garage_down_is_a_clear_error_and_imgd_recovers(tmp_path):
    garage = Garage(tmp_path / "garage")
    on = None
    try:
        on = OnGarage(garage, tmp_path / "data").start()
        server = on.server
        s3 = server.client()
        s3.create_bucket(Bucket="flaky", ACL="public-read")
        jpeg = (CORPUS / "flowers.jpeg").read_bytes()
        s3.put_object(Bucket="flaky", Key="before.jpg", Body=jpeg, ContentType="image/jpeg")
        on.wait_blob_sizes([len(jpeg)])

        garage.stop()

        def presigned(method, key):
            return s3.generate_presigned_url(method, Params={"Bucket": "flaky", "Key": key}, ExpiresIn=600)

        def clear_error(r: requests.Response, what: str):
            assert 500 <= r.status_code < 600, (what, r.status_code, r.text[:500])
            assert r.headers.get("Content-Type", "").startswith(("application/xml", "text/xml")), \
                (what, r.headers)
            assert r.text.lstrip().startswith("<?xml") and "<Error>" in r.text and "<Code>" in r.text, \
                (what, r.text[:500])

        started = time.monotonic()
        for size in (1000, 3 * MiB, 9 * MiB):  # single PUT, and one that needs a part first
            r = requests.put(presigned("put_object", f"new-{size}"), data=os.urandom(size), timeout=60)
            clear_error(r, f"PUT of {size} bytes")
        r = requests.get(presigned("get_object", "before.jpg"), timeout=60)
        clear_error(r, "GET")
        r = requests.get(presigned("get_object", "before.jpg"), headers={"Range": "bytes=10-20"}, timeout=60)
        clear_error(r, "ranged GET")
        r = requests.get(f"{server.endpoint}/flaky/before.jpg", params={"x-oss-process": "image/resize,w_100"},
                         timeout=60)
        assert 500 <= r.status_code < 600, (r.status_code, r.text[:500])
        assert "<Code>" in r.text, r.text[:500]
        elapsed = time.monotonic() - started
        assert elapsed < 60, f"the failures took {elapsed:.0f} s"
        # imgd keeps running and answers what needs no blob.
        assert server.proc.poll() is None, server.log()
        # Alive, but not ready: a load balancer takes it out of rotation until Garage is back.
        assert requests.get(f"{server.endpoint}/_imgd/health/live", timeout=10).status_code == 200
        health = requests.get(f"{server.endpoint}/_imgd/health", timeout=10)
        assert health.status_code == 503 and health.json()["blob_store"] == "unreachable", health.text
        assert health.json()["database"] == "ok"
        assert [o["Key"] for o in listed(s3, "flaky")] == ["before.jpg"]
        assert s3.head_object(Bucket="flaky", Key="before.jpg")["ContentLength"] == len(jpeg)
        # The failed writes left pending blobs that cannot be deleted now; a restart must
        # still come up (the leftovers wait for a later sweep).
        server.stop()
        server.start(probe="/_imgd/health/live")
        assert requests.get(f"{server.endpoint}/_imgd/health", timeout=10).status_code == 503

        garage.start()
        assert s3.get_object(Bucket="flaky", Key="before.jpg")["Body"].read() == jpeg
        after = os.urandom(9 * MiB)
        s3.put_object(Bucket="flaky", Key="after", Body=after)
        assert sha(s3.get_object(Bucket="flaky", Key="after")["Body"].read()) == sha(after)
        r = requests.get(f"{server.endpoint}/flaky/before.jpg", params={"x-oss-process": "image/resize,w_100"},
                         timeout=60)
        assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size[0] == 100
        # Nothing of the failed writes was listed, and Garage holds the two objects' blobs.
        assert sorted(o["Key"] for o in listed(s3, "flaky")) == ["after", "before.jpg"]
        on.wait_blob_sizes([len(jpeg), len(after)])
    except Exception:
        print("imgd log:\n" + (on.server.log() if on else ""))
        print("garage log:\n" + garage.log())
        raise
    finally:
        if on:
            on.server.stop()
        garage.close()


def test_many_concurrent_writers_and_readers_on_garage(front):
    """Parallel PUTs and GETs of several sizes through one imgd: every body reads back
    whole and Garage ends with exactly one blob per object."""
    s3 = front.server.client()
    s3.create_bucket(Bucket="busy")
    sizes = [1_000, 200_000, 3 * MiB, 9 * MiB + 1]
    keys = [(f"k{i}", sizes[i % len(sizes)]) for i in range(16)]

    def put_get(item):
        key, size = item
        c = s3_client(front.server.endpoint)
        c.put_object(Bucket="busy", Key=key, Body=body_for(key, size))
        return key, c.get_object(Bucket="busy", Key=key)["Body"].read() == body_for(key, size)

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = dict(pool.map(put_get, keys))
    assert all(results.values()), results
    front.wait_blob_sizes([s for _, s in keys])
