"""S3 semantics that clients rely on beyond the happy path (issue 12): bucket deletion with
pending uploads, anonymous listing of public-read buckets, chunked PUTs without
Content-Length, empty delimiters, re-creating buckets, error messages, repeated
completions, and listing/key edge cases."""
import hashlib
import pathlib
import subprocess
import uuid

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, SECRET_KEY, Imgd, metric, require_private_network, s3_client, tool

MIB = 1024 * 1024


def err(exc: ClientError) -> tuple[int, str, str]:
    e = exc.response["Error"]
    return exc.response["ResponseMetadata"]["HTTPStatusCode"], e.get("Code", ""), e.get("Message", "")


def new_name() -> str:
    return f"c-{uuid.uuid4().hex[:12]}"


def signed(method: str, url: str, payload_hash: str, data=None, headers=None, region="us-east-1"):
    """A SigV4 header-signed request sent by requests. `data` may be a generator, which
    requests sends with Transfer-Encoding: chunked and no Content-Length."""
    h = {"X-Amz-Content-SHA256": payload_hash, **(headers or {})}
    req = AWSRequest(method=method, url=url, headers=h)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", region).add_auth(req)
    return requests.request(method, url, headers=dict(req.headers.items()), data=data, timeout=30)


def blob_files(server) -> int:
    root = pathlib.Path(server.data_dir) / "blobs"
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


# ---- 1. DeleteBucket aborts pending uploads --------------------------------------------


def test_delete_bucket_aborts_pending_uploads_and_frees_their_parts(tmp_path):
    server = Imgd(tmp_path / "data").start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="only-uploads")
        before = blob_files(server)
        up = s3.create_multipart_upload(Bucket="only-uploads", Key="big.bin")["UploadId"]
        s3.upload_part(Bucket="only-uploads", Key="big.bin", UploadId=up, PartNumber=1, Body=b"x" * 1000)
        s3.upload_part(Bucket="only-uploads", Key="big.bin", UploadId=up, PartNumber=2, Body=b"y" * 10)
        assert blob_files(server) == before + 2

        s3.delete_bucket(Bucket="only-uploads")
        with pytest.raises(ClientError) as e:
            s3.head_bucket(Bucket="only-uploads")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        # The parts' blobs went with the upload.
        assert blob_files(server) == before
        # A bucket of the same name starts without the old upload.
        s3.create_bucket(Bucket="only-uploads")
        assert s3.list_multipart_uploads(Bucket="only-uploads").get("Uploads", []) == []
        with pytest.raises(ClientError) as e:
            s3.list_parts(Bucket="only-uploads", Key="big.bin", UploadId=up)
        assert err(e.value)[:2] == (404, "NoSuchUpload")

        # Objects still keep a bucket alive, uploads or not.
        s3.put_object(Bucket="only-uploads", Key="k", Body=b"v")
        s3.create_multipart_upload(Bucket="only-uploads", Key="k2")
        with pytest.raises(ClientError) as e:
            s3.delete_bucket(Bucket="only-uploads")
        status, code, message = err(e.value)
        assert (status, code) == (409, "BucketNotEmpty") and message
        assert s3.get_object(Bucket="only-uploads", Key="k")["Body"].read() == b"v"
        assert len(s3.list_multipart_uploads(Bucket="only-uploads")["Uploads"]) == 1
    finally:
        server.stop()


# ---- 2. Anonymous listing of public-read buckets -----------------------------------------


def test_anonymous_listing_of_public_read_bucket_only(imgd, s3):
    public, private = new_name(), new_name()
    s3.create_bucket(Bucket=public, ACL="public-read")
    s3.create_bucket(Bucket=private)
    for b in (public, private):
        s3.put_object(Bucket=b, Key="dir/a.png", Body=b"a")
    for query in ("", "?list-type=2", "?prefix=dir/&delimiter=/"):
        r = requests.get(f"{imgd.endpoint}/{public}{query}", timeout=10)
        assert r.status_code == 200, r.text
        assert "<ListBucketResult" in r.text
        assert ("dir/a.png" in r.text) or ("<Prefix>dir/</Prefix>" in r.text)
        r = requests.get(f"{imgd.endpoint}/{private}{query}", timeout=10)
        assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    # Listing is all that public-read adds: no anonymous writes, no upload listings.
    assert requests.put(f"{imgd.endpoint}/{public}/x", data=b"x", timeout=10).status_code == 403
    assert requests.get(f"{imgd.endpoint}/{public}?uploads", timeout=10).status_code == 403
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=public)["Contents"]] == ["dir/a.png"]


