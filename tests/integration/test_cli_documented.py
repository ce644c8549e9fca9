"""The documented operator commands and flags that other tests leave out, against the real
binary: generated root credentials, `imgd credentials`, `imgd cache stats|purge`,
`imgd sign --scheme weekly`, `bucket origin --none|--s3-region|--miss-ttl`, the
`bucket policy` flags, `--config` on `serve` and on an operator command, `--version`.
Each asserts the effect a user would see, not only the exit status."""
import hashlib
import io
import json
import re
import stat
import subprocess
import time
import tomllib
import uuid

import pytest
import requests
from botocore.exceptions import ClientError
from PIL import Image

from conftest import ACCESS_KEY, BIN, CORPUS, ROOT, SECRET_KEY, ImgdCustom, free_port, s3_client

ADMIN = "admin-token-for-cli-documented"
PROXY_SECRET = "cli-documented-proxy-secret"
JPEG = (CORPUS / "flowers.jpeg").read_bytes()
SAW = (CORPUS / "2569067123_aca715a2ee_o.jpg").read_bytes()
ROOT_KEYS = ("IMGD_ACCESS_KEY", "IMGD_SECRET_KEY")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proxy_port = free_port()
    server = ImgdCustom(tmp_path_factory.mktemp("clidoc") / "data", env={
        "IMGD_ADMIN_TOKEN": ADMIN,
        "IMGD_FETCH_ALLOW": "127.0.0.1/32",
        "IMGD_IMAGEPROXY_LISTEN": f"127.0.0.1:{proxy_port}",
        "IMGD_IMAGEPROXY_SECRET": PROXY_SECRET,
    })
    server.proxy_endpoint = f"http://127.0.0.1:{proxy_port}"
    server.start()
    yield server
    server.stop()


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def metric(server, name: str) -> float:
    text = requests.get(f"{server.endpoint}/_imgd/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"([a-zA-Z_:]+)(\{[^}]*\})?\s+([0-9.eE+-]+)$", line)
        if m and m.group(1) == name:
            total += float(m.group(3))
    return total


def width(body: bytes) -> int:
    return Image.open(io.BytesIO(body)).size[0]


def dims(body: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(body)).size


def until(check, timeout: float = 15.0, what: str = "condition"):
    """Polls `check` (bounded) until it returns something truthy, and returns it."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def code_of(r) -> str | None:
    m = re.search(r"<Code>([^<]+)</Code>", r.text)
    return m.group(1) if m else None


def fields(out: str) -> dict:
    """`name = value` lines of the CLI's output."""
    return {k.strip(): v.strip() for k, v in (line.split("=", 1) for line in out.splitlines() if "=" in line)}


# --- root credentials -----------------------------------------------------------------


def test_generated_credentials_are_kept_0600_printed_once_and_used(tmp_path):
    server = ImgdCustom(tmp_path / "data", drop=ROOT_KEYS)
    try:
        server.start()
        log = server.log_path.read_text()
        printed = re.search(r"access key: (\S+)\s+secret key: (\S+)", log)
        assert printed and "Generated root credentials" in log, log
        access, secret = printed.group(1, 2)
        path = server.data_dir / "credentials.toml"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        stored = tomllib.loads(path.read_text())
        assert (stored["access_key"], stored["secret_key"]) == (access, secret)
        assert access != ACCESS_KEY

        out = server.cli("credentials").stdout
        assert fields(out) == {"access_key": access} and secret not in out
        assert fields(server.cli("credentials", "--secret").stdout) == {"access_key": access, "secret_key": secret}

        s3 = s3_client(server.endpoint, access_key=access, secret_key=secret)
        s3.create_bucket(Bucket="gen")
        s3.put_object(Bucket="gen", Key="k", Body=b"generated")
        assert s3.get_object(Bucket="gen", Key="k")["Body"].read() == b"generated"
        with pytest.raises(ClientError) as e:
            server.client().list_buckets()  # the suite's usual root key is not this server's
        assert e.value.response["Error"]["Code"] == "InvalidAccessKeyId"
        with pytest.raises(ClientError) as e:
            # A different last character (a secret ending in "x" must not be "changed" to itself).
            wrong = secret[:-1] + ("y" if secret.endswith("x") else "x")
            s3_client(server.endpoint, access_key=access, secret_key=wrong).list_buckets()
        assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"

        # Second start: the same keys from the file, and nothing printed.
        server.stop()
        before = len(server.log_path.read_bytes())
        server.start()
        second = server.log_path.read_bytes()[before:].decode(errors="replace")
        assert secret not in second and "Generated root credentials" not in second
        assert server.log_path.read_text().count(secret) == 1
        assert tomllib.loads(path.read_text()) == stored
        assert s3.get_object(Bucket="gen", Key="k")["Body"].read() == b"generated"
    finally:
        server.stop()


