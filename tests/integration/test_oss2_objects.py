"""Append, tagging, symlinks, copy directives and header round trips on the OSS door,
driven by the real `oss2` SDK against the release binary. Stored state is checked through
the S3 door (boto3) and the delivery door as well, and every refusal is checked to have
changed nothing."""
import hashlib
import io
import uuid

import oss2
import pytest
from oss2.models import Tagging, TaggingRule
from PIL import Image

from conftest import ACCESS_KEY, CORPUS, SECRET_KEY

AUTH = oss2.Auth(ACCESS_KEY, SECRET_KEY)
SAW = (CORPUS / "2569067123_aca715a2ee_o.jpg").read_bytes()


@pytest.fixture(scope="module")
def ob(imgd):
    name = f"objs-{uuid.uuid4().hex[:8]}"
    b = oss2.Bucket(AUTH, imgd.endpoint, name)
    b.create_bucket()
    return b


def key(stem: str = "k") -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def s3_body(imgd, bucket: str, k: str) -> bytes:
    return imgd.client().get_object(Bucket=bucket, Key=k)["Body"].read()


def tagging(**tags) -> Tagging:
    rule = TaggingRule()
    for k, v in tags.items():
        rule.add(k, v)
    return Tagging(rule)


# ---- append ---------------------------------------------------------------------------


def test_append_creates_and_extends_an_appendable_object(imgd, ob):
    k = key("log")
    first = ob.append_object(k, 0, b"hello ", headers={"x-oss-meta-kind": "log", "Content-Type": "text/plain"})
    assert first.next_position == 6
    # init_crc makes oss2 check the answer's CRC of the whole object so far.
    second = ob.append_object(k, first.next_position, b"world", init_crc=first.crc)
    assert second.next_position == 11
    assert ob.get_object(k).read() == b"hello world"
    assert s3_body(imgd, ob.bucket_name, k) == b"hello world"
    head = ob.head_object(k)
    assert head.object_type == "Appendable"
    assert head.headers["x-oss-next-append-position"] == "11"
    # The first append's headers stay the object's.
    assert head.content_type == "text/plain" and head.headers["x-oss-meta-kind"] == "log"
    assert second.etag == hashlib.md5(b"hello world").hexdigest().upper()


def test_append_at_a_wrong_position_changes_nothing(imgd, ob):
    k = key("log")
    ob.append_object(k, 0, b"12345")
    for wrong in (0, 4, 6):
        with pytest.raises(oss2.exceptions.PositionNotEqualToLength) as e:
            ob.append_object(k, wrong, b"x")
        assert e.value.status == 409 and e.value.next_position == 5
    assert ob.get_object(k).read() == b"12345"
    with pytest.raises(oss2.exceptions.PositionNotEqualToLength) as e:
        ob.append_object(key("new"), 3, b"x")
    assert e.value.next_position == 0
    # A Content-MD5 that does not match the appended bytes is refused whole.
    with pytest.raises(oss2.exceptions.ServerError) as e:
        ob.append_object(k, 5, b"678", headers={"Content-MD5": oss2.utils.content_md5(b"other")})
    assert (e.value.status, e.value.code) == (400, "InvalidDigest")
    assert ob.get_object(k).read() == b"12345"


def test_only_appendable_objects_take_appends(imgd, ob):
    k = key("plain")
    ob.put_object(k, b"normal")
    with pytest.raises(oss2.exceptions.ObjectNotAppendable):
        ob.append_object(k, 6, b"x")
    assert ob.get_object(k).read() == b"normal"
    assert ob.head_object(k).object_type == "Normal"


# ---- tagging --------------------------------------------------------------------------


def test_tags_on_put_replace_and_delete(imgd, ob):
    k = key("tagged")
    ob.put_object(k, b"x", headers={"x-oss-tagging": "color=red&size=%E5%A4%A7"})
    assert ob.get_object_tagging(k).tag_set.tagging_rule == {"color": "red", "size": "大"}
    assert ob.head_object(k).headers["x-oss-tagging-count"] == "2"
    ob.put_object_tagging(k, tagging(a="1", b="two words"))
    assert ob.get_object_tagging(k).tag_set.tagging_rule == {"a": "1", "b": "two words"}
    assert ob.delete_object_tagging(k).status == 204
    assert ob.get_object_tagging(k).tag_set.tagging_rule == {}
    assert "x-oss-tagging-count" not in ob.head_object(k).headers
    # Tags never change the bytes or the ETag.
    assert ob.get_object(k).read() == b"x"
    with pytest.raises(oss2.exceptions.NoSuchKey):
        ob.get_object_tagging(key("missing"))


