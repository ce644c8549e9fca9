"""Where the Cloudflare door's images come from: the first-start account's bucket
(`cloudflare.default_bucket`) and absolute-URL sources of `/cdn-cgi/image/`
(`cloudflare.remote_bucket`), fetched once through the SSRF-safe fetcher from a loopback
origin (so these tests need the private network namespace)."""
import hashlib
import io

import pytest
import requests
from PIL import Image

from conftest import CORPUS, Imgd, cf_error, require_private_network

JPEG = (CORPUS / "flowers.jpeg").read_bytes()


def dims(body: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(body)).size


def test_default_bucket_names_the_first_account_bucket(tmp_path):
    server = Imgd(tmp_path / "data", env={"IMGD_CLOUDFLARE_DEFAULT_BUCKET": "gallery"}).start()
    try:
        account_id, account_hash, bucket = server.cli("cf", "account", "list").stdout.split()
        assert bucket == "gallery"
        token = server.cli("cf", "token", "create").stdout.strip()
        r = requests.post(f"{server.endpoint}/client/v4/accounts/{account_id}/images/v1",
                          headers={"Authorization": f"Bearer {token}"},
                          files={"file": ("f.jpeg", JPEG, "image/jpeg")}, data={"id": "in-gallery"},
                          timeout=60)
        assert r.status_code == 200, r.text
        assert server.client().get_object(Bucket="gallery", Key="in-gallery")["Body"].read() == JPEG
        # A restart keeps the account it made: no second one appears.
        server.stop()
        server.start()
        assert server.cli("cf", "account", "list").stdout.split() == [account_id, account_hash, "gallery"]
    finally:
        server.stop()


@pytest.fixture
def remote_server(tmp_path, origin):
    require_private_network()
    origin.routes["/pics/flowers.jpeg"] = (200, JPEG, {"Content-Type": "image/jpeg"}, 0)
    origin.routes["/pics/not-an-image"] = (200, b"hello", {"Content-Type": "text/plain"}, 0)
    server = Imgd(tmp_path / "data", env={"IMGD_CLOUDFLARE_REMOTE_BUCKET": "remote-sources",
                                          "IMGD_FETCH_ALLOW": "127.0.0.1/32"}).start()
    yield server
    server.stop()


def test_absolute_url_sources_are_fetched_once_and_kept(remote_server, origin):
    url = f"{origin.base}/pics/flowers.jpeg"
    before = len([p for p, _ in origin.requests if p == "/pics/flowers.jpeg"])
    for width in (120, 64):
        r = requests.get(f"{remote_server.endpoint}/cdn-cgi/image/width={width}/{url}", timeout=60)
        assert r.status_code == 200, r.text
        assert dims(r.content)[0] == width
    fetched = len([p for p, _ in origin.requests if p == "/pics/flowers.jpeg"]) - before
    assert fetched == 1, "the second transform must use the kept copy"
    key = "remote/" + hashlib.sha256(url.encode()).hexdigest()
    kept = remote_server.client().get_object(Bucket="remote-sources", Key=key)["Body"].read()
    assert kept == JPEG
    # A proxy that merges `//` into `/` still names the same source.
    merged = url.replace("http://", "http:/")
    r = requests.get(f"{remote_server.endpoint}/cdn-cgi/image/w=50/{merged}", timeout=60)
    assert r.status_code == 200 and dims(r.content)[0] == 50
    # What the origin sends must be an image; nothing is kept otherwise.
    r = requests.get(f"{remote_server.endpoint}/cdn-cgi/image/w=50/{origin.base}/pics/not-an-image", timeout=60)
    err = cf_error(r, 400, 415)
    assert "not-an-image" in err["message"] or "image" in err["message"].lower()
    listed = remote_server.client().list_objects_v2(Bucket="remote-sources").get("Contents", [])
    assert [o["Key"] for o in listed] == [key]


def test_absolute_url_sources_are_refused_without_a_remote_bucket(tmp_path, origin):
    require_private_network()
    origin.routes["/pics/flowers.jpeg"] = (200, JPEG, {"Content-Type": "image/jpeg"}, 0)
    server = Imgd(tmp_path / "data", env={"IMGD_FETCH_ALLOW": "127.0.0.1/32"}).start()
    try:
        before = origin.connections
        r = requests.get(f"{server.endpoint}/cdn-cgi/image/w=50/{origin.base}/pics/flowers.jpeg", timeout=30)
        err = cf_error(r, 403)
        assert "remote_bucket" in err["message"]
        assert origin.connections == before, "a refused source must not be fetched"
    finally:
        server.stop()
