"""OSS signature version 4 (`OSS4-HMAC-SHA256`) on the OSS door, driven by the newer
`alibabacloud-oss-v2` SDK (whose default it is) and by `oss2`'s `AuthV4`, against the
release binary: bucket creation, put, get with `x-oss-process`, ListObjectsV2 pages, head
with metadata, presigned URLs fetched by plain `requests`, and the refusals (wrong secret,
unknown key, skewed clock, expired link, signed payload). Every request the v2 SDK sends
is recorded, so each test also checks that it really was V4-signed.

The signing arithmetic itself is checked against the signer's published vectors in
crates/signing/src/oss/v4/tests.rs."""
import datetime
import hashlib
import io
import re
import time
import urllib.parse
import uuid

import alibabacloud_oss_v2 as oss
import oss2
import pytest
import requests
from botocore.exceptions import ClientError
from PIL import Image

from conftest import ACCESS_KEY, CORPUS, SECRET_KEY, Imgd

SAW = (CORPUS / "2569067123_aca715a2ee_o.jpg").read_bytes()
# Any region signs: imgd is one endpoint and does not compare the credential's region.
REGION = "cn-hangzhou"


class Recording(oss.transport.RequestsHttpClient):
    """The SDK's own HTTP client, noting each request's method, URL and Authorization."""

    def __init__(self):
        super().__init__()
        self.sent = []

    def send(self, request, **kwargs):
        self.sent.append((request.method, request.url, request.headers.get("Authorization")))
        return super().send(request, **kwargs)


def v2_client(endpoint: str, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY):
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(access_key, secret_key)
    cfg.region = REGION
    cfg.endpoint = endpoint
    cfg.retry_max_attempts = 1
    cfg.http_client = Recording()
    client = oss.Client(cfg)
    client.recorder = cfg.http_client
    return client


def assert_all_v4(client, since: int = 0):
    sent = client.recorder.sent[since:]
    assert sent
    for method, url, auth in sent:
        assert auth and auth.startswith(f"OSS4-HMAC-SHA256 Credential={ACCESS_KEY}/"), (method, url, auth)
        assert f"/{REGION}/oss/aliyun_v4_request" in auth


def service_error(excinfo) -> oss.exceptions.ServiceError:
    err = excinfo.value
    while not isinstance(err, oss.exceptions.ServiceError):
        err = err.unwrap()
    return err


def xml_code(r: requests.Response) -> str:
    m = re.search(r"<Code>([^<]*)</Code>", r.text)
    return m.group(1) if m else ""


def width_of(data: bytes) -> int:
    return Image.open(io.BytesIO(data)).size[0]


@pytest.fixture(scope="module")
def client(imgd):
    return v2_client(imgd.endpoint)


@pytest.fixture(scope="module")
def name(client, imgd):
    bucket = f"v4-{uuid.uuid4().hex[:10]}"
    result = client.put_bucket(oss.PutBucketRequest(bucket=bucket))
    assert result.status_code == 200
    # Created for every door: the S3 API sees it.
    assert any(b["Name"] == bucket for b in imgd.client().list_buckets()["Buckets"])
    assert_all_v4(client)
    return bucket


def test_put_then_get_and_head_with_metadata(client, name, imgd):
    since = len(client.recorder.sent)
    body = b"hello, v4"
    put = client.put_object(oss.PutObjectRequest(
        bucket=name, key="dir/hello v4+.txt", body=body, content_type="text/plain",
        metadata={"author": "Ada"}))
    assert put.status_code == 200
    assert put.etag.strip('"') == hashlib.md5(body).hexdigest().upper()

    got = client.get_object(oss.GetObjectRequest(bucket=name, key="dir/hello v4+.txt"))
    assert got.body.read() == body
    assert got.content_type == "text/plain"
    assert got.metadata["author"] == "Ada"
    head = client.head_object(oss.HeadObjectRequest(bucket=name, key="dir/hello v4+.txt"))
    assert head.content_length == len(body)
    assert head.metadata["author"] == "Ada"
    # Stored for every door: S3 reads the same bytes and metadata.
    s3 = imgd.client().get_object(Bucket=name, Key="dir/hello v4+.txt")
    assert s3["Body"].read() == body
    assert s3["Metadata"] == {"author": "Ada"}
    assert_all_v4(client, since)


def test_get_with_process(client, name):
    since = len(client.recorder.sent)
    client.put_object(oss.PutObjectRequest(bucket=name, key="saw.jpg", body=SAW, content_type="image/jpeg"))
    got = client.get_object(oss.GetObjectRequest(bucket=name, key="saw.jpg", process="image/resize,w_100"))
    data = got.body.read()
    assert width_of(data) == 100
    assert got.content_type == "image/jpeg"
    # The process string is a signed query parameter: sent, and rendered.
    assert any("x-oss-process=image%2Fresize%2Cw_100" in url for _, url, _ in client.recorder.sent[since:])
    webp = client.get_object(oss.GetObjectRequest(bucket=name, key="saw.jpg",
                                                  process="image/resize,w_64/format,webp"))
    assert webp.content_type == "image/webp"
    assert width_of(webp.body.read()) == 64
    assert_all_v4(client, since)


