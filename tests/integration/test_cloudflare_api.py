"""The Cloudflare-compatible door's management and delivery: the `imgd cf` commands (accounts,
tokens, keys) taking effect on a running server, the admin API's accounts and tokens, the
`[cloudflare]` configuration (file and IMGD_* variables), and delivery: both URL forms,
formats by Accept, signed links with their caching caps, variants that never need a
signature, flexible variants, and the CORS answers of direct-upload URLs."""
import email.utils
import hashlib
import hmac
import io
import json
import os
import re
import subprocess
import time
import urllib.parse

import pytest
import requests
from PIL import Image

from conftest import BIN, CORPUS, Imgd, ImgdCustom, cf_error, cf_result, cloudflare_account

JPEG = (CORPUS / "flowers.jpeg").read_bytes()  # 1920x1080
ADMIN = "cf-api-admin-token-0001"
ACCOUNT_LINE = re.compile(r"^([0-9a-f]{32})\s+([A-Za-z0-9_-]{22})\s+(\S+)$")


def png(w: int, h: int, color=(200, 30, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), color).save(out, "PNG")
    return out.getvalue()


def noise_png(side: int) -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG", compress_level=0)
    return out.getvalue()


def dims(body: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(body)).size


def api(server: Imgd, account_id: str, path: str) -> str:
    return f"{server.endpoint}/client/v4/accounts/{account_id}/images/{path}"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def upload(server, account_id, token, body=JPEG, image_id=None, **fields) -> dict:
    data = {k: v for k, v in {"id": image_id, **fields}.items() if v is not None}
    return cf_result(requests.post(api(server, account_id, "v1"), headers=bearer(token), data=data,
                                   files={"file": ("f.jpg", body, "image/jpeg")}, timeout=60))


def admin(server, method: str, path: str, body=None, token=ADMIN) -> requests.Response:
    return requests.request(method, f"{server.endpoint}/_imgd/admin/{path}", headers=bearer(token),
                            data=None if body is None else json.dumps(body), timeout=10)


