//! Runs a [`Pipeline`] over one source image.

use super::frame::Frame;
use super::geometry::{self, Finish};
use super::sniff::{self, SourceFormat};
use super::{EngineError, EngineResult, jpeg, ops, orient, png, resize, watermark, webp};
use crate::ir::{Format, FormatChoice, Pipeline, Quality, Step};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Watermark images by object key. The server reads every key of
/// [`Pipeline::mark_keys`] before rendering; the engine itself does no I/O.
pub trait MarkImages {
    fn get(&self, key: &str) -> Option<&[u8]>;
}

/// For pipelines without image watermarks.
pub struct NoMarks;

impl MarkImages for NoMarks {
    fn get(&self, _key: &str) -> Option<&[u8]> {
        None
    }
}

impl MarkImages for HashMap<String, Vec<u8>> {
    fn get(&self, key: &str) -> Option<&[u8]> {
        HashMap::get(self, key).map(Vec::as_slice)
    }
}

/// When a render must stop. Checked between steps and frames, so a single step may
/// overrun it by its own duration; steps are bounded by the size limits.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    pub fn starting_now(budget: Option<Duration>) -> Deadline {
        Deadline(budget.map(|b| Instant::now() + b))
    }

    pub fn check(&self) -> EngineResult<()> {
        match self.0 {
            Some(at) if Instant::now() > at => Err(EngineError::OverBudget),
            _ => Ok(()),
        }
    }
}

/// Bounds on what one render may cost.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest source, in pixels (width × height from the header).
    pub max_source_pixels: u64,
    /// Largest side of any intermediate or output image.
    pub max_output_side: u32,
    /// Largest intermediate or output image, in pixels.
    pub max_output_pixels: u64,
    /// Animated sources with more frames than this are refused.
    pub max_frames: u32,
    /// Wall-clock budget for one render, checked between steps and frames.
    pub time_budget: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_source_pixels: 64_000_000,
            max_output_side: 16_384,
            max_output_pixels: 64_000_000,
            max_frames: 100,
            time_budget: Some(Duration::from_secs(20)),
        }
    }
}

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

const DEFAULT_QUALITY: u8 = 85;

/// Renders `source` through `pipeline`. `accept` is the request's `Accept` header, used
/// by `format,auto`. Decoder panics are caught and reported as [`EngineError::Internal`].
pub fn render(
    source: &[u8],
    pipeline: &Pipeline,
    accept: Option<&str>,
    limits: &Limits,
) -> EngineResult<Rendered> {
    render_with(source, pipeline, accept, limits, &NoMarks)
}

/// [`render`], with the watermark images the pipeline names.
pub fn render_with(
    source: &[u8],
    pipeline: &Pipeline,
    accept: Option<&str>,
    limits: &Limits,
    marks: &dyn MarkImages,
) -> EngineResult<Rendered> {
    let deadline = Deadline::starting_now(limits.time_budget);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        render_inner(source, pipeline, accept, limits, marks, deadline)
    })) {
        Ok(result) => result,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a decoder panicked".into());
            Err(EngineError::Internal(msg))
        }
    }
}

