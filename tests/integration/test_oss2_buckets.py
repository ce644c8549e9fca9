"""Buckets, ListObjectsV2, batch delete and ACLs on the OSS door, driven by the real `oss2`
SDK against the release binary. Every operation's effect is checked through another door
(boto3 on the S3 API, anonymous reads on the delivery door, the CLI), not only through
what the OSS door answers."""
import calendar
import hashlib
import time
import uuid

import oss2
import pytest
import requests
from botocore.exceptions import ClientError
from oss2 import xml_utils

from conftest import ACCESS_KEY, SECRET_KEY

AUTH = oss2.Auth(ACCESS_KEY, SECRET_KEY)


def fresh(prefix: str = "ob") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def oss_bucket(imgd, name: str, auth=AUTH) -> oss2.Bucket:
    return oss2.Bucket(auth, imgd.endpoint, name)


def exists(b: oss2.Bucket) -> bool:
    """How oss2 users test for a bucket: GetBucketInfo, NoSuchBucket when it is absent."""
    try:
        b.get_bucket_info()
        return True
    except oss2.exceptions.NoSuchBucket:
        return False


def s3_keys(imgd, name: str) -> list[str]:
    got = imgd.client().list_objects_v2(Bucket=name)
    return [o["Key"] for o in got.get("Contents", [])]


def extra_key(imgd, grant: str) -> oss2.Auth:
    out = imgd.cli("key", "create", "--bucket", grant).stdout
    return oss2.Auth(out.split("access_key = ")[1].split()[0], out.split("secret_key = ")[1].split()[0])


def post_delete(b: oss2.Bucket, body: bytes, md5: str | None = "right", params=None):
    """POST ?delete with a hand-written document, signed by oss2 (`batch_delete_objects`
    always writes a valid one)."""
    headers = {}
    if md5 == "right":
        headers["Content-MD5"] = oss2.utils.content_md5(body)
    elif md5 is not None:
        headers["Content-MD5"] = md5
    return b._do("POST", b.bucket_name, "", data=body, params=params or {"delete": "", "encoding-type": "url"},
                 headers=headers)


# ---- buckets ------------------------------------------------------------------------


def test_create_bucket_makes_a_bucket_later_writes_use(imgd):
    name = fresh()
    b = oss_bucket(imgd, name)
    assert not exists(b)
    result = b.create_bucket(oss2.BUCKET_ACL_PRIVATE,
                             oss2.models.BucketCreateConfig(oss2.BUCKET_STORAGE_CLASS_STANDARD))
    assert result.status == 200
    # The bucket exists for every door, and the first write after creation works.
    imgd.client().head_bucket(Bucket=name)
    assert exists(b)
    b.put_object("first.txt", b"written after create_bucket")
    assert imgd.client().get_object(Bucket=name, Key="first.txt")["Body"].read() == b"written after create_bucket"
    # Creating it again (what programs do at every start) succeeds and keeps it as it was.
    assert b.create_bucket().status == 200
    assert s3_keys(imgd, name) == ["first.txt"]


def test_create_bucket_with_public_read_acl(imgd):
    name = fresh()
    b = oss_bucket(imgd, name)
    b.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)
    assert b.get_bucket_acl().acl == "public-read"
    grants = imgd.client().get_bucket_acl(Bucket=name)["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") and g["Permission"] == "READ" for g in grants)
    b.put_object("open.txt", b"anyone may read")
    r = requests.get(f"{imgd.endpoint}/{name}/open.txt", timeout=10)
    assert r.status_code == 200 and r.content == b"anyone may read"
    # A second create without x-oss-acl keeps the stored ACL.
    b.create_bucket()
    assert b.get_bucket_acl().acl == "public-read"


