"""The OSS-compatible object API driven by the real `oss2` SDK (signature V1): uploads,
plain/ranged/processed reads, HEAD and objectMeta, listing, signed URLs fetched by plain
`requests`, ProcessObject saveas, deletes, copies, and the refusals oss2 turns into its
exceptions. Buckets, ListObjectsV2, batch delete and ACLs are in test_oss2_buckets.py."""
import base64
import hashlib
import io
import os
import re
import time
import urllib.parse
import uuid

import oss2
import pytest
import requests
from PIL import Image

from conftest import ACCESS_KEY, CORPUS, SECRET_KEY, Imgd

SAW = (CORPUS / "2569067123_aca715a2ee_o.jpg").read_bytes()
SAW_WIDTH = Image.open(io.BytesIO(SAW)).size[0]


def width_of(content: bytes) -> int:
    return Image.open(io.BytesIO(content)).size[0]


def b64(s: str) -> str:
    return base64.urlsafe_b64encode(s.encode()).decode()


def error_code(r: requests.Response) -> str:
    m = re.search(r"<Code>([^<]*)</Code>", r.text)
    return m.group(1) if m else ""


@pytest.fixture(scope="module")
def name(imgd):
    bucket = f"oss-{uuid.uuid4().hex[:10]}"
    imgd.client().create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(scope="module")
def bucket(imgd, name):
    b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), imgd.endpoint, name)
    b.put_object("saw.jpg", SAW, headers={"Content-Type": "image/jpeg", "x-oss-meta-author": "Ada"})
    return b


def test_put_object_answers_oss_etag_and_crc(bucket):
    result = bucket.put_object("hello.txt", b"hello, oss")
    assert result.status == 200
    assert result.etag == hashlib.md5(b"hello, oss").hexdigest().upper()
    # oss2 compares this with its own CRC-64 of the body and raises on a mismatch.
    assert result.crc is not None
    assert result.request_id and result.headers["x-oss-request-id"] == result.request_id
    assert bucket.get_object("hello.txt").read() == b"hello, oss"


def test_get_head_and_object_meta(bucket, imgd, name):
    got = bucket.get_object("saw.jpg")
    data = got.read()
    assert data == SAW
    assert got.content_type == "image/jpeg"
    assert got.content_length == len(SAW)
    assert got.etag == hashlib.md5(SAW).hexdigest().upper()
    assert got.object_type == "Normal"
    assert got.headers["x-oss-meta-author"] == "Ada"
    assert got.headers["Cache-Control"] == "private, no-cache"
    assert got.last_modified and abs(got.last_modified - time.time()) < 300

    head = bucket.head_object("saw.jpg")
    assert head.content_length == len(SAW)
    assert head.content_type == "image/jpeg"
    assert head.etag == got.etag
    assert head.object_type == "Normal"
    assert head.headers["x-oss-meta-author"] == "Ada"
    assert head.last_modified == got.last_modified

    meta = bucket.get_object_meta("saw.jpg")
    assert meta.content_length == len(SAW)
    assert meta.etag == got.etag
    assert meta.last_modified == got.last_modified
    assert bucket.object_exists("saw.jpg") and not bucket.object_exists("nope.jpg")

    # The object is the same one the S3 door serves, metadata included.
    s3 = imgd.client().head_object(Bucket=name, Key="saw.jpg")
    assert s3["Metadata"] == {"author": "Ada"}
    assert s3["ETag"].strip('"').upper() == got.etag


def test_ranges(bucket):
    part = bucket.get_object("saw.jpg", byte_range=(100, 199))
    assert part.status == 206
    assert part.read() == SAW[100:200]
    assert part.content_range == f"bytes 100-199/{len(SAW)}"
    assert bucket.get_object("saw.jpg", byte_range=(None, 10)).read() == SAW[-10:]
    assert bucket.get_object("saw.jpg", byte_range=(len(SAW) - 5, None)).read() == SAW[-5:]
    # As OSS: an unsatisfiable range returns the whole object, unless standard
    # behaviour is asked for.
    whole = bucket.get_object("saw.jpg", byte_range=(len(SAW) + 10, len(SAW) + 20))
    assert whole.status == 200 and whole.read() == SAW
    with pytest.raises(oss2.exceptions.ServerError) as e:
        bucket.get_object(
            "saw.jpg",
            byte_range=(len(SAW) + 10, len(SAW) + 20),
            headers={"x-oss-range-behavior": "standard"},
        )
    assert e.value.status == 416 and e.value.code == "InvalidRange"


