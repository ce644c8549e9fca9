"""The write-up "Using Cloudflare Images to Store and Serve User-Uploaded Images" (seed 001),
run against imgd: its Django helper that asks for a one-time upload URL and its Python port
of the docs' URL signer, copied with only the API host changed (its `settings` is a small
namespace here). A user then uploads to the returned URL, a `mobile` variant is made, and the
signed `mobile` link is served until its `exp` and refused after it, as the server's clock
(`clock_start`) sees it."""
import email.utils
import io
import re
import time
import types
import urllib.parse
from datetime import datetime, timedelta

import pytest
import requests
from PIL import Image

from conftest import CORPUS, Imgd, cf_result, cloudflare_account

PHOTO = (CORPUS / "nikon_gps_photo.jpg").read_bytes()  # 640x480

# The Django settings the seed reads; filled in by the fixture.
settings = types.SimpleNamespace(MR_CLOUDFLARE_API_HOST="", MR_CLOUDFLARE_ACCOUNT_ID="", MR_CLOUDFLARE_API_TOKEN="")


class MyException(Exception):
    pass


# ---- seed 001, as written (host of the API URL changed) --------------------------------
# Code snippet from a Django app to generate a one-time upload URL.
import requests  # noqa: E402,F811
import json  # noqa: E402


def get_cloudflare_upload_details(metadata: dict):
    """
    Get a one-time upload URL from Cloudflare.
    """
    url = f"{settings.MR_CLOUDFLARE_API_HOST}/client/v4/accounts/{settings.MR_CLOUDFLARE_ACCOUNT_ID}/images/v2/direct_upload"
    headers = {
        'Authorization': f'Bearer {settings.MR_CLOUDFLARE_API_TOKEN}',
    }
    metadata_json = json.dumps(metadata)
    data = {
        "requireSignedURLs": 'true',
        "metadata": metadata_json,
    }
    files = {'file': ('', None, 'application/octet-stream')}
    response = requests.post(url, headers=headers, data=data, files=files)
    if response.status_code == 200:
        result = response.json().get("result")
        return result["id"], result["uploadURL"]
    else:
        raise MyException("Custom Exception Message")


import hmac  # noqa: E402
import hashlib  # noqa: E402


def _generate_signed_url(url: str, key: str) -> str:
    """
    Generating presigned url using the cloudflare image key.
    Parameters:
    url (str): Url to be signed e.g https://imagedelivery.net/cheeW4vvvv5ljh8e8BoL2A/bc27a117-9509-446b-8c69-c81bfeac0a01/mobile
    key (str): Cloudflare image key from your account dashboard.
    """
    expiration_seconds = 60 * 5
    expiry = int((datetime.now() + timedelta(seconds=expiration_seconds)).timestamp())
    parsed_url = urllib.parse.urlparse(url)
    query_params = urllib.parse.parse_qs(parsed_url.query)
    query_params['exp'] = [str(expiry)]
    new_query = urllib.parse.urlencode(query_params, doseq=True)
    updated_url = urllib.parse.urlunparse((
        parsed_url.scheme, parsed_url.netloc, parsed_url.path, parsed_url.params,
        new_query, parsed_url.fragment
    ))
    string_to_sign = f"{parsed_url.path}?{new_query}".encode('utf-8')
    h = hmac.new(key.encode('utf-8'), string_to_sign, hashlib.sha256)
    signature = h.hexdigest()
    final_url = f"{updated_url}&sig={signature}"
    return final_url
# ---- end of seed 001 --------------------------------------------------------------------


def max_age(r: requests.Response) -> int:
    m = re.search(r"max-age=(\d+)", r.headers.get("Cache-Control", ""))
    assert m, r.headers.get("Cache-Control")
    return int(m.group(1))


def api(server: Imgd, path: str) -> str:
    return f"{server.endpoint}/client/v4/accounts/{settings.MR_CLOUDFLARE_ACCOUNT_ID}/images/{path}"