def test_list_objects_v2_pages(client, name):
    keys = [f"list/{i:02d} é+&=.txt" for i in range(5)]
    for key in keys:
        client.put_object(oss.PutObjectRequest(bucket=name, key=key, body=key.encode()))
    since = len(client.recorder.sent)
    paginator = client.list_objects_v2_paginator(limit=2)
    seen, pages = [], 0
    for page in paginator.iter_page(oss.ListObjectsV2Request(bucket=name, prefix="list/")):
        pages += 1
        seen.extend(o.key for o in page.contents or [])
    assert seen == sorted(keys)
    assert pages == 3
    # Later pages carry the continuation token, signed like every other parameter.
    assert sum("continuation-token=" in url for _, url, _ in client.recorder.sent[since:]) == 2

    listed = client.list_objects_v2(oss.ListObjectsV2Request(bucket=name, prefix="list/", delimiter="/",
                                                             start_after=sorted(keys)[2]))
    assert [o.key for o in listed.contents] == sorted(keys)[3:]
    assert_all_v4(client, since)


def test_non_ascii_metadata_round_trips(client, name):
    # The SDK sends a str header as ISO-8859-1 and signs its UTF-8 form, as oss2 does.
    client.put_object(oss.PutObjectRequest(bucket=name, key="meta.txt", body=b"m", metadata={"city": "Zürich é"}))
    head = client.head_object(oss.HeadObjectRequest(bucket=name, key="meta.txt"))
    # OSS answers UTF-8 bytes, which Python's HTTP stack reads as ISO-8859-1.
    assert head.metadata["city"].encode("latin-1").decode("utf-8") == "Zürich é"


def test_presigned_get_with_process(client, name):
    client.put_object(oss.PutObjectRequest(bucket=name, key="p/saw.jpg", body=SAW))
    signed = client.presign(oss.GetObjectRequest(bucket=name, key="p/saw.jpg", process="image/resize,w_80"),
                            expires=datetime.timedelta(minutes=10))
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(signed.url).query))
    assert query["x-oss-signature-version"] == "OSS4-HMAC-SHA256"
    # Relative to x-oss-date; the SDK reads the clock twice, so 599 or 600.
    assert int(query["x-oss-expires"]) in (599, 600)
    r = requests.get(signed.url, timeout=30)
    assert r.status_code == 200, r.text
    assert width_of(r.content) == 80
    # Cached no longer than the link lives.
    max_age = int(re.search(r"max-age=(\d+)", r.headers["Cache-Control"]).group(1))
    assert 0 < max_age <= 600

    # Another process string, or another method, is not what was signed.
    tampered = signed.url.replace("w_80", "w_81")
    r = requests.get(tampered, timeout=30)
    assert (r.status_code, xml_code(r)) == (403, "SignatureDoesNotMatch")
    assert "<CanonicalRequest>" in r.text
    r = requests.delete(signed.url, timeout=30)
    assert r.status_code == 403
    assert client.head_object(oss.HeadObjectRequest(bucket=name, key="p/saw.jpg")).content_length == len(SAW)


def test_presigned_put(client, name, imgd):
    signed = client.presign(oss.PutObjectRequest(bucket=name, key="p/put.txt", content_type="text/plain"),
                            expires=datetime.timedelta(minutes=5))
    assert signed.method == "PUT"
    r = requests.put(signed.url, data=b"presigned body", headers=signed.signed_headers, timeout=30)
    assert r.status_code == 200, r.text
    got = imgd.client().get_object(Bucket=name, Key="p/put.txt")
    assert got["Body"].read() == b"presigned body"
    assert got["ContentType"] == "text/plain"
    # The content type is signed: sending another one is refused, and stores nothing new.
    r = requests.put(signed.url, data=b"other", headers={"Content-Type": "image/png"}, timeout=30)
    assert (r.status_code, xml_code(r)) == (403, "SignatureDoesNotMatch")
    assert imgd.client().get_object(Bucket=name, Key="p/put.txt")["Body"].read() == b"presigned body"


def test_oss2_auth_v4_puts_and_reads(imgd, name):
    # oss2 writes its V4 header fields in another order (Credential, Signature,
    # AdditionalHeaders) and signs the query from decoded values.
    b = oss2.Bucket(oss2.AuthV4(ACCESS_KEY, SECRET_KEY), imgd.endpoint, name, region=REGION)
    b.put_object("oss2/v4.jpg", SAW, headers={"x-oss-meta-via": "oss2"})
    assert b.get_object("oss2/v4.jpg").read() == SAW
    processed = b.get_object("oss2/v4.jpg", process="image/resize,w_50").read()
    assert width_of(processed) == 50
    assert b.head_object("oss2/v4.jpg").headers["x-oss-meta-via"] == "oss2"
    assert [o.key for o in oss2.ObjectIteratorV2(b, prefix="oss2/")] == ["oss2/v4.jpg"]
    url = b.sign_url("GET", "oss2/v4.jpg", 300, params={"x-oss-process": "image/resize,w_40"})
    assert "x-oss-signature-version=OSS4-HMAC-SHA256" in url
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert width_of(r.content) == 40