def test_bad_tag_sets_change_nothing(imgd, ob):
    k = key("tagged")
    ob.put_object(k, b"x")
    ob.put_object_tagging(k, tagging(keep="me"))
    with pytest.raises(oss2.exceptions.ServerError) as e:
        ob.put_object_tagging(k, tagging(**{f"k{i}": "v" for i in range(11)}))
    assert (e.value.status, e.value.code) == (400, "InvalidTag")
    # oss2 checks lengths itself; a hand-written document reaches the server.
    long_value = b"<Tagging><TagSet><Tag><Key>k</Key><Value>" + b"v" * 257 + b"</Value></Tag></TagSet></Tagging>"
    with pytest.raises(oss2.exceptions.ServerError) as e:
        ob._do("PUT", ob.bucket_name, k, params={"tagging": ""}, data=long_value)
    assert e.value.code == "InvalidTag"
    with pytest.raises(oss2.exceptions.MalformedXml):
        ob._do("PUT", ob.bucket_name, k, params={"tagging": ""}, data=b"<Tagging><TagSet>")
    assert ob.get_object_tagging(k).tag_set.tagging_rule == {"keep": "me"}
    # A PUT with a bad x-oss-tagging stores nothing.
    k2 = key("never")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        ob.put_object(k2, b"x", headers={"x-oss-tagging": "a=1&a=2"})
    assert e.value.code == "InvalidTag"
    assert not ob.object_exists(k2)


# ---- symlinks -------------------------------------------------------------------------


def test_symlink_reads_answer_with_the_target(imgd, ob):
    target, link = key("target.jpg"), key("link ü.jpg")
    ob.put_object(target, SAW, headers={"Content-Type": "image/jpeg"})
    ob.put_symlink(target, link, headers={"x-oss-meta-made-by": "test"})
    assert ob.get_symlink(link).target_key == target
    got = ob.get_object(link)
    assert got.read() == SAW and got.content_type == "image/jpeg"
    head = ob.head_object(link)
    assert head.object_type == "Symlink" and head.content_length == len(SAW)
    # Every door follows the link: S3 reads and processing by URL.
    assert s3_body(imgd, ob.bucket_name, link) == SAW
    thumb = ob.get_object(link, process="image/resize,w_120").read()
    assert Image.open(io.BytesIO(thumb)).width == 120
    # The listing shows the link as a symlink of its own.
    listed = {o.key: o.type for o in oss2.ObjectIterator(ob, prefix="link")}
    assert listed[link] == "Symlink"
    # Overwriting the target changes what the link reads, rendered variants included
    # (a variant made through a link is never served from the cache).
    small = Image.new("RGB", (300, 200), (200, 10, 10))
    buf = io.BytesIO()
    small.save(buf, "PNG")
    ob.put_object(target, buf.getvalue(), headers={"Content-Type": "image/png"})
    again = ob.get_object(link, process="image/resize,w_120").read()
    assert Image.open(io.BytesIO(again)).size == (120, 80) != Image.open(io.BytesIO(thumb)).size
    ob.put_object(target, b"replaced")
    assert ob.get_object(link).read() == b"replaced"
    assert ob.get_object(link, byte_range=(0, 3)).read() == b"repl"
    # Deleting the link leaves the target.
    ob.delete_object(link)
    assert not ob.object_exists(link)
    assert ob.get_object(target).read() == b"replaced"


def test_symlink_refusals(imgd, ob):
    plain, link = key("plain"), key("dangling")
    ob.put_object(plain, b"x")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        ob.get_symlink(plain)
    assert (e.value.status, e.value.code) == (400, "NotSymlink")
    ob.put_symlink(key("nowhere"), link)
    with pytest.raises(oss2.exceptions.ServerError) as e:
        ob.get_object(link)
    assert (e.value.status, e.value.code) == (404, "SymlinkTargetNotExist")
    # A link to a link is not followed.
    chain = key("chain")
    ob.put_symlink(link, chain)
    with pytest.raises(oss2.exceptions.ServerError) as e:
        ob.get_object(chain)
    assert e.value.code == "SymlinkTargetNotExist"
    with pytest.raises(oss2.exceptions.InvalidArgument) as e:
        ob._do("PUT", ob.bucket_name, key("no-target"), params={"symlink": ""})
    assert "x-oss-symlink-target" in e.value.message
    with pytest.raises(oss2.exceptions.ServerError) as e:
        ob.put_symlink(plain, plain)
    assert e.value.status == 400
    assert ob.get_object(plain).read() == b"x"


# ---- copy directives and headers ------------------------------------------------------


