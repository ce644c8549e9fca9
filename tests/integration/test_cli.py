"""The operator CLI: buckets and restricted access keys, against a running server."""
import pytest
import requests
from botocore.exceptions import ClientError

from conftest import s3_client


def test_bucket_commands(imgd):
    out = imgd.cli("bucket", "create", "cli-bucket").stdout
    assert "created bucket cli-bucket (private)" in out
    assert "cli-bucket\tprivate" in imgd.cli("bucket", "list").stdout
    s3 = imgd.client()
    s3.put_object(Bucket="cli-bucket", Key="k.txt", Body=b"hi")
    assert requests.get(f"{imgd.endpoint}/cli-bucket/k.txt", timeout=5).status_code == 403
    imgd.cli("bucket", "set-public", "cli-bucket")
    assert requests.get(f"{imgd.endpoint}/cli-bucket/k.txt", timeout=5).content == b"hi"
    imgd.cli("bucket", "set-public", "cli-bucket", "--private")
    assert requests.get(f"{imgd.endpoint}/cli-bucket/k.txt", timeout=5).status_code == 403
    bad = imgd.cli("bucket", "delete", "cli-bucket", check=False)
    assert bad.returncode != 0 and "not empty" in bad.stderr
    s3.delete_object(Bucket="cli-bucket", Key="k.txt")
    imgd.cli("bucket", "delete", "cli-bucket")
    assert "cli-bucket" not in imgd.cli("bucket", "list").stdout
    assert imgd.cli("bucket", "create", "Bad_Name", check=False).returncode != 0
    pub = imgd.cli("bucket", "create", "cli-public", "--public").stdout
    assert "public-read" in pub


def parse_key(out: str) -> tuple[str, str]:
    vals = dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)
    return vals["access_key"], vals["secret_key"]


def test_restricted_keys_and_revocation(imgd):
    root = imgd.client()
    root.create_bucket(Bucket="ro-bucket")
    root.create_bucket(Bucket="rw-bucket")
    root.create_bucket(Bucket="other-bucket")
    root.put_object(Bucket="ro-bucket", Key="k", Body=b"readable")
    ak, sk = parse_key(imgd.cli("key", "create", "--bucket", "ro-bucket:read", "--bucket", "rw-bucket:read-write",
                                "--description", "app").stdout)
    c = s3_client(imgd.endpoint, access_key=ak, secret_key=sk)
    assert c.get_object(Bucket="ro-bucket", Key="k")["Body"].read() == b"readable"
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket="ro-bucket", Key="k2", Body=b"x")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    c.put_object(Bucket="rw-bucket", Key="k", Body=b"written")
    with pytest.raises(ClientError):
        c.list_objects_v2(Bucket="other-bucket")
    with pytest.raises(ClientError):
        c.create_bucket(Bucket="made-by-key")
    with pytest.raises(ClientError):  # copying out of a bucket the key cannot read
        c.copy_object(Bucket="rw-bucket", Key="stolen", CopySource={"Bucket": "other-bucket", "Key": "k"})
    assert sorted(b["Name"] for b in c.list_buckets()["Buckets"]) == ["ro-bucket", "rw-bucket"]
    listing = imgd.cli("key", "list").stdout
    assert ak in listing and "ro-bucket:read" in listing and "active" in listing and sk not in listing

    imgd.cli("key", "revoke", ak)
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket="ro-bucket", Key="k")
    assert e.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    assert "revoked" in imgd.cli("key", "list").stdout