fn render_inner(
    source: &[u8],
    pipeline: &Pipeline,
    accept: Option<&str>,
    limits: &Limits,
    marks: &dyn MarkImages,
    deadline: Deadline,
) -> EngineResult<Rendered> {
    let probe = sniff::probe(source)?;
    let pixels = u64::from(probe.width) * u64::from(probe.height);
    if pixels > limits.max_source_pixels {
        return Err(EngineError::TooLarge(format!(
            "{}x{} is {pixels} pixels; the limit is {}",
            probe.width, probe.height, limits.max_source_pixels
        )));
    }
    // info reports on the source as stored, wherever it stands in the pipeline.
    if pipeline.steps.iter().any(|s| matches!(s, Step::Info)) {
        return Ok(Rendered::Json(info_json(source, &probe)));
    }
    let auto_orient = !pipeline
        .steps
        .iter()
        .any(|s| matches!(s, Step::AutoOrient(false)));
    let orientation = if auto_orient { probe.orientation } else { 1 };
    let (upright_w, upright_h) = if orient::swaps_axes(orientation) {
        (probe.height, probe.width)
    } else {
        (probe.width, probe.height)
    };

    // The first resize is planned on the source's upright size: the decoder may hand
    // over a DCT-shrunk frame, and sizes like p_10 refer to the original.
    let first_plan = match pipeline.steps.first() {
        Some(Step::Resize(r)) => geometry::plan(upright_w, upright_h, r),
        _ => None,
    };
    let mut frame = match probe.format {
        SourceFormat::Jpeg => {
            let denom = first_plan
                .as_ref()
                .map_or(1, |p| jpeg::shrink_on_load(p.shrink(upright_w, upright_h)));
            let markers = probe.jpeg_markers.clone().unwrap_or_default();
            jpeg::decode(source, denom, &markers)?
        }
        SourceFormat::Png => png::decode(
            source,
            (limits.max_source_pixels as usize).saturating_mul(8),
        )?,
        other => {
            return Err(EngineError::Unsupported(format!(
                "{} sources are not supported yet",
                other.name()
            )));
        }
    };
    frame = orient::apply_orientation(frame, orientation);

    for (i, step) in pipeline.steps.iter().enumerate() {
        deadline.check()?;
        frame = match step {
            Step::Resize(r) => match if i == 0 {
                first_plan.clone()
            } else {
                geometry::plan(frame.width, frame.height, r)
            } {
                None => frame,
                Some(plan) => {
                    let (ow, oh) = plan.output_size();
                    check_size(ow.max(plan.scaled_w), oh.max(plan.scaled_h), limits)?;
                    match plan.finish {
                        Finish::None => resize::resize(&frame, plan.scaled_w, plan.scaled_h, None)?,
                        Finish::CropCentre { w, h } => {
                            // Crop in source coordinates and resample once.
                            let fx = f64::from(frame.width) / f64::from(plan.scaled_w);
                            let fy = f64::from(frame.height) / f64::from(plan.scaled_h);
                            let (cw, ch) = (f64::from(w) * fx, f64::from(h) * fy);
                            let cx = (f64::from(frame.width) - cw) / 2.0;
                            let cy = (f64::from(frame.height) - ch) / 2.0;
                            resize::resize(&frame, w, h, Some((cx, cy, cw, ch)))?
                        }
                        Finish::Pad { w, h, background } => {
                            let scaled =
                                resize::resize(&frame, plan.scaled_w, plan.scaled_h, None)?;
                            ops::pad(&scaled, w, h, background)
                        }
                    }
                }
            },
            Step::Crop(c) => ops::crop(&frame, c)?,
            Step::IndexCrop(c) => ops::index_crop(&frame, c),
            Step::Circle { radius } => ops::circle(&frame, *radius),
            Step::RoundedCorners { radius } => ops::rounded_corners(&frame, *radius),
            Step::Rotate { degrees } => {
                let (w, h) = ops::rotated_size(frame.width, frame.height, *degrees);
                check_size(w, h, limits)?;
                ops::rotate(&frame, *degrees)
            }
            // Orientation was applied right after decoding (or deliberately skipped).
            Step::AutoOrient(_) => frame,
            Step::Blur { radius, sigma } => {
                ops::blur(&frame, u32::from(*radius), f64::from(*sigma))
            }
            Step::Brightness(v) => ops::brightness(frame, *v),
            Step::Contrast(v) => ops::contrast(frame, *v),
            Step::Sharpen(v) => ops::sharpen(&frame, *v),
            Step::AverageHue => {
                let [r, g, b] = ops::average_colour(&frame);
                return Ok(Rendered::Json(format!(
                    "{{\"RGB\":\"0x{r:02X}{g:02X}{b:02X}\"}}"
                )));
            }
            Step::Info => return Ok(Rendered::Json(info_json(source, &probe))),
            Step::Watermark(mark) => watermark::apply(frame, mark, marks, limits)?,
        };
    }

    let format = output_format(pipeline, probe.format, accept, &frame);
    let quality = match pipeline.output.quality {
        Some(Quality::Absolute(q)) => q,
        Some(Quality::Relative(q)) => {
            let base = probe
                .jpeg_markers
                .as_ref()
                .and_then(|m| m.quality)
                .unwrap_or(100);
            ((u32::from(base) * u32::from(q) + 50) / 100).clamp(1, 100) as u8
        }
        None => DEFAULT_QUALITY,
    };
    deadline.check()?;
    let bytes = encode(&frame, format, quality, pipeline.output.progressive)?;
    Ok(Rendered::Image {
        bytes,
        format,
        width: frame.width,
        height: frame.height,
    })
}