def auth() -> dict:
    return {"Authorization": f"Bearer {settings.MR_CLOUDFLARE_API_TOKEN}"}


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    """The seed's whole flow on a server with the real clock; yields what later tests need
    (the data dir, port, account hash, image id, a signed link and its exp)."""
    data = tmp_path_factory.mktemp("cf-seed") / "data"
    server = Imgd(data).start()
    try:
        account_id, account_hash, bucket, token = cloudflare_account(server, "django")
        settings.MR_CLOUDFLARE_API_HOST = server.endpoint
        settings.MR_CLOUDFLARE_ACCOUNT_ID = account_id
        settings.MR_CLOUDFLARE_API_TOKEN = token

        image_id, upload_url = get_cloudflare_upload_details({"user_pk": 42, "name": "avatar"})
        assert upload_url.startswith(f"{server.endpoint}/cdn-cgi/imagedelivery/upload/"), upload_url
        draft = cf_result(requests.get(api(server, f"v1/{urllib.parse.quote(image_id, safe='')}"),
                                       headers=auth(), timeout=10))
        assert draft["draft"] is True and draft["requireSignedURLs"] is True
        assert draft["meta"] == {"user_pk": 42, "name": "avatar"}

        # The user's browser or app posts the file to the one-time URL, with no credentials.
        up = requests.post(upload_url, files={"file": ("avatar.jpg", PHOTO, "image/jpeg")}, timeout=30)
        uploaded = cf_result(up)
        assert uploaded["id"] == image_id and uploaded["requireSignedURLs"] is True
        assert server.client().get_object(Bucket=bucket, Key=image_id)["Body"].read() == PHOTO

        # "We can create variants for mobile or other screen sizes if necessary."
        variant = cf_result(requests.post(api(server, "v1/variants"), headers=auth(), timeout=10, json={
            "id": "mobile", "options": {"fit": "scale-down", "width": 400, "height": 300, "metadata": "none"},
            "neverRequireSignedURLs": False}))["variant"]
        assert variant["id"] == "mobile" and variant["options"]["width"] == 400

        keys = cf_result(requests.get(api(server, "v1/keys"), headers=auth(), timeout=10))["keys"]
        key = keys[0]["value"]
        url = f"{server.endpoint}/{account_hash}/{image_id}/mobile"
        signed = _generate_signed_url(url, key)
        exp = int(urllib.parse.parse_qs(urllib.parse.urlparse(signed).query)["exp"][0])
        yield types.SimpleNamespace(server=server, data=data, port=server.port, url=url, signed=signed, exp=exp,
                                    key=key, image_id=image_id)
    finally:
        server.stop()


def test_the_signed_mobile_variant_is_served(flow):
    r = requests.get(flow.signed, timeout=30)
    assert r.status_code == 200, (flow.signed, r.status_code, r.text[:500])
    assert r.headers["Content-Type"] in ("image/jpeg", "image/webp", "image/avif", "image/png")
    im = Image.open(io.BytesIO(r.content))
    assert im.size == (400, 300)  # 640x480 scaled down into the 400x300 box
    # Never cacheable past the link's end.
    assert max_age(r) <= flow.exp - int(time.time()) + 1
    if "Expires" in r.headers:
        assert email.utils.parsedate_to_datetime(r.headers["Expires"]).timestamp() <= flow.exp

    assert requests.get(flow.url, timeout=30).status_code == 403
    other_variant = requests.get(flow.signed.replace("/mobile?", "/public?"), timeout=30)
    assert other_variant.status_code == 403  # the signature covers the path
    # The docs' browser way of signing gives the same link.
    again = _generate_signed_url(flow.url, flow.key)
    assert requests.get(again, timeout=30).status_code == 200


def moved_server(flow, start: int) -> Imgd:
    flow.server.stop()
    return Imgd(flow.data, port=flow.port, env={"IMGD_CLOCK_START": str(start)}).start()


def test_the_link_expires_at_exp_by_the_servers_clock(flow):
    # 30 s before exp by the server's clock: still served, cacheable for less than 30 s.
    picked = time.time()
    server = moved_server(flow, flow.exp - 30)
    healthy = time.time()
    try:
        r = requests.get(flow.signed, timeout=30)
        assert r.status_code == 200, r.text[:500]
        lo = flow.exp - 30 + int(time.time() - healthy) - 1  # the server's clock passed this
        hi = flow.exp - 30 + int(time.time() - picked) + 2  # and not this
        assert flow.exp - hi <= max_age(r) <= flow.exp - lo, (r.headers.get("Cache-Control"), lo, hi)
        if "Expires" in r.headers:
            assert email.utils.parsedate_to_datetime(r.headers["Expires"]).timestamp() <= flow.exp
    finally:
        server.stop()

    # Past exp by the server's clock (the machine's clock still has minutes left): refused.
    assert flow.exp - time.time() > 60
    server = moved_server(flow, flow.exp + 1)
    try:
        r = requests.get(flow.signed, timeout=30)
        assert r.status_code == 403, (r.status_code, r.text[:500])
    finally:
        server.stop()
