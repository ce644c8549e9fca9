#!/usr/bin/env bash
# The whole test suite: unit and in-process tests (cargo), then integration tests that
# start the release binary and drive it with the real clients (aws CLI, boto3, rclone,
# s3cmd, minio-py, PicGo), installed into .tools/ on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-build-deps.sh
./scripts/setup-test-tools.sh

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== structure (no import circles, no unexplained files over 600 lines)"
python3 scripts/check-structure.py

echo "== cargo test"
cargo test --workspace --locked

echo "== fuzzing (each cargo-fuzz target for 60 s)"
./scripts/fuzz.sh 60

echo "== release build for the integration tests"
cargo build --release --locked

echo "== integration tests (real clients against target/release/imgd)"
cd tests/integration
# In a private network namespace with only loopback up: the SSRF tests hand imgd private,
# link-local and public addresses, and a regression must have nowhere to send them.
exec unshare --net sh -c 'ip link set lo up && exec "$@"' sh \
  ../../.tools/venv/bin/python -m pytest -q -p no:cacheprovider "$@"
