"""A private single-node Garage (the S3-compatible store imgd's `s3` blob backend is tested
against), started from .tools/garage (scripts/setup-test-tools.sh builds it).

`Garage(tmp_dir)` writes a config with fsync on for data and metadata (durable like imgd,
which fsyncs every acknowledged write), picks free loopback ports, starts the server,
applies a one-node layout and creates one bucket and one key that may read and write it.
`stop()` ends the process and `start()` brings it back on the same ports and directories
(the layout, bucket and key persist), so a test can take the store away and return it.
`objects(prefix)` and `uploads(prefix)` are what the bucket really holds, read with boto3
straight from Garage, not through imgd.
"""
import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import time

import boto3
import pytest
from botocore.config import Config

from conftest import TOOLS, free_port

GARAGE_BIN = TOOLS / "garage" / "bin" / "garage"
REGION = "garage"


def garage_bin() -> str:
    if not os.access(GARAGE_BIN, os.X_OK):
        pytest.fail(f"Garage is not installed at {GARAGE_BIN}; run scripts/setup-test-tools.sh")
    return str(GARAGE_BIN)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Garage:
    def __init__(self, work_dir: pathlib.Path, bucket: str = "imgd-blobs"):
        self.bin = garage_bin()
        self.dir = pathlib.Path(work_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.bucket = bucket
        self.region = REGION
        self.s3_port, self.rpc_port, self.admin_port = free_port(), free_port(), free_port()
        self.config = self.dir / "garage.toml"
        self.config.write_text(f"""\
metadata_dir = "{self.dir / 'meta'}"
data_dir = "{self.dir / 'data'}"
db_engine = "sqlite"
metadata_fsync = true
data_fsync = true
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{self.rpc_port}"
rpc_public_addr = "127.0.0.1:{self.rpc_port}"
rpc_secret = "{secrets.token_hex(32)}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{self.s3_port}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{self.admin_port}"
""")
        self.log_path = self.dir / "garage.log"
        self.proc = None
        self.access_key = self.secret_key = None
        self.start()
        self._setup()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def imgd_env(self, root: str = "/imgd/") -> dict:
        """The IMGD_STORAGE_* variables that keep an imgd's blobs in this bucket under `root`."""
        return {
            "IMGD_STORAGE_BACKEND": "s3",
            "IMGD_STORAGE_S3_ENDPOINT": self.endpoint,
            "IMGD_STORAGE_S3_REGION": self.region,
            "IMGD_STORAGE_S3_BUCKET": self.bucket,
            "IMGD_STORAGE_S3_ACCESS_KEY": self.access_key,
            "IMGD_STORAGE_S3_SECRET_KEY": self.secret_key,
            "IMGD_STORAGE_S3_ROOT": root,
        }

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run([self.bin, "-c", str(self.config), *args], capture_output=True, text=True,
                             timeout=60, env=dict(os.environ, RUST_LOG="warn"))
        if check and res.returncode != 0:
            raise RuntimeError(f"garage {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}\n"
                               f"{self.log()}")
        return res

    def start(self, timeout: float = 60.0) -> "Garage":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.bin, "-c", str(self.config), "server"], stdout=log, stderr=log,
                                     env=dict(os.environ, RUST_LOG="warn"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"garage exited early:\n{self.log()}")
            if _listening(self.s3_port) and self.cli("status", check=False).returncode == 0:
                if self.access_key is None or self._serving():
                    return self
            time.sleep(0.2)
        raise RuntimeError(f"garage did not come up:\n{self.log()}")

    def _serving(self) -> bool:
        try:
            self.client().head_bucket(Bucket=self.bucket)
            return True
        except Exception:
            return False

    def _setup(self):
        node = self.cli("node", "id", "-q").stdout.strip().split("@")[0]
        self.cli("layout", "assign", "-z", "dc1", "-c", "10G", node)
        self.cli("layout", "apply", "--version", "1")
        deadline = time.monotonic() + 30
        while True:  # the new layout takes a moment to be in force
            res = self.cli("bucket", "create", self.bucket, check=False)
            if res.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"garage bucket create failed:\n{res.stdout}\n{res.stderr}")
            time.sleep(0.3)
        info = self.cli("key", "create", "imgd-key").stdout
        fields = {}
        for line in info.splitlines():
            if ":" in line:
                name, _, value = line.partition(":")
                fields[name.strip()] = value.strip()
        self.access_key, self.secret_key = fields.get("Key ID"), fields.get("Secret key")
        if not self.access_key or not self.secret_key:
            raise RuntimeError(f"could not read the key from `garage key create`:\n{info}")
        self.cli("bucket", "allow", "--read", "--write", self.bucket, "--key", "imgd-key")
        deadline = time.monotonic() + 30
        while not self._serving():
            if time.monotonic() > deadline:
                raise RuntimeError(f"garage bucket {self.bucket} not reachable with its key:\n{self.log()}")
            time.sleep(0.3)

    def client(self):
        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                          connect_timeout=5, read_timeout=60),
        )

    def objects(self, prefix: str = "") -> list[dict]:
        """Every object in the bucket under `prefix` ({"Key", "Size", "ETag", ...})."""
        out = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            out += page.get("Contents", [])
        return out

    def uploads(self, prefix: str = "") -> list[dict]:
        """Unfinished multipart uploads under `prefix`."""
        return self.client().list_multipart_uploads(Bucket=self.bucket, Prefix=prefix).get("Uploads", [])

    def stop(self, sig=signal.SIGTERM, timeout: float = 30.0):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        deadline = time.monotonic() + 10
        while _listening(self.s3_port) and time.monotonic() < deadline:
            time.sleep(0.1)

    def close(self):
        """Stops the server and removes its data (large blobs must not outlive a test)."""
        self.stop()
        shutil.rmtree(self.dir / "data", ignore_errors=True)
        shutil.rmtree(self.dir / "meta", ignore_errors=True)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""