def test_credentials_prints_the_configured_root_key(srv):
    out = srv.cli("credentials").stdout
    assert fields(out) == {"access_key": ACCESS_KEY} and SECRET_KEY not in out
    assert fields(srv.cli("credentials", "--secret").stdout) == {"access_key": ACCESS_KEY, "secret_key": SECRET_KEY}
    # Configured keys win: nothing is generated into the data dir.
    assert not (srv.data_dir / "credentials.toml").exists()


# --- variant cache --------------------------------------------------------------------


def stats(srv, *args: str) -> dict:
    return json.loads(srv.cli("cache", "stats", *args).stdout)


def purge(srv, *args: str) -> int:
    return json.loads(srv.cli("cache", "purge", *args).stdout)["purged"]


def test_cache_stats_and_purge_by_key_prefix_bucket_and_everything(srv):
    a, b = fresh("ca"), fresh("cb")
    s3 = srv.client()
    for name, keys in ((a, ("p/1.jpg", "p/2.jpg", "q/3.jpg")), (b, ("x.jpg",))):
        s3.create_bucket(Bucket=name)
        srv.cli("bucket", "set-public", name)
        for k in keys:
            s3.put_object(Bucket=name, Key=k, Body=JPEG, ContentType="image/jpeg")

    def render(bucket, key, w=50) -> float:
        """Jobs run by one GET of a variant (0: served from the cache)."""
        jobs = metric(srv, "imgd_process_jobs_total")
        r = requests.get(f"{srv.endpoint}/{bucket}/{key}?x-oss-process=image/resize,w_{w}", timeout=60)
        assert r.status_code == 200 and width(r.content) == w
        return metric(srv, "imgd_process_jobs_total") - jobs

    purge(srv)  # a known start: nothing cached
    start = stats(srv)
    assert start["entries"] == 0 and start["disk_bytes"] == 0
    for bucket, key, w in ((a, "p/1.jpg", 50), (a, "p/1.jpg", 60), (a, "p/2.jpg", 50), (a, "q/3.jpg", 50), (b, "x.jpg", 50)):
        assert render(bucket, key, w) == 1
    filled = until(lambda: (s := stats(srv))["entries"] == 5 and s, what="5 cached variants")
    assert filled["disk_bytes"] > 0 and filled["misses"] >= start["misses"] + 5
    assert render(a, "p/2.jpg") == 0
    assert stats(srv)["hits"] == filled["hits"] + 1

    # One object: both of its variants go, others stay.
    assert purge(srv, "--bucket", a, "--key", "p/1.jpg") == 2
    assert stats(srv)["entries"] == 3
    assert render(a, "p/1.jpg") == 1 and render(a, "p/2.jpg") == 0
    # A prefix: p/1 (rendered again) and p/2, not q/3.
    assert purge(srv, "--bucket", a, "--prefix", "p/") == 2
    assert render(a, "p/2.jpg") == 1 and render(a, "q/3.jpg") == 0 and render(b, "x.jpg") == 0
    # A bucket: p/2 and q/3 of a; b's variant stays.
    assert purge(srv, "--bucket", a) == 2
    assert render(a, "q/3.jpg") == 1 and render(b, "x.jpg") == 0
    # Everything.
    assert purge(srv) == 2
    emptied = stats(srv)
    assert emptied["entries"] == 0 and emptied["disk_bytes"] == 0
    assert render(b, "x.jpg") == 1


