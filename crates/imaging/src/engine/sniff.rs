//! Format detection from magic bytes, and header-only probing: dimensions (and, for
//! animations, the frame count) are known before any pixel buffer is allocated.

use super::{EngineError, EngineResult, avif, bmp, gif, jpeg, png, svg, tiff, webp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
    Bmp,
    Tiff,
    Avif,
    Heic,
    Svg,
}

impl SourceFormat {
    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::Jpeg => "jpg",
            SourceFormat::Png => "png",
            SourceFormat::Gif => "gif",
            SourceFormat::Webp => "webp",
            SourceFormat::Bmp => "bmp",
            SourceFormat::Tiff => "tiff",
            SourceFormat::Avif => "avif",
            SourceFormat::Heic => "heic",
            SourceFormat::Svg => "svg",
        }
    }
}

pub fn sniff(data: &[u8]) -> Option<SourceFormat> {
    let starts = |m: &[u8]| data.starts_with(m);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        Some(SourceFormat::Jpeg)
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some(SourceFormat::Png)
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some(SourceFormat::Gif)
    } else if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some(SourceFormat::Webp)
    } else if starts(b"BM") {
        Some(SourceFormat::Bmp)
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Some(SourceFormat::Tiff)
    } else if data.len() >= 12 && &data[4..8] == b"ftyp" {
        match &data[8..12] {
            b"avif" | b"avis" => Some(SourceFormat::Avif),
            b"heic" | b"heix" | b"mif1" | b"msf1" => Some(SourceFormat::Heic),
            _ => None,
        }
    } else {
        // XML that opens an <svg> element early: after a declaration, comments or a
        // doctype, but not an HTML page that embeds one.
        let head = &data[..data.len().min(4096)];
        let text = String::from_utf8_lossy(head);
        let t = text.trim_start_matches('\u{feff}').trim_start();
        let lower = t.to_ascii_lowercase();
        (t.starts_with('<') && t.contains("<svg") && !lower.contains("<html"))
            .then_some(SourceFormat::Svg)
    }
}

/// What the header says, read without decoding pixels.
#[derive(Debug, Clone)]
pub struct Probe {
    pub format: SourceFormat,
    /// As stored, before EXIF orientation. For SVG, the intrinsic size.
    pub width: u32,
    pub height: u32,
    /// Frames in an animation (GIF, WebP); 1 for a still image.
    pub frames: u32,
    /// EXIF orientation, 1 when absent.
    pub orientation: u8,
    pub jpeg_markers: Option<jpeg::Markers>,
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
        SourceFormat::Avif => {
            let h = avif::header(data)?;
            Ok(Probe::still(format, h.width, h.height))
        }
        SourceFormat::Svg => {
            let h = svg::header(data)?;
            Ok(Probe::still(format, h.width, h.height))
        }
        SourceFormat::Heic => Err(EngineError::Unsupported("heic is not supported".into())),
    }
}
