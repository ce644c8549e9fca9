"""What the Cloudflare-compatible door refuses, and that a refusal changes nothing: one-time
upload URLs used twice or after their expiry (by the server's clock), drafts, tampered and
expired signatures, revoked keys and tokens, deleted images, oversized metadata and files,
files that are not images, bad JSON, unknown fields, bad custom ids and wrong tokens. After
each refusal the account's image list, its stats and the S3 listing of its bucket are what
they were before."""
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import time
import urllib.parse

import pytest
import requests
from PIL import Image

from conftest import CORPUS, Imgd, cf_error, cf_result, cloudflare_account

JPEG = (CORPUS / "flowers.jpeg").read_bytes()


def png(w: int, h: int, color=(200, 30, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), color).save(out, "PNG")
    return out.getvalue()


def rfc3339(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Account:
    def __init__(self, server: Imgd):
        self.server = server
        self.account_id, self.account_hash, self.bucket, self.token = cloudflare_account(server, "refusals")

    def url(self, path: str, account_id: str | None = None) -> str:
        return f"{self.server.endpoint}/client/v4/accounts/{account_id or self.account_id}/images/{path}"

    def call(self, method: str, path: str, token: str | None = "", **kw) -> requests.Response:
        headers = kw.pop("headers", {})
        tok = self.token if token == "" else token
        if tok is not None:
            headers["Authorization"] = f"Bearer {tok}"
        return requests.request(method, self.url(path, kw.pop("account_id", None)), headers=headers,
                                timeout=60, **kw)

    def upload(self, body: bytes, image_id: str | None = None, **fields) -> dict:
        data = {k: v for k, v in {"id": image_id, **fields}.items() if v is not None}
        return cf_result(self.call("POST", "v1", files={"file": ("f.png", body, "image/png")}, data=data))

    def delivery(self, image_id: str, variant: str = "public") -> str:
        return f"{self.server.endpoint}/{self.account_hash}/{image_id}/{variant}"

    def s3_keys(self) -> list[str]:
        s3 = self.server.client()
        return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=self.bucket).get("Contents", []))

    def snapshot(self) -> tuple:
        ids, page = [], 1
        while True:
            images = cf_result(self.call("GET", "v1", params={"page": page, "per_page": 100}))["images"]
            ids += [(i["id"], json.dumps(i["meta"], sort_keys=True) if "meta" in i else None,
                     i["requireSignedURLs"]) for i in images]
            if len(images) < 100:
                break
            page += 1
        stats = cf_result(self.call("GET", "v1/stats"))["count"]["current"]
        return sorted(ids), stats, self.s3_keys()


@pytest.fixture(scope="module")
def acct(tmp_path_factory):
    server = Imgd(tmp_path_factory.mktemp("cf-refusals") / "data").start()
    a = Account(server)
    a.upload(png(40, 30), "keep/one", metadata=json.dumps({"k": "v"}))
    a.upload(png(30, 40), "keep/two")
    yield a
    server.stop()


