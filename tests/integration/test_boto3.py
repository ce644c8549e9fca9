"""boto3 with its defaults (CRC32 request checksums, SigV4), plus SigV2 and presigning."""
import base64
import datetime
import hashlib
import os
import zlib

import botocore
import pytest
import requests
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, SECRET_KEY, s3_client


def err_code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def test_put_get_head_with_default_crc32(imgd, s3, bucket):
    body = os.urandom(100_000)
    put = s3.put_object(
        Bucket=bucket,
        Key="dir/a.bin",
        Body=body,
        ContentType="image/png",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="a.bin"',
        ContentEncoding="identity",
        Metadata={"Owner": "alice", "x": "1"},
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    assert put.get("ChecksumCRC32") == crc

    got = s3.get_object(Bucket=bucket, Key="dir/a.bin")
    assert got["Body"].read() == body
    assert got["ContentType"] == "image/png"
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == 'attachment; filename="a.bin"'
    assert got["ContentEncoding"] == "identity"
    assert got["Metadata"] == {"owner": "alice", "x": "1"}
    # boto3 asks for checksums on GET by default; a client that does not ask gets none.
    quiet = imgd.client(response_checksum_validation="when_required")
    assert "ChecksumCRC32" not in quiet.get_object(Bucket=bucket, Key="dir/a.bin")
    assert "ChecksumCRC32" not in quiet.head_object(Bucket=bucket, Key="dir/a.bin")

    head = s3.head_object(Bucket=bucket, Key="dir/a.bin", ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(body)
    assert head["ChecksumCRC32"] == crc
    got = s3.get_object(Bucket=bucket, Key="dir/a.bin", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == crc
    assert got["Body"].read() == body


@pytest.mark.parametrize("algo", ["CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_other_checksum_algorithms_are_verified_and_stored(s3, bucket, algo):
    body = os.urandom(5000)
    s3.put_object(Bucket=bucket, Key=f"c-{algo}", Body=body, ChecksumAlgorithm=algo)
    head = s3.head_object(Bucket=bucket, Key=f"c-{algo}", ChecksumMode="ENABLED")
    assert head.get(f"Checksum{algo}"), head
    got = s3.get_object(Bucket=bucket, Key=f"c-{algo}", ChecksumMode="ENABLED")
    assert got["Body"].read() == body  # botocore validates the checksum it got back


def test_wrong_checksum_is_bad_digest_and_nothing_is_stored(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"hello", ChecksumCRC32="AAAAAA==")
    assert err_code(e.value) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"hello", ContentMD5=base64.b64encode(b"0" * 16).decode())
    assert err_code(e.value) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="bad")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_range_and_conditional_requests(s3, bucket):
    body = bytes(range(256)) * 40
    etag = s3.put_object(Bucket=bucket, Key="r", Body=body)["ETag"]
    part = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert part["Body"].read() == body[10:20]
    assert part["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    tail = s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")
    assert tail["Body"].read() == body[-5:]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={len(body) + 10}-")
    assert err_code(e.value) == "InvalidRange"

    assert s3.get_object(Bucket=bucket, Key="r", IfMatch=etag)["Body"].read() == body
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfMatch='"0000"')
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfNoneMatch=etag)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="r", IfModifiedSince=future)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    assert s3.head_object(Bucket=bucket, Key="r", IfModifiedSince=past)["ContentLength"] == len(body)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="r", IfUnmodifiedSince=past)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412


def test_conditional_put_if_none_match(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"


def test_list_v1_and_v2_with_delimiter_and_paging(s3, bucket):
    keys = ["a/1", "a/2", "a/b/3", "b/1", "c", "d e+f", "ü/x"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())

    v2 = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in v2.get("Contents", [])] == ["c", "d e+f"]
    assert [p["Prefix"] for p in v2["CommonPrefixes"]] == ["a/", "b/", "ü/"]
    assert v2["KeyCount"] == 5

    v2 = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in v2["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in v2["CommonPrefixes"]] == ["a/b/"]

    # Paging through everything two at a time returns each key once, in order.
    seen, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, MaxKeys=2, **kw)
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == sorted(keys, key=lambda k: k.encode())

    after = s3.list_objects_v2(Bucket=bucket, StartAfter="b/1")
    assert [o["Key"] for o in after["Contents"]] == ["c", "d e+f", "ü/x"]

    # v1 with Marker/NextMarker
    seen, marker = [], ""
    while True:
        page = s3.list_objects(Bucket=bucket, MaxKeys=3, Marker=marker)
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        marker = page.get("NextMarker") or page["Contents"][-1]["Key"]
    assert seen == sorted(keys, key=lambda k: k.encode())

    # encoding-type=url asked for explicitly: botocore hands back the encoded form.
    enc = s3.list_objects_v2(Bucket=bucket, EncodingType="url", Prefix="d")
    assert [o["Key"] for o in enc["Contents"]] == ["d%20e%2Bf"]


