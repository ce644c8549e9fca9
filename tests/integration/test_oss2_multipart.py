"""Multipart upload on the OSS door, driven by the real `oss2` SDK against the release
binary: the low-level calls (initiate, parts, part copies, list parts and uploads,
complete with a part list or `x-oss-complete-all`, abort), and the SDK's own
`resumable_upload` and `resumable_download`, each interrupted and resumed. What was
stored is checked through the S3 door too, not only through what the OSS door says."""
import hashlib
import os
import uuid

import oss2
import pytest
from oss2.models import PartInfo

from conftest import ACCESS_KEY, SECRET_KEY

AUTH = oss2.Auth(ACCESS_KEY, SECRET_KEY)
KIB = 1024
MIB = 1024 * KIB


class Interrupted(Exception):
    """Raised from a progress callback to stop a resumable transfer half way."""


@pytest.fixture(scope="module")
def ob(imgd):
    name = f"mp-{uuid.uuid4().hex[:8]}"
    b = oss2.Bucket(AUTH, imgd.endpoint, name)
    b.create_bucket()
    return b


def key() -> str:
    return f"dir/{uuid.uuid4().hex[:8]} ü.bin"


def s3_body(imgd, bucket: str, k: str) -> bytes:
    return imgd.client().get_object(Bucket=bucket, Key=k)["Body"].read()


def s3_missing(imgd, bucket: str, k: str) -> bool:
    try:
        imgd.client().head_object(Bucket=bucket, Key=k)
        return False
    except Exception as e:  # botocore's ClientError for a 404
        return "404" in str(e)


def test_parts_listed_and_completed_into_one_object(imgd, ob):
    k = key()
    parts_data = [os.urandom(100 * KIB), os.urandom(120 * KIB), os.urandom(7 * KIB)]
    init = ob.init_multipart_upload(k, headers={
        "Content-Type": "application/x-test",
        "x-oss-meta-origin": "multipart",
        "x-oss-tagging": "kind=upload&n=3",
    })
    upload_id = init.upload_id
    assert upload_id
    parts = []
    for number, data in enumerate(parts_data, 1):
        # oss2 checks each answer's x-oss-hash-crc64ecma against its own CRC.
        r = ob.upload_part(k, upload_id, number, data)
        assert r.etag == hashlib.md5(data).hexdigest().upper()
        parts.append(PartInfo(number, r.etag, size=len(data), part_crc=r.crc))

    # The upload is listed, and so are its parts, a page at a time.
    uploads = [u.upload_id for u in oss2.MultipartUploadIterator(ob, prefix="dir/")]
    assert upload_id in uploads
    first = ob.list_parts(k, upload_id, max_parts=2)
    assert first.is_truncated and [p.part_number for p in first.parts] == [1, 2]
    rest = ob.list_parts(k, upload_id, marker=first.next_marker)
    assert not rest.is_truncated and [(p.part_number, p.size) for p in rest.parts] == [(3, 7 * KIB)]
    assert [p.etag for p in oss2.PartIterator(ob, k, upload_id)] == [p.etag for p in parts]

    # Nothing is visible until completion.
    assert s3_missing(imgd, ob.bucket_name, k)
    done = ob.complete_multipart_upload(k, upload_id, parts)
    assert done.status == 200 and done.etag.endswith("-3")
    whole = b"".join(parts_data)
    assert ob.get_object(k).read() == whole
    assert s3_body(imgd, ob.bucket_name, k) == whole
    head = ob.head_object(k)
    assert head.object_type == "Multipart"
    assert head.content_type == "application/x-test"
    assert head.headers["x-oss-meta-origin"] == "multipart"
    assert ob.get_object_tagging(k).tag_set.tagging_rule == {"kind": "upload", "n": "3"}
    # The upload is gone.
    assert upload_id not in [u.upload_id for u in oss2.MultipartUploadIterator(ob)]
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        ob.list_parts(k, upload_id)