def test_conditional_reads(bucket):
    etag = bucket.head_object("saw.jpg").etag
    with pytest.raises(oss2.exceptions.NotModified):
        bucket.get_object("saw.jpg", headers={"If-None-Match": f'"{etag}"'})
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.get_object("saw.jpg", headers={"If-Match": '"0000"'})
    assert bucket.get_object("saw.jpg", headers={"If-Match": f'"{etag.lower()}"'}).read() == SAW


def test_processed_get(bucket):
    got = bucket.get_object("saw.jpg", process="image/resize,w_100")
    data = got.read()
    assert width_of(data) == 100
    assert got.content_type == "image/jpeg"
    assert got.content_length == len(data)
    png = bucket.get_object("saw.jpg", process="image/resize,w_50/format,png").read()
    assert Image.open(io.BytesIO(png)).format == "PNG" and width_of(png) == 50
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.get_object("saw.jpg", process="image/resize,w_0").read()


def test_put_object_from_file_and_headers(bucket, tmp_path):
    path = tmp_path / "pic.png"
    Image.new("RGB", (30, 20), (10, 200, 30)).save(path)
    result = bucket.put_object_from_file(
        "files/pic.png", str(path), headers={"Cache-Control": "public, max-age=60", "x-oss-meta-Origin": "disk"}
    )
    assert result.etag == hashlib.md5(path.read_bytes()).hexdigest().upper()
    got = bucket.get_object("files/pic.png")
    assert got.read() == path.read_bytes()
    assert got.content_type == "image/png"  # oss2 derives it from the extension
    assert got.headers["x-oss-meta-origin"] == "disk"
    # The object's own Cache-Control is kept for header-signed reads.
    assert got.headers["Cache-Control"] == "public, max-age=60"
    out = tmp_path / "back.png"
    bucket.get_object_to_file("files/pic.png", str(out))
    assert out.read_bytes() == path.read_bytes()


def test_content_md5_is_checked(bucket):
    good = base64.b64encode(hashlib.md5(b"abc").digest()).decode()
    assert bucket.put_object("md5.txt", b"abc", headers={"Content-MD5": good}).status == 200
    wrong = base64.b64encode(hashlib.md5(b"abd").digest()).decode()
    with pytest.raises(oss2.exceptions.InvalidDigest):
        bucket.put_object("md5-bad.txt", b"abc", headers={"Content-MD5": wrong})
    with pytest.raises(oss2.exceptions.InvalidDigest):
        bucket.put_object("md5-bad.txt", b"abc", headers={"Content-MD5": "not-base64!"})
    assert not bucket.object_exists("md5-bad.txt")


def test_forbid_overwrite(bucket):
    bucket.put_object("once.txt", b"1")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        bucket.put_object("once.txt", b"2", headers={"x-oss-forbid-overwrite": "true"})
    assert e.value.status == 409 and e.value.code == "FileAlreadyExists"
    assert bucket.get_object("once.txt").read() == b"1"


