"""S3 bucket CORS (rules, preflights, response headers), bucket policies (the public-read
and public-list statements), object ownership controls, and the versioning answers.

Each test checks the status and error code a client sees and the state imgd stored (the
bucket's settings document in the metadata database, or the delivery policy the CLI
reports)."""
import hashlib
import json
import pathlib
import re
import sqlite3
import uuid

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, SECRET_KEY, s3_client

ORIGIN = "https://app.example.com"


def err(e: ClientError) -> tuple[int, str, str]:
    r = e.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"].get("Message", "")


def code_of(r: requests.Response) -> str | None:
    m = re.search(r"<Code>([^<]+)</Code>", r.text)
    return m.group(1) if m else None


def stored_settings(imgd, bucket: str) -> dict:
    """The bucket's settings document as the store wrote it."""
    for path in pathlib.Path(imgd.data_dir).rglob("*"):
        if not path.is_file() or path.suffix in (".log",):
            continue
        with open(path, "rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                continue
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT settings FROM buckets WHERE name = ?", (bucket,)).fetchone()
        except sqlite3.Error:
            continue
        finally:
            db.close()
        if row:
            return json.loads(row[0])
    raise AssertionError(f"no settings stored for {bucket}")


def delivery(imgd, bucket: str) -> str:
    out = imgd.cli("bucket", "policy", bucket).stdout
    return re.search(r"delivery\s+=\s+(\S+)", out).group(1)


def signed(imgd, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> requests.Response:
    """A SigV4-signed raw request, for bodies boto3 would not send."""
    url = f"{imgd.endpoint}{path}"
    headers = {**(headers or {}), "x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(req)
    return requests.request(method, url, data=body, headers=dict(req.headers), timeout=10)


def cors_rules():
    return [
        {
            "ID": "uploads",
            "AllowedOrigins": ["https://*.example.com"],
            "AllowedMethods": ["PUT", "POST"],
            "AllowedHeaders": ["Content-Type", "x-amz-*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 600,
        },
        {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"], "ExposeHeaders": ["ETag", "Content-Length"]},
    ]


@pytest.fixture
def cors_bucket(s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": cors_rules()})
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"hello")
    return bucket


def test_cors_rules_round_trip_and_delete(imgd, s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert err(e.value)[:2] == (404, "NoSuchCORSConfiguration")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": cors_rules()})
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got == cors_rules()
    stored = stored_settings(imgd, bucket)["cors"]
    assert [r["allowed_methods"] for r in stored] == [["PUT", "POST"], ["GET", "HEAD"]]
    assert stored[0]["max_age_secs"] == 600
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert err(e.value)[:2] == (404, "NoSuchCORSConfiguration")
    assert "cors" not in stored_settings(imgd, bucket)
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket="no-such-bucket-cors", CORSConfiguration={"CORSRules": cors_rules()})
    assert err(e.value)[:2] == (404, "NoSuchBucket")


@pytest.mark.parametrize(
    "rule, code, words",
    [
        ({"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}, "InvalidRequest", "PATCH"),
        ({"AllowedOrigins": ["https://*.*.example.com"], "AllowedMethods": ["GET"]}, "InvalidRequest", "more than one wildcard"),
        ({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*-*"]}, "InvalidRequest", "more than one wildcard"),
        ({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["*"]}, "InvalidRequest", "wildcard"),
        ({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "MaxAgeSeconds": -1}, "InvalidRequest", "MaxAgeSeconds"),
    ],
)
def test_cors_bad_rules_are_refused(imgd, s3, bucket, rule, code, words):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
    status, got, message = err(e.value)
    assert (status, got) == (400, code)
    assert words in message
    assert "cors" not in stored_settings(imgd, bucket)


def test_cors_configuration_without_methods_or_origins_is_malformed(imgd, bucket):
    body = (
        b'<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>"
    )
    r = signed(imgd, "PUT", f"/{bucket}?cors", body, {"Content-Type": "application/xml"})
    assert r.status_code == 400, r.text
    assert code_of(r) == "MalformedXML"
    no_origin = (
        b'<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>"
    )
    empty = b'<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></CORSConfiguration>'
    for body in (no_origin, empty):
        r = signed(imgd, "PUT", f"/{bucket}?cors", body, {"Content-Type": "application/xml"})
        assert (r.status_code, code_of(r)) == (400, "MalformedXML"), r.text
    assert "cors" not in stored_settings(imgd, bucket)


def test_at_most_100_cors_rules(imgd, s3, bucket):
    rule = {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule] * 101})
    assert err(e.value)[:2] == (400, "MalformedXML")
    assert "cors" not in stored_settings(imgd, bucket)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule] * 100})
    assert len(stored_settings(imgd, bucket)["cors"]) == 100


def test_preflight_answered_from_the_rules(imgd, cors_bucket):
    url = f"{imgd.endpoint}/{cors_bucket}/a.txt"
    r = requests.options(
        url,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type, x-amz-date",
        },
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert r.headers["Access-Control-Allow-Methods"] == "PUT, POST"
    assert r.headers["Access-Control-Allow-Headers"] == "content-type, x-amz-date"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag"
    assert r.headers["Access-Control-Max-Age"] == "600"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in r.headers["Vary"]
    # The any-origin rule answers `*`.
    r = requests.options(url, headers={"Origin": "https://elsewhere.test", "Access-Control-Request-Method": "GET"}, timeout=10)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Methods"] == "GET, HEAD"
    # No rule allows PUT from there, nor a header the rule does not list.
    for headers in (
        {"Origin": "https://elsewhere.test", "Access-Control-Request-Method": "PUT"},
        {"Origin": ORIGIN, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "x-custom"},
    ):
        r = requests.options(url, headers=headers, timeout=10)
        assert (r.status_code, code_of(r)) == (403, "AccessForbidden"), r.text
        assert "Access-Control-Allow-Origin" not in r.headers
    # S3's 400s: no Origin, no or an unknown requested method.
    r = requests.options(url, headers={"Access-Control-Request-Method": "GET"}, timeout=10)
    assert (r.status_code, code_of(r)) == (400, "BadRequest")
    assert "Origin request header needed" in r.text
    r = requests.options(url, headers={"Origin": ORIGIN}, timeout=10)
    assert (r.status_code, code_of(r)) == (400, "BadRequest")
    r = requests.options(url, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "PATCH"}, timeout=10)
    assert (r.status_code, code_of(r)) == (400, "BadRequest")


def test_preflight_without_rules_or_bucket(imgd, s3, bucket):
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    r = requests.options(f"{imgd.endpoint}/{bucket}/a.txt", headers=preflight, timeout=10)
    assert (r.status_code, code_of(r)) == (403, "AccessForbidden")
    assert "CORS is not enabled for this bucket" in r.text
    r = requests.options(f"{imgd.endpoint}/no-such-bucket-cors/a.txt", headers=preflight, timeout=10)
    assert (r.status_code, code_of(r)) == (404, "NoSuchBucket")


def test_preflight_on_presigned_urls(imgd, s3, cors_bucket):
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": cors_bucket, "Key": "up.txt"}, ExpiresIn=300)
    r = requests.options(put_url, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "PUT"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    # Without Origin S3 answers 400, not the 403 a signature check would give.
    r = requests.options(put_url, timeout=10)
    assert (r.status_code, code_of(r)) == (400, "BadRequest"), r.text


def test_cors_headers_on_actual_responses(imgd, s3, cors_bucket):
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": cors_bucket, "Key": "up.txt"}, ExpiresIn=300)
    r = requests.put(put_url, data=b"from a browser", headers={"Origin": ORIGIN}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert r.headers["Access-Control-Expose-Headers"] == "ETag"
    assert "Origin" in r.headers["Vary"]
    assert s3.get_object(Bucket=cors_bucket, Key="up.txt")["Body"].read() == b"from a browser"

    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": cors_bucket, "Key": "up.txt"}, ExpiresIn=300)
    r = requests.get(get_url, headers={"Origin": "https://elsewhere.test"}, timeout=10)
    assert r.status_code == 200 and r.content == b"from a browser"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag, Content-Length"
    assert "Origin" in r.headers["Vary"]

    head_url = s3.generate_presigned_url("head_object", Params={"Bucket": cors_bucket, "Key": "up.txt"}, ExpiresIn=300)
    r = requests.head(head_url, headers={"Origin": ORIGIN}, timeout=10)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"

    # A presigned PUT from an origin no PUT rule allows still works (CORS is the
    # browser's check), but carries no permission, only Vary.
    r = requests.put(put_url, data=b"x", headers={"Origin": "https://elsewhere.test"}, timeout=10)
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers
    assert "Origin" in r.headers["Vary"]
    # Without Origin nothing is added.
    r = requests.get(get_url, timeout=10)
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers


def test_no_cors_headers_without_rules(imgd, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a.txt"}, ExpiresIn=300)
    r = requests.get(url, headers={"Origin": ORIGIN}, timeout=10)
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers and "Vary" not in r.headers


def mc_download(bucket: str) -> str:
    """What `mc anonymous set download` writes."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": ["*"]},
                    "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
                    "Resource": [f"arn:aws:s3:::{bucket}"],
                },
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": ["*"]},
                    "Action": ["s3:GetObject"],
                    "Resource": [f"arn:aws:s3:::{bucket}/*"],
                },
            ],
        }
    )


def test_public_read_policy_makes_the_bucket_public_until_deleted(imgd, s3, bucket):
    s3.put_object(Bucket=bucket, Key="cat.txt", Body=b"meow")
    anonymous = f"{imgd.endpoint}/{bucket}/cat.txt"
    assert requests.get(anonymous, timeout=10).status_code == 403
    for call in (s3.get_bucket_policy, s3.get_bucket_policy_status):
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket)
        assert err(e.value)[:2] == (404, "NoSuchBucketPolicy")

    document = mc_download(bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=document)
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == document
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    stored = stored_settings(imgd, bucket)["s3_policy"]
    assert stored == {"document": document, "public_read": True, "public_list": True, "public_location": True}
    assert delivery(imgd, bucket) == "public"
    r = requests.get(anonymous, timeout=10)
    assert (r.status_code, r.content) == (200, b"meow")
    assert requests.head(anonymous, timeout=10).status_code == 200
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") and g["Permission"] == "READ" for g in grants)

    s3.delete_bucket_policy(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert err(e.value)[:2] == (404, "NoSuchBucketPolicy")
    assert "s3_policy" not in stored_settings(imgd, bucket)
    assert delivery(imgd, bucket) == "private"
    assert requests.get(anonymous, timeout=10).status_code == 403


def test_policy_spellings_and_list_only_policies(imgd, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    tutorial = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Sid": "PublicReadGetObject",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
        }
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=tutorial)
    assert delivery(imgd, bucket) == "public"
    assert requests.get(f"{imgd.endpoint}/{bucket}/k", timeout=10).status_code == 200
    # Replacing it with a list-only policy takes the read grant away again.
    list_only = json.dumps(
        {
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}
            ]
        }
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=list_only)
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    stored = stored_settings(imgd, bucket)["s3_policy"]
    assert (stored["public_read"], stored["public_list"]) == (False, True)
    assert delivery(imgd, bucket) == "private"
    assert requests.get(f"{imgd.endpoint}/{bucket}/k", timeout=10).status_code == 403


def statement(bucket: str, **over) -> str:
    st = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    st.update(over)
    return json.dumps({"Version": "2012-10-17", "Statement": [st]})


@pytest.mark.parametrize(
    "change, words",
    [
        ({"Action": "s3:PutObject"}, "s3:PutObject"),
        ({"Action": "s3:*"}, "s3:*"),
        ({"Effect": "Deny"}, "Deny"),
        ({"Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}, "Condition"),
        ({"NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}}, "NotPrincipal"),
        ({"Principal": {"AWS": ["arn:aws:iam::111122223333:root"]}}, "Principal"),
        ({"Principal": {"Service": "cloudfront.amazonaws.com"}}, "Principal"),
        ({"Resource": "arn:aws:s3:::some-other-bucket/*"}, "arn:aws:s3:::some-other-bucket/*"),
        ({"Resource": "PREFIX"}, "/photos/*"),
        ({"Action": "s3:ListBucket"}, "does not apply"),
    ],
)
def test_unsupported_policies_are_refused(imgd, s3, bucket, change, words):
    if change.get("Resource") == "PREFIX":
        change = {"Resource": f"arn:aws:s3:::{bucket}/photos/*"}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy=statement(bucket, **change))
    status, code, message = err(e.value)
    assert (status, code) == (400, "MalformedPolicy")
    assert words in message, message
    assert "s3_policy" not in stored_settings(imgd, bucket)
    assert delivery(imgd, bucket) == "private"


def test_policy_that_is_not_json_is_malformed(imgd, bucket):
    r = signed(imgd, "PUT", f"/{bucket}?policy", b"public please")
    assert (r.status_code, code_of(r)) == (400, "MalformedPolicy"), r.text
    assert "valid JSON" in r.text
    with pytest.raises(ClientError) as e:
        s3_client(imgd.endpoint).put_bucket_policy(Bucket="no-such-bucket-policy", Policy=mc_download("no-such-bucket-policy"))
    assert err(e.value)[:2] == (404, "NoSuchBucket")


def test_only_the_root_key_sets_policies(imgd, s3, bucket):
    out = imgd.cli("key", "create", "--bucket", f"{bucket}:read-write").stdout
    ak = out.split("access_key = ")[1].split()[0]
    sk = out.split("secret_key = ")[1].split()[0]
    writer = s3_client(imgd.endpoint, access_key=ak, secret_key=sk)
    with pytest.raises(ClientError) as e:
        writer.put_bucket_policy(Bucket=bucket, Policy=mc_download(bucket))
    assert err(e.value)[:2] == (403, "AccessDenied")
    assert delivery(imgd, bucket) == "private"
    s3.put_bucket_policy(Bucket=bucket, Policy=mc_download(bucket))
    with pytest.raises(ClientError) as e:
        writer.delete_bucket_policy(Bucket=bucket)
    assert err(e.value)[:2] == (403, "AccessDenied")
    assert delivery(imgd, bucket) == "public"


def test_ownership_controls_default_set_and_delete(imgd, s3, bucket):
    def current():
        return s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"][0]["ObjectOwnership"]

    assert current() == "BucketOwnerEnforced"
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    assert current() == "ObjectWriter"
    assert stored_settings(imgd, bucket)["object_ownership"] == "ObjectWriter"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "Everyone"}]})
    assert err(e.value)[:2] == (400, "MalformedXML")
    assert current() == "ObjectWriter"
    s3.delete_bucket_ownership_controls(Bucket=bucket)
    assert current() == "BucketOwnerEnforced"
    assert "object_ownership" not in stored_settings(imgd, bucket)


def test_create_bucket_with_object_ownership(imgd, s3):
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, ObjectOwnership="BucketOwnerPreferred")
    rules = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerPreferred"}]
    assert stored_settings(imgd, name)["object_ownership"] == "BucketOwnerPreferred"
    bad = f"t-{uuid.uuid4().hex[:12]}"
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=bad, ObjectOwnership="Nobody")
    assert err(e.value)[:2] == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=bad)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_versioning_is_never_enabled(imgd, s3, bucket):
    out = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in out and "MFADelete" not in out
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    status, code, message = err(e.value)
    assert (status, code) == (501, "NotImplemented")
    assert "versions" in message
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    for k in ("a", "b"):
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    s3.put_object(Bucket=bucket, Key="a", Body=b"again")
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in versions] == [
        ("a", "null", True, 5),
        ("b", "null", True, 1),
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda s3, b: s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}),
        lambda s3, b: s3.get_bucket_lifecycle_configuration(Bucket=b),
        lambda s3, b: s3.put_object_acl(Bucket=b, Key="k", ACL="public-read"),
        lambda s3, b: s3.get_bucket_encryption(Bucket=b),
        lambda s3, b: s3.get_bucket_website(Bucket=b),
        lambda s3, b: s3.get_object_lock_configuration(Bucket=b),
    ],
    ids=["PutBucketTagging", "GetBucketLifecycleConfiguration", "PutObjectAcl", "GetBucketEncryption", "GetBucketWebsite", "GetObjectLockConfiguration"],
)
def test_unsupported_operations_answer_not_implemented(s3, bucket, call):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    with pytest.raises(ClientError) as e:
        call(s3, bucket)
    assert err(e.value)[:2] == (501, "NotImplemented")