def test_complete_all_takes_every_uploaded_part(imgd, ob):
    k = key()
    a, b = os.urandom(150 * KIB), os.urandom(3 * KIB)
    upload_id = ob.init_multipart_upload(k).upload_id
    ob.upload_part(k, upload_id, 2, b)
    ob.upload_part(k, upload_id, 1, a)
    done = ob.complete_multipart_upload(k, upload_id, None, headers={"x-oss-complete-all": "yes"})
    assert done.etag.endswith("-2")
    assert s3_body(imgd, ob.bucket_name, k) == a + b


def test_upload_part_copy_ranges_of_another_object(imgd, ob):
    src, dst = key(), key()
    data = os.urandom(300 * KIB)
    ob.put_object(src, data)
    upload_id = ob.init_multipart_upload(dst).upload_id
    r1 = ob.upload_part_copy(ob.bucket_name, src, (0, 200 * KIB - 1), dst, upload_id, 1)
    r2 = ob.upload_part_copy(ob.bucket_name, src, (200 * KIB, len(data) - 1), dst, upload_id, 2)
    assert r1.etag == hashlib.md5(data[:200 * KIB]).hexdigest().upper()
    ob.complete_multipart_upload(dst, upload_id, [PartInfo(1, r1.etag), PartInfo(2, r2.etag)])
    assert ob.get_object(dst).read() == data
    # A range outside the source is refused and adds no part.
    upload_id = ob.init_multipart_upload(dst).upload_id
    with pytest.raises(oss2.exceptions.ServerError) as e:
        ob.upload_part_copy(ob.bucket_name, src, (0, len(data)), dst, upload_id, 1)
    assert e.value.status == 400
    assert ob.list_parts(dst, upload_id).parts == []
    ob.abort_multipart_upload(dst, upload_id)


def test_abort_discards_the_parts(imgd, ob):
    k = key()
    upload_id = ob.init_multipart_upload(k).upload_id
    ob.upload_part(k, upload_id, 1, os.urandom(KIB))
    assert ob.abort_multipart_upload(k, upload_id).status == 204
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        ob.list_parts(k, upload_id)
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        ob.complete_multipart_upload(k, upload_id, None, headers={"x-oss-complete-all": "yes"})
    assert s3_missing(imgd, ob.bucket_name, k)


def test_bad_completions_store_nothing(imgd, ob):
    k = key()
    upload_id = ob.init_multipart_upload(k).upload_id
    small = ob.upload_part(k, upload_id, 1, os.urandom(50 * KIB))
    last = ob.upload_part(k, upload_id, 2, os.urandom(KIB))
    # Parts but the last must be 100 KiB or more, as on OSS.
    with pytest.raises(oss2.exceptions.ServerError) as e:
        ob.complete_multipart_upload(k, upload_id, [PartInfo(1, small.etag), PartInfo(2, last.etag)])
    assert (e.value.status, e.value.code) == (400, "EntityTooSmall")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        ob.complete_multipart_upload(k, upload_id, [PartInfo(1, "0" * 32)])
    assert e.value.code == "InvalidPart"
    with pytest.raises(oss2.exceptions.MalformedXml) as e:
        ob._do("POST", ob.bucket_name, k, params={"uploadId": upload_id}, data=b"<CompleteMultipartUpload><Part>")
    assert "not closed" in e.value.message
    assert s3_missing(imgd, ob.bucket_name, k)
    # The upload survived the refusals and completes with a valid list.
    ob.complete_multipart_upload(k, upload_id, [PartInfo(2, last.etag)])
    assert len(s3_body(imgd, ob.bucket_name, k)) == KIB
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        ob.upload_part(k, "no-such-upload", 1, b"x")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        ob.upload_part(k, ob.init_multipart_upload(k).upload_id, 10001, b"x")
    assert (e.value.status, e.value.code) == (400, "InvalidArgument")


