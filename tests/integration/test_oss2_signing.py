"""OSS signature V1 over non-ASCII header values, as `oss2` 2.19 signs them, against the
release binary.

oss2 signs a header value as its UTF-8 bytes. A `str` value goes out through Python's
`http.client`, which writes it as ISO-8859-1 (`Zürich` arrives as `Z\\xfcrich`), so what
was signed and what arrives differ; UTF-8 `bytes` values (the only way to send `北京`,
which ISO-8859-1 cannot encode) are sent as signed. imgd reads header bytes as UTF-8 when
they are valid UTF-8 and as ISO-8859-1 otherwise, for the signature and for what it
stores, and answers metadata as UTF-8, as OSS does. The arithmetic is also checked with
vectors oss2 computed, in crates/signing/src/oss/tests.rs."""
import re
import uuid

import oss2
import pytest
import requests

from conftest import ACCESS_KEY, SECRET_KEY

CASES = [
    # (key, what the caller passes to oss2, the text imgd keeps)
    ("meta/str.txt", "Zürich café", "Zürich café"),
    ("meta/bytes.txt", "北京 ü".encode("utf-8"), "北京 ü"),
]


def as_sent(value: str) -> str:
    """A response header's text as OSS meant it: Python's HTTP stack reads the UTF-8
    bytes OSS answers as ISO-8859-1."""
    return value.encode("latin-1").decode("utf-8")


@pytest.fixture(scope="module")
def bucket(imgd):
    name = f"sig-{uuid.uuid4().hex[:10]}"
    imgd.client().create_bucket(Bucket=name)
    return oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), imgd.endpoint, name)


@pytest.mark.parametrize("key,value,text", CASES)
def test_non_ascii_metadata_round_trips_through_oss2(bucket, key, value, text):
    result = bucket.put_object(key, b"body", headers={"x-oss-meta-city": value, "x-oss-meta-plain": "ascii"})
    assert result.status == 200
    head = bucket.head_object(key)
    assert as_sent(head.headers["x-oss-meta-city"]) == text
    assert head.headers["x-oss-meta-plain"] == "ascii"
    got = bucket.get_object(key)
    assert got.read() == b"body"
    assert as_sent(got.headers["x-oss-meta-city"]) == text
    # A copy that keeps the metadata keeps the same text.
    bucket.copy_object(bucket.bucket_name, key, key + ".copy")
    assert as_sent(bucket.head_object(key + ".copy").headers["x-oss-meta-city"]) == text


def signed_put(bucket: oss2.Bucket, key: str, value) -> dict:
    """The headers oss2 sends for a PUT of `key` with `x-oss-meta-city: value`."""
    req = oss2.http.Request("PUT", f"{bucket.endpoint}/{bucket.bucket_name}/{key}",
                            headers={"x-oss-meta-city": value, "Content-Type": "text/plain"})
    bucket.auth._sign_request(req, bucket.bucket_name, key)
    return {k: v for k, v in req.headers.items() if v is not None}


@pytest.mark.parametrize("key,value,text", CASES)
def test_the_signature_covers_the_non_ascii_value(bucket, key, value, text):
    url = f"{bucket.endpoint}/{bucket.bucket_name}/{key}.raw"
    headers = signed_put(bucket, key + ".raw", value)
    # Sent as oss2 sends it (requests writes a str as ISO-8859-1, bytes as they are).
    r = requests.put(url, data=b"raw", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert as_sent(bucket.head_object(key + ".raw").headers["x-oss-meta-city"]) == text

    # Another value under the same signature is refused, and the error shows the text
    # imgd signed, non-ASCII characters as the client meant them.
    forged = dict(headers, **{"x-oss-meta-city": "Zürich forged".encode("latin-1")})
    r = requests.put(url, data=b"forged", headers=forged, timeout=30)
    assert r.status_code == 403
    assert re.search(r"<Code>SignatureDoesNotMatch</Code>", r.text)
    assert "x-oss-meta-city:Zürich forged\n" in r.content.decode("utf-8")
    assert bucket.get_object(key + ".raw").read() == b"raw"
