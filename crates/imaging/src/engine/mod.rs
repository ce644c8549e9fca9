//! The engine: bytes in, [`Rendered`] out. [`render`] probes the header (nothing is
//! allocated for pixels before the size is checked against [`Limits`]), decodes (JPEG
//! shrinking in the DCT domain when the first step is a large enough downscale), applies
//! EXIF orientation, runs the pipeline's steps in order, and encodes.

pub mod color;
pub mod frame;
pub mod geometry;
pub mod jpeg;
pub mod ops;
pub mod orient;
pub mod png;
pub mod resize;
pub mod sniff;
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