def test_cache_commands_find_the_server_and_need_the_admin_token(srv):
    dead = {"IMGD_LISTEN": f"127.0.0.1:{free_port()}"}
    # They call http://<listen> unless --server says otherwise.
    r = srv.cli("cache", "stats", check=False, env=dead)
    assert r.returncode != 0 and "admin API" in r.stderr
    assert "entries" in json.loads(srv.cli("cache", "stats", "--server", srv.endpoint, env=dead).stdout)
    assert "purged" in json.loads(srv.cli("cache", "purge", "--server", srv.endpoint + "/", env=dead).stdout)
    r = srv.cli("cache", "purge", check=False, env={"IMGD_ADMIN_TOKEN": None})
    assert r.returncode != 0 and "admin_token" in r.stderr
    r = srv.cli("cache", "stats", check=False, env={"IMGD_ADMIN_TOKEN": "another-token-of-16+"})
    assert r.returncode != 0 and "401" in r.stderr
    r = srv.cli("cache", "purge", "--key", "k", check=False)
    assert r.returncode != 0 and "--bucket" in r.stderr


# --- imgd sign --scheme weekly ----------------------------------------------------------


def test_sign_weekly_links_are_accepted_by_the_imageproxy_listener(srv, origin):
    origin.serve("/weekly.jpg", JPEG)
    url = f"{origin.base}/weekly.jpg"
    base = ["sign", "--scheme", "weekly", "--proxy-base", srv.proxy_endpoint]

    def get(link):
        assert link.startswith(srv.proxy_endpoint + "/"), link
        return requests.get(link, timeout=30)

    full = srv.cli(*base, "--secret", PROXY_SECRET, url).stdout.strip()
    assert full.split("/")[3:5] == ["i", "full"]  # the default bucket and size
    r = get(full)
    assert r.status_code == 200 and r.content == JPEG
    sized = srv.cli(*base, "--secret", PROXY_SECRET, "--bucket", "t", "--size", "150x", url).stdout.strip()
    r = get(sized)
    assert r.status_code == 200 and dims(r.content)[1] == 150
    # The secret may come from IMGD_SIGN_SECRET instead of the command line.
    from_env = srv.cli(*base, "--size", "x250", url, env={"IMGD_SIGN_SECRET": PROXY_SECRET}).stdout.strip()
    assert dims(get(from_env).content)[0] == 250
    # --proxy: a /proxy link, streamed at full size.
    origin.serve("/streamed.jpg", SAW)
    proxied = srv.cli(*base, "--secret", PROXY_SECRET, "--proxy", f"{origin.base}/streamed.jpg").stdout.strip()
    assert proxied.endswith("/proxy")
    r = get(proxied)
    assert r.status_code == 200 and r.content == SAW
    # Another secret, or a link from three weeks ago: 410. Last week's: still good.
    assert get(srv.cli(*base, "--secret", "not-the-proxy-secret", url).stdout.strip()).status_code == 410
    now = int(time.time())
    old = srv.cli(*base, "--secret", PROXY_SECRET, "--at", str(now - 21 * 86400), url).stdout.strip()
    assert get(old).status_code == 410
    last_week = srv.cli(*base, "--secret", PROXY_SECRET, "--at", str(now - 7 * 86400), url).stdout.strip()
    assert get(last_week).status_code == 200


# --- bucket origin ----------------------------------------------------------------------


def wait_stored(s3, bucket: str, key: str) -> dict:
    def head():
        try:
            return s3.head_object(Bucket=bucket, Key=key)
        except ClientError:
            return None
    return until(head, what=f"{bucket}/{key} stored")


