//! What a render will hold in memory at its peak, in bytes, known from the header and the
//! pipeline before anything is decoded, so admission control can budget real bytes rather
//! than megapixels.
//!
//! The estimate walks the pipeline the way the runner does, keeping the frame size after
//! each step, and takes the largest of: the decoder's output plus its own working state,
//! each step's input plus its output plus its scratch (a blur's 16-bit buffer), and the
//! last frame plus the encoder's state. It is an upper bound by construction: every frame
//! is counted as RGBA, steps that can only shrink an image are counted as keeping its size,
//! and the codec figures below are rounded up from measurements of the libraries used.

use super::blur;
use super::geometry;
use super::ops;
use super::plan::{self, DecodePlan};
use super::sniff::{Probe, SourceFormat};
use crate::ir::{Format, FormatChoice, Pipeline, Step};

/// Bytes per pixel of a decoded frame as counted here (RGBA).
const FRAME_BYTES_PER_PIXEL: u64 = 4;
/// A progressive or multi-scan JPEG keeps every DCT coefficient of the whole image (two
/// bytes each, 1.5 samples per pixel at 4:2:0, 3 at 4:4:4) whatever scale it decodes at.
const JPEG_COEFFICIENT_BYTES_PER_PIXEL: u64 = 6;
/// Decoders that convert after decoding (CMYK and ICC to sRGB, YUV to RGB, 16-bit to
/// 8-bit) hold their raw output and the converted frame at once.
const DECODE_COPIES: u64 = 2;
/// Fixed allowance for codec tables, row buffers and the like.
const FIXED_BYTES: u64 = 16 << 20;

/// The encoder's working memory per output pixel, beyond the frame it reads.
fn encoder_bytes_per_pixel(format: Format) -> u64 {
    match format {
        // libjpeg-turbo converts a few rows at a time; optimised Huffman coding keeps
        // the coefficients of the whole image.
        Format::Jpeg => 8,
        // The filtered rows and the deflate output, about the size of the raw image.
        Format::Png | Format::Bmp | Format::Tiff => 8,
        // libwebp's YUV copy, its analysis maps and the bitstream.
        Format::Webp => 12,
        // rav1e's frame planes, reference and lookahead state at the speed imgd uses.
        Format::Avif | Format::Heic => 24,
        // An RGBA copy for quantisation plus the indexed frame.
        Format::Gif => 6,
    }
}

/// What HEIF and AVIF decoding holds beyond imgd's own frames, over the decoded (not yet
/// cropped) size: the codec's Y, Cb and Cr planes at full resolution (4:4:4, the most)
/// and alpha, libheif's interleaved RGBA, both at the coded depth, and above 8 bits the
/// 16-bit copy that is rounded or tone-mapped to 8.
fn heif_decode_bytes(probe: &Probe) -> u64 {
    let sample = if probe.bits > 8 { 2 } else { 1 };
    let widened = if probe.bits > 8 { 8 } else { 0 };
    (4 * sample + 4 * sample + widened) * probe.decoded_pixels
}

/// The bytes a render of `source_len` bytes with this header and pipeline holds at most.
pub fn peak_bytes(source_len: usize, probe: &Probe, pipeline: &Pipeline) -> u64 {
    let frames = u64::from(probe.frames.max(1));
    let plan = DecodePlan::new(probe, pipeline);
    let frame_bytes =
        |w: u32, h: u32, frames: u64| u64::from(w) * u64::from(h) * FRAME_BYTES_PER_PIXEL * frames;

    // Decoding, at the size the decoder hands over (smaller after a DCT shrink).
    let (mut w, mut h) = plan.decoded_size();
    let mut peak = match probe.format {
        SourceFormat::Jpeg => {
            let source_pixels = u64::from(probe.width) * u64::from(probe.height);
            DECODE_COPIES * frame_bytes(w, h, 1) + JPEG_COEFFICIENT_BYTES_PER_PIXEL * source_pixels
        }
        SourceFormat::Heic | SourceFormat::Avif => {
            heif_decode_bytes(probe) + DECODE_COPIES * frame_bytes(w, h, 1)
        }
        SourceFormat::Svg => DECODE_COPIES * frame_bytes(w, h, 1),
        // Animations are composited on one canvas and each frame kept.
        _ => frame_bytes(w, h, frames) + DECODE_COPIES * frame_bytes(w, h, 1),
    };
    if plan.orientation != 1 {
        peak = peak.max(2 * frame_bytes(w, h, frames));
    }

    let mut frames = frames;
    for (i, step) in pipeline.steps.iter().enumerate() {
        let before = frame_bytes(w, h, frames);
        let (nw, nh, scratch) = match step {
            // The first resize is planned on the upright source, as the runner does.
            Step::Resize(r) => match if i == 0 {
                plan.first_resize.clone()
            } else {
                geometry::plan(w, h, r)
            } {
                None => (w, h, 0),
                Some(plan) => {
                    let (ow, oh) = plan.output_size();
                    // A padded resize holds the scaled image and the canvas.
                    let scaled = frame_bytes(plan.scaled_w, plan.scaled_h, 1);
                    (ow, oh, scaled)
                }
            },
            Step::Rotate { degrees } => {
                let (rw, rh) = ops::rotated_size(w, h, *degrees);
                (rw, rh, 0)
            }
            Step::Blur { .. } => (w, h, blur::working_bytes(w, h, 4)),
            // The blurred copy and the blur's own buffer.
            Step::Sharpen(_) => (w, h, frame_bytes(w, h, 1) + blur::working_bytes(w, h, 4)),
            Step::FirstFrame => {
                frames = 1;
                (w, h, 0)
            }
            // The mark is at most the frame's size once prepared.
            Step::Watermark(_) => (w, h, 2 * frame_bytes(w, h, 1)),
            Step::Info | Step::AverageHue | Step::Facts => break,
            // Everything else keeps the size or shrinks it: counted as keeping it.
            _ => (w, h, 0),
        };
        let after = frame_bytes(nw, nh, frames);
        peak = peak.max(before + after + scratch);
        (w, h) = (nw, nh);
    }

    let format = match pipeline.output.format {
        Some(FormatChoice::Fixed(f)) => f,
        // The hungriest format `auto` may pick.
        Some(FormatChoice::Auto) => Format::Avif,
        None => plan::kept_format(probe.format),
    };
    let out_pixels = u64::from(w) * u64::from(h);
    let encode = frame_bytes(w, h, frames) + encoder_bytes_per_pixel(format) * out_pixels;
    peak = peak.max(encode);
    source_len as u64 + peak + FIXED_BYTES
}