def test_create_bucket_refusals_store_nothing(imgd):
    name = fresh()
    b = oss_bucket(imgd, name)
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ_WRITE)
    assert e.value.status == 501 and e.value.code == "NotImplemented"
    assert "public-read-write" in e.value.message
    with pytest.raises(oss2.exceptions.InvalidArgument):
        b.create_bucket(input=oss2.models.BucketCreateConfig(oss2.BUCKET_STORAGE_CLASS_IA))
    with pytest.raises(oss2.exceptions.InvalidArgument):
        b.create_bucket(input=oss2.models.BucketCreateConfig(oss2.BUCKET_STORAGE_CLASS_STANDARD,
                                                             oss2.BUCKET_DATA_REDUNDANCY_TYPE_ZRS))
    with pytest.raises(oss2.exceptions.MalformedXml):
        b._do("PUT", name, "", data=b"<CreateBucketConfiguration><StorageClass>")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.create_bucket("everyone")
    assert e.value.status == 400 and e.value.code == "InvalidArgument"
    assert not exists(b)
    with pytest.raises(ClientError):
        imgd.client().head_bucket(Bucket=name)
    bad = oss_bucket(imgd, "xn--passes-oss2s-own-check")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        bad.create_bucket()
    assert e.value.status == 400 and e.value.code == "InvalidBucketName"


def test_delete_bucket_only_when_empty(imgd):
    name = fresh()
    b = oss_bucket(imgd, name)
    b.create_bucket()
    b.put_object("keep.txt", b"x")
    with pytest.raises(oss2.exceptions.BucketNotEmpty) as e:
        b.delete_bucket()
    assert e.value.status == 409
    imgd.client().head_bucket(Bucket=name)
    assert s3_keys(imgd, name) == ["keep.txt"]
    b.delete_object("keep.txt")
    assert b.delete_bucket().status == 204
    assert not exists(b)
    with pytest.raises(ClientError):
        imgd.client().head_bucket(Bucket=name)
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.delete_bucket()


def test_bucket_info_and_location(imgd):
    name = fresh()
    b = oss_bucket(imgd, name)
    b.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)
    info = b.get_bucket_info()
    assert info.name == name
    assert info.storage_class == "Standard"
    assert info.acl.grant == "public-read"
    assert info.location == "oss-us-east-1"
    assert info.extranet_endpoint == f"127.0.0.1:{imgd.port}"
    assert info.data_redundancy_type == "LRS"
    assert info.bucket_encryption_rule.sse_algorithm is None
    created = calendar.timegm(time.strptime(info.creation_date, "%Y-%m-%dT%H:%M:%S.000Z"))
    assert abs(created - time.time()) < 300
    assert b.get_bucket_location().location == "oss-us-east-1"
    missing = oss_bucket(imgd, fresh("gone"))
    for call in (missing.get_bucket_info, missing.get_bucket_location, missing.get_bucket_acl):
        with pytest.raises(oss2.exceptions.NoSuchBucket):
            call()


def test_put_bucket_acl_changes_who_may_read(imgd):
    name = fresh()
    b = oss_bucket(imgd, name)
    b.create_bucket()
    b.put_object("a.txt", b"secret")
    assert b.get_bucket_acl().acl == "private"
    assert requests.get(f"{imgd.endpoint}/{name}/a.txt", timeout=10).status_code == 403
    b.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
    assert b.get_bucket_acl().acl == "public-read"
    assert b.get_bucket_info().acl.grant == "public-read"
    assert requests.get(f"{imgd.endpoint}/{name}/a.txt", timeout=10).content == b"secret"
    b.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)
    assert requests.get(f"{imgd.endpoint}/{name}/a.txt", timeout=10).status_code == 403
    # An explicit delivery policy gives way to the ACL the client sets.
    imgd.cli("bucket", "policy", name, "--delivery", "public")
    assert requests.get(f"{imgd.endpoint}/{name}/a.txt", timeout=10).status_code == 200
    b.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)
    assert requests.get(f"{imgd.endpoint}/{name}/a.txt", timeout=10).status_code == 403
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ_WRITE)
    assert e.value.status == 501 and e.value.code == "NotImplemented"
    assert b.get_bucket_acl().acl == "private"
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        oss_bucket(imgd, fresh("gone")).put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)