def test_list_object_versions_reports_null_versions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="v", Body=b"1")
    out = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in out["Versions"]] == [("v", "null", True)]
    res = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "v", "VersionId": "null"}]})
    assert [d["Key"] for d in res["Deleted"]] == ["v"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_copy_object_copy_and_replace_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", ContentType="text/plain", Metadata={"k": "v"})
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "src"})
    c = s3.get_object(Bucket=bucket, Key="copy")
    assert c["Body"].read() == b"payload"
    assert c["ContentType"] == "text/plain" and c["Metadata"] == {"k": "v"}

    s3.copy_object(
        Bucket=bucket,
        Key="replaced",
        CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="REPLACE",
        ContentType="application/json",
        Metadata={"new": "yes"},
    )
    r = s3.head_object(Bucket=bucket, Key="replaced")
    assert r["ContentType"] == "application/json" and r["Metadata"] == {"new": "yes"}

    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    assert err_code(e.value) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "missing"})
    assert err_code(e.value) == "NoSuchKey"


def test_delete_objects(s3, bucket):
    for k in ("d1", "d2", "d3"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    res = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d1"}, {"Key": "d2"}, {"Key": "nope"}]})
    assert sorted(d["Key"] for d in res["Deleted"]) == ["d1", "d2", "nope"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["d3"]
    s3.delete_object(Bucket=bucket, Key="d3")
    s3.delete_object(Bucket=bucket, Key="d3")  # deleting twice is fine, as in S3


def test_multipart_upload_copy_list_abort(s3, bucket):
    part1 = os.urandom(5 * 1024 * 1024)
    part2 = os.urandom(1234)
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="video/mp4", ChecksumAlgorithm="CRC32")
    uid = up["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=part1, ChecksumAlgorithm="CRC32")
    e2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=2, Body=part2, ChecksumAlgorithm="CRC32")
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2]
    uploads = s3.list_multipart_uploads(Bucket=bucket)
    assert [u["UploadId"] for u in uploads["Uploads"]] == [uid]

    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="mp", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1["ETag"]}, {"PartNumber": 3, "ETag": e2["ETag"]}]},
        )
    assert err_code(e.value) == "InvalidPart"

    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=uid,
        MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": e1["ETag"], "ChecksumCRC32": e1["ChecksumCRC32"]},
            {"PartNumber": 2, "ETag": e2["ETag"], "ChecksumCRC32": e2["ChecksumCRC32"]},
        ]},
    )
    md5s = hashlib.md5(hashlib.md5(part1).digest() + hashlib.md5(part2).digest()).hexdigest()
    assert done["ETag"] == f'"{md5s}-2"'
    got = s3.get_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert got["Body"].read() == part1 + part2
    assert got["ContentType"] == "video/mp4"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    # UploadPartCopy from a range of the finished object, then abort: parts are gone.
    up2 = s3.create_multipart_upload(Bucket=bucket, Key="mp2")["UploadId"]
    cp = s3.upload_part_copy(
        Bucket=bucket, Key="mp2", UploadId=up2, PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "mp"}, CopySourceRange="bytes=0-99",
    )
    assert cp["CopyPartResult"]["ETag"] == f'"{hashlib.md5(part1[:100]).hexdigest()}"'
    s3.abort_multipart_upload(Bucket=bucket, Key="mp2", UploadId=up2)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="mp2", UploadId=up2)
    assert err_code(e.value) == "NoSuchUpload"


def test_multipart_errors(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="m", UploadId=uid, PartNumber=10001, Body=b"x")
    assert err_code(e.value) == "InvalidArgument"
    small = s3.upload_part(Bucket=bucket, Key="m", UploadId=uid, PartNumber=1, Body=b"x" * 100)
    last = s3.upload_part(Bucket=bucket, Key="m", UploadId=uid, PartNumber=2, Body=b"y")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="m", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": small["ETag"]}, {"PartNumber": 2, "ETag": last["ETag"]}]},
        )
    assert err_code(e.value) == "EntityTooSmall"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="m", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": last["ETag"]}, {"PartNumber": 1, "ETag": small["ETag"]}]},
        )
    assert err_code(e.value) == "InvalidPartOrder"
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="m", UploadId="no-such-upload", PartNumber=1, Body=b"x")
    assert err_code(e.value) == "NoSuchUpload"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="m")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.mark.parametrize("version", ["s3", "s3v4"])
def test_presigned_get_and_put(imgd, bucket, version):
    c = imgd.client(signature_version=version)
    c.put_object(Bucket=bucket, Key="p.txt", Body=b"presigned!")
    url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p.txt"}, ExpiresIn=300)
    assert ("X-Amz-Signature" in url) == (version == "s3v4")
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"presigned!"
    assert requests.get(url.replace("p.txt", "q.txt"), timeout=10).status_code == 403

    put_url = c.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=300)
    r = requests.put(put_url, data=b"uploaded via url", timeout=10)
    assert r.status_code == 200, r.text
    assert c.get_object(Bucket=bucket, Key="up.txt")["Body"].read() == b"uploaded via url"


