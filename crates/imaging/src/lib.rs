//! imgd's image processing: the pipeline IR, the URL dialects that produce it, and the
//! engine that runs it. No I/O and no HTTP: bytes in, bytes out.
//!
//! Data flows in one direction:
//!
//! ```text
//! URL dialect string ──parser──▶ Process ──server resolves styles──▶ Pipeline ──▶ engine
//! (x-oss-process=…)   (oss::parse) (Style | Pipeline)  (Process::resolve)   (IR)   (decode, apply
//!                                                                                    steps, encode)
//! ```
//!
//! - [`Pipeline`] is the IR: an ordered list of [`Step`]s (resize, crop, rotate,
//!   watermark, …) plus [`OutputOptions`] (format, quality, progressive). It names
//!   effects, not any dialect's spelling, so other dialects (Cloudflare-style
//!   `w=400,fit=cover`, imageproxy-style `150x250`) can build the same values and the
//!   engine never sees a URL.
//! - [`Process`] is what a request names: a pipeline, or a per-bucket [`StyleName`] the
//!   server must look up. [`ProcessRequest`] adds the optional [`SaveAs`] target of
//!   OSS's POST process_object.
//! - [`cloudflare`] parses Cloudflare's `w=400,fit=cover,…` options (transform URLs,
//!   flexible variants) and builds named variants' pipelines.
//! - [`oss`] parses the `x-oss-process` dialect; every rejection is a [`ProcessError`]
//!   whose message names the action and parameter, ready for an `InvalidArgument`
//!   response.
//! - [`Pipeline::canonical`] gives a stable string per distinct pipeline, from which
//!   the server derives ETags and cache keys (rules in [`canonical`]).
//! - [`engine::render`] runs a resolved pipeline over source bytes: probe the header
//!   (size and frame count) against [`engine::Limits`], decode (JPEG, PNG, GIF, WebP,
//!   AVIF, BMP, TIFF, SVG; JPEG shrink-on-load, SVG drawn at the target size), orient,
//!   apply the steps to every frame, encode (JPEG, PNG, WebP, AVIF, GIF, BMP, TIFF; GIF
//!   and WebP keep animation), all under `catch_unwind`.

pub mod canonical;
pub mod cloudflare;
pub mod engine;
pub mod error;
pub mod ir;
pub mod oss;

pub use canonical::CANONICAL_VERSION;
pub use error::{Field, ProcessError};
pub use ir::{
    Adjust, Axis, Crop, Fit, Focus, Format, FormatChoice, Gravity, ImageMark, IndexCrop,
    KeptMetadata, MarkAlign, MarkOrder, MixedLayout, NestedProcess, OutputOptions, Pipeline,
    Process, ProcessRequest, Quality, Resize, ResizeTarget, Rgb, SaveAs, Step, StyleName, TextMark,
    Trim, Watermark, WatermarkContent,
};
