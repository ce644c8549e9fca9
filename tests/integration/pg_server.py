"""A private PostgreSQL cluster for tests: Debian's server binaries, a fresh data
directory under /tmp, run as the unprivileged `postgres` user (PostgreSQL refuses root),
listening on one loopback port. `stop()` and `start()` keep the data, so a test can take
the database away and bring it back."""

import glob
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

USER = "postgres"


def _bin_dir() -> pathlib.Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries are missing; run scripts/setup-test-tools.sh")
    return pathlib.Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    def __init__(self):
        self.bin = _bin_dir()
        self.port = _free_port()
        # Not under pytest's tmp dir: that one is private to root, and the server runs as
        # another user.
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="imgd-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "server.log"
        shutil.chown(self.root, USER, USER)
        self._as_user("initdb", "-D", str(self.data), "-A", "trust", "-U", "imgd", "-E", "UTF8",
                      "--locale=C", "--no-sync")
        self.start()
        self._as_user("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "imgd", "imgd")

    @property
    def url(self) -> str:
        return f"postgres://imgd@127.0.0.1:{self.port}/imgd"

    def _as_user(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", USER, "--", str(self.bin / tool), *args],
                              capture_output=True, text=True, check=check, cwd=self.root)

    def start(self):
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._as_user("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log_path),
                      "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast"):
        self._as_user("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def sql(self, statement: str) -> str:
        """Runs one statement through psql and returns its unaligned output."""
        out = subprocess.run(["psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(self.port), "-U", "imgd",
                              "-d", "imgd", "-v", "ON_ERROR_STOP=1", "-c", statement],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def wait_ready(self, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                                capture_output=True)
            if ok.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not come up:\n{self.log_path.read_text(errors='replace')[-3000:]}")

    def close(self):
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


if __name__ == "__main__":
    pg = Postgres()
    print(pg.url, os.getpid())
    print(pg.sql("SELECT version()"))
    pg.close()
