//! The engine: bytes in, [`Rendered`] out. [`render`] probes the header (nothing is
//! allocated for pixels before the size, and an animation's frame count, are checked
//! against [`Limits`]), decodes (JPEG shrinking in the DCT domain and SVG drawing straight
//! at the size when the first step is a resize), applies EXIF orientation, runs the
//! pipeline's steps in order on every frame, and encodes.
//!
//! A decoded picture is a [`frame::Image`]: one [`frame::Frame`] for a still image, or
//! every frame of an animation (GIF, WebP) fully composited, with delays and loop count.
//! GIF and WebP output keep the animation; other formats take the first frame.
//!
//! | format | decode | encode |
//! |---|---|---|
//! | JPEG | `jpeg.rs` (libjpeg-turbo) | `jpeg.rs` |
//! | PNG | `png.rs` (`png`) | `png.rs` |
//! | GIF | `gif.rs` (`gif`), animated | `gif.rs`, animated, NeuQuant palettes |
//! | WebP | `webp.rs` (`image-webp`), animated | `webp.rs` (libwebp), animated via `WebPAnimEncoder` |
//! | AVIF | `avif.rs` (`avif-parse` + system libdav1d); grids `heif.rs` | `avif.rs` (`ravif`, 8-bit) |
//! | BMP | `bmp.rs` (`image`'s BMP codec) | `bmp.rs` |
//! | TIFF | `tiff.rs` (`tiff`; CCITT G3 1-D via `fax`) | `tiff.rs` (LZW) |
//! | SVG | `svg.rs` (`resvg`, no external references, no fonts) | — |
//! | HEIC/HEIF | `heif.rs` (system libheif; grids composed) | refused: `Unsupported("heic is not supported")` |
//!
//! HEIF and AVIF containers are read by `heif_meta.rs` (primary item, size, grid, `clap`,
//! `irot`/`imir`, Exif; `hevc.rs` reads the coded size from an HEVC SPS). Sources deeper
//! than 8 bits come out as 8-bit sRGB by the rule in `hdr.rs`: rounded when SDR,
//! tone-mapped when PQ or HLG.
//!
//! Layering, so that no two modules import each other: `execute.rs` (the pipeline
//! runner) is on top; below it `decode.rs`, the steps and the encoders; `limits.rs`
//! ([`Limits`], [`Deadline`]) is shared by all of them; `sniff.rs` (header probing, with
//! format recognition from the `formats` crate) uses the format modules, never the
//! reverse. A watermark image is rendered by the engine itself, which the runner passes
//! to `watermark.rs` ([`watermark::RenderNested`]) instead of that module calling back up.

pub mod avif;
pub mod blur;
pub mod bmp;
pub mod color;
pub mod cost;
pub mod decode;
pub mod exif_keep;
pub mod frame;
pub mod geometry;
pub mod gif;
pub mod hdr;
pub mod heif;
pub mod heif_meta;
pub mod hevc;
pub mod jpeg;
pub mod ops;
pub mod orient;
pub mod plan;
pub mod planar;
pub mod png;
pub mod resize;
pub mod sniff;
pub mod svg;
pub mod tiff;
pub mod tone;
pub mod watermark;
pub mod webp;

mod execute;
mod limits;

pub use execute::{render, render_with};
pub use limits::{Deadline, Limits};
pub use watermark::{MarkImages, NoMarks};

use crate::ir::Format;
use thiserror::Error;

/// What a pipeline produces: an encoded image, or a JSON report (info, average-hue).
#[derive(Debug, Clone)]
pub enum Rendered {
    Image {
        bytes: Vec<u8>,
        format: Format,
        width: u32,
        height: u32,
    },
    Json(String),
}

impl Rendered {
    pub fn content_type(&self) -> &'static str {
        match self {
            Rendered::Image { format, .. } => format.mime_type(),
            Rendered::Json(_) => "application/json",
        }
    }
}

/// Why an image could not be rendered. Every variant but `Internal` is the client's
/// input (a 4xx); `Internal` is a bug or a panic caught in a decoder.
#[derive(Debug, Error)]
pub enum EngineError {
    #[error("the image could not be decoded: {0}")]
    Decode(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("the image is too large: {0}")]
    TooLarge(String),
    #[error("{0}")]
    Invalid(String),
    #[error("encoding failed: {0}")]
    Encode(String),
    #[error("processing took longer than the time budget allows")]
    OverBudget,
    #[error("internal error: {0}")]
    Internal(String),
}

pub type EngineResult<T> = Result<T, EngineError>;