def test_list_buckets_prefix_marker_and_pages(imgd):
    stem = f"lb{uuid.uuid4().hex[:6]}"
    names = sorted(f"{stem}-{i:02d}" for i in range(5))
    for n in names:
        oss_bucket(imgd, n).create_bucket()
    service = oss2.Service(AUTH, imgd.endpoint)
    got = service.list_buckets(prefix=stem)
    assert [b.name for b in got.buckets] == names and not got.is_truncated
    assert got.owner.id == "imgd"
    first = got.buckets[0]
    assert first.location == "oss-us-east-1" and first.storage_class == "Standard"
    assert first.extranet_endpoint == f"127.0.0.1:{imgd.port}" and abs(first.creation_date - time.time()) < 300
    page = service.list_buckets(prefix=stem, max_keys=2)
    assert [b.name for b in page.buckets] == names[:2] and page.is_truncated and page.next_marker == names[1]
    after = service.list_buckets(prefix=stem, marker=names[2])
    assert [b.name for b in after.buckets] == names[3:]
    assert [b.name for b in oss2.BucketIterator(service, prefix=stem, max_keys=2)] == names
    # Every bucket, whichever door made it, is listed; S3 sees the OSS-made ones.
    s3_made = f"{stem}-s3"
    imgd.client().create_bucket(Bucket=s3_made)
    assert s3_made in [b.name for b in oss2.BucketIterator(service, prefix=stem)]
    assert set(names) <= {b["Name"] for b in imgd.client().list_buckets()["Buckets"]}
    with pytest.raises(oss2.exceptions.InvalidArgument):
        service.list_buckets(max_keys="many")
    # Other service-level operations are refused by name.
    with pytest.raises(oss2.exceptions.ServerError) as e:
        service.describe_regions()
    assert e.value.status == 501 and "ListBuckets" in e.value.message


def test_extra_keys_see_their_buckets_and_cannot_manage_them(imgd):
    mine, other = fresh("mine"), fresh("other")
    for n in (mine, other):
        oss_bucket(imgd, n).create_bucket()
    auth = extra_key(imgd, f"{mine}:read-write")
    listed = [b.name for b in oss2.BucketIterator(oss2.Service(auth, imgd.endpoint))]
    assert listed == [mine]
    b = oss_bucket(imgd, mine, auth)
    assert b.get_bucket_info().name == mine
    b.put_object("k.txt", b"x")
    for call in (b.delete_bucket, lambda: b.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)):
        with pytest.raises(oss2.exceptions.AccessDenied):
            call()
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.create_bucket()
    assert e.value.status == 409 and e.value.code == "BucketAlreadyExists"
    new = fresh("new")
    with pytest.raises(oss2.exceptions.AccessDenied):
        oss_bucket(imgd, new, auth).create_bucket()
    with pytest.raises(oss2.exceptions.AccessDenied):
        oss_bucket(imgd, other, auth).get_bucket_info()
    assert not exists(oss_bucket(imgd, new))
    assert oss_bucket(imgd, mine).get_bucket_acl().acl == "private"


# ---- ListObjectsV2 --------------------------------------------------------------------


@pytest.fixture(scope="module")
def listed(imgd):
    name = fresh("v2")
    b = oss_bucket(imgd, name)
    b.create_bucket()
    keys = ["a.txt", "b/1.txt", "b/2.txt", "c d.txt", "d/e/f.txt", "z&ü.txt"]
    for k in keys:
        b.put_object(k, k.encode())
    return b, keys


def test_list_objects_v2_pages_with_continuation_tokens(listed):
    b, keys = listed
    first = b.list_objects_v2(max_keys=2)
    assert [o.key for o in first.object_list] == keys[:2]
    assert first.is_truncated and first.next_continuation_token
    second = b.list_objects_v2(max_keys=2, continuation_token=first.next_continuation_token)
    assert [o.key for o in second.object_list] == keys[2:4]
    assert [o.key for o in oss2.ObjectIteratorV2(b, max_keys=2)] == keys
    whole = b.list_objects_v2()
    assert not whole.is_truncated and not whole.next_continuation_token
    o = whole.object_list[0]
    assert o.etag == hashlib.md5(b"a.txt").hexdigest().upper() and o.size == 5 and o.type == "Normal"
    assert o.storage_class == "Standard" and abs(o.last_modified - time.time()) < 300
    with pytest.raises(oss2.exceptions.InvalidArgument):
        b.list_objects_v2(continuation_token="not a token!")


