"""Fixtures that start the real imgd binary and point real S3 clients at it.

The binary is the release build (`cargo build --release`), or $IMGD_BIN. Each server gets
its own temporary data dir and a free loopback port.
"""
import hashlib
import os
import re
import pathlib
import signal
import socket
import subprocess
import time
import uuid

import boto3
import pytest
import requests
from botocore.config import Config

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("IMGD_BIN", str(ROOT / "target" / "release" / "imgd"))
TOOLS = ROOT / ".tools"
ACCESS_KEY = "IMGDTESTROOTKEY00001"
SECRET_KEY = "imgdTestRootSecret0000000000000000000000"
CORPUS = ROOT.parent / "shared" / "corpus"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Imgd:
    """One imgd process with its own data dir."""

    def __init__(self, data_dir: pathlib.Path, port: int | None = None, env: dict | None = None):
        self.data_dir = pathlib.Path(data_dir)
        self.port = port or free_port()
        self.extra_env = env or {}
        self.proc = None
        self.log_path = self.data_dir.parent / f"imgd-{self.port}.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict:
        # No inherited IMGD_*: imgd refuses names it does not know (IMGD_BIN is pytest's),
        # and the rest would make a run depend on the shell it was started from.
        e = {k: v for k, v in os.environ.items() if not k.startswith("IMGD_")}
        e.update(
            IMGD_LISTEN=f"127.0.0.1:{self.port}",
            IMGD_DATA_DIR=str(self.data_dir),
            IMGD_ACCESS_KEY=ACCESS_KEY,
            IMGD_SECRET_KEY=SECRET_KEY,
            IMGD_LOG="info",
        )
        e.update(self.extra_env)
        if os.environ.get("IMGD_TEST_POSTGRES") and "IMGD_DATABASE_URL" not in e:
            e["IMGD_DATABASE_URL"] = self._own_postgres_database(os.environ["IMGD_TEST_POSTGRES"])
        return e

    def _own_postgres_database(self, server: str) -> str:
        """With IMGD_TEST_POSTGRES=postgres://user@host:port set, each data dir gets its own
        fresh PostgreSQL database, so the whole suite can run on PostgreSQL metadata."""
        if getattr(self, "_pg_url", None) is None:
            name = "t_" + hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
            subprocess.run(["psql", "-X", "-q", server + "/postgres", "-c", f"CREATE DATABASE {name}"],
                           capture_output=True, text=True)
            self._pg_url = f"{server}/{name}"
        return self._pg_url

    # What `start` runs `imgd serve` with; ImgdCustom adds arguments and a directory.
    serve_args: tuple = ()
    cwd = None

    def start(self, timeout: float = 20.0, probe: str = "/_imgd/health") -> "Imgd":
        """Starts `imgd serve` and waits until `probe` answers 200 (`/_imgd/health/live` for
        a server whose database or blob store is meant to be away)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, "serve", *self.serve_args], env=self.env(), stdout=log, stderr=log,
                                     cwd=self.cwd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"imgd exited early:\n{self.log()}")
            try:
                if requests.get(f"{self.endpoint}{probe}", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"imgd did not become healthy:\n{self.log()}")

    def stop(self, sig=signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([BIN, *args], env=self.env(), capture_output=True, text=True, check=check)

    def client(self, **config):
        return s3_client(self.endpoint, **config)


def s3_client(endpoint: str, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, **config):
    cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config)
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=cfg,
    )


@pytest.fixture(scope="module")
def origin():
    """A loopback origin server (origin_server.Origin) shared by one test module; modules
    that need a fresh one per test define their own."""
    from origin_server import Origin

    o = Origin()
    yield o
    o.close()


@pytest.fixture(scope="session")
def imgd(tmp_path_factory):
    server = Imgd(tmp_path_factory.mktemp("imgd") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def s3(imgd):
    return imgd.client()


@pytest.fixture
def bucket(s3):
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def picgo_upload(endpoint: str, bucket: str, image: pathlib.Path, home: pathlib.Path) -> str:
    """Uploads `image` with PicGo and picgo-plugin-s3 (picgo_upload.js) and returns the URL
    PicGo reports."""
    import json

    node_modules = TOOLS / "node" / "node_modules"
    if not (node_modules / "picgo").exists():
        pytest.fail("PicGo is not installed; run scripts/setup-test-tools.sh")
    env = dict(os.environ, PICGO_MODULES=str(node_modules), HOME=str(home))
    res = subprocess.run(
        ["node", str(pathlib.Path(__file__).with_name("picgo_upload.js")), str(home / "picgo.json"),
         endpoint, ACCESS_KEY, SECRET_KEY, bucket, str(image)],
        env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"PicGo failed:\nstdout: {res.stdout}\nstderr: {res.stderr}"
    return json.loads(res.stdout.strip().splitlines()[-1])[0]


def tool(name: str) -> str:
    for candidate in (TOOLS / "venv" / "bin" / name, TOOLS / "bin" / name):
        if candidate.exists():
            return str(candidate)
    raise RuntimeError(f"{name} is not installed; run scripts/setup-test-tools.sh")


class ImgdCustom(Imgd):
    """An Imgd whose environment lacks chosen variables (the root keys, to see them generated;
    IMGD_DATA_DIR and IMGD_LISTEN, to take them from a `--config` file instead), whose
    `serve` gets extra arguments, and whose commands run in a chosen directory."""

    def __init__(self, data_dir, port=None, env=None, drop=(), serve_args=(), cwd=None):
        super().__init__(data_dir, port=port, env=env)
        self.drop = tuple(drop)
        self.serve_args = list(serve_args)
        self.cwd = cwd

    def env(self) -> dict:
        e = super().env()
        for name in self.drop:
            e.pop(name, None)
        return e

    def cli(self, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        """`env` overrides this call's environment; a None value removes the variable."""
        e = self.env()
        for name, value in (env or {}).items():
            if value is None:
                e.pop(name, None)
            else:
                e[name] = value
        return subprocess.run([BIN, *args], env=e, cwd=self.cwd, capture_output=True, text=True, check=check)


