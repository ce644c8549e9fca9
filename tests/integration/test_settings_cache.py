"""The variant cache settings ([cache] enabled, dir, max_memory_bytes), [database] path,
and the imageproxy door's sizes and store_bucket, each with its observable effect."""
import pytest
import requests
from botocore.exceptions import ClientError

from conftest import CORPUS, Imgd, free_port
from settings_util import dims, metric, weekly_link

JPEG = (CORPUS / "flowers.jpeg").read_bytes()
PNG = (CORPUS / "with-alpha.png").read_bytes()


def files_under(path) -> list:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


def jobs_for_two_identical_gets(server: Imgd, bucket: str) -> tuple[float, bytes, bytes]:
    s3 = server.client()
    s3.create_bucket(Bucket=bucket, ACL="public-read")
    s3.put_object(Bucket=bucket, Key="a.jpg", Body=JPEG, ContentType="image/jpeg")
    url = f"{server.endpoint}/{bucket}/a.jpg?x-oss-process=image/resize,w_210"
    before = metric(server, "imgd_process_jobs_total")
    first = requests.get(url, timeout=60)
    second = requests.get(url, timeout=60)
    assert first.status_code == second.status_code == 200
    assert dims(first.content)[0] == 210
    return metric(server, "imgd_process_jobs_total") - before, first.content, second.content


def test_cache_disabled_renders_every_request(tmp_path, imgd):
    server = Imgd(tmp_path / "data", env={"IMGD_CACHE_ENABLED": "false"}).start()
    try:
        jobs, first, second = jobs_for_two_identical_gets(server, "nocache")
        assert jobs == 2
        assert first == second  # the same render twice, not a different result
        assert files_under(tmp_path / "data" / "variants") == []
    finally:
        server.stop()
    # The other side: with the cache on (the default), the second GET is a hit.
    jobs, _, _ = jobs_for_two_identical_gets(imgd, "withcache")
    assert jobs == 1


MEMORY = 80_000  # entries above MEMORY / 8 stay on disk only


@pytest.fixture(scope="module")
def placed(tmp_path_factory):
    root = tmp_path_factory.mktemp("placed")
    env = {
        "IMGD_CACHE_DIR": str(root / "elsewhere" / "variants"),
        "IMGD_DATABASE_PATH": str(root / "elsewhere" / "catalog.db"),
        "IMGD_CACHE_MAX_MEMORY_BYTES": str(MEMORY),
    }
    (root / "elsewhere").mkdir()
    server = Imgd(root / "data", env=env).start()
    s3 = server.client()
    s3.create_bucket(Bucket="placed", ACL="public-read")
    s3.put_object(Bucket="placed", Key="a.jpg", Body=JPEG, ContentType="image/jpeg")
    s3.put_object(Bucket="placed", Key="p.png", Body=PNG, ContentType="image/png")
    server.root = root
    yield server
    server.stop()


def test_cache_dir_holds_the_variants(placed):
    r = requests.get(f"{placed.endpoint}/placed/a.jpg?x-oss-process=image/resize,w_120", timeout=60)
    assert r.status_code == 200 and dims(r.content)[0] == 120
    stored = files_under(placed.root / "elsewhere" / "variants")
    # The rendered bytes are in a file under the configured dir...
    assert any(p.read_bytes().find(r.content[:64]) >= 0 for p in stored), stored
    # ...and nothing went to the default <data_dir>/variants.
    assert files_under(placed.data_dir / "variants") == []


def test_database_path_holds_the_metadata(placed):
    assert (placed.root / "elsewhere" / "catalog.db").is_file()
    assert not (placed.data_dir / "imgd.db").exists()
    # The CLI, given the same setting, reads the server's buckets from that file.
    assert "placed" in placed.cli("bucket", "list").stdout
    # Blobs stay under data_dir.
    assert files_under(placed.data_dir / "blobs")


def test_max_memory_bytes_keeps_large_variants_on_disk(placed):
    small_url = f"{placed.endpoint}/placed/p.png?x-oss-process=image/resize,w_40"
    big_url = f"{placed.endpoint}/placed/a.jpg?x-oss-process=image/resize,w_900/quality,Q_95"
    small = requests.get(small_url, timeout=60).content
    big = requests.get(big_url, timeout=60).content
    assert len(small) <= MEMORY // 8 < len(big), (len(small), len(big))
    mem = metric(placed, "imgd_variant_cache_hits_total", tier="memory")
    disk = metric(placed, "imgd_variant_cache_hits_total", tier="disk")
    for _ in range(2):
        assert requests.get(small_url, timeout=60).content == small
    assert metric(placed, "imgd_variant_cache_hits_total", tier="memory") - mem == 2
    assert metric(placed, "imgd_variant_cache_hits_total", tier="disk") - disk == 0
    for _ in range(2):
        assert requests.get(big_url, timeout=60).content == big
    assert metric(placed, "imgd_variant_cache_hits_total", tier="memory") - mem == 2
    assert metric(placed, "imgd_variant_cache_hits_total", tier="disk") - disk == 2
    assert 0 < metric(placed, "imgd_variant_cache_bytes", tier="memory") <= MEMORY


# --- imageproxy sizes and store_bucket ----------------------------------------------

SECRET = "settings-proxy-secret"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    port = free_port()
    server = Imgd(tmp_path_factory.mktemp("proxy") / "data", env={
        "IMGD_IMAGEPROXY_LISTEN": f"127.0.0.1:{port}",
        "IMGD_IMAGEPROXY_SECRET": SECRET,
        "IMGD_IMAGEPROXY_SIZES": "100,200",
        "IMGD_IMAGEPROXY_STORE_BUCKET": "originals",
        "IMGD_FETCH_ALLOW": "127.0.0.1",
    }).start()
    server.proxy_port = port
    yield server
    server.stop()


def proxy_get(proxy: Imgd, path: str) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{proxy.proxy_port}{path}", timeout=60)


def test_imageproxy_sizes_allow_only_the_configured_sizes(proxy, origin):
    origin.serve("/sizes.jpg", JPEG)
    url = f"{origin.base}/sizes.jpg"
    src_w, src_h = dims(JPEG)
    r = proxy_get(proxy, weekly_link(SECRET, "i", "100x", url))
    assert r.status_code == 200, r.text
    assert dims(r.content)[1] == 100
    r = proxy_get(proxy, weekly_link(SECRET, "i", "x200", url))
    assert dims(r.content)[0] == 200
    # 150 and 250 are default sizes, not configured ones: dropped, so nothing is left.
    for size in ("150x", "x250", "150x250"):
        r = proxy_get(proxy, weekly_link(SECRET, "i", size, url))
        assert r.status_code == 400, (size, r.status_code)
    # A disallowed side is dropped and the allowed one kept.
    r = proxy_get(proxy, weekly_link(SECRET, "i", "100x250", url))
    assert r.status_code == 200 and dims(r.content)[1] == 100
    assert origin.hits("/sizes.jpg") == 1


def test_imageproxy_store_bucket_keeps_the_originals(proxy, origin):
    origin.serve("/kept.png", PNG)
    url = f"{origin.base}/kept.png"
    r = proxy_get(proxy, weekly_link(SECRET, "g", "full", url))
    assert r.status_code == 200 and r.content == PNG
    s3 = proxy.client()
    listed = s3.list_objects_v2(Bucket="originals")["Contents"]
    kept = [o["Key"] for o in listed if o["Key"].startswith("g/")]
    assert len(kept) == 1, listed
    assert s3.get_object(Bucket="originals", Key=kept[0])["Body"].read() == PNG
    # The default bucket is not used.
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="imageproxy")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