def test_list_objects_v2_prefix_delimiter_start_after_and_owner(listed):
    b, keys = listed
    rolled = b.list_objects_v2(delimiter="/")
    assert [o.key for o in rolled.object_list] == ["a.txt", "c d.txt", "z&ü.txt"]
    assert rolled.prefix_list == ["b/", "d/"]
    assert [o.key for o in b.list_objects_v2(prefix="b/").object_list] == ["b/1.txt", "b/2.txt"]
    assert [o.key for o in b.list_objects_v2(start_after="c d.txt").object_list] == keys[4:]
    # A token wins over start-after.
    page = b.list_objects_v2(max_keys=1)
    assert [o.key for o in b.list_objects_v2(max_keys=1, continuation_token=page.next_continuation_token,
                                             start_after="d").object_list] == ["b/1.txt"]
    # Pages that end on a common prefix resume after it.
    seen, prefixes = [], []
    for entry in oss2.ObjectIteratorV2(b, delimiter="/", max_keys=1):
        (prefixes if entry.is_prefix() else seen).append(entry.key)
    assert seen == ["a.txt", "c d.txt", "z&ü.txt"] and prefixes == ["b/", "d/"]
    assert all(o.owner is None for o in b.list_objects_v2().object_list)
    owned = b.list_objects_v2(fetch_owner=True).object_list
    assert owned and all(o.owner.id == "imgd" for o in owned)


def test_list_objects_v2_url_encoding_and_raw_xml(listed, imgd):
    b, _ = listed
    # oss2 asks for encoding-type=url and decodes; the keys come back whole.
    assert "z&ü.txt" in [o.key for o in b.list_objects_v2().object_list]
    resp = b._do("GET", b.bucket_name, "", params={"list-type": "2", "encoding-type": "url", "prefix": "z",
                                                   "max-keys": "1", "start-after": "c d.txt"})
    body = resp.read().decode()
    assert "<Key>z%26%C3%BC.txt</Key>" in body and "<EncodingType>url</EncodingType>" in body
    assert "<KeyCount>1</KeyCount>" in body and "<StartAfter>c%20d.txt</StartAfter>" in body
    plain = b._do("GET", b.bucket_name, "", params={"list-type": "2", "prefix": "z"}).read().decode()
    assert "<Key>z&amp;ü.txt</Key>" in plain and "EncodingType" not in plain
    with pytest.raises(oss2.exceptions.InvalidArgument):
        b._do("GET", b.bucket_name, "", params={"list-type": "2", "fetch-owner": "maybe"})
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        oss_bucket(imgd, fresh("gone")).list_objects_v2()


# ---- batch delete ---------------------------------------------------------------------


@pytest.fixture
def filled(imgd):
    name = fresh("bd")
    b = oss_bucket(imgd, name)
    b.create_bucket()
    keys = ["one.txt", "two.txt", "dir/three ü&.txt", "four.txt"]
    for k in keys:
        b.put_object(k, b"x")
    return b, keys


def test_batch_delete_verbose(filled, imgd):
    b, keys = filled
    result = b.batch_delete_objects(["one.txt", "dir/three ü&.txt", "never-existed.txt"])
    assert sorted(result.deleted_keys) == sorted(["one.txt", "dir/three ü&.txt", "never-existed.txt"])
    assert sorted(s3_keys(imgd, b.bucket_name)) == sorted(["two.txt", "four.txt"])


def test_batch_delete_quiet(filled, imgd):
    b, _ = filled
    body = xml_utils.to_batch_delete_objects_request(["two.txt", "four.txt"], True)
    resp = post_delete(b, body)
    assert resp.status == 200
    text = resp.read().decode()
    assert "<DeleteResult>" in text and "<Deleted>" not in text
    assert sorted(s3_keys(imgd, b.bucket_name)) == sorted(["one.txt", "dir/three ü&.txt"])


