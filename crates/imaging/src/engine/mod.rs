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
//! | AVIF | `avif.rs` (`avif-parse` + system libdav1d) | `avif.rs` (`ravif`, 8-bit) |
//! | BMP | `bmp.rs` (`image`'s BMP codec) | `bmp.rs` |
//! | TIFF | `tiff.rs` (`tiff`; CCITT G3 1-D via `fax`) | `tiff.rs` (LZW) |
//! | SVG | `svg.rs` (`resvg`, no external references, no fonts) | — |
//! | HEIC | refused: `Unsupported("heic is not supported")` | refused likewise |

pub mod avif;
pub mod bmp;
pub mod color;
pub mod decode;
pub mod frame;
pub mod geometry;
pub mod gif;
pub mod jpeg;
pub mod ops;
pub mod orient;
pub mod planar;
pub mod png;
pub mod resize;
pub mod sniff;
pub mod svg;
pub mod tiff;
pub mod watermark;
pub mod webp;

mod execute;

pub use execute::{Deadline, Limits, MarkImages, NoMarks, Rendered, render, render_with};

use thiserror::Error;

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
