#!/usr/bin/env bash
# imgd's engine vs sharp (libvips 8.18, from npm) on sharp's published benchmark tasks,
# measured on this machine in the same run:
#   JPEG: 2569067123_aca715a2ee_o.jpg (2725x2225) -> 720x588 cover, Lanczos3 -> JPEG q80
#   PNG:  alpha-premultiply-2048x1536-paper.png -> 720x540 cover -> PNG
# in-process at concurrency 1 and 2 for both, then imgd end to end over HTTP (wrk at
# concurrency 2, a different object key on every request so nothing could be cached).
# PSNR of every output against a full-resolution Lanczos3 reference.
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
  ./target/release/imgbench --corpus "$CORPUS" --seconds "$SECS" --concurrency "$c" --out "$OUT" >>"$RESULTS"
done

# End to end over HTTP.
DATA=$OUT/data
# The variant cache is off: the keys repeat every 200 requests, and this measures rendering.
IMGD_CACHE_ENABLED=false IMGD_DATA_DIR=$DATA IMGD_LISTEN=127.0.0.1:18950 IMGD_ACCESS_KEY=benchkey IMGD_SECRET_KEY=benchsecret IMGD_LOG=warn \
  ./target/release/imgd serve >"$OUT/imgd.log" 2>&1 &
for _ in $(seq 1 100); do curl -sf -o /dev/null http://127.0.0.1:18950/_imgd/health && break; sleep 0.1; done
IMGD_DATA_DIR=$DATA IMGD_ACCESS_KEY=benchkey IMGD_SECRET_KEY=benchsecret ./target/release/imgd bucket create bench --public >/dev/null
.tools/venv/bin/python - "$CORPUS" <<'PY'
import sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:18950", aws_access_key_id="benchkey",
                  aws_secret_access_key="benchsecret", region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
body = open(f"{sys.argv[1]}/2569067123_aca715a2ee_o.jpg", "rb").read()
for i in range(200):
    s3.put_object(Bucket="bench", Key=f"saw-{i}.jpg", Body=body, ContentType="image/jpeg")
PY
cat >"$OUT/distinct.lua" <<'LUA'
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/bench/saw-" .. (counter % 200) .. ".jpg?x-oss-process=image/resize,m_fill,w_720,h_588/quality,Q_80/format,jpg")
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

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
get = lambda e, t, c: next((r for r in rows if r["engine"] == e and r["task"] == t and r["concurrency"] == c), None)
print("engine       task  conc     ops/s   PSNR dB")
for r in rows:
    ps = r.get("psnr")
    shown = "" if r["engine"] != "imgd" else ("identical" if ps is None else f"{ps:.2f}")
    print(f"{r['engine']:<12} {r['task']:<5} {r['concurrency']:>4} {r['ops']:>9.1f}   {shown}")
for t in ("jpeg", "png"):
    for c in (1, 2):
        i, s = get("imgd", t, c), get("sharp", t, c)
        if i and s:
            print(f"{t} c={c}: imgd/sharp = {i['ops'] / s['ops']:.2f}x")
i, s, h = get("imgd", "jpeg", 1), get("sharp", "jpeg", 2), get("imgd-http", "jpeg", 2)
if h and s:
    print(f"jpeg HTTP end-to-end (c=2) / sharp in-process (c=2) = {h['ops'] / s['ops']:.2f}x (non-2xx: {h['non_2xx']})")
for t in ("jpeg", "png"):
    i = get("imgd", t, 1)
    if i and i.get("sharp_psnr") is not None:
        ours = "identical to the reference" if i["psnr"] is None else f"{i['psnr']:.2f} dB"
        print(f"{t} PSNR vs full-res Lanczos3 reference: imgd {ours}, sharp {i['sharp_psnr']:.2f} dB")
PY