def test_large_upload_streams(bucket):
    data = bytes(range(256)) * (12 * 1024 * 1024 // 256)  # 12 MiB
    result = bucket.put_object("big.bin", data)
    assert result.etag == hashlib.md5(data).hexdigest().upper()
    assert bucket.get_object("big.bin", byte_range=(5_000_000, 5_000_099)).read() == data[5_000_000:5_000_100]
    assert bucket.get_object("big.bin").read() == data
    bucket.delete_object("big.bin")


def test_list_objects_prefix_delimiter_and_pages(imgd):
    name = f"list-{uuid.uuid4().hex[:10]}"
    imgd.client().create_bucket(Bucket=name)
    b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), imgd.endpoint, name)
    keys = ["a.txt", "dir/b.txt", "dir/c d.txt", "dir/sub/e.txt", "dir/ü&<ñ>.txt", "z/f.txt"]
    for k in keys:
        b.put_object(k, k.encode())

    top = b.list_objects(delimiter="/")
    assert [o.key for o in top.object_list] == ["a.txt"]
    assert top.prefix_list == ["dir/", "z/"]
    assert not top.is_truncated
    entry = top.object_list[0]
    assert entry.size == len(b"a.txt") and entry.etag == hashlib.md5(b"a.txt").hexdigest().upper()
    assert entry.type == "Normal" and entry.storage_class == "Standard"
    assert abs(entry.last_modified - time.time()) < 300

    listed = b.list_objects(prefix="dir/", delimiter="/")
    assert [o.key for o in listed.object_list] == ["dir/b.txt", "dir/c d.txt", "dir/ü&<ñ>.txt"]
    assert listed.prefix_list == ["dir/sub/"]

    page = b.list_objects(max_keys=2)
    assert page.is_truncated and len(page.object_list) == 2
    rest = b.list_objects(marker=page.next_marker, max_keys=100)
    assert [o.key for o in page.object_list + rest.object_list] == sorted(keys)

    # oss2's iterator pages through with markers, prefixes included.
    everything = [o.key for o in oss2.ObjectIterator(b, max_keys=2)]
    assert everything == sorted(keys)
    under_dir = [(o.key, o.is_prefix()) for o in oss2.ObjectIterator(b, prefix="dir/", delimiter="/", max_keys=1)]
    assert under_dir == [
        ("dir/b.txt", False),
        ("dir/c d.txt", False),
        ("dir/sub/", True),
        ("dir/ü&<ñ>.txt", False),
    ]


def test_signed_url_with_process_is_cached_no_longer_than_the_link(bucket):
    url = bucket.sign_url("GET", "saw.jpg", 300, params={"x-oss-process": "image/resize,w_100"})
    assert "OSSAccessKeyId=" in url and "Signature=" in url
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert width_of(r.content) == 100
    cc = r.headers["Cache-Control"]
    m = re.fullmatch(r"private, max-age=(\d+)", cc)
    assert m, cc
    expires = int(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["Expires"][0])
    assert 0 <= int(m.group(1)) <= expires - int(time.time()) + 1
    assert int(m.group(1)) >= 250
    assert r.headers["Expires"]
    assert r.headers["x-oss-request-id"]

    plain = requests.get(bucket.sign_url("GET", "saw.jpg", 60), timeout=30)
    assert plain.status_code == 200 and plain.content == SAW
    assert plain.headers["Content-Type"] == "image/jpeg"

    # A link to a key with characters that need encoding (oss2 encodes '/' as %2F).
    bucket.put_object("dir/a b+c.txt", b"spaces")
    odd = requests.get(bucket.sign_url("GET", "dir/a b+c.txt", 60), timeout=30)
    assert odd.status_code == 200 and odd.content == b"spaces"


def test_signed_url_caching_respects_the_objects_own_max_age(bucket):
    bucket.put_object("short.txt", b"x", headers={"Cache-Control": "max-age=30"})
    r = requests.get(bucket.sign_url("GET", "short.txt", 3600), timeout=10)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "private, max-age=30"