# ---- 3. Chunked PUT without Content-Length -----------------------------------------------


def chunks(data: bytes, size: int = 65536):
    def gen():
        for i in range(0, len(data), size):
            yield data[i:i + size]
    return gen()


@pytest.mark.parametrize("signed_payload", [False, True], ids=["unsigned-payload", "signed-payload"])
def test_chunked_put_without_content_length_is_stored_whole(imgd, s3, bucket, signed_payload):
    data = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes, in 64 KiB chunks
    payload = hashlib.sha256(data).hexdigest() if signed_payload else "UNSIGNED-PAYLOAD"
    r = signed("PUT", f"{imgd.endpoint}/{bucket}/chunked.bin", payload, data=chunks(data),
               headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="chunked.bin")
    assert got["ContentLength"] == len(data)
    assert got["Body"].read() == data


def test_chunked_put_naming_an_unknown_key_is_refused_without_spooling(imgd, s3, bucket):
    # The body is written to disk only for a key that exists: an unknown key's chunked
    # upload goes to s3s unspooled, which refuses it and stores nothing.
    spooled = metric(imgd, "imgd_s3_spooled_uploads_total")
    h = {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    url = f"{imgd.endpoint}/{bucket}/stranger.bin"
    req = AWSRequest(method="PUT", url=url, headers=h)
    SigV4Auth(Credentials("AKIDNOBODYKNOWS00000", "x" * 40), "s3", "us-east-1").add_auth(req)
    r = requests.put(url, headers=dict(req.headers.items()), data=chunks(b"q" * 100_000), timeout=30)
    assert r.status_code in (403, 411), r.text
    assert "<Message>" in r.text
    assert metric(imgd, "imgd_s3_spooled_uploads_total") == spooled
    # A known key's chunked upload is spooled (and counted).
    ok = signed("PUT", f"{imgd.endpoint}/{bucket}/known.bin", "UNSIGNED-PAYLOAD", data=chunks(b"k" * 1000))
    assert ok.status_code == 200, ok.text
    assert metric(imgd, "imgd_s3_spooled_uploads_total") == spooled + 1
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="stranger.bin")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_chunked_put_with_wrong_signed_hash_is_refused(imgd, s3, bucket):
    data = b"z" * 100_000
    r = signed("PUT", f"{imgd.endpoint}/{bucket}/bad.bin", hashlib.sha256(b"other").hexdigest(),
               data=chunks(data))
    assert r.status_code in (400, 403), r.text
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="bad.bin")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


# ---- 4. Empty delimiter ------------------------------------------------------------------


@pytest.mark.parametrize("list_type", ["", "&list-type=2"], ids=["v1", "v2"])
def test_empty_delimiter_is_no_delimiter(imgd, s3, bucket, list_type):
    for k in ("a/1", "a/2", "b"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    empty = hashlib.sha256(b"").hexdigest()
    r = signed("GET", f"{imgd.endpoint}/{bucket}?delimiter={list_type}", empty)
    assert r.status_code == 200, r.text
    assert "Delimiter" not in r.text
    assert "CommonPrefixes" not in r.text
    for k in ("a/1", "a/2", "b"):
        assert f"<Key>{k}</Key>" in r.text
    # A real delimiter is still echoed and applied.
    r = signed("GET", f"{imgd.endpoint}/{bucket}?delimiter=%2F{list_type}", empty)
    assert "<Delimiter>/</Delimiter>" in r.text and "<Prefix>a/</Prefix>" in r.text


# ---- 5. Re-creating a bucket -------------------------------------------------------------


def test_recreate_own_bucket_in_us_east_1_is_ok_and_keeps_it(imgd, s3):
    name = new_name()
    s3.create_bucket(Bucket=name, ACL="public-read")
    s3.put_object(Bucket=name, Key="k", Body=b"kept")
    again = s3.create_bucket(Bucket=name)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"kept"
    # The stored ACL is not reset by the repeat.
    assert requests.get(f"{imgd.endpoint}/{name}/k", timeout=10).status_code == 200


def test_recreate_own_bucket_elsewhere_is_already_owned(tmp_path):
    server = Imgd(tmp_path / "data", env={"IMGD_REGION": "eu-west-3"}).start()
    try:
        s3 = boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name="eu-west-3",
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        conf = {"LocationConstraint": "eu-west-3"}
        s3.create_bucket(Bucket="twice", CreateBucketConfiguration=conf)
        with pytest.raises(ClientError) as e:
            s3.create_bucket(Bucket="twice", CreateBucketConfiguration=conf)
        status, code, message = err(e.value)
        assert (status, code) == (409, "BucketAlreadyOwnedByYou") and "own" in message
    finally:
        server.stop()


def test_extra_key_creating_existing_bucket_is_already_exists(imgd, s3):
    name = new_name()
    s3.create_bucket(Bucket=name)
    out = imgd.cli("key", "create", "--bucket", f"{name}:read-write").stdout
    vals = dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)
    other = s3_client(imgd.endpoint, access_key=vals["access_key"], secret_key=vals["secret_key"])
    # The bucket is the root account's, so to another key it is someone else's.
    with pytest.raises(ClientError) as e:
        other.create_bucket(Bucket=name)
    status, code, message = err(e.value)
    assert (status, code) == (409, "BucketAlreadyExists") and "not available" in message
    # A new bucket is not the key's to create.
    with pytest.raises(ClientError) as e:
        other.create_bucket(Bucket=new_name())
    assert err(e.value)[:2] == (403, "AccessDenied")
    assert other.list_objects_v2(Bucket=name)["KeyCount"] == 0


