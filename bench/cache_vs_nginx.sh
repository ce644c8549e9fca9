#!/usr/bin/env bash
# imgd's variant-cache hit path vs nginx (Debian) serving the same bytes from disk, and
# imgd's time to first byte on an origin miss vs the origin's own, in the same run.
#
#   Cache hits: wrk at 64 connections against one cached 720 px variant
#     (GET /bench/saw.jpg?x-oss-process=image/resize,w_720), and against nginx serving
#     that variant's bytes as a static file. ROUNDS rounds, servers interleaved; medians.
#   Origin miss: a bucket whose origin is that nginx; each request asks for a key imgd
#     has never seen (nginx rewrites every key to the same file), so every request is a
#     miss that streams from the origin. TTFB measured by curl, the same keys' TTFB
#     straight from nginx alongside.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECONDS_PER_RUN:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNECTIONS:-64}
MISSES=${MISSES:-200}
CORPUS=${CORPUS:-$PWD/../shared/corpus}
OUT=$(mktemp -d /tmp/imgd-cachebench.XXXXXX)
chmod 755 "$OUT" # nginx workers run as www-data
IMGD_PORT=18960
NGINX_PORT=18961
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$OUT/nginx.pid" ] && kill "$(cat "$OUT/nginx.pid")" 2>/dev/null || true' EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x /usr/sbin/nginx ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null || apt-get install -y -qq nginx >/dev/null; }
./scripts/setup-test-tools.sh >/dev/null
cargo build --release --locked -p imgd >&2

# nginx: the static peer and the HTTP origin.
mkdir -p "$OUT/www/static" "$OUT/nginx"
cat >"$OUT/nginx.conf" <<CONF
worker_processes auto;
pid $OUT/nginx.pid;
error_log $OUT/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  types { image/jpeg jpg; }
  client_body_temp_path $OUT/nginx/body;
  proxy_temp_path $OUT/nginx/proxy;
  fastcgi_temp_path $OUT/nginx/fastcgi;
  uwsgi_temp_path $OUT/nginx/uwsgi;
  scgi_temp_path $OUT/nginx/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $OUT/www;
    location /static/ { }
    # Any key under /origin/ is the same source image.
    location /origin/ { rewrite ^ /source.jpg break; }
  }
}
CONF
cp "$CORPUS/2569067123_aca715a2ee_o.jpg" "$OUT/www/source.jpg"

DATA=$OUT/data
env IMGD_DATA_DIR="$DATA" IMGD_LISTEN=127.0.0.1:$IMGD_PORT IMGD_ACCESS_KEY=benchkey IMGD_SECRET_KEY=benchsecret \
  IMGD_LOG=warn IMGD_FETCH_ALLOW=127.0.0.1/32 ./target/release/imgd serve >"$OUT/imgd.log" 2>&1 &
for _ in $(seq 1 100); do curl -sf -o /dev/null http://127.0.0.1:$IMGD_PORT/_imgd/health && break; sleep 0.1; done
admin() { IMGD_DATA_DIR="$DATA" IMGD_ACCESS_KEY=benchkey IMGD_SECRET_KEY=benchsecret ./target/release/imgd "$@" >/dev/null; }
admin bucket create bench --public
admin bucket create mirror --public
admin bucket origin mirror --http "http://127.0.0.1:$NGINX_PORT/origin"
.tools/venv/bin/python - "$CORPUS" "$IMGD_PORT" <<'PY'
import sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[2]}", aws_access_key_id="benchkey",
                  aws_secret_access_key="benchsecret", region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
body = open(f"{sys.argv[1]}/2569067123_aca715a2ee_o.jpg", "rb").read()
s3.put_object(Bucket="bench", Key="saw.jpg", Body=body, ContentType="image/jpeg")
PY
VARIANT="/bench/saw.jpg?x-oss-process=image/resize,w_720"
curl -sf -o "$OUT/www/static/saw-720.jpg" "http://127.0.0.1:$IMGD_PORT$VARIANT"
/usr/sbin/nginx -c "$OUT/nginx.conf" -p "$OUT/nginx"
for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT/static/saw-720.jpg" && break; sleep 0.1; done
cmp <(curl -sf "http://127.0.0.1:$NGINX_PORT/static/saw-720.jpg") <(curl -sf "http://127.0.0.1:$IMGD_PORT$VARIANT")
SIZE=$(stat -c %s "$OUT/www/static/saw-720.jpg")

RESULTS=$OUT/results.jsonl
run_wrk() { # name url
  wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "$2" >"$OUT/wrk-$1.txt"
  python3 - "$1" "$OUT/wrk-$1.txt" >>"$RESULTS" <<'PY'
import json, re, sys
name, text = sys.argv[1], open(sys.argv[2]).read()
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(json.dumps({"server": name, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
                  "p99_ms": ms(*p99.groups()), "non_2xx": int(bad.group(1)) if bad else 0}))
PY
}
for _ in $(seq 1 "$ROUNDS"); do
  run_wrk imgd "http://127.0.0.1:$IMGD_PORT$VARIANT"
  run_wrk nginx "http://127.0.0.1:$NGINX_PORT/static/saw-720.jpg"
done

# Origin misses: fresh keys every time, TTFB through imgd and straight from the origin.
for i in $(seq 1 "$MISSES"); do
  d=$(curl -s -o /dev/null -w '%{http_code} %{time_starttransfer}' "http://127.0.0.1:$NGINX_PORT/origin/k$i.jpg")
  m=$(curl -s -o /dev/null -w '%{http_code} %{time_starttransfer}' "http://127.0.0.1:$IMGD_PORT/mirror/k$i.jpg")
  echo "{\"kind\": \"ttfb\", \"direct\": \"$d\", \"miss\": \"$m\"}" >>"$RESULTS"
done

python3 - "$RESULTS" "$SIZE" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
hits = [r for r in rows if "server" in r]
def med(name, key):
    return statistics.median(r[key] for r in hits if r["server"] == name)
print(f"cache hit, {sys.argv[2]}-byte 720 px variant, wrk -c64, median of {len(hits)//2} rounds")
print("server   req/s      p99 ms   non-2xx")
for name in ("imgd", "nginx"):
    bad = sum(r["non_2xx"] for r in hits if r["server"] == name)
    print(f"{name:<8} {med(name, 'rps'):>9.0f}  {med(name, 'p99_ms'):>8.2f}   {bad}")
print(f"imgd / nginx req/s = {med('imgd', 'rps') / med('nginx', 'rps'):.2f}x")
ttfb = [r for r in rows if r.get("kind") == "ttfb"]
ok = [r for r in ttfb if r["direct"].startswith("200") and r["miss"].startswith("200")]
d = sorted(float(r["direct"].split()[1]) * 1000 for r in ok)
m = sorted(float(r["miss"].split()[1]) * 1000 for r in ok)
q = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))]
print(f"origin miss TTFB over {len(ok)}/{len(ttfb)} fresh keys (ms): origin direct median {statistics.median(d):.2f} p90 {q(d, .9):.2f}; "
      f"through imgd median {statistics.median(m):.2f} p90 {q(m, .9):.2f}; added median {statistics.median(m) - statistics.median(d):.2f}")
PY
echo "raw results: $RESULTS"