def test_expired_and_tampered_signed_urls_are_refused(bucket):
    expired = requests.get(bucket.sign_url("GET", "saw.jpg", -10), timeout=10)
    assert expired.status_code == 403
    assert error_code(expired) == "AccessDenied" and "Request has expired." in expired.text

    url = bucket.sign_url("GET", "saw.jpg", 300, params={"x-oss-process": "image/resize,w_100"})
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)

    def with_query(pairs, path=parts.path):
        return urllib.parse.urlunsplit(parts._replace(path=path, query=urllib.parse.urlencode(pairs)))

    assert requests.get(with_query(query), timeout=30).status_code == 200

    # One character of the key changed.
    other_key = requests.get(with_query(query, path=parts.path.replace("saw.jpg", "sax.jpg")), timeout=10)
    assert other_key.status_code == 403 and error_code(other_key) == "SignatureDoesNotMatch"

    def changed(name, fn):
        return [(k, fn(v) if k == name else v) for k, v in query]

    flip = lambda s: ("B" if s[0] != "B" else "C") + s[1:]
    bad_sig = requests.get(with_query(changed("Signature", flip)), timeout=10)
    assert bad_sig.status_code == 403 and error_code(bad_sig) == "SignatureDoesNotMatch"
    later = requests.get(with_query(changed("Expires", lambda v: str(int(v) + 1000))), timeout=10)
    assert later.status_code == 403 and error_code(later) == "SignatureDoesNotMatch"
    bigger = requests.get(with_query(changed("x-oss-process", lambda v: "image/resize,w_2000")), timeout=10)
    assert bigger.status_code == 403 and error_code(bigger) == "SignatureDoesNotMatch"
    # A second Signature or Expires appended changes nothing: the first one wins.
    appended = requests.get(with_query(query + [("Signature", "forged"), ("Expires", "1")]), timeout=30)
    assert appended.status_code == 200 and width_of(appended.content) == 100


def test_signed_put_url(bucket):
    url = bucket.sign_url("PUT", "via-url.txt", 60, headers={"Content-Type": "text/plain"})
    result = bucket.put_object_with_url(url, b"uploaded by link", headers={"Content-Type": "text/plain"})
    assert result.status == 200
    got = bucket.get_object("via-url.txt")
    assert got.read() == b"uploaded by link" and got.content_type == "text/plain"
    # The link was signed for text/plain only.
    r = requests.put(url, data=b"x", headers={"Content-Type": "image/png"}, timeout=10)
    assert r.status_code == 403 and error_code(r) == "SignatureDoesNotMatch"


def test_process_object_saveas(bucket, name):
    target = "thumbs/saw-100.jpg"
    result = bucket.process_object("saw.jpg", f"image/resize,w_100|sys/saveas,o_{b64(target)},b_{b64(name)}")
    assert result.status == 200
    assert result.process_status == "OK" and result.object == target and result.bucket == name
    saved = bucket.get_object(target).read()
    assert len(saved) == result.fileSize and width_of(saved) == 100
    # Without b_ the result lands in the source's bucket.
    result = bucket.process_object("saw.jpg", f"image/resize,w_60|sys/saveas,o_{b64('thumbs/60.jpg')}")
    assert result.bucket == name and width_of(bucket.get_object("thumbs/60.jpg").read()) == 60
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.process_object("saw.jpg", "image/resize,w_60")


def test_copy_object(bucket, name):
    bucket.copy_object(name, "saw.jpg", "copies/saw.jpg")
    copy = bucket.get_object("copies/saw.jpg")
    assert copy.read() == SAW and copy.headers["x-oss-meta-author"] == "Ada"
    bucket.copy_object(
        name,
        "saw.jpg",
        "copies/replaced.jpg",
        headers={"x-oss-metadata-directive": "REPLACE", "Content-Type": "image/x-test", "x-oss-meta-k": "v"},
    )
    replaced = bucket.head_object("copies/replaced.jpg")
    assert replaced.content_type == "image/x-test" and replaced.headers["x-oss-meta-k"] == "v"
    assert "x-oss-meta-author" not in replaced.headers


def test_delete_then_get_is_no_such_key(bucket):
    bucket.put_object("doomed.txt", b"bye")
    assert bucket.delete_object("doomed.txt").status == 204
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object("doomed.txt")
    with pytest.raises(oss2.exceptions.NotFound):
        bucket.head_object("doomed.txt")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object_meta("doomed.txt")
    # Deleting a missing key succeeds, as in OSS.
    assert bucket.delete_object("doomed.txt").status == 204


def test_missing_bucket(imgd):
    b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), imgd.endpoint, "no-such-bucket-here")
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.get_object("x")
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.put_object("x", b"x")
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.list_objects()