def test_origin_none_turns_misses_back_into_404s(srv, origin):
    b = fresh("on")
    origin.serve("/none/kept.jpg", JPEG)
    origin.serve("/none/later.jpg", JPEG)
    srv.cli("bucket", "create", b, "--public")
    srv.cli("bucket", "origin", b, "--http", f"{origin.base}/none")
    assert requests.get(f"{srv.endpoint}/{b}/kept.jpg", timeout=30).content == JPEG
    wait_stored(srv.client(), b, "kept.jpg")
    out = srv.cli("bucket", "origin", b, "--none").stdout
    assert "no origin" in out
    r = requests.get(f"{srv.endpoint}/{b}/later.jpg", timeout=30)
    assert r.status_code == 404 and code_of(r) == "NoSuchKey"
    assert origin.hits("/none/later.jpg") == 0
    # What was fetched before stays.
    assert requests.get(f"{srv.endpoint}/{b}/kept.jpg", timeout=30).content == JPEG
    assert origin.hits("/none/kept.jpg") == 1
    r = srv.cli("bucket", "origin", b, "--none", "--http", origin.base, check=False)
    assert r.returncode != 0


def test_miss_ttl_sets_how_long_an_origin_404_is_remembered(srv, origin):
    short, default = fresh("m3"), fresh("m60")
    for b, extra in ((short, ["--miss-ttl", "3"]), (default, [])):
        srv.cli("bucket", "create", b, "--public")
        srv.cli("bucket", "origin", b, "--http", f"{origin.base}/{b}", *extra)
        assert requests.get(f"{srv.endpoint}/{b}/late.jpg", timeout=30).status_code == 404
        origin.serve(f"/{b}/late.jpg", JPEG)
        assert requests.get(f"{srv.endpoint}/{b}/late.jpg", timeout=30).status_code == 404
    time.sleep(3.6)
    # Past three seconds: forgotten with --miss-ttl 3, still remembered with the default 60.
    assert requests.get(f"{srv.endpoint}/{short}/late.jpg", timeout=30).content == JPEG
    assert requests.get(f"{srv.endpoint}/{default}/late.jpg", timeout=30).status_code == 404
    assert origin.hits(f"/{short}/late.jpg") == 2 and origin.hits(f"/{default}/late.jpg") == 1


def test_s3_origin_signs_for_the_region_given(srv, tmp_path):
    upstream = ImgdCustom(tmp_path / "upstream", env={"IMGD_REGION": "eu-west-3"}).start()
    try:
        up = upstream.client()
        up.create_bucket(Bucket="src")
        up.put_object(Bucket="src", Key="r.jpg", Body=JPEG, ContentType="image/jpeg")
        right, wrong = fresh("reg"), fresh("bad")
        for b in (right, wrong):
            srv.cli("bucket", "create", b, "--public")
        srv.cli("bucket", "origin", wrong, "--s3-endpoint", upstream.endpoint, "--s3-bucket", "src",
                "--s3-region", "ap-south-1", "--s3-access-key", ACCESS_KEY, "--s3-secret-key", SECRET_KEY)
        # The secret key may come from IMGD_ORIGIN_S3_SECRET_KEY (kept out of `ps`).
        srv.cli("bucket", "origin", right, "--s3-endpoint", upstream.endpoint, "--s3-bucket", "src",
                "--s3-region", "eu-west-3", "--s3-access-key", ACCESS_KEY,
                env={"IMGD_ORIGIN_S3_SECRET_KEY": SECRET_KEY})
        assert requests.get(f"{srv.endpoint}/{wrong}/r.jpg", timeout=30).status_code == 502
        r = requests.get(f"{srv.endpoint}/{right}/r.jpg", timeout=30)
        assert r.status_code == 200 and r.content == JPEG
        # imgd sign --region scopes an S3 presigned link the same way.
        link = f"{upstream.endpoint}/src/r.jpg"
        signed = srv.cli("sign", "--scheme", "s3", "--region", "eu-west-3", "--access-key", ACCESS_KEY,
                         "--secret", SECRET_KEY, link).stdout.strip()
        assert requests.get(signed, timeout=30).content == JPEG
        elsewhere = srv.cli("sign", "--scheme", "s3", "--region", "ap-south-1", "--access-key", ACCESS_KEY,
                            "--secret", SECRET_KEY, link).stdout.strip()
        assert requests.get(elsewhere, timeout=30).status_code in (400, 403)
    finally:
        upstream.stop()


# --- bucket policy ----------------------------------------------------------------------