def test_default_presign_in_us_east_1_is_sigv2(imgd, bucket):
    c = s3_client(imgd.endpoint)
    c.put_object(Bucket=bucket, Key="k", Body=b"v2")
    plain = __import__("boto3").client(
        "s3", endpoint_url=imgd.endpoint, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
    )
    url = plain.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"v2"


def test_presigned_expiry_rules(imgd, bucket):
    c = imgd.client(signature_version="s3v4")
    c.put_object(Bucket=bucket, Key="k", Body=b"x")
    too_long = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=8 * 24 * 3600)
    r = requests.get(too_long, timeout=10)
    assert r.status_code == 400 and "AuthorizationQueryParametersError" in r.text
    expired = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=1)
    import time

    time.sleep(2.5)
    r = requests.get(expired, timeout=10)
    assert r.status_code == 403 and "AccessDenied" in r.text


def test_sigv2_header_auth_for_bucket_and_object_calls(imgd):
    c = imgd.client(signature_version="s3")
    name = "sigv2-bucket"
    c.create_bucket(Bucket=name)
    c.put_object(Bucket=name, Key="k", Body=b"v2 header")
    assert c.get_object(Bucket=name, Key="k")["Body"].read() == b"v2 header"
    c.delete_object(Bucket=name, Key="k")
    c.delete_bucket(Bucket=name)


def test_wrong_credentials_and_signatures(imgd, bucket):
    wrong_secret = s3_client(imgd.endpoint, secret_key="not-the-secret")
    with pytest.raises(ClientError) as e:
        wrong_secret.list_objects_v2(Bucket=bucket)
    assert err_code(e.value) == "SignatureDoesNotMatch"
    unknown = s3_client(imgd.endpoint, access_key="AKNOBODY")
    with pytest.raises(ClientError) as e:
        unknown.list_objects_v2(Bucket=bucket)
    assert err_code(e.value) == "InvalidAccessKeyId"
    anonymous = imgd.client(signature_version=botocore.UNSIGNED)
    with pytest.raises(ClientError) as e:
        anonymous.put_object(Bucket=bucket, Key="x", Body=b"x")
    assert err_code(e.value) == "AccessDenied"


def test_bucket_lifecycle_and_errors(s3):
    s3.create_bucket(Bucket="life-cycle")
    # us-east-1's legacy answer to re-creating one's own bucket is 200 (other regions:
    # BucketAlreadyOwnedByYou, see test_s3_conformance.py).
    assert s3.create_bucket(Bucket="life-cycle")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "life-cycle" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket="life-cycle")
    assert s3.get_bucket_location(Bucket="life-cycle").get("LocationConstraint") in (None, "")
    s3.put_object(Bucket="life-cycle", Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="life-cycle")
    assert err_code(e.value) == "BucketNotEmpty"
    s3.delete_object(Bucket="life-cycle", Key="k")
    s3.delete_bucket(Bucket="life-cycle")
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="life-cycle")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"x")
    assert err_code(e.value) == "NoSuchBucket"


def test_acl_public_read_serves_anonymous_reads_only(imgd, s3):
    s3.create_bucket(Bucket="pub-acl", ACL="public-read")
    s3.put_object(Bucket="pub-acl", Key="img.png", Body=b"png bytes", ContentType="image/png")
    r = requests.get(f"{imgd.endpoint}/pub-acl/img.png", timeout=10)
    assert r.status_code == 200 and r.content == b"png bytes"
    assert r.headers["Content-Type"] == "image/png"
    assert requests.head(f"{imgd.endpoint}/pub-acl/img.png", timeout=10).status_code == 200
    # public-read grants READ on the bucket, which is listing (S3's canned ACL).
    assert requests.get(f"{imgd.endpoint}/pub-acl", timeout=10).status_code == 200
    assert requests.put(f"{imgd.endpoint}/pub-acl/x", data=b"x", timeout=10).status_code == 403
    grants = s3.get_bucket_acl(Bucket="pub-acl")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") and g["Permission"] == "READ" for g in grants)
    assert s3.get_object_acl(Bucket="pub-acl", Key="img.png")["Grants"] == grants

    s3.put_bucket_acl(Bucket="pub-acl", ACL="private")
    assert requests.get(f"{imgd.endpoint}/pub-acl/img.png", timeout=10).status_code == 403
    s3.put_bucket_acl(Bucket="pub-acl", ACL="public-read")
    assert requests.get(f"{imgd.endpoint}/pub-acl/img.png", timeout=10).status_code == 200


def test_invalid_names_and_long_keys(imgd, s3, bucket):
    r = requests.put(f"{imgd.endpoint}/Bad_Bucket", timeout=10)
    assert r.status_code == 400 and "InvalidBucketName" in r.text
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert err_code(e.value) == "KeyTooLongError"
    s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"x")
