#!/usr/bin/env bash
# Installs the system tools imgd's build needs (C toolchain helpers for the vendored
# codecs), the system libraries it links (libdav1d, for AVIF decoding; libheif, for HEIC and
# grid AVIF) and the fonts text
# watermarks are drawn with (read from /usr/share/fonts at run time) when they are
# missing. Needs root or sudo for apt-get; does nothing otherwise.
set -euo pipefail
missing=()
for tool in cmake nasm pkg-config cc; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# The dav1d crate (0.9) finds libdav1d 1.0-1.2 through pkg-config.
if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists dav1d; then
  missing+=(libdav1d)
fi
# crates/imaging/build.rs finds libheif 1.15 or later through pkg-config (Debian 12's).
if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --atleast-version=1.15 libheif; then
  missing+=(libheif)
fi
# One file per font package; the paths are those in crates/imaging's watermark fonts.
declare -A fonts=(
  [fonts-wqy-zenhei]=/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc
  [fonts-wqy-microhei]=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
  [fonts-droid-fallback]=/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf
  [fonts-noto-cjk]=/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc
)
for package in "${!fonts[@]}"; do
  [ -f "${fonts[$package]}" ] || missing+=("font:$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v cargo >/dev/null 2>&1; then
  echo "imgd needs a Rust toolchain (cargo); install it with rustup first" >&2
  exit 1
fi
packages=()
for tool in "${missing[@]}"; do
  case "$tool" in
    cc) packages+=(build-essential) ;;
    libdav1d) packages+=(libdav1d-dev) ;;
    # libheif-dev pulls in libheif1, which Debian builds with libde265 (HEVC) and
    # libdav1d/libaom (AV1) linked in.
    libheif) packages+=(libheif-dev) ;;
    font:*) packages+=("${tool#font:}") ;;
    *) packages+=("$tool") ;;
  esac
done
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing build dependencies: ${packages[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null
