#!/usr/bin/env bash
# imgd's engine vs sharp (libvips 8.18, from npm) on sharp's published benchmark tasks,
# measured on this machine in the same run:
#   jpeg/webp/avif: 2569067123_aca715a2ee_o.jpg (2725x2225) -> 720x588 cover, Lanczos3
#                   -> JPEG q80 / WebP q80 / AVIF at sharp's defaults (quality 50, effort 4)
#   png:        alpha-premultiply-2048x1536-paper.png -> 720x540 cover -> PNG
#   photo4000:  photo4000.jpg (4000x3000) -> 720 wide JPEG q80
#   phone:      iphone_photo.jpg (3264x2448) -> 720 wide JPEG q80
#   blur:       photo4000.jpg, Gaussian σ 10 -> JPEG q80 (imgd's and sharp's compared)
# in-process at concurrency 1 and 2, then imgd end to end over HTTP (wrk at concurrency
# 2, default configuration, a different object key on every request), then the peak RSS
# of one 64-megapixel JPEG -> 720 px in each engine. PSNR of every output against a
# full-resolution Lanczos3 reference. TASK=name runs one task.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECONDS_PER_RUN:-10}
CORPUS=${CORPUS:-$PWD/../shared/corpus}
OUT=$(mktemp -d /tmp/imgd-imgbench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

./scripts/setup-test-tools.sh >/dev/null
if [ ! -d .tools/node/node_modules/sharp ]; then
  (cd .tools/node && npm install --no-audit --no-fund --loglevel=error sharp@0.35 >/dev/null)
fi
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked -p imgd -p imgbench >&2

RESULTS=$OUT/results.jsonl
for c in 1 2; do
  SHARP_MODULES=$PWD/.tools/node/node_modules node bench/imaging/sharp_bench.js "$CORPUS" "$SECS" "$c" "$OUT" >>"$RESULTS"
  ./target/release/imgbench --corpus "$CORPUS" --seconds "$SECS" --concurrency "$c" --out "$OUT" ${TASK:+--task "$TASK"} >>"$RESULTS"
done

# End to end over HTTP.
DATA=$OUT/data
# The default configuration (variant cache on); every request names a different object,
# so each one renders and fills the cache as a real miss would.
KEYS=${HTTP_KEYS:-1500}
IMGD_DATA_DIR=$DATA IMGD_LISTEN=127.0.0.1:18950 IMGD_ACCESS_KEY=benchkey IMGD_SECRET_KEY=benchsecret IMGD_LOG=warn \
  ./target/release/imgd serve >"$OUT/imgd.log" 2>&1 &
for _ in $(seq 1 100); do curl -sf -o /dev/null http://127.0.0.1:18950/_imgd/health && break; sleep 0.1; done
IMGD_DATA_DIR=$DATA IMGD_ACCESS_KEY=benchkey IMGD_SECRET_KEY=benchsecret ./target/release/imgd bucket create bench --public >/dev/null
.tools/venv/bin/python - "$CORPUS" "$KEYS" <<'PY'
import sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:18950", aws_access_key_id="benchkey",
                  aws_secret_access_key="benchsecret", region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
body = open(f"{sys.argv[1]}/2569067123_aca715a2ee_o.jpg", "rb").read()
for i in range(int(sys.argv[2])):
    s3.put_object(Bucket="bench", Key=f"saw-{i}.jpg", Body=body, ContentType="image/jpeg")
PY
cat >"$OUT/distinct.lua" <<LUA
-- Each wrk thread runs its own copy of this script: without an offset per thread, both
-- threads would send the same keys and the second would be served from the cache.
local threads = 0
setup = function(thread)
  thread:set("offset", threads * math.floor($KEYS / 2))
  threads = threads + 1
end
init = function(args)
  counter = offset
end
request = function()
  counter = counter + 1
  return wrk.format("GET", "/bench/saw-" .. (counter % $KEYS) .. ".jpg?x-oss-process=image/resize,m_fill,w_720,h_588/quality,Q_80/format,jpg")
end
LUA
wrk -t2 -c2 -d"${SECS}s" -s "$OUT/distinct.lua" http://127.0.0.1:18950 >"$OUT/wrk.txt"
python3 - "$OUT/wrk.txt" >>"$RESULTS" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(json.dumps({"engine": "imgd-http", "task": "jpeg", "concurrency": 2, "ops": rps,
                  "non_2xx": int(errors.group(1)) if errors else 0}))
PY

# Peak memory of one 63.5-megapixel JPEG (under the 64 MP source limit) to 720 px, each engine in a fresh process.
BIG=$OUT/64mp.jpg
SHARP_MODULES=$PWD/.tools/node/node_modules node -e '
const sharp = require(process.env.SHARP_MODULES + "/sharp");
sharp(process.argv[1]).resize(9200, 6900).jpeg({ quality: 90 }).toFile(process.argv[2]);' "$CORPUS/photo4000.jpg" "$BIG"
sleep 1
for _ in $(seq 1 50); do [ -s "$BIG" ] && break; sleep 0.2; done
imgd_kb=$(/usr/bin/time -f %M ./target/release/imgbench --corpus "$CORPUS" --out "$OUT" --once "$BIG" 2>&1 >/dev/null | tail -1)
sharp_kb=$(SHARP_MODULES=$PWD/.tools/node/node_modules /usr/bin/time -f %M node -e '
const sharp = require(process.env.SHARP_MODULES + "/sharp");
sharp(process.argv[1]).resize(720).jpeg({ quality: 80 }).toBuffer().then(b => console.log(b.length));' "$BIG" 2>&1 >/dev/null | tail -1)
echo "{\"engine\": \"rss\", \"task\": \"64mp\", \"concurrency\": 1, \"ops\": 0, \"imgd_kb\": $imgd_kb, \"sharp_kb\": $sharp_kb}" >>"$RESULTS"

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
get = lambda e, t, c: next((r for r in rows if r["engine"] == e and r["task"] == t and r["concurrency"] == c), None)
fmt = lambda v, f: "-" if v is None else format(v, f)
# The lowest quality at which imgd's output is at least as close to the reference as sharp's.
matched = lambda m: "-" if not m else f"Q{m['quality']}: {m['bytes']} B, {m['psnr']:.2f} dB"
print("| task | conc | imgd ops/s | sharp ops/s | imgd / sharp | imgd bytes | sharp bytes | imgd PSNR | sharp PSNR | imgd p99 ms | imgd at sharp's PSNR |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for t in ("jpeg", "webp", "avif", "png", "photo4000", "phone", "blur"):
    for c in (1, 2):
        i, s = get("imgd", t, c), get("sharp", t, c)
        if not (i and s):
            continue
        print(f"| {t} | {c} | {i['ops']:.1f} | {s['ops']:.1f} | {i['ops'] / s['ops']:.2f}x | {i['bytes']} | {s['bytes']} "
              f"| {fmt(i.get('psnr'), '.2f')} | {fmt(i.get('sharp_psnr'), '.2f')} | {fmt(i.get('p99_ms'), '.1f')} "
              f"| {matched(i.get('matched'))} |")
s, h = get("sharp", "jpeg", 2), get("imgd-http", "jpeg", 2)
if h and s:
    print(f"jpeg over HTTP (c=2) / sharp in-process (c=2) = {h['ops'] / s['ops']:.2f}x ({h['ops']:.1f} req/s, non-2xx: {h['non_2xx']})")
b = get("imgd", "blur", 1)
if b and b.get("psnr") is not None:
    print(f"blur: imgd's result vs sharp's: {b['psnr']:.2f} dB PSNR")
r = get("rss", "64mp", 1)
if r:
    print(f"64 MP JPEG -> 720 px peak RSS: imgd {r['imgd_kb'] / 1024:.0f} MiB, sharp {r['sharp_kb'] / 1024:.0f} MiB")
PY