def test_batch_delete_refusals_delete_nothing(filled, imgd):
    b, keys = filled
    malformed = [
        b"<Delete><Object><Key>one.txt</Key></Object>",
        b"<Delete><Object><Key>one.txt</Key></Object><Object/></Delete>",
        b"<Delete><Quiet>perhaps</Quiet><Object><Key>one.txt</Key></Object></Delete>",
        b"<Delete></Delete>",
        b"not xml at all",
        b"<Delete>" + b"<Object><Key>one.txt</Key></Object>" * 1001 + b"</Delete>",
    ]
    for body in malformed:
        with pytest.raises(oss2.exceptions.MalformedXml) as e:
            post_delete(b, body)
        assert e.value.status == 400, body[:60]
    good = xml_utils.to_batch_delete_objects_request(["one.txt"], False)
    with pytest.raises(oss2.exceptions.InvalidDigest):
        post_delete(b, good, md5=oss2.utils.content_md5(b"something else"))
    with pytest.raises(oss2.exceptions.ServerError) as e:
        post_delete(b, good, md5=None)
    assert e.value.status == 400 and e.value.code == "MissingArgument"
    with pytest.raises(oss2.exceptions.InvalidArgument):
        post_delete(b, b"<Delete><Object><Key>one.txt</Key><VersionId>v7</VersionId></Object></Delete>")
    with pytest.raises(oss2.exceptions.InvalidObjectName):
        b.batch_delete_objects(["one.txt", "k" * 1025])
    assert sorted(s3_keys(imgd, b.bucket_name)) == sorted(keys)
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        oss_bucket(imgd, fresh("gone")).batch_delete_objects(["one.txt"])
    reader = oss_bucket(imgd, b.bucket_name, extra_key(imgd, f"{b.bucket_name}:read"))
    with pytest.raises(oss2.exceptions.AccessDenied):
        reader.batch_delete_objects(["one.txt"])
    assert sorted(s3_keys(imgd, b.bucket_name)) == sorted(keys)


# ---- object ACL -----------------------------------------------------------------------


def test_object_acl_follows_the_bucket(filled):
    b, _ = filled
    assert b.get_object_acl("one.txt").acl == "default"
    assert b.put_object_acl("one.txt", oss2.OBJECT_ACL_DEFAULT).status == 200
    for acl in (oss2.OBJECT_ACL_PRIVATE, oss2.OBJECT_ACL_PUBLIC_READ, oss2.OBJECT_ACL_PUBLIC_READ_WRITE):
        with pytest.raises(oss2.exceptions.ServerError) as e:
            b.put_object_acl("one.txt", acl)
        assert e.value.status == 501 and e.value.code == "NotImplemented" and "per-object ACLs" in e.value.message
    assert b.get_object_acl("one.txt").acl == "default"
    with pytest.raises(oss2.exceptions.InvalidArgument):
        b.put_object_acl("one.txt", "world-writable")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        b.get_object_acl("missing.txt")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        b.put_object_acl("missing.txt", oss2.OBJECT_ACL_DEFAULT)
    # The object is untouched by all of it.
    assert b.get_object("one.txt").read() == b"x"


def test_unknown_sub_resources_never_act_as_plain_requests(filled, imgd):
    b, keys = filled
    # DELETE ?restore or ?acl must not delete the object.
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b._do("DELETE", b.bucket_name, "one.txt", params={"restore": ""})
    assert e.value.status == 501 and "restore" in e.value.message
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b._do("DELETE", b.bucket_name, "one.txt", params={"acl": ""})
    assert e.value.status == 501 and "acl" in e.value.message
    assert sorted(s3_keys(imgd, b.bucket_name)) == sorted(keys)
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.get_bucket_lifecycle()
    assert e.value.status == 501 and "lifecycle" in e.value.message


# ---- the style API ------------------------------------------------------------------

def _width(content: bytes) -> int:
    from PIL import Image
    import io
    return Image.open(io.BytesIO(content)).size[0]


