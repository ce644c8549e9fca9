//! From source bytes to an [`Image`]: the limits checked on the probed header first, then
//! the format's decoder, each given its own memory limit.

use super::frame::Image;
use super::limits::{Deadline, Limits};
use super::sniff::{Probe, SourceFormat};
use super::{EngineError, EngineResult, avif, bmp, gif, heif, jpeg, png, sniff, svg, tiff, webp};

/// How the caller wants the pixels, where the format can oblige cheaply.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecodeOptions {
    /// JPEG: DCT-domain downscale, 1 (none), 2, 4 or 8.
    pub jpeg_denom: usize,
    /// SVG: draw at this size instead of the intrinsic one (already checked against the
    /// output limits).
    pub svg_size: Option<(u32, u32)>,
}

/// Refuses a probed source the limits do not allow, before anything is decoded.
pub fn check_probe(probe: &Probe, limits: &Limits) -> EngineResult<()> {
    let pixels = u64::from(probe.width) * u64::from(probe.height);
    if pixels > limits.max_source_pixels {
        return Err(EngineError::TooLarge(format!(
            "{}x{} is {pixels} pixels; the limit is {}",
            probe.width, probe.height, limits.max_source_pixels
        )));
    }
    // A clean aperture may crop a larger decode (a grid may claim any output size).
    if probe.decoded_pixels > limits.max_source_pixels {
        return Err(EngineError::TooLarge(format!(
            "the picture decodes to {} pixels before cropping; the limit is {}",
            probe.decoded_pixels, limits.max_source_pixels
        )));
    }
    if probe.frames > limits.max_frames {
        return Err(EngineError::TooLarge(format!(
            "the animation has {} frames; the limit is {}",
            probe.frames, limits.max_frames
        )));
    }
    let total = pixels.saturating_mul(u64::from(probe.frames));
    if probe.frames > 1 && total > limits.max_animation_pixels {
        return Err(EngineError::TooLarge(format!(
            "{} frames of {}x{} are {total} pixels; the limit is {}",
            probe.frames, probe.width, probe.height, limits.max_animation_pixels
        )));
    }
    Ok(())
}

/// Decodes a source whose probe passed [`check_probe`]. Animated GIF and WebP come out as
/// every frame; everything else as one.
pub fn decode(
    source: &[u8],
    probe: &Probe,
    options: &DecodeOptions,
    limits: &Limits,
    deadline: &Deadline,
) -> EngineResult<Image> {
    let max_pixels = limits.max_source_pixels;
    // Room for the widest sample layout a decoder may use (16-bit RGBA).
    let max_bytes = usize::try_from(max_pixels.saturating_mul(8)).unwrap_or(usize::MAX);
    let between = || deadline.check();
    let image = match probe.format {
        SourceFormat::Jpeg => {
            let markers = probe.jpeg_markers.clone().unwrap_or_default();
            Image::still(jpeg::decode(source, options.jpeg_denom.max(1), &markers)?)
        }
        SourceFormat::Png => Image::still(png::decode(source, max_bytes)?),
        // GIF frames are composited in RGBA; most never use the alpha.
        SourceFormat::Gif => {
            gif::decode(source, max_pixels.saturating_mul(4), between)?.drop_unused_alpha()
        }
        SourceFormat::Webp => webp::decode(source, max_bytes, between)?,
        SourceFormat::Bmp => Image::still(bmp::decode(source, max_pixels.saturating_mul(4))?),
        SourceFormat::Tiff => Image::still(tiff::decode(source, max_bytes)?),
        // Grids (and other derived images) are composed by libheif, as for HEIC.
        SourceFormat::Avif if heif::decodes_avif(source) => {
            Image::still(heif::decode(source, max_pixels, deadline)?)
        }
        SourceFormat::Avif => Image::still(avif::decode(source, max_pixels)?),
        SourceFormat::Svg => Image::still(svg::render(source, options.svg_size, max_pixels)?),
        SourceFormat::Heic => Image::still(heif::decode(source, max_pixels, deadline)?),
    };
    if image.frames.is_empty() || image.frames.len() != image.delays_ms.len() {
        return Err(EngineError::Internal(
            "a decoder returned no frames, or delays that do not match them".into(),
        ));
    }
    Ok(image)
}

/// Probes, checks the limits and decodes any supported source with default options:
/// for images that are not the pipeline's own source (watermark marks, say).
pub fn decode_any(source: &[u8], limits: &Limits) -> EngineResult<Image> {
    let probe = sniff::probe(source)?;
    check_probe(&probe, limits)?;
    decode(
        source,
        &probe,
        &DecodeOptions::default(),
        limits,
        &Deadline::starting_now(limits.time_budget),
    )
}