def signed(url: str, key: str, exp: int) -> str:
    """Cloudflare's signed link: HMAC-SHA256 (hex) of path + "?" + query, exp last."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.urlencode(urllib.parse.parse_qsl(parts.query) + [("exp", str(exp))])
    sig = hmac.new(key.encode(), f"{parts.path}?{query}".encode(), hashlib.sha256).hexdigest()
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, f"{query}&sig={sig}", ""))


def first_key(a: Account) -> str:
    return cf_result(a.call("GET", "v1/keys"))["keys"][0]["value"]


def test_one_time_upload_url_twice(acct):
    du = cf_result(acct.call("POST", "v2/direct_upload", data={"id": "once"}))
    first = png(20, 20, (1, 2, 3))
    cf_result(requests.post(du["uploadURL"], files={"file": ("a.png", first, "image/png")}, timeout=30))
    before = acct.snapshot()
    again = requests.post(du["uploadURL"], files={"file": ("b.png", png(21, 21), "image/png")}, timeout=30)
    cf_error(again, 409, 410)
    assert acct.snapshot() == before
    blob = acct.call("GET", "v1/once/blob")
    assert blob.status_code == 200 and blob.content == first


def test_upload_url_needs_a_file_and_a_known_token(acct):
    before = acct.snapshot()
    du = cf_result(acct.call("POST", "v2/direct_upload", data={"id": "needs-file"}))
    no_file = requests.post(du["uploadURL"], files={"other": ("a.png", png(5, 5), "image/png")}, timeout=30)
    assert 400 <= no_file.status_code < 500
    unknown = du["uploadURL"].rsplit("/", 1)[0] + "/" + "A" * 40
    cf_error(requests.post(unknown, files={"file": ("a.png", png(5, 5), "image/png")}, timeout=30),
             400, 401, 403, 404, 410)
    assert acct.snapshot() == before
    assert requests.get(acct.delivery("needs-file"), timeout=10).status_code == 404


def test_direct_upload_expiry_bounds(acct):
    before = acct.snapshot()
    now = time.time()
    for expiry in (now + 60, now + 7 * 3600, now - 10):
        err = cf_error(acct.call("POST", "v2/direct_upload", data={"id": "bad-expiry", "expiry": rfc3339(expiry)}),
                       400, 422)
        assert err["message"]
        assert acct.call("GET", "v1/bad-expiry").status_code == 404
    cf_error(acct.call("POST", "v2/direct_upload", data={"id": "bad-expiry", "expiry": "tomorrow"}), 400, 422)
    assert acct.snapshot() == before


def test_draft_is_not_delivered_listed_or_counted(acct):
    before = acct.snapshot()
    du = cf_result(acct.call("POST", "v2/direct_upload", data={"id": "drafty"}))
    assert du["id"] == "drafty"
    assert cf_result(acct.call("GET", "v1/drafty"))["draft"] is True
    for url in (acct.delivery("drafty"),
                f"{acct.server.endpoint}/cdn-cgi/imagedelivery/{acct.account_hash}/drafty/public"):
        assert requests.get(url, timeout=10).status_code == 404, url
    assert acct.snapshot() == before
    v2 = cf_result(acct.call("GET", "v2", params={"per_page": 100}))
    assert "drafty" not in [i["id"] for i in v2["images"]]


def test_expired_upload_url_by_the_servers_clock(tmp_path):
    data = tmp_path / "data"
    server = Imgd(data).start()
    try:
        a = Account(server)
        a.upload(png(10, 10), "present")
        du = cf_result(a.call("POST", "v2/direct_upload", data={"id": "late", "expiry": rfc3339(time.time() + 180)}))
        before = a.snapshot()
    finally:
        server.stop()
    # Ten minutes later by the server's clock, the URL (three minutes) has expired.
    moved = Imgd(data, port=server.port, env={"IMGD_CLOCK_START": str(int(time.time()) + 600)}).start()
    try:
        a.server = moved
        late = requests.post(du["uploadURL"], files={"file": ("late.png", png(12, 12), "image/png")}, timeout=30)
        cf_error(late, 400, 403, 404, 410)
        assert a.snapshot() == before
        assert requests.get(a.delivery("late"), timeout=10).status_code == 404
        # A URL made now by this server (default expiry: 30 min) still works.
        fresh = cf_result(a.call("POST", "v2/direct_upload", data={"id": "in-time"}))
        cf_result(requests.post(fresh["uploadURL"], files={"file": ("t.png", png(12, 12), "image/png")}, timeout=30))
        assert "in-time" in a.s3_keys()
    finally:
        moved.stop()


def test_tampered_expired_and_unsigned_links(acct):
    acct.upload(png(64, 64, (0, 128, 255)), "secret/pic", requireSignedURLs="true")
    cf_result(acct.call("POST", "v1/variants", json={
        "id": "other", "options": {"fit": "scale-down", "width": 32, "height": 32, "metadata": "none"}}))
    before = acct.snapshot()
    key = first_key(acct)
    url = acct.delivery("secret/pic")
    exp = int(time.time()) + 300
    good = signed(url, key, exp)
    assert requests.get(good, timeout=30).status_code == 200
    sig = good.rsplit("sig=", 1)[1]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    for bad in (
        url,  # unsigned
        good.replace(f"sig={sig}", f"sig={flipped}"),  # one hex digit changed
        good.replace(f"exp={exp}", f"exp={exp + 3600}"),  # a later exp under the old signature
        good.replace("/public?", "/other?"),  # another (existing) variant under the same signature
        f"{url}?exp={exp}",  # no sig
        signed(url, "not-the-key", exp),  # signed with a wrong key
        signed(url, key, int(time.time()) - 5),  # properly signed, expired
    ):
        r = requests.get(bad, timeout=30)
        assert r.status_code == 403, (bad, r.status_code)
    assert acct.snapshot() == before
    cf_result(acct.call("DELETE", "v1/variants/other"))


def test_revoked_key(acct):
    acct.upload(png(32, 32), "secret/revoke", requireSignedURLs="true")
    keys = cf_result(acct.call("PUT", "v1/keys/short-lived"))["keys"]
    value = {k["name"]: k["value"] for k in keys}["short-lived"]
    link = signed(acct.delivery("secret/revoke"), value, int(time.time()) + 600)
    assert requests.get(link, timeout=30).status_code == 200
    assert requests.get(link, timeout=30).status_code == 200  # (now in the variant cache too)
    left = cf_result(acct.call("DELETE", "v1/keys/short-lived"))["keys"]
    assert "short-lived" not in {k["name"] for k in left}
    r = requests.get(link, timeout=30)
    assert r.status_code == 403, r.status_code


def test_deleted_image_is_gone_on_the_next_request(acct):
    acct.upload(png(50, 50), "to-delete")
    for _ in range(2):  # the second is a cache hit
        assert requests.get(acct.delivery("to-delete"), timeout=30).status_code == 200
    assert cf_result(acct.call("DELETE", "v1/to-delete")) == {}
    assert requests.get(acct.delivery("to-delete"), timeout=30).status_code == 404
    assert requests.get(f"{acct.server.endpoint}/cdn-cgi/imagedelivery/{acct.account_hash}/to-delete/public",
                        timeout=30).status_code == 404
    assert "to-delete" not in acct.s3_keys()
    cf_error(acct.call("GET", "v1/to-delete"), 404)


def test_metadata_over_1024_bytes(acct):
    before = acct.snapshot()
    big = json.dumps({"k": "x" * 1100})
    for r in (
        acct.call("POST", "v1", files={"file": ("f.png", png(8, 8), "image/png")}, data={"id": "big-meta", "metadata": big}),
        acct.call("POST", "v2/direct_upload", data={"id": "big-meta", "metadata": big}),
        acct.call("PATCH", "v1/keep/one", json={"metadata": {"k": "x" * 1100}}),
    ):
        err = cf_error(r, 400, 413, 422)
        assert err["message"]
    assert acct.snapshot() == before
    assert cf_result(acct.call("GET", "v1/keep/one"))["meta"] == {"k": "v"}
    assert acct.call("GET", "v1/big-meta").status_code == 404
    # Under the limit is fine.
    ok = acct.upload(png(8, 8), "fine-meta", metadata=json.dumps({"k": "x" * 900}))
    assert ok["meta"] == {"k": "x" * 900}
    cf_result(acct.call("DELETE", "v1/fine-meta"))


def test_metadata_that_is_not_json(acct):
    before = acct.snapshot()
    r = acct.call("POST", "v1", files={"file": ("f.png", png(8, 8), "image/png")},
                  data={"id": "meta-not-json", "metadata": "{oops"})
    cf_error(r, 400, 422)
    assert acct.snapshot() == before


def test_file_that_is_not_an_image(acct):
    before = acct.snapshot()
    for body, name in ((b"just some text, not a picture\n" * 20, "notes.txt"), (b"", "empty.png"),
                       ((CORPUS / "corrupt-header.jpg").read_bytes()[:64], "cut.jpg")):
        r = acct.call("POST", "v1", files={"file": (name, body, "image/png")}, data={"id": "not-image"})
        cf_error(r, 400, 415, 422)
    du = cf_result(acct.call("POST", "v2/direct_upload", data={"id": "not-image-direct"}))
    cf_error(requests.post(du["uploadURL"], files={"file": ("n.txt", b"hello" * 50, "text/plain")}, timeout=30),
             400, 415, 422)
    assert "not-image-direct" not in acct.s3_keys()
    assert requests.get(acct.delivery("not-image-direct"), timeout=10).status_code == 404
    assert acct.snapshot() == before


def test_oversized_file(acct):
    before = acct.snapshot()
    # A real PNG of noise, just over the default max_upload_bytes (10 MiB).
    side = 1900
    im = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    im.save(out, "PNG", compress_level=0)
    body = out.getvalue()
    assert len(body) > 10 * 1024 * 1024
    r = acct.call("POST", "v1", files={"file": ("big.png", body, "image/png")}, data={"id": "too-big"})
    cf_error(r, 400, 413)
    du = cf_result(acct.call("POST", "v2/direct_upload", data={"id": "too-big-direct"}))
    cf_error(requests.post(du["uploadURL"], files={"file": ("big.png", body, "image/png")}, timeout=60), 400, 413)
    assert acct.snapshot() == before
    assert "too-big" not in acct.s3_keys() and "too-big-direct" not in acct.s3_keys()


def test_bad_json_and_unknown_fields(acct):
    before = acct.snapshot()
    for method, path in (("PATCH", "v1/keep/one"), ("POST", "v1/variants"), ("PATCH", "v1/variants/public"),
                         ("PATCH", "v1/config")):
        r = acct.call(method, path, data="{not json", headers={"Content-Type": "application/json"})
        cf_error(r, 400, 422)
    unknown = (
        ("PATCH", "v1/keep/one", {"metadata": {"a": 1}, "frobnicate": True}),
        ("POST", "v1/variants", {"id": "bogus", "options": {"fit": "cover", "width": 10, "height": 10,
                                                           "metadata": "none"}, "colour": "red"}),
        ("POST", "v1/variants", {"id": "bogus", "options": {"fit": "cover", "width": 10, "height": 10,
                                                           "metadata": "none", "blur": 3}}),
        ("PATCH", "v1/config", {"flexible_variants": True, "turbo": 1}),
    )
    for method, path, body in unknown:
        err = cf_error(acct.call(method, path, json=body), 400, 422)
        assert err["message"]
    # Values of the wrong kind.
    cf_error(acct.call("PATCH", "v1/keep/one", json={"requireSignedURLs": "maybe"}), 400, 422)
    cf_error(acct.call("POST", "v1/variants", json={"id": "bogus", "options": {"fit": "stretch", "width": 10,
                                                                               "height": 10, "metadata": "none"}}),
             400, 422)
    assert acct.snapshot() == before
    assert cf_result(acct.call("GET", "v1/keep/one"))["meta"] == {"k": "v"}
    assert "bogus" not in cf_result(acct.call("GET", "v1/variants"))["variants"]
    # The account's flexible-variants setting did not change either.
    assert 400 <= requests.get(acct.delivery("keep/one", "w=10"), timeout=10).status_code < 500


def test_bad_custom_ids(acct):
    before = acct.snapshot()
    for bad in ("/leading", "trailing/", "x" * 1025):
        r = acct.call("POST", "v1", files={"file": ("f.png", png(8, 8), "image/png")}, data={"id": bad})
        cf_error(r, 400, 422)
        cf_error(acct.call("POST", "v2/direct_upload", data={"id": bad}), 400, 422)
    assert acct.snapshot() == before


def test_wrong_missing_and_revoked_tokens(acct):
    before = acct.snapshot()
    upload = {"files": {"file": ("f.png", png(8, 8), "image/png")}, "data": {"id": "no-auth"}}
    for token in (None, "wrong-token", acct.token + "x"):
        cf_error(acct.call("GET", "v1/stats", token=token), 401, 403)
        cf_error(acct.call("POST", "v1", token=token, **upload), 401, 403)
        cf_error(acct.call("POST", "v2/direct_upload", token=token, data={"id": "no-auth"}), 401, 403)
        cf_error(acct.call("DELETE", "v1/keep/one", token=token), 401, 403)
        cf_error(acct.call("GET", "v1/keys", token=token), 401, 403)
    # A token the CLI revoked fails on the next request.
    token = acct.server.cli("cf", "token", "create", "--name", "to-revoke").stdout.strip()
    cf_result(acct.call("GET", "v1/stats", token=token))
    listed = acct.server.cli("cf", "token", "list").stdout.splitlines()
    token_id = next(line.split()[0] for line in listed if line.split()[1:2] == ["to-revoke"])
    acct.server.cli("cf", "token", "revoke", token_id)
    cf_error(acct.call("GET", "v1/stats", token=token), 401, 403)
    cf_error(acct.call("POST", "v1", token=token, **upload), 401, 403)
    # An account that does not exist.
    cf_error(acct.call("GET", "v1/stats", account_id="0" * 32), 403, 404)
    cf_error(acct.call("POST", "v1", account_id="f" * 32, **upload), 403, 404)
    assert acct.snapshot() == before
    assert acct.call("GET", "v1/keep/one").status_code == 200


def test_a_token_of_another_account_is_refused(acct):
    other_id = "ab" * 16
    out = acct.server.cli("cf", "account", "create", "--bucket", "refusals-other", "--id", other_id).stdout.split()
    assert out[0] == other_id and out[2] == "refusals-other"
    other_token = acct.server.cli("cf", "token", "create", "--account", other_id).stdout.strip()
    cf_result(acct.call("GET", "v1/stats", token=other_token, account_id=other_id))
    before = acct.snapshot()
    cf_error(acct.call("GET", "v1/stats", token=other_token), 401, 403)
    cf_error(acct.call("POST", "v1", token=other_token, files={"file": ("f.png", png(8, 8), "image/png")},
                       data={"id": "cross"}), 401, 403)
    cf_error(acct.call("GET", "v1/stats", token=acct.token, account_id=other_id), 401, 403)
    assert acct.snapshot() == before


def test_at_most_100_variants(acct):
    have = cf_result(acct.call("GET", "v1/variants"))["variants"]
    made = []
    for n in range(100 - len(have)):
        name = f"v{n:03d}"
        cf_result(acct.call("POST", "v1/variants", json={
            "id": name, "options": {"fit": "scale-down", "width": 10 + n, "height": 10 + n, "metadata": "none"}}))
        made.append(name)
    assert len(cf_result(acct.call("GET", "v1/variants"))["variants"]) == 100
    cf_error(acct.call("POST", "v1/variants", json={
        "id": "one-too-many", "options": {"fit": "scale-down", "width": 10, "height": 10, "metadata": "none"}}),
        400, 403, 409, 422, 429)
    variants = cf_result(acct.call("GET", "v1/variants"))["variants"]
    assert len(variants) == 100 and "one-too-many" not in variants
    for name in made:
        cf_result(acct.call("DELETE", f"v1/variants/{name}"))