def test_styles_round_trip_across_the_oss_api_the_cli_and_style_urls(imgd):
    from conftest import CORPUS
    name = fresh("st")
    b = oss_bucket(imgd, name)
    b.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)
    b.put_object("saw.jpg", (CORPUS / "2569067123_aca715a2ee_o.jpg").read_bytes())

    # Saved through OSS: rendered by style/<name>, listed by the CLI.
    b.put_bucket_style("small", "image/resize,w_48/format,png")
    got = b.get_bucket_style("small")
    assert (got.name, got.content) == ("small", "image/resize,w_48/format,png")
    assert got.create_time and got.last_modify_time
    r = requests.get(f"{imgd.endpoint}/{name}/saw.jpg", params={"x-oss-process": "style/small"}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    assert _width(r.content) == 48
    assert "small\timage/resize,w_48/format,png" in imgd.cli("style", "list", name).stdout

    # Saved by the CLI: seen by oss2's list, and replaced through OSS.
    imgd.cli("style", "put", name, "wide", "image/resize,w_96")
    listed = {s.name: s.content for s in b.list_bucket_style().styles}
    assert listed == {"small": "image/resize,w_48/format,png", "wide": "image/resize,w_96"}
    b.put_bucket_style("wide", "image/resize,w_80/format,png")
    assert "wide\timage/resize,w_80/format,png" in imgd.cli("style", "list", name).stdout
    r = requests.get(f"{imgd.endpoint}/{name}/saw.jpg", params={"x-oss-process": "style/wide"}, timeout=30)
    assert _width(r.content) == 80

    # Deleted through OSS: gone for the CLI and for style URLs; a second delete is 204.
    assert b.delete_bucket_style("small").status == 204
    assert "small" not in imgd.cli("style", "list", name).stdout
    r = requests.get(f"{imgd.endpoint}/{name}/saw.jpg", params={"x-oss-process": "style/small"}, timeout=10)
    assert r.status_code == 400
    assert b.delete_bucket_style("small").status == 204
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.get_bucket_style("small")
    assert e.value.status == 404 and e.value.code == "NoSuchStyle", e.value.message


def test_invalid_styles_get_oss_errors_and_store_nothing(imgd):
    name = fresh("st")
    b = oss_bucket(imgd, name)
    b.create_bucket()
    for content, needle in [
        ("image/resize,w_0", "must be between 1 and 16384"),
        ("style/other", "cannot refer to another style"),
        ("image/nosuchop,x_1", "nosuchop"),
    ]:
        with pytest.raises(oss2.exceptions.ServerError) as e:
            b.put_bucket_style("bad", content)
        assert e.value.status == 400 and e.value.code == "InvalidArgument", (content, e.value.message)
        assert needle in e.value.message, (content, e.value.message)
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.put_bucket_style("bad name!", "image/resize,w_10")
    assert e.value.status == 400 and e.value.code == "InvalidArgument"
    # A document that is not a Style, signed by oss2 like put_bucket_style's own.
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b._do("PUT", name, "", data=b"<Style><Other>x</Other></Style>", params={"style": "", "styleName": "bad"})
    assert e.value.status == 400 and e.value.code == "MalformedXML"
    assert b.list_bucket_style().styles == []
    assert imgd.cli("style", "list", name).stdout.strip() == ""
    # Styles of a bucket that does not exist.
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        oss_bucket(imgd, fresh("none")).list_bucket_style()
    # Only the root key manages styles; a key granted read-write on the bucket may read them.
    b.put_bucket_style("ok", "image/resize,w_10")
    granted = oss_bucket(imgd, name, extra_key(imgd, f"{name}:read-write"))
    assert [s.name for s in granted.list_bucket_style().styles] == ["ok"]
    with pytest.raises(oss2.exceptions.AccessDenied):
        granted.put_bucket_style("mine", "image/resize,w_10")
    with pytest.raises(oss2.exceptions.AccessDenied):
        granted.delete_bucket_style("ok")
    assert [s.name for s in b.list_bucket_style().styles] == ["ok"]
