//! The decisions taken from the header and the pipeline before any pixel is decoded:
//! whether EXIF orientation applies, where the first resize lands (planned on the
//! source's upright size, since sizes like `p_10` refer to the original), and what the
//! decoder may do cheaply (a JPEG's DCT-domain shrink, an SVG drawn at the planned size).
//!
//! The runner (`execute.rs`) acts on a [`DecodePlan`] and the memory estimate (`cost.rs`)
//! budgets the same one, so the two cannot disagree about what a render decodes.

use super::decode::DecodeOptions;
use super::geometry::{self, ResizePlan};
use super::jpeg;
use super::orient;
use super::sniff::{Probe, SourceFormat};
use crate::ir::{Format, Pipeline, Resize, Step};

#[derive(Debug, Clone)]
pub struct DecodePlan {
    /// The EXIF orientation to apply after decoding; 1 when absent or switched off.
    pub orientation: u8,
    /// The source's size once `orientation` is applied, at full scale.
    pub upright: (u32, u32),
    /// The pipeline's first step, when it is a resize, planned on `upright`.
    pub first_resize: Option<ResizePlan>,
    pub options: DecodeOptions,
}

impl DecodePlan {
    pub fn new(probe: &Probe, pipeline: &Pipeline) -> DecodePlan {
        let auto_orient = !pipeline
            .steps
            .iter()
            .any(|s| matches!(s, Step::AutoOrient(false)));
        let orientation = if auto_orient { probe.orientation } else { 1 };
        let upright = if orient::swaps_axes(orientation) {
            (probe.height, probe.width)
        } else {
            (probe.width, probe.height)
        };
        let first_resize = match pipeline.steps.first() {
            // A vector source loses nothing by being enlarged, so its first resize may
            // enlarge whatever `limit` says.
            Some(Step::Resize(r)) if probe.format == SourceFormat::Svg => {
                let r = Resize {
                    enlarge: true,
                    ..r.clone()
                };
                geometry::plan(upright.0, upright.1, &r)
            }
            Some(Step::Resize(r)) => geometry::plan(upright.0, upright.1, r),
            _ => None,
        };
        let mut options = DecodeOptions::default();
        match (probe.format, &first_resize) {
            (SourceFormat::Jpeg, Some(plan)) => {
                options.jpeg_denom = jpeg::shrink_on_load(plan.shrink(upright.0, upright.1));
            }
            (SourceFormat::Svg, Some(plan)) => {
                options.svg_size = Some((plan.scaled_w, plan.scaled_h));
            }
            _ => {}
        }
        DecodePlan {
            orientation,
            upright,
            first_resize,
            options,
        }
    }

    /// The upright size of the frame the decoder hands over: smaller than the source
    /// after a DCT shrink, the planned size for an SVG.
    pub fn decoded_size(&self) -> (u32, u32) {
        if let Some(size) = self.options.svg_size {
            return size;
        }
        let denom = self.options.jpeg_denom.max(1) as u32;
        (
            self.upright.0.div_ceil(denom),
            self.upright.1.div_ceil(denom),
        )
    }
}

/// The output format of a pipeline that names none: the source's, where it can be
/// written; TIFF, SVG and HEIC (and anything else) become PNG.
pub fn kept_format(source: SourceFormat) -> Format {
    match source {
        SourceFormat::Jpeg => Format::Jpeg,
        SourceFormat::Webp => Format::Webp,
        SourceFormat::Gif => Format::Gif,
        SourceFormat::Bmp => Format::Bmp,
        SourceFormat::Avif => Format::Avif,
        SourceFormat::Png | SourceFormat::Tiff | SourceFormat::Svg | SourceFormat::Heic => {
            Format::Png
        }
    }
}
