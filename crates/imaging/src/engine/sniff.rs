//! Format detection from magic bytes, and header-only probing: dimensions are known
//! before any pixel buffer is allocated.

use super::{EngineError, EngineResult, jpeg, png};

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
        let head = &data[..data.len().min(512)];
        let text = String::from_utf8_lossy(head);
        let t = text.trim_start_matches('\u{feff}').trim_start();
        (t.starts_with("<svg") || (t.starts_with("<?xml") && text.contains("<svg")))
            .then_some(SourceFormat::Svg)
    }
}

/// What the header says, read without decoding pixels.
#[derive(Debug, Clone)]
pub struct Probe {
    pub format: SourceFormat,
    /// As stored, before EXIF orientation.
    pub width: u32,
    pub height: u32,
    /// EXIF orientation, 1 when absent.
    pub orientation: u8,
    pub jpeg_markers: Option<jpeg::Markers>,
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
                format,
                width: h.width,
                height: h.height,
                orientation,
                jpeg_markers: Some(markers),
            })
        }
        SourceFormat::Png => {
            let h = png::header(data)?;
            Ok(Probe {
                format,
                width: h.width,
                height: h.height,
                orientation: 1,
                jpeg_markers: None,
            })
        }
        other => Err(EngineError::Unsupported(format!(
            "{} sources are not supported yet",
            other.name()
        ))),
    }
}
