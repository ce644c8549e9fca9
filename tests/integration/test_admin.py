"""The admin API: bearer token, bucket policy (every field), styles, style delimiters,
origins, secrets (bucket and account), referers, public styles and the variant cache, with
effects checked through real delivery requests; the OpenAPI document against the routes the
server really has; and the `imgd_delivery_refused_total{code}` metric."""
import io
import json
import re
import time
import uuid

import pytest
import requests
import yaml
from botocore.exceptions import ClientError
from PIL import Image

from conftest import CORPUS, ROOT, Imgd, metric

TOKEN = "admin-token-for-tests-0001"
SAW = (CORPUS / "2569067123_aca715a2ee_o.jpg").read_bytes()
JPEG = (CORPUS / "flowers.jpeg").read_bytes()
# What the admin door answers for a path or method it has no endpoint for.
ROUTE_MISS = {"error": "NotFound", "message": "no such admin endpoint"}


@pytest.fixture(scope="module")
def admin(tmp_path_factory):
    # Loopback is exempt from the fetcher's deny list so the test origin can be used.
    server = Imgd(tmp_path_factory.mktemp("admin") / "data",
                  env={"IMGD_ADMIN_TOKEN": TOKEN, "IMGD_FETCH_ALLOW": "127.0.0.1/32"}).start()
    server.client().create_bucket(Bucket="adm")
    server.client().put_object(Bucket="adm", Key="saw.jpg", Body=SAW, ContentType="image/jpeg")
    yield server
    server.stop()


def call(server, method, path, body=None, token=TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, f"{server.endpoint}/_imgd/admin/{path}", headers=headers,
                            data=None if body is None else json.dumps(body), timeout=10)


def new_bucket(server, *objects) -> str:
    name = f"a-{uuid.uuid4().hex[:10]}"
    s3 = server.client()
    s3.create_bucket(Bucket=name)
    for key in objects:
        s3.put_object(Bucket=name, Key=key, Body=SAW, ContentType="image/jpeg")
    return name


def wait_for_object(server, bucket: str, key: str, timeout: float = 15) -> None:
    s3 = server.client()
    deadline = time.monotonic() + timeout
    while True:
        try:
            s3.head_object(Bucket=bucket, Key=key)
            return
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def code_of(r) -> str | None:
    m = re.search(r"<Code>([^<]+)</Code>", r.text)
    return m.group(1) if m else None


def width(body: bytes) -> int:
    return Image.open(io.BytesIO(body)).size[0]


def sign(server, secret: str, url: str, *extra: str) -> str:
    return server.cli("sign", "--scheme", "cloudflare", "--secret", secret, *extra, url).stdout.strip()


def test_token_is_required(admin):
    missing = call(admin, "GET", "buckets", token=None)
    assert missing.status_code == 401
    assert missing.json() == {"error": "Unauthorized", "message": "a valid bearer token is required"}
    wrong = call(admin, "GET", "buckets", token="wrong-token-wrong-token")
    assert wrong.status_code == 401 and wrong.json()["error"] == "Unauthorized"
    ok = call(admin, "GET", "buckets")
    assert ok.status_code == 200
    assert "adm" in [b["bucket"] for b in ok.json()["buckets"]]
    miss = call(admin, "GET", "nothing-here")
    assert miss.status_code == 404 and miss.json() == ROUTE_MISS
    # Without the token even an unknown route says only "unauthorized": nothing leaks.
    assert call(admin, "GET", "nothing-here", token=None).json()["error"] == "Unauthorized"


