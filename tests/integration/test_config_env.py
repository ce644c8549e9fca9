"""What the configuration accepts: `IMGD_*` variables (unknown names are refused, with the
closest known one suggested), unknown file keys, `imgd config keys`, the delivery schemes
(`weekly` is not one) and the origin document (no `revalidate_after_secs`)."""
import json
import os
import re
import sqlite3
import subprocess

import pytest
import requests

from conftest import ACCESS_KEY, BIN, ROOT, SECRET_KEY, Imgd, free_port

ADMIN_TOKEN = "config-env-admin-token-0001"


def clean_env(**extra) -> dict:
    """The test run's environment without any IMGD_* name, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGD_")}
    env.update(extra)
    return env


def run(*args, env=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([BIN, *args], env=env if env is not None else clean_env(), capture_output=True,
                          text=True, timeout=timeout)


def serve_refused(data_dir, env: dict, args=(), timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Starts `imgd serve`, expecting it to exit by itself; a server that keeps running (as
    one that ignores the setting would) is stopped and the test fails."""
    data_dir.mkdir(parents=True, exist_ok=True)
    full = clean_env(
        IMGD_LISTEN=f"127.0.0.1:{free_port()}",
        IMGD_DATA_DIR=str(data_dir),
        IMGD_ACCESS_KEY=ACCESS_KEY,
        IMGD_SECRET_KEY=SECRET_KEY,
        IMGD_LOG="warn",
    )
    full.update(env)
    proc = subprocess.Popen([BIN, *args, "serve"], env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"imgd served instead of refusing its configuration {env}:\n{err[-2000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def admin(server: Imgd, method: str, path: str, body=None) -> requests.Response:
    return requests.request(method, f"{server.endpoint}/_imgd/admin/{path}", timeout=15,
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                            data=None if body is None else json.dumps(body))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Imgd(tmp_path_factory.mktemp("cfgenv") / "data", env={"IMGD_ADMIN_TOKEN": ADMIN_TOKEN}).start()
    yield s
    s.stop()


# --- unknown IMGD_* variables -------------------------------------------------------------

def test_a_misspelled_variable_stops_the_start_with_the_right_name_suggested(tmp_path):
    r = serve_refused(tmp_path / "data", {"IMGD_CACHE_ENABLD": "false"})
    assert r.returncode != 0
    assert "unknown variable IMGD_CACHE_ENABLD; did you mean IMGD_CACHE_ENABLED?" in r.stderr, r.stderr
    assert "imgd listening" not in r.stdout


def test_the_correct_spelling_turns_the_cache_off(tmp_path):
    # The other side of the test above: spelled right, the setting takes effect.
    s = Imgd(tmp_path / "data", env={"IMGD_CACHE_ENABLED": "false", "IMGD_ADMIN_TOKEN": ADMIN_TOKEN}).start()
    try:
        r = admin(s, "GET", "variants")
        assert r.status_code == 200 and r.json() == {"enabled": False}, r.text
    finally:
        s.stop()


def test_unknown_names_are_all_reported_and_far_ones_get_no_suggestion(tmp_path):
    r = serve_refused(tmp_path / "data", {"IMGD_NO_SUCH_THING": "1", "IMGD_LISTN": "127.0.0.1:1"})
    assert r.returncode != 0
    assert "unknown variable IMGD_LISTN; did you mean IMGD_LISTEN?" in r.stderr, r.stderr
    assert re.search(r"unknown variable IMGD_NO_SUCH_THING(?!;)", r.stderr), r.stderr
    assert "imgd config keys" in r.stderr


def test_entries_cannot_come_from_the_environment(tmp_path):
    r = serve_refused(tmp_path / "data", {"IMGD_BUCKETS": "photos"})
    assert r.returncode != 0 and "[[buckets]] can only be set in the configuration file" in r.stderr, r.stderr


# One call per command family: each loads the configuration, so each must refuse.
COMMANDS = [
    ("bucket", "list"),
    ("bucket", "policy", "photos"),
    ("key", "list"),
    ("style", "list", "photos"),
    ("secret", "list"),
    ("credentials",),
    ("cache", "stats"),
    ("sign", "--scheme", "cloudflare", "--secret", "s3cr3t", "http://127.0.0.1/photos/a.jpg"),
    ("process", "in.jpg", "out.png", "--ops", "image/resize,w_10"),
    ("serve",),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_command_refuses_an_unknown_variable(tmp_path, command):
    env = clean_env(IMGD_DATA_DIR=str(tmp_path / "data"), IMGD_LISTEN=f"127.0.0.1:{free_port()}",
                    IMGD_DATA_DIRR="typo")
    try:
        r = run(*command, env=env, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`imgd {' '.join(command)}` ran on with an unknown variable")
    assert r.returncode != 0
    assert "unknown variable IMGD_DATA_DIRR; did you mean IMGD_DATA_DIR?" in r.stderr, r.stderr
    # Refused before doing anything: no data dir made, no output file written.
    assert not (tmp_path / "data").exists() and not (tmp_path / "out.png").exists()


def test_imgd_own_variables_that_are_not_keys_are_accepted(tmp_path):
    cfg = tmp_path / "imgd.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "from-file"}"\n')
    env = clean_env(IMGD_CONFIG=str(cfg), IMGD_LOG="warn", IMGD_SIGN_SECRET="s3cr3t-from-env",
                    IMGD_ORIGIN_S3_SECRET_KEY="origin-secret")
    made = run("bucket", "create", "photos", env=env)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "from-file" / "imgd.db").exists()  # IMGD_CONFIG was read
    origin = run("bucket", "origin", "photos", "--s3-endpoint", "http://127.0.0.1:9", "--s3-bucket", "b",
                 "--s3-access-key", "AK", env=env)
    assert origin.returncode == 0, origin.stderr
    url = "http://127.0.0.1/photos/a.jpg"
    from_env = run("sign", "--scheme", "cloudflare", "--at", "1700000000", url, env=env)
    given = run("sign", "--scheme", "cloudflare", "--at", "1700000000", "--secret", "s3cr3t-from-env", url, env=env)
    assert from_env.returncode == 0, from_env.stderr
    assert from_env.stdout == given.stdout and "sig=" in given.stdout


def test_unknown_file_keys_are_refused(tmp_path):
    for text, key in (('lisen = "127.0.0.1:1"\n', "lisen"), ("[cache]\nenabld = false\n", "enabld"),
                      ('[[buckets]]\nname = "photos"\npublik = true\n', "publik"),
                      ('[[buckets]]\nname = "photos"\n'
                       'origin = { kind = "http", base_url = "http://127.0.0.1:9/", revalidate_after_secs = 60 }\n',
                       "revalidate_after_secs")):
        cfg = tmp_path / f"{key}.toml"
        cfg.write_text(text)
        r = serve_refused(tmp_path / key, {}, args=("--config", str(cfg)))
        assert r.returncode != 0 and f"unknown field `{key}`" in r.stderr, (text, r.stderr)


# --- imgd config keys ---------------------------------------------------------------------

def config_keys() -> list[tuple[str, str]]:
    r = run("config", "keys")
    assert r.returncode == 0, r.stderr
    return [tuple(line.split("\t")) for line in r.stdout.splitlines()]


def test_config_keys_lists_every_key_with_its_variable_sorted():
    keys = config_keys()
    assert all(len(k) == 2 for k in keys), keys
    paths = [p for p, _ in keys]
    assert paths == sorted(paths) and len(set(paths)) == len(paths)
    table = dict(keys)
    assert table["storage.backend"] == "IMGD_STORAGE_BACKEND"
    assert table["cache.enabled"] == "IMGD_CACHE_ENABLED"
    assert table["clock_start"] == "IMGD_CLOCK_START"  # unset by default, listed anyway
    assert table["imageproxy.secret"] == "IMGD_IMAGEPROXY_SECRET"
    assert table["buckets.origin"] == "" and table["secrets.value"] == ""  # file only
    for path, var in keys:
        if var:
            assert var == "IMGD_" + path.replace(".", "_").upper()
    # It works even where the configuration is refused, to help fix it.
    r = run("config", "keys", env=clean_env(IMGD_CACHE_ENABLD="false"))
    assert r.returncode == 0 and "cache.enabled\tIMGD_CACHE_ENABLED" in r.stdout


def test_config_keys_variables_are_the_ones_the_loader_accepts(tmp_path):
    keys = config_keys()
    variables = {v for _, v in keys if v}
    # Every variable the README's configuration table names is one of them (or imgd's own).
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = "\n".join(line for line in section.splitlines() if line.startswith("| `"))
    documented = set(re.findall(r"`(IMGD_[A-Z0-9_]+)`", rows)) - {"IMGD_LOG", "IMGD_CONFIG"}
    assert documented and documented <= variables, documented - variables
    # A listed variable is not refused as unknown (`credentials` reads the config only).
    env = clean_env(IMGD_DATA_DIR=str(tmp_path / "d"), IMGD_ACCESS_KEY="AK0000000000", IMGD_SECRET_KEY="sk",
                    IMGD_REGION="eu-west-1", IMGD_FETCH_MAX_REDIRECTS="2", IMGD_IMAGEPROXY_SIZES="100,200",
                    IMGD_CACHE_ENABLED="false", IMGD_CLOCK_START="1700000000", IMGD_DATABASE_PATH=str(tmp_path / "x.db"))
    assert set(env) & variables >= {"IMGD_REGION", "IMGD_FETCH_MAX_REDIRECTS", "IMGD_CLOCK_START"}
    r = run("credentials", env=env)
    assert r.returncode == 0 and r.stdout.strip() == "access_key = AK0000000000", r.stderr


# --- delivery schemes: weekly is not one ------------------------------------------------------

def test_bucket_policy_refuses_weekly(server):
    server.cli("bucket", "create", "sch-cli")
    r = server.cli("bucket", "policy", "sch-cli", "--delivery", "signed", "--schemes", "cloudflare,weekly",
                   check=False)
    assert r.returncode != 0
    assert '--schemes "weekly": use cloudflare, ixmage' in r.stderr, r.stderr
    # Nothing was changed, and the accepted schemes still work.
    assert "delivery   = private" in server.cli("bucket", "policy", "sch-cli").stdout
    ok = server.cli("bucket", "policy", "sch-cli", "--delivery", "signed", "--schemes", "cloudflare,ixmage").stdout
    assert "schemes    = cloudflare,ixmage" in ok and "delivery   = signed" in ok
    assert "weekly" not in server.cli("bucket", "policy", "--help").stdout


def test_admin_policy_refuses_weekly(server):
    server.cli("bucket", "create", "sch-api")
    r = admin(server, "PUT", "buckets/sch-api/policy", {"delivery": "signed", "schemes": ["weekly"]})
    assert r.status_code == 400, r.text
    assert r.json() == {"error": "InvalidArgument",
                        "message": 'scheme "weekly" is not one of cloudflare, ixmage'}
    assert admin(server, "GET", "buckets/sch-api/policy").json()["delivery"] == "private"
    ok = admin(server, "PUT", "buckets/sch-api/policy", {"delivery": "signed", "schemes": ["ixmage"]})
    assert ok.status_code == 200 and ok.json()["schemes"] == ["ixmage"]


def test_a_config_file_with_weekly_refuses_to_start(tmp_path):
    cfg = tmp_path / "imgd.toml"
    cfg.write_text('[[buckets]]\nname = "photos"\ndelivery = "signed"\nschemes = ["cloudflare", "weekly"]\n')
    r = serve_refused(tmp_path / "data", {"IMGD_CONFIG": str(cfg)})
    assert r.returncode != 0
    assert '[[buckets]] photos: scheme "weekly" is not one of cloudflare, ixmage' in r.stderr, r.stderr


# --- origins: revalidate_after_secs is gone ---------------------------------------------------

def test_admin_origin_has_no_revalidate_after_secs(server):
    server.cli("bucket", "create", "org-api")
    doc = {"source": {"kind": "http", "base_url": "http://127.0.0.1:9/img"}, "miss_ttl_secs": 7}
    put = admin(server, "PUT", "buckets/org-api/origin", doc)
    assert put.status_code == 200, put.text
    assert put.json() == {"bucket": "org-api", "origin": {
        "source": {"kind": "http", "base_url": "http://127.0.0.1:9/img"}, "miss_ttl_secs": 7}}
    assert admin(server, "GET", "buckets/org-api/origin").json() == put.json()
    # Unknown fields are refused, as in every other body of the admin API, and change nothing.
    for body, field in (({**doc, "revalidate_after_secs": 60}, "revalidate_after_secs"),
                        ({"source": {**doc["source"], "base_ur1": "x"}}, "base_ur1")):
        r = admin(server, "PUT", "buckets/org-api/origin", body)
        assert r.status_code == 400 and r.json()["error"] == "MalformedJSON", r.text
        assert f"unknown field `{field}`" in r.json()["message"]
    assert admin(server, "GET", "buckets/org-api/origin").json() == put.json()


def test_settings_stored_by_an_older_imgd_still_load(server):
    # An older imgd accepted `weekly` and stored `revalidate_after_secs`: such a row must
    # read (the unknown scheme dropped), not break the bucket.
    server.cli("bucket", "create", "legacy")
    legacy = {"delivery": "signed", "schemes": ["weekly", "cloudflare"],
              "origin": {"source": {"kind": "http", "base_url": "http://127.0.0.1:9/old"},
                         "miss_ttl_secs": 5, "revalidate_after_secs": 30}}
    with sqlite3.connect(server.data_dir / "imgd.db", timeout=30) as db:
        db.execute("UPDATE buckets SET settings = ? WHERE name = 'legacy'", (json.dumps(legacy),))
    out = server.cli("bucket", "policy", "legacy").stdout
    assert "delivery   = signed" in out and "schemes    = cloudflare\n" in out, out
    got = admin(server, "GET", "buckets/legacy/origin")
    assert got.status_code == 200, got.text
    assert got.json()["origin"] == {"source": {"kind": "http", "base_url": "http://127.0.0.1:9/old"},
                                    "miss_ttl_secs": 5}