fn check_size(w: u32, h: u32, limits: &Limits) -> EngineResult<()> {
    if w.max(h) > limits.max_output_side {
        return Err(EngineError::TooLarge(format!(
            "a side of {} pixels exceeds the limit of {}",
            w.max(h),
            limits.max_output_side
        )));
    }
    if u64::from(w) * u64::from(h) > limits.max_output_pixels {
        return Err(EngineError::TooLarge(format!(
            "{w}x{h} exceeds the limit of {} pixels",
            limits.max_output_pixels
        )));
    }
    Ok(())
}

fn output_format(
    pipeline: &Pipeline,
    source: SourceFormat,
    accept: Option<&str>,
    frame: &Frame,
) -> Format {
    match pipeline.output.format {
        Some(FormatChoice::Fixed(f)) => f,
        Some(FormatChoice::Auto) => {
            let accepts = |mime: &str| {
                accept.is_some_and(|a| a.split(',').any(|t| t.trim().starts_with(mime)))
            };
            if accepts("image/webp") {
                Format::Webp
            } else if frame.uses_alpha() {
                Format::Png
            } else {
                Format::Jpeg
            }
        }
        None => match source {
            SourceFormat::Jpeg => Format::Jpeg,
            SourceFormat::Webp => Format::Webp,
            _ => Format::Png,
        },
    }
}

fn encode(frame: &Frame, format: Format, quality: u8, progressive: bool) -> EngineResult<Vec<u8>> {
    match format {
        Format::Jpeg => jpeg::encode(frame, quality, progressive),
        Format::Png => png::encode(frame),
        Format::Webp => webp::encode(frame, quality),
        other => Err(EngineError::Unsupported(format!(
            "{} output is not available in this version",
            other.mime_type()
        ))),
    }
}

/// OSS's info document: sizes, format and the EXIF fields, each as `{"value": "..."}`.
fn info_json(source: &[u8], probe: &sniff::Probe) -> String {
    let mut map = serde_json::Map::new();
    let v = |s: String| serde_json::json!({ "value": s });
    map.insert("FileSize".into(), v(source.len().to_string()));
    map.insert("Format".into(), v(probe.format.name().to_string()));
    map.insert("ImageHeight".into(), v(probe.height.to_string()));
    map.insert("ImageWidth".into(), v(probe.width.to_string()));
    if let Some(exif) = probe.jpeg_markers.as_ref().and_then(|m| m.exif.as_deref())
        && let Ok(parsed) = exif::Reader::new().read_raw(exif.to_vec())
    {
        for field in parsed.fields().filter(|f| f.ifd_num == exif::In::PRIMARY) {
            let name = field.tag.to_string();
            if name.starts_with("Tag(") || map.contains_key(&name) {
                continue;
            }
            let value = field.display_value().to_string();
            map.insert(name, v(value.trim_matches('"').to_string()));
        }
    }
    serde_json::Value::Object(map).to_string()
}
