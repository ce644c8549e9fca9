#!/usr/bin/env bash
# Two imgd nodes on PostgreSQL + Garage, against the embedded single node (SQLite + local
# disk) and against Garage alone, in the same run on the same machine:
# - S3 PUT and GET of 64 KiB and 4 MiB objects (bench/s3bench; through the cluster, each
#   worker PUTs through one node and GETs through the other);
# - the processed-variant path (distinct keys, so every request renders: one wrk per node
#   for the cluster, one for the single node, the same total connections).
# The cluster is set up with the commands of docs/deployment.md. Needs root (PostgreSQL
# runs as the `postgres` user) and Garage in .tools/garage (scripts/setup-test-tools.sh).
# KEEP_WORK=1 keeps the servers' logs and data.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_PHASE=${SECONDS_PER_PHASE:-10}
CONCURRENCY=${CONCURRENCY:-8}
ROUNDS=${ROUNDS:-2}
KEYS=${HTTP_KEYS:-600}
WORK=$(mktemp -d /tmp/imgd-cluster-bench.XXXXXX)
chmod 755 "$WORK"
PG_BIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl | sort | tail -n 1)")
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
  if [ -n "${KEEP_WORK:-}" ]; then echo "logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
GARAGE=${GARAGE:-$PWD/.tools/garage/bin/garage}
[ -x "$GARAGE" ] || { echo "Garage is missing: run scripts/setup-test-tools.sh" >&2; exit 1; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked -p imgd -p s3bench >&2
IMGD=$PWD/target/release/imgd
S3BENCH=$PWD/target/release/s3bench
CORPUS=${CORPUS:-$PWD/../shared/corpus}
wait_http() { for _ in $(seq 1 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

# PostgreSQL: a private cluster (docs/deployment.md, step 1).
mkdir -p "$WORK/pg" "$WORK/pglog" && chown postgres "$WORK/pg" "$WORK/pglog"
runuser -u postgres -- "$PG_BIN/initdb" -D "$WORK/pg" -A trust -U imgd -E UTF8 --locale=C >/dev/null
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg" -o "-p 18990 -k $WORK/pg -c listen_addresses=127.0.0.1 -c fsync=on" \
  -l "$WORK/pglog/server.log" -w start >/dev/null
runuser -u postgres -- "$PG_BIN/createdb" -h 127.0.0.1 -p 18990 -U imgd imgd

# Garage: one node, fsync on like imgd (step 2).
mkdir -p "$WORK/garage"
cat >"$WORK/garage/garage.toml" <<TOML
metadata_dir = "$WORK/garage/meta"
data_dir = "$WORK/garage/data"
db_engine = "sqlite"
metadata_fsync = true
data_fsync = true
replication_factor = 1
rpc_bind_addr = "127.0.0.1:18981"
rpc_public_addr = "127.0.0.1:18981"
rpc_secret = "$(openssl rand -hex 32)"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:18980"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "127.0.0.1:18983"
TOML
G="$GARAGE -c $WORK/garage/garage.toml"
RUST_LOG=warn $G server >"$WORK/garage.log" 2>&1 &
for _ in $(seq 1 300); do curl -s -o /dev/null http://127.0.0.1:18980/ && break; sleep 0.1; done
sleep 1
$G layout assign -z dc1 -c 10G "$($G node id -q 2>/dev/null | cut -d@ -f1)" >/dev/null
$G layout apply --version 1 >/dev/null
for _ in $(seq 1 50); do $G bucket create imgd-blobs >/dev/null 2>&1 && break; sleep 0.3; done
$G bucket create bench >/dev/null
KEYINFO=$($G key create bench-key)
GK=$(echo "$KEYINFO" | awk -F': *' '/Key ID/ {print $2; exit}')
GS=$(echo "$KEYINFO" | awk -F': *' '/Secret key/ {print $2; exit}')
$G bucket allow --read --write imgd-blobs --key bench-key >/dev/null
$G bucket allow --read --write bench --key bench-key >/dev/null

# The nodes (step 3), and the embedded single node beside them.
export IMGD_ACCESS_KEY=benchkey IMGD_SECRET_KEY=benchsecret IMGD_LOG=warn
cluster_env() { # exec: a background call is then the imgd process itself, which cleanup kills
  exec env IMGD_DATABASE_URL=postgres://imgd@127.0.0.1:18990/imgd IMGD_STORAGE_BACKEND=s3 \
    IMGD_STORAGE_S3_ENDPOINT=http://127.0.0.1:18980 IMGD_STORAGE_S3_REGION=garage \
    IMGD_STORAGE_S3_BUCKET=imgd-blobs IMGD_STORAGE_S3_ACCESS_KEY="$GK" IMGD_STORAGE_S3_SECRET_KEY="$GS" \
    IMGD_STORAGE_S3_ROOT=/cluster/ "$@"
}
cluster_env IMGD_LISTEN=127.0.0.1:18901 IMGD_DATA_DIR="$WORK/node-a" "$IMGD" serve >"$WORK/node-a.log" 2>&1 &
wait_http http://127.0.0.1:18901/_imgd/health || { tail -20 "$WORK/node-a.log" >&2; exit 1; }
cluster_env IMGD_LISTEN=127.0.0.1:18902 IMGD_DATA_DIR="$WORK/node-b" "$IMGD" serve >"$WORK/node-b.log" 2>&1 &
wait_http http://127.0.0.1:18902/_imgd/health
IMGD_LISTEN=127.0.0.1:18900 IMGD_DATA_DIR="$WORK/single" "$IMGD" serve >"$WORK/single.log" 2>&1 &
wait_http http://127.0.0.1:18900/_imgd/health
IMGD_DATA_DIR="$WORK/single" "$IMGD" bucket create bench --public >/dev/null
(cluster_env IMGD_DATA_DIR="$WORK/node-a" "$IMGD" bucket create bench --public >/dev/null)

declare -A EP AK SK RG
EP[single]=http://127.0.0.1:18900; AK[single]=benchkey; SK[single]=benchsecret; RG[single]=us-east-1
EP[cluster]=http://127.0.0.1:18901,http://127.0.0.1:18902; AK[cluster]=benchkey; SK[cluster]=benchsecret; RG[cluster]=us-east-1
EP[garage]=http://127.0.0.1:18980; AK[garage]=$GK; SK[garage]=$GS; RG[garage]=garage

OUT=$WORK/results.jsonl
for round in $(seq 1 "$ROUNDS"); do
  for size in 65536 4194304; do
    for who in single cluster garage; do
      sync
      line=$("$S3BENCH" --endpoint "${EP[$who]}" --access-key "${AK[$who]}" --secret-key "${SK[$who]}" \
        --region "${RG[$who]}" --bucket bench --size "$size" --concurrency "$CONCURRENCY" \
        --seconds "$SECONDS_PER_PHASE" --prefix "r$round-s$size")
      echo "{\"who\":\"$who\",\"r\":$line}" >>"$OUT"
      echo "round $round $who $size: $line" >&2
    done
  done
done

# The processed-variant path: KEYS distinct sources, each request a miss that renders.
.tools/venv/bin/python - "$CORPUS" "$KEYS" <<'PY'
import sys, boto3
from botocore.config import Config
body = open(f"{sys.argv[1]}/2569067123_aca715a2ee_o.jpg", "rb").read()
for endpoint in ("http://127.0.0.1:18900", "http://127.0.0.1:18901"):
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="benchkey", aws_secret_access_key="benchsecret",
                      region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
    for i in range(int(sys.argv[2])):
        s3.put_object(Bucket="bench", Key=f"saw-{i}.jpg", Body=body, ContentType="image/jpeg")
PY
lua() { # $1: where the counter starts (the two nodes start half the keys apart)
  cat <<LUA
counter = $1
request = function()
  counter = counter + 1
  -- After every pass over the keys the width moves on, so no request repeats a variant.
  local width = 600 + math.floor(counter / $KEYS)
  return wrk.format("GET", "/bench/saw-" .. (counter % $KEYS) .. ".jpg?x-oss-process=image/resize,m_fill,w_" .. width .. ",h_588/quality,Q_80/format,jpg")
end
LUA
}
lua 0 >"$WORK/single.lua"; lua 0 >"$WORK/a.lua"; lua $((KEYS / 2)) >"$WORK/b.lua"
# One single-threaded wrk per connection: each wrk thread runs its own copy of the script,
# so two threads of one wrk would send the same keys and the second would hit the cache.
lua $((KEYS / 2)) >"$WORK/single2.lua"
wrk -t1 -c1 -d"${SECONDS_PER_PHASE}s" -s "$WORK/single.lua" http://127.0.0.1:18900 >"$WORK/wrk-single.txt" &
WRK_S=$!
wrk -t1 -c1 -d"${SECONDS_PER_PHASE}s" -s "$WORK/single2.lua" http://127.0.0.1:18900 >"$WORK/wrk-single2.txt"
wait "$WRK_S"
wrk -t1 -c1 -d"${SECONDS_PER_PHASE}s" -s "$WORK/a.lua" http://127.0.0.1:18901 >"$WORK/wrk-a.txt" &
WRK_A=$!
wrk -t1 -c1 -d"${SECONDS_PER_PHASE}s" -s "$WORK/b.lua" http://127.0.0.1:18902 >"$WORK/wrk-b.txt"
wait "$WRK_A"

python3 - "$OUT" "$CONCURRENCY" "$ROUNDS" "$SECONDS_PER_PHASE" "$WORK" <<'PY'
import json, re, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(who, size, field):
    return statistics.median(r["r"][field] for r in rows if r["who"] == who and r["r"]["size"] == size)
def rps(name):
    text = open(f"{sys.argv[5]}/wrk-{name}.txt").read()
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)), int(bad.group(1)) if bad else 0
sizes = {65536: "64KiB", 4194304: "4MiB"}
print(f"S3 throughput: concurrency {sys.argv[2]}, median of {sys.argv[3]} rounds of {sys.argv[4]} s per phase, one machine, one run")
print(f"{'target':<10}{'size':>7}{'PUT obj/s':>11}{'PUT MB/s':>10}{'GET obj/s':>11}{'GET MB/s':>10}{'errors':>8}")
for who in ("single", "cluster", "garage"):
    for size, name in sizes.items():
        errors = sum(r["r"]["put_errors"] + r["r"]["get_errors"] for r in rows if r["who"] == who and r["r"]["size"] == size)
        print(f"{who:<10}{name:>7}{med(who,size,'put_ops'):>11.1f}{med(who,size,'put_mbps'):>10.1f}"
              f"{med(who,size,'get_ops'):>11.1f}{med(who,size,'get_mbps'):>10.1f}{errors:>8}")
print()
for peer in ("single", "garage"):
    for size, name in sizes.items():
        print(f"cluster / {peer:<7}{name:>6}: PUT {med('cluster',size,'put_ops')/med(peer,size,'put_ops'):.2f}x"
              f"  GET {med('cluster',size,'get_ops')/med(peer,size,'get_ops'):.2f}x")
single, single_bad = (x + y for x, y in zip(rps("single"), rps("single2")))
a, a_bad = rps("a")
b, b_bad = rps("b")
print()
print(f"processed variants (distinct keys, 2 connections in all): single {single:.1f} req/s ({single_bad} non-2xx), "
      f"cluster {a + b:.1f} req/s ({a_bad + b_bad} non-2xx): cluster / single {(a + b) / single:.2f}x")
PY
