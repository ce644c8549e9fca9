//! Header-only probing: dimensions (and, for animations, the frame count) are known
//! before any pixel buffer is allocated. Which format the bytes are is the `formats`
//! crate's answer (the same sniffer `fetch` accepts origins' bodies by), re-exported
//! here as [`SourceFormat`] and [`sniff`]; [`probe`] adds what needs each format's
//! header parser. This module uses the format modules and none of them uses it (`svg.rs`
//! reads embedded images' headers through the format modules directly).

use super::{EngineError, EngineResult, avif, bmp, gif, heif, jpeg, png, svg, tiff, webp};

pub use formats::ImageFormat as SourceFormat;
pub use formats::sniff;

/// What the header says, read without decoding pixels.
#[derive(Debug, Clone)]
pub struct Probe {
    pub format: SourceFormat,
    /// As stored, before EXIF orientation. For SVG, the intrinsic size.
    pub width: u32,
    pub height: u32,
    /// Frames in an animation (GIF, WebP); 1 for a still image.
    pub frames: u32,
    /// EXIF orientation, 1 when absent. For HEIF and AVIF, `irot`/`imir` as one (or,
    /// without them, the Exif item's).
    pub orientation: u8,
    pub jpeg_markers: Option<jpeg::Markers>,
    /// Bits per sample as coded (8 for formats decoded straight to 8 bits): what the
    /// decoder's buffers take.
    pub bits: u8,
    /// Pixels the decoder allocates: width x height, unless a HEIF/AVIF clean aperture
    /// crops the decoded picture to the size above.
    pub decoded_pixels: u64,
}

impl Probe {
    fn still(format: SourceFormat, width: u32, height: u32) -> Probe {
        Probe {
            format,
            width,
            height,
            frames: 1,
            orientation: 1,
            jpeg_markers: None,
            bits: 8,
            decoded_pixels: u64::from(width) * u64::from(height),
        }
    }
}

pub fn probe(data: &[u8]) -> EngineResult<Probe> {
    let format = sniff(data)
        .ok_or_else(|| EngineError::Unsupported("the source is not a recognised image".into()))?;
    match format {
        SourceFormat::Jpeg => {
            let h = jpeg::header(data)?;
            let markers = jpeg::markers(data);
            let orientation = markers.exif.as_deref().map_or(1, jpeg::exif_orientation);
            Ok(Probe {
                orientation,
                jpeg_markers: Some(markers),
                ..Probe::still(format, h.width, h.height)
            })
        }
        SourceFormat::Png => {
            let h = png::header(data)?;
            Ok(Probe::still(format, h.width, h.height))
        }
        SourceFormat::Gif => {
            let h = gif::header(data)?;
            Ok(Probe {
                frames: h.frames,
                ..Probe::still(format, h.width, h.height)
            })
        }
        SourceFormat::Webp => {
            let h = webp::header(data)?;
            Ok(Probe {
                frames: h.frames,
                orientation: h.orientation,
                ..Probe::still(format, h.width, h.height)
            })
        }
        SourceFormat::Bmp => {
            let h = bmp::header(data)?;
            Ok(Probe::still(format, h.width, h.height))
        }
        SourceFormat::Tiff => {
            let h = tiff::header(data)?;
            Ok(Probe {
                orientation: h.orientation,
                ..Probe::still(format, h.width, h.height)
            })
        }
        // A grid AVIF is libheif's to compose; a plain one stays with avif-parse and dav1d.
        SourceFormat::Avif if heif::decodes_avif(data) => heif_probe(format, data),
        SourceFormat::Avif => {
            let h = avif::header(data)?;
            Ok(Probe {
                orientation: h.orientation,
                bits: h.bits,
                decoded_pixels: h.decoded_pixels,
                ..Probe::still(format, h.width, h.height)
            })
        }
        SourceFormat::Svg => {
            let h = svg::header(data)?;
            Ok(Probe::still(format, h.width, h.height))
        }
        SourceFormat::Heic => heif_probe(format, data),
    }
}

fn heif_probe(format: SourceFormat, data: &[u8]) -> EngineResult<Probe> {
    let h = heif::header(data)?;
    Ok(Probe {
        orientation: h.orientation,
        bits: h.bits,
        decoded_pixels: h.decoded_pixels,
        ..Probe::still(format, h.width, h.height)
    })
}