def test_copy_object_metadata_and_tagging_directives(imgd, ob):
    src = key("src")
    ob.put_object(src, b"payload", headers={"x-oss-meta-a": "1", "Content-Type": "text/plain",
                                             "x-oss-tagging": "t=src"})
    kept = key("copy")
    ob.copy_object(ob.bucket_name, src, kept)
    head = ob.head_object(kept)
    assert head.headers["x-oss-meta-a"] == "1" and head.content_type == "text/plain"
    assert ob.get_object_tagging(kept).tag_set.tagging_rule == {"t": "src"}
    replaced = key("copy")
    ob.copy_object(ob.bucket_name, src, replaced, headers={
        "x-oss-metadata-directive": "REPLACE", "x-oss-meta-b": "2", "Content-Type": "application/x-new",
        "x-oss-tagging-directive": "Replace", "x-oss-tagging": "t=new&u=1",
    })
    head = ob.head_object(replaced)
    assert "x-oss-meta-a" not in head.headers and head.headers["x-oss-meta-b"] == "2"
    assert head.content_type == "application/x-new"
    assert ob.get_object_tagging(replaced).tag_set.tagging_rule == {"t": "new", "u": "1"}
    assert ob.get_object(replaced).read() == b"payload"
    with pytest.raises(oss2.exceptions.ServerError) as e:
        ob.copy_object(ob.bucket_name, src, key("bad"), headers={"x-oss-metadata-directive": "MERGE"})
    assert (e.value.status, e.value.code) == (400, "InvalidArgument")


def test_headers_round_trip_with_non_ascii_metadata(imgd, ob):
    k = key("headers")
    sent = {
        "Content-Disposition": 'attachment; filename="photo.jpg"',
        "Cache-Control": "public, max-age=600",
        "Expires": "Thu, 01 Dec 2033 16:00:00 GMT",
        "Content-Language": "zh-CN",
        # oss2 sends header bytes as given: UTF-8 here.
        "x-oss-meta-author": "中文 ü".encode("utf-8"),
        "x-oss-meta-plain": "ascii",
    }
    ob.put_object(k, b"x", headers=sent)
    for got in (ob.head_object(k).headers, ob.get_object(k).headers):
        for name in ("Content-Disposition", "Cache-Control", "Expires", "Content-Language"):
            assert got[name] == sent[name], name
        # HTTP clients read header bytes as Latin-1; the bytes are the ones sent.
        assert got["x-oss-meta-author"].encode("latin-1").decode("utf-8") == "中文 ü"
        assert got["x-oss-meta-plain"] == "ascii"
    # The S3 door sees the same metadata.
    s3_head = imgd.client().head_object(Bucket=ob.bucket_name, Key=k)
    assert s3_head["ContentDisposition"] == sent["Content-Disposition"]
    assert s3_head["Metadata"]["plain"] == "ascii"


def test_tags_are_one_set_across_the_s3_and_oss_doors(imgd, ob):
    s3 = imgd.client()
    k = key("both")
    # boto3 PutObject with x-amz-tagging, read through OSS.
    s3.put_object(Bucket=ob.bucket_name, Key=k, Body=b"x", Tagging="from=s3&two words=a b")
    assert ob.get_object_tagging(k).tag_set.tagging_rule == {"from": "s3", "two words": "a b"}
    assert s3.get_object(Bucket=ob.bucket_name, Key=k)["TagCount"] == 2
    # Set through OSS, read and replaced through S3.
    ob.put_object_tagging(k, tagging(**{"from": "oss"}))
    assert s3.get_object_tagging(Bucket=ob.bucket_name, Key=k)["TagSet"] == [{"Key": "from", "Value": "oss"}]
    s3.put_object_tagging(Bucket=ob.bucket_name, Key=k, Tagging={"TagSet": [{"Key": "s", "Value": "3"}]})
    assert ob.get_object_tagging(k).tag_set.tagging_rule == {"s": "3"}
    # CopyObject keeps the tags, or replaces them under the REPLACE directive.
    s3.copy_object(Bucket=ob.bucket_name, Key=k + "-copy", CopySource={"Bucket": ob.bucket_name, "Key": k})
    assert ob.get_object_tagging(k + "-copy").tag_set.tagging_rule == {"s": "3"}
    s3.copy_object(Bucket=ob.bucket_name, Key=k + "-new", CopySource={"Bucket": ob.bucket_name, "Key": k},
                   TaggingDirective="REPLACE", Tagging="n=1")
    assert ob.get_object_tagging(k + "-new").tag_set.tagging_rule == {"n": "1"}
    s3.delete_object_tagging(Bucket=ob.bucket_name, Key=k)
    assert ob.get_object_tagging(k).tag_set.tagging_rule == {}
    # The same limits: eleven tags are refused on either door, and nothing changes.
    eleven = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    with pytest.raises(Exception) as e:
        s3.put_object_tagging(Bucket=ob.bucket_name, Key=k, Tagging={"TagSet": eleven})
    assert "InvalidTag" in str(e.value)
    assert s3.get_object_tagging(Bucket=ob.bucket_name, Key=k)["TagSet"] == []
