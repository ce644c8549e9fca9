#!/usr/bin/env bash
# PUT and GET throughput of imgd vs Garage (single node), same machine, same run, same
# load generator (bench/s3bench): 64 KiB and 4 MiB objects at concurrency 8.
#
# Garage comes from the Rust package registry (`cargo install garage --version 2.5.0`,
# about 15 minutes on 2 cores); set GARAGE=/path/to/garage to reuse a build.
# Garage runs twice: with data_fsync/metadata_fsync on (durable like imgd, which fsyncs
# every acknowledged write) and with its defaults (fsync off).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_PHASE=${SECONDS_PER_PHASE:-10}
CONCURRENCY=${CONCURRENCY:-8}
WORK=$(mktemp -d /tmp/imgd-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

GARAGE=${GARAGE:-$PWD/.tools/garage/bin/garage}
if [ ! -x "$GARAGE" ]; then
  echo "building garage 2.5.0 (once) ..." >&2
  cargo install garage --version 2.5.0 --locked --root "$PWD/.tools/garage" >&2
fi
cargo build --release --locked -p imgd -p s3bench >&2
IMGD=$PWD/target/release/imgd
S3BENCH=$PWD/target/release/s3bench

wait_http() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }


# All three servers run side by side; each measurement round visits them in turn, so
# disk writeback and cache state hit all alike. The report gives each figure's median.
ROUNDS=${ROUNDS:-3}

IMGD_DATA_DIR=$WORK/imgd IMGD_LISTEN=127.0.0.1:18900 IMGD_ACCESS_KEY=benchkey IMGD_SECRET_KEY=benchsecret \
  IMGD_LOG=warn "$IMGD" serve >"$WORK/imgd.log" 2>&1 &
wait_http http://127.0.0.1:18900/_imgd/health
IMGD_DATA_DIR=$WORK/imgd IMGD_ACCESS_KEY=benchkey IMGD_SECRET_KEY=benchsecret "$IMGD" bucket create bench >/dev/null

declare -A EP AK SK RG
EP[imgd]=http://127.0.0.1:18900; AK[imgd]=benchkey; SK[imgd]=benchsecret; RG[imgd]=us-east-1

garage_start() { # label fsync(true|false) port-base
  local dir=$WORK/$1 base=$3
  mkdir -p "$dir"
  cat >"$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
metadata_fsync = $2
data_fsync = $2
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$((base + 1))"
rpc_public_addr = "127.0.0.1:$((base + 1))"
rpc_secret = "$(openssl rand -hex 32)"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$base"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "127.0.0.1:$((base + 3))"
TOML
  local g="$GARAGE -c $dir/garage.toml"
  RUST_LOG=warn $GARAGE -c "$dir/garage.toml" server >"$dir/garage.log" 2>&1 &
  wait_http "http://127.0.0.1:$base/"
  sleep 1
  local node keyinfo
  node=$($g node id -q 2>/dev/null | cut -d@ -f1)
  $g layout assign -z dc1 -c 10G "$node" >/dev/null
  $g layout apply --version 1 >/dev/null
  $g bucket create bench >/dev/null
  keyinfo=$($g key create bench-key)
  EP[$1]=http://127.0.0.1:$base
  AK[$1]=$(echo "$keyinfo" | awk -F': *' '/Key ID/ {print $2; exit}')
  SK[$1]=$(echo "$keyinfo" | awk -F': *' '/Secret key/ {print $2; exit}')
  RG[$1]=garage
  $g bucket allow --read --write bench --key bench-key >/dev/null
}
garage_start garage-fsync true 3900
garage_start garage-default false 3910

OUT=$WORK/results.jsonl
for round in $(seq 1 "$ROUNDS"); do
  for size in 65536 4194304; do
    for who in imgd garage-fsync garage-default; do
      sync
      line=$("$S3BENCH" --endpoint "${EP[$who]}" --access-key "${AK[$who]}" --secret-key "${SK[$who]}" \
        --region "${RG[$who]}" --bucket bench --size "$size" --concurrency "$CONCURRENCY" \
        --seconds "$SECONDS_PER_PHASE" --prefix "r$round-s$size")
      echo "{\"who\":\"$who\",\"round\":$round,\"r\":$line}" >>"$OUT"
      echo "round $round $who $size: $line" >&2
    done
  done
done

python3 - "$OUT" "$CONCURRENCY" "$ROUNDS" "$SECONDS_PER_PHASE" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(who, size, field):
    return statistics.median(r["r"][field] for r in rows if r["who"] == who and r["r"]["size"] == size)
sizes = {65536: "64KiB", 4194304: "4MiB"}
print(f"S3 throughput: concurrency {sys.argv[2]}, median of {sys.argv[3]} rounds of {sys.argv[4]} s per phase, one machine, one run")
print(f"{'server':<16}{'size':>7}{'PUT obj/s':>11}{'PUT MB/s':>10}{'GET obj/s':>11}{'GET MB/s':>10}")
for who in ("imgd", "garage-fsync", "garage-default"):
    for size, name in sizes.items():
        print(f"{who:<16}{name:>7}{med(who,size,'put_ops'):>11.1f}{med(who,size,'put_mbps'):>10.1f}"
              f"{med(who,size,'get_ops'):>11.1f}{med(who,size,'get_mbps'):>10.1f}")
print()
for peer in ("garage-fsync", "garage-default"):
    for size, name in sizes.items():
        print(f"imgd / {peer:<15}{name:>6}: PUT {med('imgd',size,'put_ops')/med(peer,size,'put_ops'):.2f}x"
              f"  GET {med('imgd',size,'get_ops')/med(peer,size,'get_ops'):.2f}x")
PY