def test_wrong_secret_and_unknown_key(imgd, name):
    bad = v2_client(imgd.endpoint, secret_key="not-the-secret")
    with pytest.raises(oss.exceptions.OperationError) as e:
        bad.put_object(oss.PutObjectRequest(bucket=name, key="refused.txt", body=b"x"))
    err = service_error(e)
    assert (err.status_code, err.code) == (403, "SignatureDoesNotMatch")
    assert_all_v4(bad)
    unknown = v2_client(imgd.endpoint, access_key="NOSUCHKEY0000000")
    with pytest.raises(oss.exceptions.OperationError) as e:
        unknown.get_object(oss.GetObjectRequest(bucket=name, key="saw.jpg"))
    assert (service_error(e).status_code, service_error(e).code) == (403, "InvalidAccessKeyId")
    # Nothing was stored by the refused put.
    with pytest.raises(ClientError) as e:
        imgd.client().head_object(Bucket=name, Key="refused.txt")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_signed_payload_is_refused(imgd, name):
    # OSS never signs bodies; a hash in x-oss-content-sha256 is refused before the key is
    # looked up (this key does not exist), with OSS's XML.
    date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    r = requests.put(f"{imgd.endpoint}/{name}/hashed.txt", data=b"x", timeout=30, headers={
        "x-oss-date": date,
        "x-oss-content-sha256": hashlib.sha256(b"x").hexdigest(),
        "Authorization": f"OSS4-HMAC-SHA256 Credential=NOBODY/{date[:8]}/{REGION}/oss/aliyun_v4_request,"
                         f"Signature={'0' * 64}",
    })
    assert (r.status_code, xml_code(r)) == (400, "InvalidArgument")
    assert "UNSIGNED-PAYLOAD" in r.text
    r = requests.get(f"{imgd.endpoint}/{name}/saw.jpg", timeout=30, headers={
        "x-oss-date": date, "Authorization": "OSS4-HMAC-SHA256 Credential=broken,Signature=00"})
    assert (r.status_code, xml_code(r)) == (400, "InvalidArgument")


@pytest.fixture(scope="module")
def ahead(tmp_path_factory):
    """An imgd whose clock runs an hour ahead of the machine's (the SDKs sign with the
    machine's)."""
    server = Imgd(tmp_path_factory.mktemp("v4-ahead") / "data",
                  env={"IMGD_CLOCK_START": str(int(time.time()) + 3600)}).start()
    yield server
    server.stop()


def test_skewed_clock_and_expired_links(ahead):
    client = v2_client(ahead.endpoint)
    with pytest.raises(oss.exceptions.OperationError) as e:
        client.put_bucket(oss.PutBucketRequest(bucket=f"v4-{uuid.uuid4().hex[:8]}"))
    assert (service_error(e).status_code, service_error(e).code) == (403, "RequestTimeTooSkewed")
    # A ten-minute link signed now ended before the server's "now"; it says so before
    # anything else (the bucket does not even exist there).
    signed = client.presign(oss.GetObjectRequest(bucket="nowhere", key="k.jpg"),
                            expires=datetime.timedelta(minutes=10))
    r = requests.get(signed.url, timeout=30)
    assert (r.status_code, xml_code(r)) == (403, "AccessDenied")
    assert "Request has expired." in r.text
    # A two-hour link is still valid by that clock: it gets as far as the object.
    signed = client.presign(oss.GetObjectRequest(bucket="nowhere", key="k.jpg"),
                            expires=datetime.timedelta(hours=2))
    r = requests.get(signed.url, timeout=30)
    assert (r.status_code, xml_code(r)) == (404, "NoSuchBucket")


def test_multipart_upload_with_v4(client, name, imgd):
    part_size = 5 * 1024 * 1024
    data = (SAW * (2 * part_size // len(SAW) + 2))[: 2 * part_size + 1234]
    init = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=name, key="mp/big.bin"))
    parts = []
    for number, start in enumerate(range(0, len(data), part_size), start=1):
        up = client.upload_part(oss.UploadPartRequest(bucket=name, key="mp/big.bin", upload_id=init.upload_id,
                                                      part_number=number, body=data[start:start + part_size]))
        parts.append(oss.UploadPart(part_number=number, etag=up.etag))
    done = client.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
        bucket=name, key="mp/big.bin", upload_id=init.upload_id,
        complete_multipart_upload=oss.CompleteMultipartUpload(parts=parts)))
    assert done.status_code == 200
    assert client.get_object(oss.GetObjectRequest(bucket=name, key="mp/big.bin")).body.read() == data
    assert imgd.client().head_object(Bucket=name, Key="mp/big.bin")["ContentLength"] == len(data)
    assert_all_v4(client)