def test_wrong_secret_and_unknown_key(imgd, name):
    wrong = oss2.Bucket(oss2.Auth(ACCESS_KEY, "not-the-secret"), imgd.endpoint, name)
    with pytest.raises(oss2.exceptions.SignatureDoesNotMatch) as e:
        wrong.get_object("saw.jpg")
    assert e.value.status == 403
    with pytest.raises(oss2.exceptions.SignatureDoesNotMatch):
        wrong.put_object("evil.txt", b"x")
    unknown = oss2.Bucket(oss2.Auth("NOSUCHKEY0000000", SECRET_KEY), imgd.endpoint, name)
    with pytest.raises(oss2.exceptions.ServerError) as e:
        unknown.get_object("saw.jpg")
    assert e.value.status == 403 and e.value.code == "InvalidAccessKeyId"
    # A clock more than 15 minutes off is refused before the signature is looked at.
    stale = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() - 3600))
    r = requests.get(f"{imgd.endpoint}/{name}/saw.jpg", headers={"Date": stale, "Authorization": f"OSS {ACCESS_KEY}:x"}, timeout=10)
    assert r.status_code == 403 and error_code(r) == "RequestTimeTooSkewed"


def test_read_only_key_cannot_write(imgd, name, bucket):
    out = imgd.cli("key", "create", "--bucket", f"{name}:read").stdout
    ak = out.split("access_key = ")[1].split()[0]
    sk = out.split("secret_key = ")[1].split()[0]
    reader = oss2.Bucket(oss2.Auth(ak, sk), imgd.endpoint, name)
    assert reader.get_object("saw.jpg").read() == SAW
    assert any(o.key == "saw.jpg" for o in oss2.ObjectIterator(reader))
    with pytest.raises(oss2.exceptions.AccessDenied):
        reader.put_object("denied.txt", b"x")
    with pytest.raises(oss2.exceptions.AccessDenied):
        reader.delete_object("saw.jpg")
    with pytest.raises(oss2.exceptions.AccessDenied):
        reader.process_object("saw.jpg", f"image/resize,w_10|sys/saveas,o_{b64('denied.jpg')}")
    # Its signed links work for reading.
    r = requests.get(reader.sign_url("GET", "saw.jpg", 60, params={"x-oss-process": "image/resize,w_40"}), timeout=30)
    assert r.status_code == 200 and width_of(r.content) == 40
    assert not bucket.object_exists("denied.txt") and not bucket.object_exists("denied.jpg")
    # A key without a grant on the bucket is refused even for reads.
    elsewhere = f"else-{uuid.uuid4().hex[:10]}"
    imgd.client().create_bucket(Bucket=elsewhere)
    other = imgd.cli("key", "create", "--bucket", f"{elsewhere}:read-write").stdout
    ak2 = other.split("access_key = ")[1].split()[0]
    sk2 = other.split("secret_key = ")[1].split()[0]
    with pytest.raises(oss2.exceptions.AccessDenied):
        oss2.Bucket(oss2.Auth(ak2, sk2), imgd.endpoint, name).get_object("saw.jpg")
    # Revoked keys stop working at once.
    imgd.cli("key", "revoke", ak)
    with pytest.raises(oss2.exceptions.ServerError) as e:
        reader.get_object("saw.jpg")
    assert e.value.code == "InvalidAccessKeyId"


def test_unsupported_sub_resources_are_refused_not_ignored(bucket):
    with pytest.raises(oss2.exceptions.ServerError) as e:
        bucket.restore_object("saw.jpg")
    assert e.value.status == 501 and e.value.code == "NotImplemented"
    assert "restore" in e.value.message


def test_s3_door_is_unaffected(imgd, name, bucket):
    # SigV4 and anonymous requests still reach the S3 door, never the OSS one.
    s3 = imgd.client()
    assert s3.get_object(Bucket=name, Key="saw.jpg")["Body"].read() == SAW
    r = requests.get(f"{imgd.endpoint}/{name}/saw.jpg", timeout=10)
    assert r.status_code == 403 and "x-oss-request-id" not in r.headers