def test_policy_styles_and_secrets_take_effect(admin):
    url = f"{admin.endpoint}/adm/saw.jpg"
    assert requests.get(url, timeout=10).status_code == 403
    r = call(admin, "PUT", "buckets/adm/policy", {"delivery": "public", "cache_ttl_secs": 120})
    assert r.status_code == 200 and r.json()["delivery"] == "public" and r.json()["cache_ttl_secs"] == 120
    got = requests.get(url, timeout=10)
    assert got.status_code == 200 and got.headers["Cache-Control"] == "public, max-age=120"
    in_force = call(admin, "GET", "buckets/adm/policy").json()

    # Refused updates name the problem and leave the policy in force untouched.
    bad = call(admin, "PUT", "buckets/adm/policy", {"delivery": "sometimes", "cache_ttl_secs": 5})
    assert bad.status_code == 400
    assert bad.json()["error"] == "InvalidArgument" and "sometimes" in bad.json()["message"]
    bad_scheme = call(admin, "PUT", "buckets/adm/policy", {"delivery": "signed", "schemes": ["carrier-pigeon"]})
    assert bad_scheme.status_code == 400
    assert bad_scheme.json()["error"] == "InvalidArgument" and "carrier-pigeon" in bad_scheme.json()["message"]
    unknown = call(admin, "PUT", "buckets/adm/policy", {"nonsense": 1, "cache_ttl_secs": 5})
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "MalformedJSON" and "nonsense" in unknown.json()["message"]
    nosuch = call(admin, "PUT", "buckets/nosuch/policy", {"delivery": "public"})
    assert nosuch.status_code == 404
    assert nosuch.json() == {"error": "NoSuchBucket", "message": "The specified bucket does not exist"}
    assert call(admin, "GET", "buckets/adm/policy").json() == in_force
    got = requests.get(url, timeout=10)
    assert got.status_code == 200 and got.headers["Cache-Control"] == "public, max-age=120"

    refused = call(admin, "PUT", "buckets/adm/styles/small", {"process": "image/resize,w_0"})
    assert refused.status_code == 400
    assert refused.json() == {"error": "InvalidArgument",
                              "message": "resize: parameter w must be between 1 and 16384, got 0"}
    assert call(admin, "GET", "buckets/adm/styles").json()["styles"] == []
    nested = call(admin, "PUT", "buckets/adm/styles/small", {"process": "style/other"})
    assert nested.status_code == 400 and "another style" in nested.json()["message"]
    saved = call(admin, "PUT", "buckets/adm/styles/small", {"process": "image/resize,w_33"})
    assert saved.status_code == 200
    assert saved.json() == {"bucket": "adm", "name": "small", "process": "image/resize,w_33"}
    styles = call(admin, "GET", "buckets/adm/styles").json()["styles"]
    assert [(s["name"], s["process"]) for s in styles] == [("small", "image/resize,w_33")]
    r = requests.get(url, params={"x-oss-process": "style/small"}, timeout=30)
    assert r.status_code == 200 and width(r.content) == 33

    call(admin, "PUT", "buckets/adm/policy", {"delivery": "signed", "schemes": ["cloudflare"]})
    r = requests.get(url, timeout=10)
    assert r.status_code == 403 and code_of(r) == "AccessDenied"
    created = call(admin, "POST", "secrets", {"bucket": "adm", "description": "site"})
    assert created.status_code == 201
    secret = created.json()
    assert secret["bucket"] == "adm" and secret["id"].startswith("sec_") and len(secret["secret"]) >= 8
    signed = sign(admin, secret["secret"], url)
    assert requests.get(signed, timeout=10).content == SAW
    listed = call(admin, "GET", "secrets").json()["secrets"]
    mine = [s for s in listed if s["id"] == secret["id"]]
    assert len(mine) == 1 and "secret" not in mine[0] and secret["secret"] not in json.dumps(listed)
    assert mine[0]["description"] == "site" and mine[0]["revoked_ms"] is None
    revoked = call(admin, "POST", f"secrets/{secret['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json() == {"revoked": secret["id"]}
    r = requests.get(signed, timeout=10)
    assert r.status_code == 403 and code_of(r) == "SecretRevoked"
    listed = call(admin, "GET", "secrets").json()["secrets"]
    assert next(s for s in listed if s["id"] == secret["id"])["revoked_ms"] is not None
    again = call(admin, "POST", f"secrets/{secret['id']}/revoke")
    assert again.status_code == 400 and secret["id"] in again.json()["message"]

    deleted = call(admin, "DELETE", "buckets/adm/styles/small")
    assert deleted.status_code == 200 and deleted.json() == {"deleted": "small"}
    assert call(admin, "GET", "buckets/adm/styles").json()["styles"] == []
    gone = call(admin, "DELETE", "buckets/adm/styles/small")
    assert gone.status_code == 400 and "small" in gone.json()["message"]
    # On a bucket that does not exist the answer names the bucket, not the style.
    nobucket = call(admin, "DELETE", "buckets/no-such-bucket-here/styles/small")
    assert nobucket.status_code == 404 and nobucket.json()["error"] == "NoSuchBucket"


def test_policy_read_returns_every_field_that_was_put(admin):
    b = new_bucket(admin)
    fresh = call(admin, "GET", f"buckets/{b}/policy")
    assert fresh.status_code == 200
    assert fresh.json() == {"bucket": b, "delivery": "private", "schemes": [], "referers": [],
                            "cache_ttl_secs": fresh.json()["cache_ttl_secs"], "public_styles": [],
                            "style_delimiters": []}
    doc = {"delivery": "signed", "schemes": ["cloudflare", "ixmage"], "referers": ["example.com", "*.example.org"],
           "cache_ttl_secs": 777, "public_styles": ["thumb", "card"], "style_delimiters": ["!", "@!"]}
    put = call(admin, "PUT", f"buckets/{b}/policy", doc)
    assert put.status_code == 200
    expected = {"bucket": b, **doc}
    assert put.json() == expected
    assert call(admin, "GET", f"buckets/{b}/policy").json() == expected
    listed = [p for p in call(admin, "GET", "buckets").json()["buckets"] if p["bucket"] == b]
    assert listed == [expected]
    # Absent fields are kept; given ones replace.
    call(admin, "PUT", f"buckets/{b}/policy", {"cache_ttl_secs": 5, "referers": []})
    assert call(admin, "GET", f"buckets/{b}/policy").json() == {**expected, "cache_ttl_secs": 5, "referers": []}
    missing = call(admin, "GET", "buckets/nosuchbucket/policy")
    assert missing.status_code == 404 and missing.json()["error"] == "NoSuchBucket"


def test_origin_put_get_and_delete(admin, origin):
    b = new_bucket(admin)
    call(admin, "PUT", f"buckets/{b}/policy", {"delivery": "public"})
    origin.serve("/legacy/old.jpg", JPEG)
    origin.serve("/legacy/later.jpg", JPEG)
    assert call(admin, "GET", f"buckets/{b}/origin").json() == {"bucket": b, "origin": None}
    assert requests.get(f"{admin.endpoint}/{b}/old.jpg", timeout=10).status_code == 404
    assert origin.hits("/legacy/old.jpg") == 0

    put = call(admin, "PUT", f"buckets/{b}/origin",
               {"source": {"kind": "http", "base_url": f"{origin.base}/legacy"}, "miss_ttl_secs": 30})
    assert put.status_code == 200, put.text
    got = call(admin, "GET", f"buckets/{b}/origin").json()
    assert got["bucket"] == b
    assert got["origin"]["source"] == {"kind": "http", "base_url": f"{origin.base}/legacy"}
    assert got["origin"]["miss_ttl_secs"] == 30
    assert put.json()["origin"]["source"] == got["origin"]["source"]
    r = requests.get(f"{admin.endpoint}/{b}/old.jpg", timeout=30)
    assert r.status_code == 200 and r.content == JPEG
    assert origin.hits("/legacy/old.jpg") == 1
    wait_for_object(admin, b, "old.jpg")  # stored in the background

    # A refused origin names the problem and leaves the saved one in force.
    bad = call(admin, "PUT", f"buckets/{b}/origin", {"source": {"kind": "http", "base_url": "ftp://x/y"}})
    assert bad.status_code == 400
    assert bad.json()["error"] == "InvalidArgument" and "base_url" in bad.json()["message"]
    incomplete = call(admin, "PUT", f"buckets/{b}/origin", {"source": {
        "kind": "s3", "endpoint": "http://127.0.0.1:9", "region": "us-east-1", "bucket": "src",
        "access_key": "AK", "secret_key": ""}})
    assert incomplete.status_code == 400 and "secret_key" in incomplete.json()["message"]
    assert call(admin, "GET", f"buckets/{b}/origin").json() == got

    # An S3 origin is shown without its secret.
    s3_origin = {"kind": "s3", "endpoint": "http://127.0.0.1:9", "region": "eu-west-3", "bucket": "src",
                 "access_key": "AKIAORIGIN", "secret_key": "origin-secret-value", "prefix": "up/"}
    shown = call(admin, "PUT", f"buckets/{b}/origin", {"source": s3_origin})
    assert shown.status_code == 200
    assert shown.json()["origin"]["source"] == {**s3_origin, "secret_key": "(hidden)"}
    assert "origin-secret-value" not in call(admin, "GET", f"buckets/{b}/origin").text
    assert call(admin, "GET", f"buckets/{b}/origin").json()["origin"]["miss_ttl_secs"] == 60

    deleted = call(admin, "DELETE", f"buckets/{b}/origin")
    assert deleted.status_code == 200 and deleted.json() == {"bucket": b, "origin": None}
    assert call(admin, "GET", f"buckets/{b}/origin").json() == {"bucket": b, "origin": None}
    r = requests.get(f"{admin.endpoint}/{b}/later.jpg", timeout=10)
    assert r.status_code == 404 and code_of(r) == "NoSuchKey"
    assert origin.hits("/legacy/later.jpg") == 0
    # What was fetched before stays: it was stored in the bucket.
    assert requests.get(f"{admin.endpoint}/{b}/old.jpg", timeout=10).content == JPEG
    for method in ("GET", "PUT", "DELETE"):
        body = {"source": {"kind": "http", "base_url": origin.base}} if method == "PUT" else None
        r = call(admin, method, "buckets/nosuchbucket/origin", body)
        assert r.status_code == 404 and r.json()["error"] == "NoSuchBucket", method


def test_account_secret_signs_for_every_bucket(admin):
    one, two = new_bucket(admin, "saw.jpg"), new_bucket(admin, "saw.jpg")
    for b in (one, two):
        call(admin, "PUT", f"buckets/{b}/policy", {"delivery": "signed", "schemes": ["cloudflare"]})
    account = call(admin, "POST", "secrets", {"description": "all buckets"})
    assert account.status_code == 201 and account.json()["bucket"] is None
    only_one = call(admin, "POST", "secrets", {"bucket": one}).json()
    for b in (one, two):
        r = requests.get(sign(admin, account.json()["secret"], f"{admin.endpoint}/{b}/saw.jpg"), timeout=10)
        assert r.status_code == 200 and r.content == SAW, b
    # The other side: a bucket secret signs for its bucket only.
    assert requests.get(sign(admin, only_one["secret"], f"{admin.endpoint}/{one}/saw.jpg"), timeout=10).status_code == 200
    r = requests.get(sign(admin, only_one["secret"], f"{admin.endpoint}/{two}/saw.jpg"), timeout=10)
    assert r.status_code == 403 and code_of(r) == "SignatureDoesNotMatch"
    listed = {s["id"]: s for s in call(admin, "GET", "secrets").json()["secrets"]}
    assert listed[account.json()["id"]]["bucket"] is None
    assert listed[only_one["id"]]["bucket"] == one

    imported = call(admin, "POST", "secrets", {"value": "imported-secret-01"})
    assert imported.status_code == 201 and imported.json()["secret"] == "imported-secret-01"
    assert requests.get(sign(admin, "imported-secret-01", f"{admin.endpoint}/{two}/saw.jpg"), timeout=10).status_code == 200
    short = call(admin, "POST", "secrets", {"value": "short"})
    assert short.status_code == 400 and short.json()["error"] == "InvalidArgument"
    assert "8 characters" in short.json()["message"]
    nosuch = call(admin, "POST", "secrets", {"bucket": "nosuchbucket"})
    assert nosuch.status_code == 404 and nosuch.json()["error"] == "NoSuchBucket"
    assert len(call(admin, "GET", "secrets").json()["secrets"]) == len(listed) + 1


def test_referers_from_the_policy(admin):
    b = new_bucket(admin, "saw.jpg")
    call(admin, "PUT", f"buckets/{b}/policy", {"delivery": "public", "referers": ["example.com", "*.example.org"]})
    url = f"{admin.endpoint}/{b}/saw.jpg"
    for allowed in ("https://example.com/page", "http://img.example.org/x", None):
        r = requests.get(url, headers={"Referer": allowed} if allowed else {}, timeout=10)
        assert r.status_code == 200 and r.content == SAW, allowed
    for denied in ("https://evil.test/", "https://example.com.evil.test/", "https://notexample.org/"):
        r = requests.get(url, headers={"Referer": denied}, timeout=10)
        assert r.status_code == 403 and code_of(r) == "RefererDenied", denied
    # Clearing the list lets every referer through again.
    call(admin, "PUT", f"buckets/{b}/policy", {"referers": []})
    assert requests.get(url, headers={"Referer": "https://evil.test/"}, timeout=10).status_code == 200


def test_public_styles_from_the_policy(admin):
    b = new_bucket(admin, "saw.jpg")
    call(admin, "PUT", f"buckets/{b}/styles/thumb", {"process": "image/resize,w_24"})
    call(admin, "PUT", f"buckets/{b}/styles/big", {"process": "image/resize,w_48"})
    call(admin, "PUT", f"buckets/{b}/policy", {"delivery": "signed", "schemes": ["cloudflare"]})
    url = f"{admin.endpoint}/{b}/saw.jpg"
    r = requests.get(url, params={"x-oss-process": "style/thumb"}, timeout=30)
    assert r.status_code == 403 and code_of(r) == "AccessDenied"
    put = call(admin, "PUT", f"buckets/{b}/policy", {"public_styles": ["thumb"]})
    assert put.json()["public_styles"] == ["thumb"] and put.json()["delivery"] == "signed"
    r = requests.get(url, params={"x-oss-process": "style/thumb"}, timeout=30)
    assert r.status_code == 200 and width(r.content) == 24
    # Other styles, other processing and the original still need a signature.
    for params in ({"x-oss-process": "style/big"}, {"x-oss-process": "image/resize,w_24"}, {}):
        r = requests.get(url, params=params, timeout=30)
        assert r.status_code == 403 and code_of(r) == "AccessDenied", params


def test_style_delimiters_from_the_policy(admin):
    b = new_bucket(admin, "saw.jpg")
    call(admin, "PUT", f"buckets/{b}/policy", {"delivery": "public"})
    call(admin, "PUT", f"buckets/{b}/styles/thumb", {"process": "image/resize,w_28/format,png"})
    assert requests.get(f"{admin.endpoint}/{b}/saw.jpg!thumb", timeout=10).status_code == 404
    put = call(admin, "PUT", f"buckets/{b}/policy", {"style_delimiters": ["!"]})
    assert put.status_code == 200 and put.json()["style_delimiters"] == ["!"]
    r = requests.get(f"{admin.endpoint}/{b}/saw.jpg!thumb", timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png" and width(r.content) == 28
    # Only the enabled delimiter is read as one.
    assert requests.get(f"{admin.endpoint}/{b}/saw.jpg@!thumb", timeout=10).status_code == 404
    bad = call(admin, "PUT", f"buckets/{b}/policy", {"style_delimiters": ["#"]})
    assert bad.status_code == 400 and bad.json()["error"] == "InvalidArgument" and '"#"' in bad.json()["message"]
    assert call(admin, "GET", f"buckets/{b}/policy").json()["style_delimiters"] == ["!"]
    assert requests.get(f"{admin.endpoint}/{b}/saw.jpg!thumb", timeout=30).status_code == 200


def test_delivery_refusals_are_counted_by_code(admin):
    """Each refusal raises `imgd_delivery_refused_total{code}` by one, and only its own
    code; served requests and misses raise none. The counts differ per code so that a
    refusal counted under the wrong code shows."""
    private = new_bucket(admin, "saw.jpg")
    signed = new_bucket(admin, "saw.jpg")
    ix_only = new_bucket(admin, "saw.jpg")
    fenced = new_bucket(admin, "saw.jpg")
    call(admin, "PUT", f"buckets/{signed}/policy", {"delivery": "signed", "schemes": ["cloudflare"]})
    call(admin, "PUT", f"buckets/{ix_only}/policy", {"delivery": "signed", "schemes": ["ixmage"]})
    call(admin, "PUT", f"buckets/{fenced}/policy", {"delivery": "public", "referers": ["example.com"]})
    secret = call(admin, "POST", "secrets", {"bucket": signed}).json()["secret"]
    account = call(admin, "POST", "secrets", {}).json()["secret"]
    good = sign(admin, secret, f"{admin.endpoint}/{signed}/saw.jpg")
    sig = re.search(r"sig=([0-9a-f]+)", good).group(1)
    tampered = good.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    expired = sign(admin, secret, f"{admin.endpoint}/{signed}/saw.jpg", "--at", str(int(time.time()) - 7200),
                   "--expires-in", "60")
    wrong_scheme = sign(admin, account, f"{admin.endpoint}/{ix_only}/saw.jpg")
    old = call(admin, "POST", "secrets", {"bucket": signed}).json()
    revoked_link = sign(admin, old["secret"], f"{admin.endpoint}/{signed}/saw.jpg?v=1")
    call(admin, "POST", f"secrets/{old['id']}/revoke")
    cases = {
        "AccessDenied": (1, lambda: requests.get(f"{admin.endpoint}/{private}/saw.jpg", timeout=10)),
        "SignatureDoesNotMatch": (2, lambda: requests.get(tampered, timeout=10)),
        "SignatureExpired": (3, lambda: requests.get(expired, timeout=10)),
        "RefererDenied": (4, lambda: requests.get(f"{admin.endpoint}/{fenced}/saw.jpg",
                                                  headers={"Referer": "https://evil.test/"}, timeout=10)),
        "SchemeNotAllowed": (5, lambda: requests.get(wrong_scheme, timeout=10)),
        "SecretRevoked": (6, lambda: requests.get(revoked_link, timeout=10)),
    }
    before = {code: metric(admin, "imgd_delivery_refused_total", code=code) for code in cases}
    total_before = metric(admin, "imgd_delivery_refused_total")
    for code, (times, send) in cases.items():
        for _ in range(times):
            r = send()
            assert r.status_code == 403 and code_of(r) == code, (code, r.text)
    for code, (times, _) in cases.items():
        assert metric(admin, "imgd_delivery_refused_total", code=code) - before[code] == times, code
    assert metric(admin, "imgd_delivery_refused_total") - total_before == sum(t for t, _ in cases.values())
    # Served, missing and non-delivery requests are not refusals.
    assert requests.get(good, timeout=10).status_code == 200
    assert requests.get(f"{admin.endpoint}/{fenced}/saw.jpg", headers={"Referer": "https://example.com/"},
                        timeout=10).status_code == 200
    assert requests.get(f"{admin.endpoint}/{fenced}/nothing.jpg", timeout=10).status_code == 404
    assert metric(admin, "imgd_delivery_refused_total") - total_before == sum(t for t, _ in cases.values())


def test_variants_endpoints_with_the_cache_off(tmp_path):
    server = Imgd(tmp_path / "data", env={"IMGD_ADMIN_TOKEN": TOKEN, "IMGD_CACHE_ENABLED": "false"}).start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="nocache", ACL="public-read")
        s3.put_object(Bucket="nocache", Key="saw.jpg", Body=SAW, ContentType="image/jpeg")
        stats = call(server, "GET", "variants")
        assert stats.status_code == 200 and stats.headers["content-type"] == "application/json"
        assert stats.json() == {"enabled": False}
        for body in ({}, {"bucket": "nocache"}, {"bucket": "nocache", "key": "saw.jpg"}):
            purged = call(server, "POST", "variants/purge", body)
            assert purged.status_code == 200 and purged.json() == {"purged": 0, "enabled": False}, body
        # The cache really is off: the same variant is rendered every time, and nothing
        # is written under the variants directory.
        url = f"{server.endpoint}/nocache/saw.jpg?x-oss-process=image/resize,w_40"
        jobs = metric(server, "imgd_process_jobs_total")
        for _ in range(2):
            r = requests.get(url, timeout=30)
            assert r.status_code == 200 and width(r.content) == 40
        assert metric(server, "imgd_process_jobs_total") - jobs == 2
        assert metric(server, "imgd_variant_cache_hits_total") == 0
        variants = tmp_path / "data" / "variants"
        assert not variants.exists() or not any(p.is_file() for p in variants.rglob("*"))
        assert call(server, "GET", "variants").json() == {"enabled": False}
    finally:
        server.stop()


def test_admin_api_is_off_without_a_token(imgd):
    r = requests.get(f"{imgd.endpoint}/_imgd/admin/buckets", headers={"Authorization": "Bearer x"}, timeout=10)
    assert r.status_code == 404
    assert r.json()["error"] == "NotFound" and "admin_token" in r.json()["message"]


# --- The OpenAPI document against the server's real routes ------------------------------

OPENAPI = ROOT / "docs" / "openapi.yaml"
ADMIN_SOURCE = ROOT / "crates" / "server" / "src" / "admin" / "mod.rs"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
# Values for path parameters that name nothing, so each request is answered by its
# handler (NoSuchBucket and the like) instead of changing anything.
BOGUS = {"bucket": "nosuchbucket-zz", "name": "nostyle", "id": "sec_nosuchsecret",
         "account_id": "0" * 32, "token_id": "tok_nosuchtoken", "task_id": "ImageProcess-nosuchtask"}
# Bodies that get past JSON parsing, so the handler itself answers.
BODIES = {
    ("put", "/buckets/{bucket}/policy"): {"cache_ttl_secs": 5},
    ("put", "/buckets/{bucket}/styles/{name}"): {"process": "image/resize,w_10"},
    ("put", "/buckets/{bucket}/origin"): {"source": {"kind": "http", "base_url": "http://127.0.0.1:9"}},
    ("post", "/secrets"): {"bucket": "nosuchbucket-zz"},
    ("post", "/variants/purge"): {"bucket": "nosuchbucket-zz"},
    ("post", "/cf/accounts"): {"bucket": "Not_A_Bucket"},
    ("post", "/cf/accounts/{account_id}/tokens"): {"name": "ci"},
}
# What each documented operation answers for the bogus names above: (status, error code or
# None for a 2xx). An operation missing here fails the test, so a new one gets a row.
EXPECTED = {
    ("get", "/buckets"): (200, None),
    ("get", "/buckets/{bucket}/policy"): (404, "NoSuchBucket"),
    ("put", "/buckets/{bucket}/policy"): (404, "NoSuchBucket"),
    ("get", "/buckets/{bucket}/styles"): (404, "NoSuchBucket"),
    ("put", "/buckets/{bucket}/styles/{name}"): (404, "NoSuchBucket"),
    ("delete", "/buckets/{bucket}/styles/{name}"): (404, "NoSuchBucket"),
    ("get", "/secrets"): (200, None),
    ("post", "/secrets"): (404, "NoSuchBucket"),
    ("post", "/secrets/{id}/revoke"): (400, "InvalidArgument"),
    ("get", "/buckets/{bucket}/origin"): (404, "NoSuchBucket"),
    ("put", "/buckets/{bucket}/origin"): (404, "NoSuchBucket"),
    ("delete", "/buckets/{bucket}/origin"): (404, "NoSuchBucket"),
    ("get", "/variants"): (200, None),
    ("post", "/variants/purge"): (200, None),
    ("get", "/cf/accounts"): (200, None),
    ("post", "/cf/accounts"): (400, "InvalidBucketName"),
    ("get", "/cf/accounts/{account_id}/tokens"): (404, "NoSuchAccount"),
    ("post", "/cf/accounts/{account_id}/tokens"): (404, "NoSuchAccount"),
    ("delete", "/cf/accounts/{account_id}/tokens/{token_id}"): (404, "NoSuchAccount"),
    ("get", "/async-tasks/{task_id}"): (404, "NoSuchTask"),
}


def documented_operations() -> list[tuple[str, str]]:
    doc = yaml.safe_load(OPENAPI.read_text())
    assert doc["servers"][0]["url"].endswith("/_imgd/admin")
    ops = [(m, path) for path, item in doc["paths"].items() for m in item if m in HTTP_METHODS]
    assert ops, "openapi.yaml documents no operations"
    return ops


def code_routes() -> list[tuple[str, str]]:
    """The routes of `Endpoint::route` in admin/mod.rs, as (method, path with {} for each
    captured segment). Every `Endpoint` variant must have one, so a route the parser
    misses fails here instead of passing unseen."""
    src = ADMIN_SOURCE.read_text()
    enum = re.search(r"enum Endpoint \{(.*?)\n\}", src, re.S)
    assert enum, f"no `enum Endpoint` in {ADMIN_SOURCE}; update this test with the new route table"
    variants = re.findall(r"^\s*(\w+)\s*(?:\(|,)", enum.group(1), re.M)
    arms = re.findall(r"\(&Method::(\w+),\s*\[([^\]]*)\]\)\s*=>\s*\{?\s*E::(\w+)", src)
    assert sorted({a[2] for a in arms}) == sorted(variants), (variants, arms)
    routes = []
    for method, segments, _ in arms:
        parts = [s.strip() for s in segments.split(",") if s.strip()]
        path = "/" + "/".join(p.strip('"') if p.startswith('"') else "{}" for p in parts)
        routes.append((method.lower(), path))
    return routes


def normalise(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_documented_operation_is_routed_and_answers_as_documented(admin):
    for method, path in documented_operations():
        assert (method, path) in EXPECTED, f"{method.upper()} {path}: add its expected answer to EXPECTED"
        url_path = path
        for name, value in BOGUS.items():
            url_path = url_path.replace("{" + name + "}", value)
        assert "{" not in url_path, f"{path}: no bogus value for a path parameter"
        r = call(admin, method.upper(), url_path.lstrip("/"), BODIES.get((method, path)))
        assert r.headers["content-type"] == "application/json", (method, path)
        body = r.json()
        assert body != ROUTE_MISS, f"{method.upper()} {path} is documented but not routed"
        status, code = EXPECTED[(method, path)]
        assert r.status_code == status, (method, path, r.status_code, body)
        if code is None:
            assert "error" not in body, (method, path, body)
        else:
            assert body["error"] == code and body["message"], (method, path, body)
    # The bogus requests changed nothing.
    assert "nosuchbucket-zz" not in call(admin, "GET", "buckets").text
    # The control: what is not routed is told apart from the answers above.
    for method, path in (("PATCH", "buckets"), ("GET", "buckets/adm/nothing"), ("DELETE", "secrets")):
        r = call(admin, method, path)
        assert r.status_code == 404 and r.json() == ROUTE_MISS, (method, path)


def test_request_bodies_are_optional_or_required_as_documented(admin):
    """Regression (issue 10): openapi.yaml left the bodies of `PUT /buckets/{bucket}/origin`
    and `POST /variants/purge` optional, but both refused a request without one. They are
    now documented as required, a missing body gets a message saying a JSON body is needed,
    and every body documented as optional really may be left out."""
    doc = yaml.safe_load(OPENAPI.read_text())
    bodies = [(m, p, op["requestBody"].get("required", False)) for p, item in doc["paths"].items()
              for m, op in item.items() if m in HTTP_METHODS and "requestBody" in op]
    optional = [(m, p) for m, p, required in bodies if not required]
    required = [(m, p) for m, p, required in bodies if required]
    assert ("post", "/secrets") in optional
    assert ("put", "/buckets/{bucket}/origin") in required and ("post", "/variants/purge") in required
    refused = []
    for method, path in optional:
        url_path = path.replace("{bucket}", "adm")
        r = call(admin, method.upper(), url_path.lstrip("/"))
        if r.status_code == 400 and r.json().get("error") == "MalformedJSON":
            refused.append((method.upper(), path, r.json()["message"]))
    assert not refused, f"documented as optional, but a missing body is refused: {refused}"
    origin_before = call(admin, "GET", "buckets/adm/origin").json()
    for method, path in (("PUT", "buckets/adm/origin"), ("POST", "variants/purge")):
        r = call(admin, method, path)
        assert r.status_code == 400, (method, path, r.text)
        assert r.json() == {"error": "MalformedJSON",
                            "message": "this endpoint needs a JSON object as its request body (for example {})"}
    assert call(admin, "GET", "buckets/adm/origin").json() == origin_before


def test_every_route_in_the_code_is_documented():
    documented = {(m, normalise(p)) for m, p in documented_operations()}
    routes = code_routes()
    assert len(routes) >= 14
    missing = [r for r in routes if r not in documented]
    assert not missing, f"admin routes missing from docs/openapi.yaml: {missing}"
    extra = documented - set(routes)
    assert not extra, f"docs/openapi.yaml documents operations the code does not route: {extra}"
