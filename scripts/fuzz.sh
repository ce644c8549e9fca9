#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each for SECONDS (default 60); exits
# non-zero if any target finds a crash, a timeout or an out-of-memory input (saved under
# fuzz/artifacts/<target>/). Needs the nightly toolchain (cargo fuzz uses sanitizers).
#
#   scripts/fuzz.sh [SECONDS]
#
# Corpora live in fuzz/corpus/<target>/ (not committed): seeded on every run from
# fuzz/seeds/ (process strings) and from small files of ../shared/corpus (images;
# SHARED_CORPUS overrides the path), and grown by libFuzzer between runs.
# To reproduce a crash: cargo +nightly fuzz run -O --fuzz-dir fuzz <target> fuzz/artifacts/<target>/<file>
# To minimise it:       cargo +nightly fuzz tmin -O --fuzz-dir fuzz <target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-60}
case "$seconds" in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
fuzz_dir="$root/fuzz"
shared_corpus=${SHARED_CORPUS:-"$root/../shared/corpus"}
targets=(oss_parser decode_with_limits)

./scripts/install-build-deps.sh

echo "== toolchain"
start=$SECONDS
if ! rustup toolchain list | grep '^nightly' >/dev/null; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo +nightly fuzz --version
echo "toolchain ready in $((SECONDS - start)) s"

echo "== seed corpora"
parser_corpus="$fuzz_dir/corpus/oss_parser"
mkdir -p "$parser_corpus"
n=0
while IFS= read -r line || [ -n "$line" ]; do
  [ -z "$line" ] && continue
  n=$((n + 1))
  printf '%s' "$line" >"$parser_corpus/seed-$(printf '%02d' "$n")"
done <"$fuzz_dir/seeds/oss_parser.txt"
echo "oss_parser: $n process strings"

image_corpus="$fuzz_dir/corpus/decode_with_limits"
mkdir -p "$image_corpus"
# Small files of every decoder's format (and broken ones); see -max_len below.
seeds=(
  with-alpha.png p3.png prophoto.png 16-bit-grey-alpha.png Flag_of_the_Netherlands-16bit.png
  grey-8bit-alpha.png animated-loop-3.gif rotating-squares.gif animated-loop-3.webp
  5_webp_a.webp low-contrast.jpg orientation/Landscape_6.jpg truncated.jpg corrupt-header.jpg
  G31D.TIF check.svg circle.svg
)
copied=0
for name in "${seeds[@]}"; do
  file="$shared_corpus/$name"
  if [ -f "$file" ] && [ "$(wc -c <"$file")" -le 204800 ]; then
    cp -f "$file" "$image_corpus/seed-${name//\//-}"
    copied=$((copied + 1))
  fi
done
# Tiny images of the formats the shared corpus has no small file of (AVIF, BMP, LZW TIFF),
# kept as base64 text: "name base64" per line.
while read -r name data; do
  case "$name" in '' | '#'*) continue ;; esac
  printf '%s' "$data" | base64 -d >"$image_corpus/seed-$name"
  copied=$((copied + 1))
done <"$fuzz_dir/seeds/decode_with_limits.b64"
if [ "$copied" -lt 15 ]; then
  echo "warning: only $copied image seeds (is $shared_corpus there?)" >&2
fi
echo "decode_with_limits: $copied image seeds"

echo "== build"
start=$SECONDS
cargo +nightly fuzz build --fuzz-dir "$fuzz_dir" --release
echo "built in $((SECONDS - start)) s"

status=0
for target in "${targets[@]}"; do
  echo "== fuzz $target for $seconds s"
  start=$SECONDS
  extra=()
  [ -f "$fuzz_dir/seeds/$target.dict" ] && extra+=("-dict=$fuzz_dir/seeds/$target.dict")
  # Process strings up to past the parser's 8 KiB limit. Images up to 64 KiB (longer
  # seeds are cut there): big inputs make every run a full decode and re-encode, and
  # cost far more executions per second than they add coverage.
  case "$target" in
    oss_parser) extra+=(-max_len=10000) ;;
    decode_with_limits) extra+=(-max_len=65536) ;;
  esac
  if cargo +nightly fuzz run --fuzz-dir "$fuzz_dir" --release "$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    ${extra[@]+"${extra[@]}"}; then
    echo "$target: no crash in $((SECONDS - start)) s"
  else
    echo "$target: FAILED after $((SECONDS - start)) s; inputs in fuzz/artifacts/$target/:" >&2
    ls -l "$fuzz_dir/artifacts/$target/" >&2 || true
    status=1
  fi
done
exit "$status"