def signed(url: str, key: str, exp: int) -> str:
    """Cloudflare's signed link: HMAC-SHA256 (hex) of path + "?" + query, exp last."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.urlencode(urllib.parse.parse_qsl(parts.query) + [("exp", str(exp))])
    sig = hmac.new(key.encode(), f"{parts.path}?{query}".encode(), hashlib.sha256).hexdigest()
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, f"{query}&sig={sig}", ""))


def accounts(server, *config) -> list[tuple[str, str, str]]:
    out = server.cli(*config, "cf", "account", "list").stdout.splitlines()
    rows = []
    for line in out:
        m = ACCOUNT_LINE.match(line.strip())
        assert m, f"not '<account_id> <account_hash> <bucket>': {line!r}"
        rows.append(m.groups())
    return rows


# ---------------------------------------------------------------------------------------
# imgd cf ...
# ---------------------------------------------------------------------------------------


def test_cli_accounts_tokens_and_keys_apply_to_the_running_server(tmp_path):
    server = Imgd(tmp_path / "data").start()
    try:
        rows = accounts(server)
        assert len(rows) == 1 and rows[0][2] == "images", rows
        account_id, account_hash, _ = rows[0]

        # One account: --account may be left out.
        plain = server.cli("cf", "token", "create").stdout
        assert len(plain.splitlines()) == 1 and plain.strip() and " " not in plain.strip()
        plain = plain.strip()
        named = server.cli("cf", "token", "create", "--account", account_id, "--name", "ci-robot").stdout.strip()
        assert named != plain
        for token in (plain, named):  # no restart needed
            cf_result(requests.get(api(server, account_id, "v1/stats"), headers=bearer(token), timeout=10))

        listed = server.cli("cf", "token", "list", "--account", account_id).stdout.splitlines()
        assert listed == server.cli("cf", "token", "list").stdout.splitlines()
        rows = [line.split() for line in listed]
        assert len(rows) == 2 and all(len(r) >= 3 for r in rows), listed
        robot = [r for r in rows if r[1] == "ci-robot"]
        assert len(robot) == 1, listed
        assert re.search(r"\d", robot[0][2]), robot  # <created>
        assert named not in "\n".join(listed) and plain not in "\n".join(listed)  # only hashes are kept

        server.cli("cf", "token", "revoke", robot[0][0])
        cf_error(requests.get(api(server, account_id, "v1/stats"), headers=bearer(named), timeout=10), 401, 403)
        cf_result(requests.get(api(server, account_id, "v1/stats"), headers=bearer(plain), timeout=10))
        assert "ci-robot" not in server.cli("cf", "token", "list").stdout
        assert server.cli("cf", "token", "revoke", robot[0][0], check=False).returncode != 0

        # Keys made on the command line sign links on the running server at once.
        upload(server, account_id, plain, png(120, 80), "cli/signed", requireSignedURLs="true")
        value = server.cli("cf", "key", "create", "cli-key", "--account", account_id).stdout.strip()
        assert value and len(value.splitlines()) == 1
        key_rows = [line.split() for line in server.cli("cf", "key", "list", "--account", account_id).stdout.splitlines()]
        assert ["cli-key", value] in key_rows, key_rows
        via_api = cf_result(requests.get(api(server, account_id, "v1/keys"), headers=bearer(plain), timeout=10))
        assert {"name": "cli-key", "value": value} in via_api["keys"]
        link = signed(f"{server.endpoint}/{account_hash}/cli/signed/public", value, int(time.time()) + 300)
        assert requests.get(link, timeout=30).status_code == 200
        server.cli("cf", "key", "delete", "cli-key", "--account", account_id)
        assert "cli-key" not in server.cli("cf", "key", "list", "--account", account_id).stdout
        assert requests.get(link, timeout=30).status_code == 403

        other = server.cli("cf", "key", "create", "other-key").stdout.strip()
        assert ["other-key", other] in [line.split() for line in server.cli("cf", "key", "list").stdout.splitlines()]
        server.cli("cf", "key", "delete", "other-key")
        assert "other-key" not in server.cli("cf", "key", "list").stdout

        # More accounts: given and generated ids and hashes.
        given_id, given_hash = "0123456789abcdef" * 2, "GivenHash_0123456789-x"
        out = server.cli("cf", "account", "create", "--bucket", "second", "--id", given_id, "--hash", given_hash).stdout
        assert out.split() == [given_id, given_hash, "second"], out
        out = server.cli("cf", "account", "create", "--bucket", "third").stdout.strip()
        m = ACCOUNT_LINE.match(out)
        assert m and m.group(3) == "third", out
        assert len({m.group(1), given_id, account_id}) == 3 and len({m.group(2), given_hash, account_hash}) == 3
        assert sorted(accounts(server)) == sorted([(account_id, account_hash, "images"),
                                                   (given_id, given_hash, "second"), m.groups()])
        taken = server.cli("cf", "account", "create", "--bucket", "fourth", "--id", given_id, check=False)
        assert taken.returncode != 0
        for bad in (["--id", "NOT-HEX"], ["--hash", "short"]):
            assert server.cli("cf", "account", "create", "--bucket", "fifth", *bad, check=False).returncode != 0

        # Several accounts: --account is needed.
        assert server.cli("cf", "token", "create", check=False).returncode != 0
        second = server.cli("cf", "token", "create", "--account", given_id).stdout.strip()
        img = upload(server, given_id, second, png(64, 32), "in-second")
        assert img["variants"][0].startswith(f"{server.endpoint}/{given_hash}/in-second/")
        assert server.client().get_object(Bucket="second", Key="in-second")["Body"].read() == png(64, 32)
        assert requests.get(f"{server.endpoint}/{given_hash}/in-second/public", timeout=30).status_code == 200
        assert requests.get(f"{server.endpoint}/{account_hash}/in-second/public", timeout=30).status_code == 404
        # A token is for its own account only.
        cf_error(requests.get(api(server, account_id, "v1/stats"), headers=bearer(second), timeout=10), 401, 403)
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------
# Admin API
# ---------------------------------------------------------------------------------------


def test_admin_accounts_and_tokens(tmp_path):
    server = Imgd(tmp_path / "data", env={"IMGD_ADMIN_TOKEN": ADMIN}).start()
    try:
        assert admin(server, "GET", "cf/accounts", token="wrong").status_code == 401
        (account_id, account_hash, _), = accounts(server)
        listed = admin(server, "GET", "cf/accounts")
        assert listed.status_code == 200, listed.text
        assert account_id in listed.text and account_hash in listed.text and "images" in listed.text

        made = admin(server, "POST", "cf/accounts", {"bucket": "adm-bucket"})
        assert made.status_code in (200, 201), made.text
        new_id = re.search(r"\b[0-9a-f]{32}\b", made.text.replace(account_id, "")).group(0)
        assert (new_id, "adm-bucket") in [(a, b) for a, _, b in accounts(server)]
        assert new_id in admin(server, "GET", "cf/accounts").text
        assert admin(server, "POST", "cf/accounts", {"bucket": "adm-bucket", "bogus": 1}).status_code == 400

        r = admin(server, "POST", f"cf/accounts/{new_id}/tokens", {"name": "from-admin"})
        assert r.status_code in (200, 201), r.text
        token, token_id = r.json()["token"], r.json()["id"]
        cf_result(requests.get(api(server, new_id, "v1/stats"), headers=bearer(token), timeout=10))
        tokens = admin(server, "GET", f"cf/accounts/{new_id}/tokens")
        assert tokens.status_code == 200 and token_id in tokens.text and "from-admin" in tokens.text
        assert token not in tokens.text
        assert token_id in server.cli("cf", "token", "list", "--account", new_id).stdout

        gone = admin(server, "DELETE", f"cf/accounts/{new_id}/tokens/{token_id}")
        assert gone.status_code in (200, 204), gone.text
        cf_error(requests.get(api(server, new_id, "v1/stats"), headers=bearer(token), timeout=10), 401, 403)
        assert token_id not in admin(server, "GET", f"cf/accounts/{new_id}/tokens").text
        assert admin(server, "DELETE", f"cf/accounts/{new_id}/tokens/{token_id}").status_code == 404
        assert admin(server, "GET", f"cf/accounts/{'9' * 32}/tokens").status_code == 404
        assert admin(server, "POST", f"cf/accounts/{'9' * 32}/tokens", {"name": "x"}).status_code == 404
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------
# [cloudflare] configuration
# ---------------------------------------------------------------------------------------

CONFIG_ID, CONFIG_HASH = "fedcba9876543210" * 2, "ConfigHash_from_TOML01"


def test_config_file(tmp_path):
    cfg = tmp_path / "imgd.toml"
    cfg.write_text(
        '[cloudflare]\n'
        'enabled = true\n'
        'delivery_url = "http://cdn.example.test"\n'
        'max_upload_bytes = 300000\n'
        '\n'
        '[[cloudflare_accounts]]\n'
        f'account_id = "{CONFIG_ID}"\n'
        f'account_hash = "{CONFIG_HASH}"\n'
        'bucket = "photos"\n'
        'flexible_variants = true\n')
    server = ImgdCustom(tmp_path / "data", serve_args=["--config", str(cfg)]).start()
    try:
        assert (CONFIG_ID, CONFIG_HASH, "photos") in accounts(server, "--config", str(cfg))
        token = server.cli("--config", str(cfg), "cf", "token", "create", "--account", CONFIG_ID).stdout.strip()
        img = upload(server, CONFIG_ID, token, png(300, 200), "configured")
        assert img["variants"] and all(v.startswith(f"http://cdn.example.test/{CONFIG_HASH}/configured/")
                                       for v in img["variants"]), img["variants"]
        assert server.client().get_object(Bucket="photos", Key="configured")["Body"].read() == png(300, 200)
        # Delivery still answers on the listener, whatever host the links name.
        r = requests.get(f"{server.endpoint}/{CONFIG_HASH}/configured/w=150", timeout=30)
        assert r.status_code == 200 and dims(r.content) == (150, 100)  # flexible_variants = true
        big = noise_png(330)
        assert len(big) > 300000
        before = cf_result(requests.get(api(server, CONFIG_ID, "v1/stats"), headers=bearer(token), timeout=10))
        r = requests.post(api(server, CONFIG_ID, "v1"), headers=bearer(token), data={"id": "too-big"},
                          files={"file": ("b.png", big, "image/png")}, timeout=60)
        cf_error(r, 400, 413)
        after = cf_result(requests.get(api(server, CONFIG_ID, "v1/stats"), headers=bearer(token), timeout=10))
        assert after == before
        upload(server, CONFIG_ID, token, noise_png(300), "fits")  # 270 kB
    finally:
        server.stop()

    # The configuration file can also turn the door off.
    cfg.write_text('[cloudflare]\nenabled = false\n')
    off = ImgdCustom(tmp_path / "data", serve_args=["--config", str(cfg)]).start()
    try:
        r = requests.get(api(off, CONFIG_ID, "v1/stats"), headers=bearer(token), timeout=10)
        assert r.status_code != 200 and '"success":true' not in r.text.replace(" ", "")
    finally:
        off.stop()


def test_environment_variables(tmp_path):
    env = {"IMGD_CLOUDFLARE_DELIVERY_URL": "http://img.example.test:8080",
           "IMGD_CLOUDFLARE_MAX_UPLOAD_BYTES": "200000", "IMGD_CLOUDFLARE_ENABLED": "true"}
    server = Imgd(tmp_path / "data", env=env).start()
    try:
        account_id, account_hash, bucket, token = cloudflare_account(server)
        img = upload(server, account_id, token, png(40, 40), "env")
        assert all(v.startswith(f"http://img.example.test:8080/{account_hash}/env/") for v in img["variants"])
        r = requests.post(api(server, account_id, "v1"), headers=bearer(token), data={"id": "env-big"},
                          files={"file": ("b.png", noise_png(300), "image/png")}, timeout=60)
        cf_error(r, 400, 413)
        assert "env-big" not in [o["Key"] for o in server.client().list_objects_v2(Bucket=bucket).get("Contents", [])]
    finally:
        server.stop()
    off = Imgd(tmp_path / "data", env={"IMGD_CLOUDFLARE_ENABLED": "false"}).start()
    try:
        r = requests.get(api(off, account_id, "v1/stats"), headers=bearer(token), timeout=10)
        assert r.status_code != 200 and '"success":true' not in r.text.replace(" ", "")
    finally:
        off.stop()


def test_bad_configuration_is_refused(tmp_path):
    cfg = tmp_path / "bad.toml"
    (tmp_path / "data").mkdir()
    for text in ('[cloudflare]\nmax_upload_bytes = "lots"\n',
                 '[cloudflare]\nbogus_key = 1\n',
                 '[[cloudflare_accounts]]\naccount_id = "nothex"\naccount_hash = "x"\nbucket = "b"\n'):
        cfg.write_text(text)
        probe = Imgd(tmp_path / "data")
        try:
            r = subprocess.run([BIN, "--config", str(cfg), "serve"], env=probe.env(), capture_output=True,
                               text=True, timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"imgd served with a bad [cloudflare] configuration:\n{text}")
        assert r.returncode != 0 and r.stderr.strip(), text


# ---------------------------------------------------------------------------------------
# Delivery
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dlv(tmp_path_factory):
    server = Imgd(tmp_path_factory.mktemp("cf-delivery") / "data").start()
    account_id, account_hash, bucket, token = cloudflare_account(server, "delivery")
    upload(server, account_id, token, JPEG, "pub/flowers")
    upload(server, account_id, token, JPEG, "sig/flowers", requireSignedURLs="true")
    key = cf_result(requests.get(api(server, account_id, "v1/keys"), headers=bearer(token), timeout=10))["keys"][0]["value"]

    class D:
        pass

    d = D()
    d.server, d.account_id, d.account_hash, d.bucket, d.token, d.key = server, account_id, account_hash, bucket, token, key
    d.url = lambda image_id, variant="public": f"{server.endpoint}/{account_hash}/{image_id}/{variant}"
    d.cdn = lambda image_id, variant="public": (
        f"{server.endpoint}/cdn-cgi/imagedelivery/{account_hash}/{image_id}/{variant}")
    yield d
    server.stop()


def test_both_url_forms_and_formats_by_accept(dlv):
    for url in (dlv.url("pub/flowers"), dlv.cdn("pub/flowers")):
        for accept, ctype, pil in (("image/avif,image/webp,*/*", "image/avif", "AVIF"),
                                   ("image/webp,*/*", "image/webp", "WEBP"),
                                   ("image/png,*/*", "image/jpeg", "JPEG"),
                                   (None, "image/jpeg", "JPEG")):
            r = requests.get(url, headers={"Accept": accept} if accept else {}, timeout=60)
            assert r.status_code == 200, (url, r.status_code, r.text[:300])
            assert r.headers["Content-Type"] == ctype, (url, accept, r.headers["Content-Type"])
            assert "accept" in r.headers.get("Vary", "").lower(), r.headers.get("Vary")
            im = Image.open(io.BytesIO(r.content))
            assert im.format == pil
            w, h = im.size
            assert w <= 1920 and h <= 1080 and abs(w / h - 1920 / 1080) < 0.01


def test_unknown_images_hashes_and_variants(dlv):
    assert requests.get(dlv.url("no/such/image"), timeout=10).status_code == 404
    assert requests.get(f"{dlv.server.endpoint}/{'Z' * 22}/pub/flowers/public", timeout=10).status_code == 404
    r = requests.get(dlv.url("pub/flowers", "no-such-variant"), timeout=10)
    assert 400 <= r.status_code < 500


def test_signed_links_and_their_caching(dlv):
    assert requests.get(dlv.url("sig/flowers"), timeout=30).status_code == 403
    assert requests.get(dlv.cdn("sig/flowers"), timeout=30).status_code == 403
    for url in (dlv.url("sig/flowers"), dlv.cdn("sig/flowers")):
        exp = int(time.time()) + 120
        r = requests.get(signed(url, dlv.key, exp), timeout=60)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
        m = re.search(r"max-age=(\d+)", r.headers.get("Cache-Control", ""))
        assert m and int(m.group(1)) <= exp - int(time.time()) + 1, r.headers.get("Cache-Control")
        assert "Expires" in r.headers
        assert email.utils.parsedate_to_datetime(r.headers["Expires"]).timestamp() <= exp


def test_variant_that_never_requires_a_signature(dlv):
    cf_result(requests.post(api(dlv.server, dlv.account_id, "v1/variants"), headers=bearer(dlv.token), json={
        "id": "open-thumb", "options": {"fit": "cover", "width": 64, "height": 64, "metadata": "none"},
        "neverRequireSignedURLs": True}, timeout=10))
    r = requests.get(dlv.url("sig/flowers", "open-thumb"), timeout=30)
    assert r.status_code == 200 and dims(r.content) == (64, 64)
    assert requests.get(dlv.url("sig/flowers"), timeout=30).status_code == 403


def test_flexible_variants_signed_and_unsigned(dlv):
    flex = "w=120,h=80,fit=cover"
    assert 400 <= requests.get(dlv.url("pub/flowers", flex), timeout=30).status_code < 500
    cf_result(requests.patch(api(dlv.server, dlv.account_id, "v1/config"), headers=bearer(dlv.token),
                             json={"flexible_variants": True}, timeout=10))
    r = requests.get(dlv.url("pub/flowers", flex), timeout=30)
    assert r.status_code == 200 and dims(r.content) == (120, 80)
    assert requests.get(dlv.url("sig/flowers", flex), timeout=30).status_code == 403
    r = requests.get(signed(dlv.url("sig/flowers", flex), dlv.key, int(time.time()) + 60), timeout=30)
    assert r.status_code == 200 and dims(r.content) == (120, 80)
    assert 400 <= requests.get(dlv.url("pub/flowers", "w=120,bogus=1"), timeout=30).status_code < 500


def test_custom_ids_with_slashes_and_unicode(dlv):
    image_id = "albums/2026/été/photo.png"
    res = upload(dlv.server, dlv.account_id, dlv.token, png(90, 60), image_id)
    assert res["id"] == image_id
    quoted = urllib.parse.quote(image_id)
    assert f"{dlv.server.endpoint}/{dlv.account_hash}/{quoted}/public" in res["variants"] \
        or f"{dlv.server.endpoint}/{dlv.account_hash}/{image_id}/public" in res["variants"], res["variants"]
    r = requests.get(dlv.url(quoted), timeout=30)
    assert r.status_code == 200 and dims(r.content) == (90, 60)
    got = cf_result(requests.get(api(dlv.server, dlv.account_id, f"v1/{urllib.parse.quote(image_id, safe='')}"),
                                 headers=bearer(dlv.token), timeout=10))
    assert got["id"] == image_id


def test_direct_upload_url_cors(dlv):
    du = cf_result(requests.post(api(dlv.server, dlv.account_id, "v2/direct_upload"), headers=bearer(dlv.token),
                                 data={"id": "cors"}, timeout=10))
    for origin in ("http://site.example.test", "http://127.0.0.1:1234"):
        pre = requests.options(du["uploadURL"], headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                         "Access-Control-Request-Headers": "content-type"}, timeout=10)
        assert 200 <= pre.status_code < 300, pre.status_code
        assert pre.headers.get("Access-Control-Allow-Origin") in ("*", origin), pre.headers
        assert "POST" in pre.headers.get("Access-Control-Allow-Methods", "").upper(), pre.headers
    r = requests.post(du["uploadURL"], headers={"Origin": "http://site.example.test"},
                      files={"file": ("c.png", png(16, 16), "image/png")}, timeout=30)
    cf_result(r)
    assert r.headers.get("Access-Control-Allow-Origin") in ("*", "http://site.example.test"), r.headers
    # Refusals carry it too, so a page can read why.
    again = requests.post(du["uploadURL"], headers={"Origin": "http://site.example.test"},
                          files={"file": ("c.png", png(16, 16), "image/png")}, timeout=30)
    cf_error(again, 409, 410)
    assert again.headers.get("Access-Control-Allow-Origin") in ("*", "http://site.example.test"), again.headers
