#!/usr/bin/env bash
# Builds imgd (release) and starts it on embedded defaults: local disk + SQLite under
# ./data, S3 API on 127.0.0.1:8080. Installs missing system build tools first.
# Extra arguments go to `imgd serve`; IMGD_* variables configure it (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-build-deps.sh
cargo build --release --locked
exec ./target/release/imgd serve "$@"