def test_list_multipart_uploads_pages_and_rolls_up_prefixes(imgd, ob):
    base = f"lmu-{uuid.uuid4().hex[:6]}/"
    ids = {}
    for name in ["a", "b", "c", "sub/x", "sub/y"]:
        ids[name] = ob.init_multipart_upload(base + name).upload_id
    page = ob.list_multipart_uploads(prefix=base, max_uploads=2)
    assert page.is_truncated
    assert [u.key for u in page.upload_list] == [base + "a", base + "b"]
    assert page.next_key_marker == base + "b"
    listed = [u.key for u in oss2.MultipartUploadIterator(ob, prefix=base, max_uploads=2)]
    assert listed == [base + n for n in ["a", "b", "c", "sub/x", "sub/y"]]
    rolled = ob.list_multipart_uploads(prefix=base, delimiter="/")
    assert [u.key for u in rolled.upload_list] == [base + "a", base + "b", base + "c"]
    assert rolled.prefix_list == [base + "sub/"]
    for name, upload_id in ids.items():
        ob.abort_multipart_upload(base + name, upload_id)
    assert ob.list_multipart_uploads(prefix=base).upload_list == []


def test_resumable_upload_of_50_mb_resumes_after_an_interruption(imgd, ob, tmp_path):
    path = tmp_path / "big.bin"
    data = os.urandom(50 * MIB)
    path.write_bytes(data)
    k = key()
    records = oss2.ResumableStore(root=str(tmp_path / "records"))
    sent = []
    real_upload_part = ob.upload_part

    def counting_upload_part(*args, **kwargs):
        sent.append(args[2])
        return real_upload_part(*args, **kwargs)

    ob.upload_part = counting_upload_part
    try:
        def stop_half_way(consumed, total):
            if consumed >= 20 * MIB:
                raise Interrupted()

        with pytest.raises(Interrupted):
            oss2.resumable_upload(ob, k, str(path), store=records, multipart_threshold=10 * MIB,
                                  part_size=5 * MIB, num_threads=1, progress_callback=stop_half_way)
        first_run = sorted(sent)
        assert first_run == [1, 2, 3, 4]
        # The interrupted upload is on the server with its parts, and nothing is visible.
        [pending] = [u for u in oss2.MultipartUploadIterator(ob, prefix=k)]
        assert [p.part_number for p in oss2.PartIterator(ob, k, pending.upload_id)] == [1, 2, 3, 4]
        assert s3_missing(imgd, ob.bucket_name, k)

        sent.clear()
        result = oss2.resumable_upload(ob, k, str(path), store=records, multipart_threshold=10 * MIB,
                                       part_size=5 * MIB, num_threads=2)
        # Only the parts the first run did not send went again.
        assert sorted(sent) == [5, 6, 7, 8, 9, 10]
    finally:
        ob.upload_part = real_upload_part
    assert result.etag.endswith("-10")
    stored = s3_body(imgd, ob.bucket_name, k)
    assert hashlib.md5(stored).hexdigest() == hashlib.md5(data).hexdigest()
    assert list(oss2.MultipartUploadIterator(ob, prefix=k)) == []


def test_resumable_download_resumes_after_an_interruption(imgd, ob, tmp_path):
    k = key()
    data = os.urandom(6 * MIB + 123)
    ob.put_object(k, data)
    target = tmp_path / "down.bin"
    records = oss2.ResumableDownloadStore(root=str(tmp_path / "down-records"))
    ranges = []
    real_get_object = ob.get_object

    def counting_get_object(*args, **kwargs):
        ranges.append(kwargs.get("byte_range"))
        return real_get_object(*args, **kwargs)

    ob.get_object = counting_get_object
    try:
        def stop_half_way(consumed, total):
            if consumed >= 3 * MIB:
                raise Interrupted()

        with pytest.raises(Interrupted):
            oss2.resumable_download(ob, k, str(target), store=records, multiget_threshold=MIB,
                                    part_size=MIB, num_threads=1, progress_callback=stop_half_way)
        assert not target.exists()
        done_first = len(ranges)
        assert 3 <= done_first < 7
        ranges.clear()
        oss2.resumable_download(ob, k, str(target), store=records, multiget_threshold=MIB,
                                part_size=MIB, num_threads=2)
        # Ranged reads only for what was missing.
        assert len(ranges) == 7 - done_first
        assert all(r is not None for r in ranges)
    finally:
        ob.get_object = real_get_object
    assert target.read_bytes() == data