def metric(server, name: str, **labels) -> float:
    """The sum of a Prometheus series' samples whose labels include `labels`; 0 when the
    exporter has not seen the series yet."""
    text = requests.get(f"{server.endpoint}/_imgd/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([0-9.eE+-]+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def require_private_network():
    """Fails unless this process runs in a network namespace whose only interface is
    loopback (scripts/test.sh runs pytest under `unshare --net`): tests that feed imgd
    private, link-local or public addresses must have nowhere to send them."""
    # /proc/net/dev belongs to this process's namespace (/sys may still show the host's).
    with open("/proc/net/dev") as dev:
        interfaces = sorted(line.split(":")[0].strip() for line in dev.readlines()[2:])
    if interfaces != ["lo"]:
        pytest.fail(f"SSRF tests must run in a private network namespace (run scripts/test.sh); "
                    f"interfaces here: {interfaces}")


def cloudflare_account(server: Imgd, name: str = "tests") -> tuple[str, str, str, str]:
    """The first Cloudflare account of `server` (from `imgd cf account list`) and a fresh API
    token for it: (account_id, account_hash, bucket, token)."""
    account_id, account_hash, bucket = server.cli("cf", "account", "list").stdout.splitlines()[0].split()
    token = server.cli("cf", "token", "create", "--account", account_id, "--name", name).stdout.strip()
    return account_id, account_hash, bucket, token


def cf_result(r: requests.Response, status: int = 200):
    """The `result` of a successful Cloudflare API envelope, after checking the envelope."""
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text[:2000])
    body = r.json()
    assert body["success"] is True and body["errors"] == [], body
    assert isinstance(body.get("messages"), list), body
    return body["result"]


def cf_error(r: requests.Response, *statuses: int) -> dict:
    """The first error of a failed Cloudflare API envelope (`{code, message}`), after checking
    the status is one of `statuses` and the envelope says so."""
    assert r.status_code in statuses, (r.request.method, r.request.url, r.status_code, r.text[:2000])
    body = r.json()
    assert body["success"] is False, body
    assert body["errors"] and isinstance(body["errors"][0]["code"], int), body
    assert isinstance(body["errors"][0]["message"], str) and body["errors"][0]["message"], body
    return body["errors"][0]
