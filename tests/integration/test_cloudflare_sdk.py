"""The Cloudflare-Images-compatible API driven by the official `cloudflare` Python SDK (4.x),
pointed at imgd's `/client/v4`: uploads by file and by URL, direct creator uploads, both
list APIs with paging, get, patch, delete, blob, variants, signing keys, stats and the
account's flexible-variants setting. Every answer is checked field by field, and effects are
checked where they show: the S3 objects of the account's bucket and real deliveries."""
import datetime as dt
import io
import json
import re
import uuid

import cloudflare
import pytest
import requests
from cloudflare import Cloudflare
from cloudflare._base_client import make_request_options
from cloudflare._wrappers import ResultWrapper
from cloudflare.types.images import Image as CfImage
from PIL import Image

from conftest import CORPUS, Imgd, cf_result, cloudflare_account

JPEG = (CORPUS / "flowers.jpeg").read_bytes()  # 1920x1080
ADMIN_TOKEN = "cf-sdk-admin-token-0001"


def png(w: int, h: int, color=(200, 30, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), color).save(out, "PNG")
    return out.getvalue()


def dims(body: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(body)).size


class Cf:
    def __init__(self, server: Imgd):
        self.server = server
        self.account_id, self.account_hash, self.bucket, self.token = cloudflare_account(server, "sdk")
        self.client = Cloudflare(api_token=self.token, base_url=f"{server.endpoint}/client/v4", max_retries=0)
        self.s3 = server.client()

    def delivery(self, image_id: str, variant: str) -> str:
        return f"{self.server.endpoint}/{self.account_hash}/{image_id}/{variant}"

    def s3_keys(self) -> list[str]:
        keys, token = [], None
        while True:
            kw = {"Bucket": self.bucket, **({"ContinuationToken": token} if token else {})}
            page = self.s3.list_objects_v2(**kw)
            keys += [o["Key"] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return sorted(keys)
            token = page["NextContinuationToken"]

    def upload(self, file: tuple, *, id: str | None = None, metadata: str | None = None,
               require_signed_urls: bool | None = None) -> CfImage:
        """POST v1 with a file, through the SDK's own client and result parsing.

        `images.v1.create(file=...)` of SDK 4.x cannot send a file: it never moves `file`
        into the request's files, so the tuple goes out as form fields named `file[]`
        (cloudflare-python issue #2569; Cloudflare itself refuses that request too, see
        test_the_sdks_create_with_a_file_is_refused_as_cloudflare_does). This does what the
        generated method would do with the file extracted."""
        body = {k: v for k, v in {"id": id, "metadata": metadata, "requireSignedURLs": require_signed_urls}.items()
                if v is not None}
        return self.client.post(
            f"/accounts/{self.account_id}/images/v1", body=body, files=[("file", file)],
            options=make_request_options(extra_headers={"Content-Type": "multipart/form-data"},
                                         post_parser=ResultWrapper[CfImage]._unwrapper),
            cast_to=ResultWrapper[CfImage])

    def raw_image(self, image_id: str) -> dict:
        """GET v1/{id} as the JSON the server sent (the SDK's model has no `draft`)."""
        raw = self.client.images.v1.with_raw_response.get(image_id, account_id=self.account_id)
        return raw.http_response.json()["result"]


@pytest.fixture(scope="module")
def cf(tmp_path_factory, origin):
    # Loopback origins are refused by the fetcher unless allowed (as test_admin does).
    server = Imgd(tmp_path_factory.mktemp("cf-sdk") / "data",
                  env={"IMGD_ADMIN_TOKEN": ADMIN_TOKEN, "IMGD_FETCH_ALLOW": "127.0.0.1/32"}).start()
    yield Cf(server)
    server.stop()


def named_variants(cf: Cf) -> list[str]:
    return sorted(cf.client.images.v1.variants.list(account_id=cf.account_id).to_dict()["variants"])


def assert_image(cf: Cf, img, image_id: str, filename: str | None, meta: dict, signed: bool):
    assert img.id == image_id
    if filename is not None:
        assert img.filename == filename
    assert img.meta == meta
    assert img.require_signed_urls is signed
    assert isinstance(img.uploaded, dt.datetime) and img.uploaded.tzinfo is not None
    age = dt.datetime.now(dt.timezone.utc) - img.uploaded
    assert dt.timedelta(seconds=-5) < age < dt.timedelta(minutes=10), img.uploaded
    want = sorted(cf.delivery(image_id, v) for v in named_variants(cf))
    assert sorted(img.variants) == want


def test_upload_by_file_get_blob_and_s3_object(cf):
    img = cf.upload(("flowers.jpeg", JPEG, "image/jpeg"),
        metadata=json.dumps({"owner": "sdk", "n": 1}), require_signed_urls=False,
        id="sdk/flowers")
    assert_image(cf, img, "sdk/flowers", "flowers.jpeg", {"owner": "sdk", "n": 1}, False)
    assert cf.delivery("sdk/flowers", "public") in img.variants

    got = cf.client.images.v1.get("sdk/flowers", account_id=cf.account_id)
    assert_image(cf, got, "sdk/flowers", "flowers.jpeg", {"owner": "sdk", "n": 1}, False)
    assert "draft" not in cf.raw_image("sdk/flowers")

    blob = cf.client.images.v1.blobs.get("sdk/flowers", account_id=cf.account_id)
    assert blob.read() == JPEG
    # The image is the object `{id}` of the account's bucket.
    assert cf.s3.get_object(Bucket=cf.bucket, Key="sdk/flowers")["Body"].read() == JPEG

    r = requests.get(cf.delivery("sdk/flowers", "public"), timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("image/")
    w, h = dims(r.content)
    assert w <= 1920 and h <= 1080 and abs(w / h - 1920 / 1080) < 0.02


def test_the_sdks_create_with_a_file_is_refused_as_cloudflare_does(cf):
    """SDK 4.x's `images.v1.create(file=...)` sends the file as form fields `file[]`; the
    door refuses that (400, like Cloudflare's own 5455) and stores nothing."""
    before = cf.s3_keys()
    with pytest.raises(cloudflare.BadRequestError) as refused:
        cf.client.images.v1.create(account_id=cf.account_id, file=("x.png", png(10, 10), "image/png"),
                                   extra_body={"id": "sdk-broken-create"})
    assert refused.value.status_code == 400
    body = refused.value.body
    assert isinstance(body, dict) and body.get("success") is False and body["errors"][0]["message"], body
    assert cf.s3_keys() == before


def test_upload_without_id_gets_a_generated_one(cf):
    body = png(64, 48)
    img = cf.upload(("red.png", body, "image/png"))
    assert img.id and "/" not in img.id
    assert img.filename == "red.png" and img.require_signed_urls is False
    assert cf.s3.get_object(Bucket=cf.bucket, Key=img.id)["Body"].read() == body
    assert cf.client.images.v1.blobs.get(img.id, account_id=cf.account_id).read() == body
    cf.client.images.v1.delete(img.id, account_id=cf.account_id)


def test_upload_by_url(cf, origin):
    body = png(120, 90, (10, 200, 40))
    origin.serve("/sdk/green.png", body, headers={"Content-Type": "image/png"})
    img = cf.client.images.v1.create(account_id=cf.account_id, url=f"{origin.base}/sdk/green.png",
                                     metadata=json.dumps({"from": "url"}), extra_body={"id": "sdk-url"})
    assert_image(cf, img, "sdk-url", None, {"from": "url"}, False)
    assert origin.hits("/sdk/green.png") >= 1
    assert cf.client.images.v1.blobs.get("sdk-url", account_id=cf.account_id).read() == body
    assert cf.s3.get_object(Bucket=cf.bucket, Key="sdk-url")["Body"].read() == body
    r = requests.get(cf.delivery("sdk-url", "public"), timeout=30)
    assert r.status_code == 200 and dims(r.content) == (120, 90)
    cf.client.images.v1.delete("sdk-url", account_id=cf.account_id)


def test_direct_upload_draft_then_upload(cf):
    expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=20)
    du = cf.client.images.v2.direct_uploads.create(
        account_id=cf.account_id, id="sdk-direct", expiry=expiry,
        metadata=json.dumps({"by": "direct"}), require_signed_urls=False, extra_body={"creator": "alice"})
    assert du.id == "sdk-direct"
    assert re.fullmatch(rf"{re.escape(cf.server.endpoint)}/cdn-cgi/imagedelivery/upload/[^/?#]+", du.upload_url), \
        du.upload_url

    draft = cf.raw_image("sdk-direct")
    assert draft["draft"] is True and draft["id"] == "sdk-direct"
    assert "sdk-direct" not in cf.s3_keys()
    assert requests.get(cf.delivery("sdk-direct", "public"), timeout=10).status_code == 404
    assert "sdk-direct" not in ids_v2(cf)

    body = png(80, 60, (0, 0, 255))
    up = requests.post(du.upload_url, files={"file": ("blue.png", body, "image/png")}, timeout=30)
    res = cf_result(up)
    assert res["id"] == "sdk-direct" and res["meta"] == {"by": "direct"}
    assert res["requireSignedURLs"] is False and res.get("draft") in (None, False)

    img = cf.client.images.v1.get("sdk-direct", account_id=cf.account_id)
    assert_image(cf, img, "sdk-direct", "blue.png", {"by": "direct"}, False)
    assert "draft" not in cf.raw_image("sdk-direct") or cf.raw_image("sdk-direct")["draft"] is False
    assert cf.s3.get_object(Bucket=cf.bucket, Key="sdk-direct")["Body"].read() == body
    r = requests.get(cf.delivery("sdk-direct", "public"), timeout=30)
    assert r.status_code == 200 and dims(r.content) == (80, 60)

    # v2 lists by creator: only what alice uploaded.
    listed = cf.client.images.v2.list(account_id=cf.account_id, per_page=100, extra_query={"creator": "alice"})
    assert [i.id for i in listed.images] == ["sdk-direct"]
    assert cf.client.images.v2.list(account_id=cf.account_id, per_page=100,
                                    extra_query={"creator": "nobody"}).images == []


def ids_v1(cf: Cf, per_page: int) -> list[str]:
    seen, page = [], 1
    while True:
        raw = cf.client.images.v1.with_raw_response.list(account_id=cf.account_id, page=page, per_page=per_page)
        images = raw.http_response.json()["result"]["images"]
        assert len(images) <= per_page
        seen += [i["id"] for i in images]
        if len(images) < per_page:
            return seen
        page += 1
        assert page < 1000


def ids_v2(cf: Cf, per_page: int = 100, sort_order: str = "desc") -> list[str]:
    seen, token = [], None
    while True:
        kw = {"continuation_token": token} if token else {}
        res = cf.client.images.v2.list(account_id=cf.account_id, per_page=per_page, sort_order=sort_order, **kw)
        assert len(res.images) <= per_page
        seen += [i.id for i in res.images]
        token = res.continuation_token
        if not token:
            return seen
        assert len(seen) < 100000


def test_lists_page_through_every_image_once_and_skip_drafts(cf):
    made = []
    for n in range(23):
        img = cf.upload((f"p{n}.png", png(8 + n, 8), "image/png"), id=f"page/{n:02d}")
        made.append(img.id)
    # A draft that is never uploaded: listed by neither API, not counted.
    cf.client.images.v2.direct_uploads.create(account_id=cf.account_id, id="page-draft")
    every = set(cf.s3_keys())
    assert set(made) <= every and "page-draft" not in every

    for per_page in (10, 25):
        got = ids_v1(cf, per_page)
        assert len(got) == len(set(got)), got
        assert set(got) == every, set(got) ^ every
    raw = cf.client.images.v1.with_raw_response.list(account_id=cf.account_id, page=1, per_page=10)
    assert raw.http_response.status_code == 200

    asc = ids_v2(cf, per_page=10, sort_order="asc")
    desc = ids_v2(cf, per_page=10, sort_order="desc")
    assert len(asc) == len(set(asc)) and set(asc) == every
    assert desc == list(reversed(asc))
    # Ascending is upload order: the numbered ones came one after another.
    numbered = [i for i in asc if i.startswith("page/")]
    assert numbered == made

    stats = cf.client.images.v1.stats.get(account_id=cf.account_id)
    assert stats.count.current == len(every)
    assert stats.count.allowed >= stats.count.current
    for image_id in made:
        cf.client.images.v1.delete(image_id, account_id=cf.account_id)
    assert cf.client.images.v1.stats.get(account_id=cf.account_id).count.current == len(every) - len(made)


def test_patch_metadata_and_require_signed_urls(cf):
    cf.upload(("m.png", png(50, 40), "image/png"), metadata=json.dumps({"v": 1}), id="sdk-patch")
    img = cf.client.images.v1.edit("sdk-patch", account_id=cf.account_id, metadata={"v": 2, "tag": "x"})
    assert img.meta == {"v": 2, "tag": "x"} and img.require_signed_urls is False
    assert cf.client.images.v1.get("sdk-patch", account_id=cf.account_id).meta == {"v": 2, "tag": "x"}
    assert requests.get(cf.delivery("sdk-patch", "public"), timeout=30).status_code == 200

    img = cf.client.images.v1.edit("sdk-patch", account_id=cf.account_id, require_signed_urls=True)
    assert img.require_signed_urls is True and img.meta == {"v": 2, "tag": "x"}
    got = cf.client.images.v1.get(img.id, account_id=cf.account_id)
    assert got.require_signed_urls is True
    assert requests.get(cf.delivery(img.id, "public"), timeout=30).status_code == 403

    img = cf.client.images.v1.edit(img.id, account_id=cf.account_id, require_signed_urls=False)
    assert img.require_signed_urls is False
    assert requests.get(cf.delivery(img.id, "public"), timeout=30).status_code == 200
    cf.client.images.v1.delete(img.id, account_id=cf.account_id)


def test_delete(cf):
    cf.upload(("d.png", png(30, 30), "image/png"), id="sdk-delete")
    assert requests.get(cf.delivery("sdk-delete", "public"), timeout=30).status_code == 200
    raw = cf.client.images.v1.with_raw_response.delete("sdk-delete", account_id=cf.account_id)
    assert cf_result(raw.http_response) == {}
    with pytest.raises(cloudflare.NotFoundError):
        cf.client.images.v1.get("sdk-delete", account_id=cf.account_id)
    with pytest.raises(cloudflare.NotFoundError):
        cf.client.images.v1.blobs.get("sdk-delete", account_id=cf.account_id)
    assert "sdk-delete" not in cf.s3_keys()
    assert requests.get(cf.delivery("sdk-delete", "public"), timeout=10).status_code == 404
    with pytest.raises(cloudflare.NotFoundError):
        cf.client.images.v1.delete("sdk-delete", account_id=cf.account_id)


def test_variants_crud(cf):
    v1 = cf.client.images.v1
    before = v1.variants.list(account_id=cf.account_id).to_dict()["variants"]
    assert "public" in before
    assert before["public"]["options"]["fit"] == "scale-down"

    created = v1.variants.create(account_id=cf.account_id, id="mobile",
                                 options={"fit": "scale-down", "width": 400, "height": 300, "metadata": "none"},
                                 never_require_signed_urls=False)
    assert created.variant.id == "mobile"
    assert created.variant.options.fit == "scale-down"
    assert (created.variant.options.width, created.variant.options.height) == (400, 300)
    assert created.variant.options.metadata == "none"
    assert created.variant.never_require_signed_urls is False

    listed = v1.variants.list(account_id=cf.account_id).to_dict()["variants"]
    assert set(listed) == set(before) | {"mobile"}
    assert listed["mobile"]["options"]["width"] == 400
    got = v1.variants.get("mobile", account_id=cf.account_id).to_dict()["variant"]
    assert got["id"] == "mobile" and got["options"]["height"] == 300

    img = cf.upload(("f.jpeg", JPEG, "image/jpeg"), id="sdk-var")
    assert cf.delivery("sdk-var", "mobile") in img.variants
    r = requests.get(cf.delivery("sdk-var", "mobile"), timeout=30)
    assert r.status_code == 200, r.text
    assert dims(r.content) == (400, 225)

    edited = v1.variants.edit("mobile", account_id=cf.account_id,
                              options={"fit": "cover", "width": 100, "height": 100, "metadata": "keep"},
                              never_require_signed_urls=True)
    assert edited.to_dict()["variant"]["options"]["fit"] == "cover"
    assert edited.to_dict()["variant"]["neverRequireSignedURLs"] is True
    r = requests.get(cf.delivery("sdk-var", "mobile"), timeout=30)
    assert r.status_code == 200 and dims(r.content) == (100, 100)

    v1.variants.delete("mobile", account_id=cf.account_id)
    assert "mobile" not in v1.variants.list(account_id=cf.account_id).to_dict()["variants"]
    with pytest.raises(cloudflare.NotFoundError):
        v1.variants.get("mobile", account_id=cf.account_id)
    r = requests.get(cf.delivery("sdk-var", "mobile"), timeout=30)
    assert 400 <= r.status_code < 500
    assert cf.delivery("sdk-var", "mobile") not in v1.get("sdk-var", account_id=cf.account_id).variants
    v1.delete("sdk-var", account_id=cf.account_id)


def test_keys_list_update_delete(cf):
    keys = cf.client.images.v1.keys
    first = keys.list(account_id=cf.account_id).keys
    assert first and all(k.name and k.value for k in first)
    assert "default" in {k.name for k in first}

    added = keys.update("sdk-key", account_id=cf.account_id).keys
    names = {k.name: k.value for k in added}
    assert set(names) == {k.name for k in first} | {"sdk-key"}
    assert len(names["sdk-key"]) >= 16
    assert {k.name: k.value for k in keys.list(account_id=cf.account_id).keys} == names

    left = keys.delete("sdk-key", account_id=cf.account_id).keys
    assert {k.name for k in left} == {k.name for k in first}

    # Deleting the last key leaves a new `default` key.
    for k in first[:-1]:
        keys.delete(k.name, account_id=cf.account_id)
    last = first[-1]
    after = keys.delete(last.name, account_id=cf.account_id).keys
    assert [k.name for k in after] == ["default"]
    assert after[0].value and after[0].value not in {k.value for k in first}
    assert [(k.name, k.value) for k in keys.list(account_id=cf.account_id).keys] == [("default", after[0].value)]


def test_stats(cf):
    image_id = f"stats-{uuid.uuid4().hex[:8]}"
    before = cf.client.images.v1.stats.get(account_id=cf.account_id).count
    assert before.allowed > 0
    cf.upload(("s.png", png(9, 9), "image/png"), id=image_id)
    assert cf.client.images.v1.stats.get(account_id=cf.account_id).count.current == before.current + 1
    cf.client.images.v2.direct_uploads.create(account_id=cf.account_id, id=f"{image_id}-draft")
    assert cf.client.images.v1.stats.get(account_id=cf.account_id).count.current == before.current + 1
    cf.client.images.v1.delete(image_id, account_id=cf.account_id)
    assert cf.client.images.v1.stats.get(account_id=cf.account_id).count.current == before.current


def test_config_flexible_variants(cf):
    cf.upload(("f.jpeg", JPEG, "image/jpeg"), id="sdk-flex")
    flex = cf.delivery("sdk-flex", "w=200,h=100,fit=cover")
    refused = requests.get(flex, timeout=30)
    assert 400 <= refused.status_code < 500, refused.status_code

    # The SDK has no method for the account's Images config; its generic `patch` sends it.
    res = cf.client.patch(f"/accounts/{cf.account_id}/images/v1/config", cast_to=object,
                          body={"flexible_variants": True})
    assert res["success"] is True, res
    r = requests.get(flex, timeout=30)
    assert r.status_code == 200, r.text
    assert dims(r.content) == (200, 100)
    r = requests.get(cf.delivery("sdk-flex", "width=300"), timeout=30)
    assert r.status_code == 200 and dims(r.content) in ((300, 168), (300, 169))

    res = cf.client.patch(f"/accounts/{cf.account_id}/images/v1/config", cast_to=object,
                          body={"flexible_variants": False})
    assert res["success"] is True, res
    assert 400 <= requests.get(flex, timeout=30).status_code < 500
    cf.client.images.v1.delete("sdk-flex", account_id=cf.account_id)


def test_wrong_token_is_an_sdk_authentication_error(cf):
    bad = Cloudflare(api_token="not-a-token", base_url=f"{cf.server.endpoint}/client/v4", max_retries=0)
    with pytest.raises((cloudflare.AuthenticationError, cloudflare.PermissionDeniedError)):
        bad.images.v1.stats.get(account_id=cf.account_id)