def test_virtual_hosted_style(tmp_path):
    """With a configured domain, oss2's default addressing (bucket.<domain>) works. The
    requests go through imgd as an HTTP proxy, since *.img.test does not resolve."""
    server = Imgd(tmp_path / "data", env={"IMGD_DOMAIN": "img.test"}).start()
    try:
        server.client().create_bucket(Bucket="vhost")
        proxies = {"http": server.endpoint}
        b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), f"http://img.test:{server.port}", "vhost", proxies=proxies)
        b.put_object("dir/x.txt", b"virtual")
        assert b.get_object("dir/x.txt").read() == b"virtual"
        assert [o.key for o in oss2.ObjectIterator(b)] == ["dir/x.txt"]
        url = b.sign_url("GET", "dir/x.txt", 60)
        assert url.startswith(f"http://vhost.img.test:{server.port}/")
        r = requests.get(url, proxies=proxies, timeout=10)
        assert r.status_code == 200 and r.content == b"virtual"
        # Path style keeps working beside it.
        path_style = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.endpoint, "vhost")
        assert path_style.get_object("dir/x.txt").read() == b"virtual"
    finally:
        server.stop()


def test_big_put_and_get_keep_memory_flat(tmp_path):
    """PutObject streams the body into the store and GetObject streams it back: a
    256 MiB object moves through a server whose peak RSS stays far below that."""
    server = Imgd(tmp_path / "data").start()
    try:
        server.client().create_bucket(Bucket="big")
        # CRC checking off: oss2's pure-Python CRC-64 would dominate the test's time.
        b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.endpoint, "big", enable_crc=False)
        size = 256 * 1024 * 1024
        src = tmp_path / "big.bin"
        h = hashlib.md5()
        with open(src, "wb") as f:
            block = os.urandom(1024 * 1024)
            for _ in range(size // len(block)):
                f.write(block)
                h.update(block)
        result = b.put_object_from_file("big.bin", str(src))
        assert result.etag == h.hexdigest().upper()
        got = hashlib.md5()
        n = 0
        for chunk in b.get_object("big.bin"):
            got.update(chunk)
            n += len(chunk)
        assert n == size and got.hexdigest() == h.hexdigest()
        for line in open(f"/proc/{server.proc.pid}/status"):
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
        assert peak < 150, f"peak RSS {peak:.1f} MB"
    finally:
        server.stop()


def test_style_suffixes_resolve_on_the_oss_door_as_on_s3(imgd, name, bucket):
    # One resolution for every door: `object!style` in a bucket with style delimiters
    # renders the style, over oss2 as over S3 and delivery; a real key of that name wins.
    imgd.cli("style", "put", name, "ossthumb", "image/resize,w_64")
    imgd.cli("bucket", "style-delimiters", name, "!")
    styled = bucket.get_object("saw.jpg!ossthumb").read()
    assert width_of(styled) == 64
    assert bucket.head_object("saw.jpg!ossthumb").content_length == len(styled)
    s3 = imgd.client().get_object(Bucket=name, Key="saw.jpg!ossthumb")["Body"].read()
    assert width_of(s3) == 64
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object("saw.jpg!nosuchstyle").read()
    bucket.put_object("saw.jpg!literal", b"a real key")
    imgd.cli("style", "put", name, "literal", "image/resize,w_10")
    assert bucket.get_object("saw.jpg!literal").read() == b"a real key"


def test_chunked_put_of_unknown_length(bucket):
    # oss2 sends an iterable body with Transfer-Encoding: chunked and no Content-Length,
    # as S3 clients streaming an upload do; the OSS door stores it whole, like the S3 door.
    parts = [bytes([i]) * 70_000 for i in range(5)]
    result = bucket.put_object("chunked.bin", iter(parts))
    assert result.status == 200
    data = b"".join(parts)
    assert result.etag == hashlib.md5(data).hexdigest().upper()
    got = bucket.get_object("chunked.bin")
    assert got.content_length == len(data) and got.read() == data