def test_policy_flags_take_effect(srv):
    b = fresh("pol")
    s3 = srv.client()
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="saw.jpg", Body=SAW, ContentType="image/jpeg")
    url = f"{srv.endpoint}/{b}/saw.jpg"
    shown = fields(srv.cli("bucket", "policy", b).stdout)
    assert shown["delivery"] == "private" and shown["public"] == ""
    assert requests.get(url, timeout=10).status_code == 403

    shown = fields(srv.cli("bucket", "policy", b, "--delivery", "public", "--ttl", "123").stdout)
    assert shown["delivery"] == "public" and shown["ttl"] == "123"
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "public, max-age=123"

    srv.cli("bucket", "policy", b, "--referer", "example.com")
    assert requests.get(url, headers={"Referer": "https://example.com/a"}, timeout=10).status_code == 200
    r = requests.get(url, headers={"Referer": "https://evil.test/"}, timeout=10)
    assert r.status_code == 403 and code_of(r) == "RefererDenied"
    # A list flag sets the whole list (as the file and the admin API do), never adds to it.
    shown = fields(srv.cli("bucket", "policy", b, "--referer", "a.test", "--referer", "b.test").stdout)
    assert shown["referers"] == "a.test,b.test"
    r = requests.get(url, headers={"Referer": "https://example.com/a"}, timeout=10)
    assert r.status_code == 403 and code_of(r) == "RefererDenied"
    assert requests.get(url, headers={"Referer": "https://b.test/"}, timeout=10).status_code == 200
    assert fields(srv.cli("bucket", "policy", b, "--ttl", "123").stdout)["referers"] == "a.test,b.test"
    srv.cli("bucket", "policy", b, "--clear-referers")
    assert requests.get(url, headers={"Referer": "https://evil.test/"}, timeout=10).status_code == 200

    out = srv.cli("secret", "create", "--bucket", b, "--description", "policy-test").stdout
    secret = fields(out)["secret"]
    signed = srv.cli("sign", "--scheme", "cloudflare", "--secret", secret, url).stdout.strip()
    shown = fields(srv.cli("bucket", "policy", b, "--delivery", "signed", "--schemes", "ixmage").stdout)
    assert shown["delivery"] == "signed" and shown["schemes"] == "ixmage"
    r = requests.get(url, timeout=10)
    assert r.status_code == 403 and code_of(r) == "AccessDenied"
    r = requests.get(signed, timeout=10)
    assert r.status_code == 403 and code_of(r) == "SchemeNotAllowed"
    srv.cli("bucket", "policy", b, "--schemes", "cloudflare,ixmage")
    assert requests.get(signed, timeout=10).content == SAW

    srv.cli("style", "put", b, "tiny", "image/resize,w_24")
    srv.cli("style", "put", b, "small", "image/resize,w_28")
    shown = fields(srv.cli("bucket", "policy", b, "--public-style", "tiny", "--public-style", "small").stdout)
    assert shown["public"] == "tiny,small"
    for style, w in (("tiny", 24), ("small", 28)):
        r = requests.get(url, params={"x-oss-process": f"style/{style}"}, timeout=30)
        assert r.status_code == 200 and width(r.content) == w
    assert fields(srv.cli("bucket", "policy", b, "--public-style", "small").stdout)["public"] == "small"
    r = requests.get(url, params={"x-oss-process": "style/tiny"}, timeout=30)
    assert r.status_code == 403 and code_of(r) == "AccessDenied"
    shown = fields(srv.cli("bucket", "policy", b, "--clear-public-styles").stdout)
    assert shown["public"] == ""
    r = requests.get(url, params={"x-oss-process": "style/tiny"}, timeout=30)
    assert r.status_code == 403 and code_of(r) == "AccessDenied"

    srv.cli("bucket", "policy", b, "--delivery", "private")
    assert requests.get(signed, timeout=10).status_code == 403
    assert s3.get_object(Bucket=b, Key="saw.jpg")["Body"].read() == SAW
    for bad in (["--delivery", "open"], ["--schemes", "cloudflare,bogus"]):
        r = srv.cli("bucket", "policy", b, *bad, check=False)
        assert r.returncode != 0 and bad[1].split(",")[-1] in r.stderr
    assert fields(srv.cli("bucket", "policy", b).stdout)["schemes"] == "cloudflare,ixmage"