# ---- 6. Error messages -------------------------------------------------------------------


@pytest.mark.parametrize("name,rule", [
    ("AB", "3 to 63"),
    ("Upper-case", "'U'"),
    ("under_score", "'_'"),
    ("-lead", "begin and end"),
    ("a..b", "adjacent dots"),
    ("192.168.1.1", "IP address"),
])
def test_invalid_bucket_name_says_which_rule(imgd, s3, name, rule):
    # One name is a private IP address; a client addressing buckets by host could try
    # to reach it, so this runs only where nothing but loopback exists.
    require_private_network()
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name)
    status, code, message = err(e.value)
    assert (status, code) == (400, "InvalidBucketName")
    assert rule in message and "lower-case letters" in message, message


def test_aws_cli_prints_the_message_not_unknown(imgd):
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
           "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "PATH": "/usr/bin:/bin"}
    p = subprocess.run([tool("aws"), "--endpoint-url", imgd.endpoint, "s3api", "create-bucket",
                        "--bucket", "AB"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "InvalidBucketName" in p.stderr
    assert "Unknown" not in p.stderr and "3 to 63" in p.stderr, p.stderr


def test_every_error_document_has_a_message(imgd, s3, bucket):
    def message_of(call):
        with pytest.raises(ClientError) as e:
            call()
        return err(e.value)

    cases = [
        lambda: s3.get_object(Bucket=bucket, Key="missing"),
        lambda: s3.get_object(Bucket="no-such-bucket-zz", Key="k"),
        lambda: s3.delete_bucket(Bucket="no-such-bucket-zz"),
        lambda: s3.list_parts(Bucket=bucket, Key="k", UploadId="nope"),
        lambda: s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x"),
        lambda: s3.list_objects_v2(Bucket=bucket, ContinuationToken="!!!"),
        lambda: s3.create_bucket(Bucket=bucket, ACL="authenticated-read"),
    ]
    for call in cases:
        status, code, message = message_of(call)
        assert code and message and message != "Unknown", (status, code, message)


# ---- 7. Repeated CompleteMultipartUpload -------------------------------------------------


def test_repeated_complete_answers_the_same(imgd, s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp.bin")["UploadId"]
    p1 = s3.upload_part(Bucket=bucket, Key="mp.bin", UploadId=up, PartNumber=1, Body=b"a" * (5 * MIB))
    p2 = s3.upload_part(Bucket=bucket, Key="mp.bin", UploadId=up, PartNumber=2, Body=b"tail")
    parts = {"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]}
    first = s3.complete_multipart_upload(Bucket=bucket, Key="mp.bin", UploadId=up, MultipartUpload=parts)
    again = s3.complete_multipart_upload(Bucket=bucket, Key="mp.bin", UploadId=up, MultipartUpload=parts)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert again["ETag"] == first["ETag"] and first["ETag"].endswith('-2"')
    assert again["Location"] == first["Location"]
    head = s3.head_object(Bucket=bucket, Key="mp.bin")
    assert head["ContentLength"] == 5 * MIB + 4 and head["ETag"] == first["ETag"]

    # A different part list, another key or an unknown id is still NoSuchUpload.
    other = {"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}]}
    for key, upload_id, listed in (("mp.bin", up, other), ("other.bin", up, parts),
                                   ("mp.bin", "0" * 32, parts)):
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload=listed)
        assert err(e.value)[:2] == (404, "NoSuchUpload")
    # The upload itself is gone: no parts, no listing.
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="mp.bin", UploadId=up)
    assert err(e.value)[:2] == (404, "NoSuchUpload")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


# ---- Listing and key edge cases (regression guards; these already held) ----------------

SPECIAL_KEYS = ["a+b", "a b", "100%", "what?", "ünï/cødé", "x//y", "//lead", "k#frag", "semi;colon",
                "amp&er", "eq=ual", "emoji😀", ".", "..", "a/../b", "tab\tkey", "trail ", "<tag>"]


def test_special_keys_round_trip_and_list_in_byte_order(imgd, s3, bucket):
    for k in SPECIAL_KEYS:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode(), k
    byte_order = sorted(SPECIAL_KEYS, key=str.encode)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == byte_order
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == byte_order
    # Page by page, one key at a time, nothing lost or repeated.
    seen, token = [], None
    while True:
        page = s3.list_objects_v2(Bucket=bucket, MaxKeys=1, **({"ContinuationToken": token} if token else {}))
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == byte_order
    s3.copy_object(Bucket=bucket, Key="copy+of 100%?", CopySource={"Bucket": bucket, "Key": "a+b"})
    assert s3.get_object(Bucket=bucket, Key="copy+of 100%?")["Body"].read() == b"a+b"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "x//y"})
    assert requests.get(url, timeout=10).content == b"x//y"


def test_listing_bounds(imgd, s3, bucket):
    for k in ("a", "b/1", "b//2", "ü"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    zero = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert zero["KeyCount"] == 0 and "Contents" not in zero
    # Markers beyond the end: nothing, not truncated. "ü" sorts after "z" bytewise.
    past = s3.list_objects_v2(Bucket=bucket, StartAfter="z")
    assert [o["Key"] for o in past["Contents"]] == ["ü"] and not past["IsTruncated"]
    end = s3.list_objects(Bucket=bucket, Marker="\U0010ffff")
    assert "Contents" not in end and not end["IsTruncated"]
    # A doubled slash is one more level under the delimiter.
    inner = s3.list_objects_v2(Bucket=bucket, Prefix="b/", Delimiter="/")
    assert [o["Key"] for o in inner["Contents"]] == ["b/1"]
    assert [p["Prefix"] for p in inner["CommonPrefixes"]] == ["b//"]
    assert s3.list_objects_v2(Bucket=bucket, MaxKeys=5000)["MaxKeys"] == 1000
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, MaxKeys=-1)
    assert err(e.value)[:2] == (400, "InvalidArgument")


def test_anonymous_listing_with_a_policy_is_what_the_policy_grants(imgd, s3):
    import json
    name = new_name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="a.png", Body=b"a")
    read_only = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/*"}]}
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(read_only))
    assert requests.get(f"{imgd.endpoint}/{name}/a.png", timeout=10).status_code == 200
    # The policy's GetObject grant makes the bucket public-read, but listing was not granted.
    assert requests.get(f"{imgd.endpoint}/{name}?list-type=2", timeout=10).status_code == 403
    with_list = {"Version": "2012-10-17", "Statement": read_only["Statement"] + [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{name}"}]}
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(with_list))
    r = requests.get(f"{imgd.endpoint}/{name}?list-type=2", timeout=10)
    assert r.status_code == 200 and "<Key>a.png</Key>" in r.text
    s3.delete_bucket_policy(Bucket=name)
    assert requests.get(f"{imgd.endpoint}/{name}?list-type=2", timeout=10).status_code == 403


# ---- Ranges the kernel cannot read ---------------------------------------------------------


@pytest.mark.parametrize("spec", ["bytes=0-1,5-6", "bytes=abc", "bytes=5-2", "items=0-1"])
def test_unreadable_ranges_on_presigned_gets_send_the_whole_object(imgd, s3, bucket, spec):
    # Several ranges, another unit or a malformed spec are ignored, as S3 (for multiple
    # ranges) and RFC 9110 allow; s3s alone answered 400 InvalidArgument.
    s3.put_object(Bucket=bucket, Key="digits", Body=b"0123456789")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "digits"}, ExpiresIn=300)
    r = requests.get(url, headers={"Range": spec}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.content == b"0123456789" and "Content-Range" not in r.headers
    # A range the parser reads is still honoured.
    r = requests.get(url, headers={"Range": "bytes=-3"}, timeout=10)
    assert r.status_code == 206 and r.content == b"789"
    assert r.headers["Content-Range"] == "bytes 7-9/10"