# --- --config ---------------------------------------------------------------------------


def test_config_file_on_serve_and_on_operator_commands(tmp_path):
    port = free_port()
    cfg_data = tmp_path / "from-config"
    cfg = tmp_path / "imgd.toml"
    cfg.write_text(f'listen = "127.0.0.1:{port}"\ndata_dir = "{cfg_data}"\n')
    other = tmp_path / "other.toml"
    other.write_text(f'data_dir = "{tmp_path / "elsewhere"}"\n')
    env_dir = tmp_path / "env-data"
    drop = ("IMGD_DATA_DIR", "IMGD_LISTEN", "IMGD_CONFIG")
    server = ImgdCustom(env_dir, port=port, drop=drop, serve_args=["--config", str(cfg)], cwd=tmp_path)
    try:
        server.start()
        assert (cfg_data / "imgd.db").exists()
        assert not any(env_dir.iterdir()) and not (tmp_path / "data").exists()
        # Before or after the subcommand: the file's data_dir is the one the server uses.
        assert "created bucket via-config" in server.cli("--config", str(cfg), "bucket", "create", "via-config").stdout
        assert "via-config" in [b["Name"] for b in server.client().list_buckets()["Buckets"]]
        assert "via-config\tprivate" in server.cli("bucket", "list", "--config", str(cfg)).stdout
        assert "via-config" not in server.cli("bucket", "list", "--config", str(other)).stdout
        missing = server.cli("--config", str(tmp_path / "nope.toml"), "bucket", "list", check=False)
        assert missing.returncode != 0 and "nope.toml" in missing.stderr
    finally:
        server.stop()


def test_version_matches_the_crate():
    cargo = tomllib.loads((ROOT / "crates" / "imgd" / "Cargo.toml").read_text())
    version = cargo["package"]["version"]
    if isinstance(version, dict):  # version.workspace = true
        version = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    out = subprocess.run([BIN, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"imgd {version}"


def test_sign_ixmage_with_the_derived_account_token(srv):
    b = fresh("ix")
    srv.client().create_bucket(Bucket=b)
    srv.client().put_object(Bucket=b, Key="saw.jpg", Body=SAW, ContentType="image/jpeg")
    srv.cli("bucket", "policy", b, "--delivery", "signed", "--schemes", "ixmage")
    secret = fields(srv.cli("secret", "create", "--bucket", b).stdout)["secret"]
    # Unconfigured, the account token is derived from the root access key.
    token = hashlib.sha256(f"imgd-account:{ACCESS_KEY}".encode()).hexdigest()[:16]
    url = f"{srv.endpoint}/_ix/{token}/{b}/saw.jpg?width=40"
    signed = srv.cli("sign", "--scheme", "ixmage", "--secret", secret, "--token", token, url).stdout.strip()
    r = requests.get(signed, timeout=30)
    assert r.status_code == 200 and width(r.content) == 40
    # --token is what the key is computed with: another token gives a key this link fails.
    other = srv.cli("sign", "--scheme", "ixmage", "--secret", secret, "--token", "not-the-token", url).stdout.strip()
    assert other != signed
    assert requests.get(other, timeout=30).status_code == 403
    assert requests.get(url, timeout=30).status_code == 403


def test_secret_create_description_and_account_listing(srv):
    b = fresh("sec")
    srv.client().create_bucket(Bucket=b)
    desc = fresh("desc")
    made = fields(srv.cli("secret", "create", "--description", desc).stdout)
    assert made["scope"] == "account" and len(made["secret"]) >= 16
    listed = srv.cli("secret", "list").stdout
    assert f"{made['id']}\taccount\tactive\t{desc}" in listed and made["secret"] not in listed
    assert made["id"] not in srv.cli("secret", "list", "--bucket", b).stdout
    imported = fields(srv.cli("secret", "create", "--bucket", b, "--value", "an-imported-secret-1").stdout)
    assert imported["secret"] == "an-imported-secret-1" and imported["scope"] == b
    srv.cli("secret", "revoke", made["id"])
    assert f"{made['id']}\taccount\trevoked" in srv.cli("secret", "list").stdout
