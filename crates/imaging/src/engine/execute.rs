//! Runs a [`Pipeline`] over one source image.

use super::decode;
use super::frame::{Frame, Image};
use super::geometry::{self, Finish, ResizePlan};
use super::limits::{Deadline, Limits};
use super::plan::{self, DecodePlan};
use super::sniff::{self, SourceFormat};
use super::watermark::{self, MarkImages, NoMarks};
use super::{
    EngineError, EngineResult, Rendered, avif, blur, bmp, gif, jpeg, ops, orient, planar, png,
    resize, tiff, tone, webp,
};
use crate::ir::{Format, FormatChoice, Pipeline, Quality, Step};

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
    decode::check_probe(&probe, limits)?;
    // info reports on the source as stored, wherever it stands in the pipeline.
    if pipeline.steps.iter().any(|s| matches!(s, Step::Info)) {
        return Ok(Rendered::Json(info_json(source, &probe)));
    }
    let plan = DecodePlan::new(&probe, pipeline);
    let orientation = plan.orientation;
    if let Some(size) = plan.options.svg_size {
        check_size(size.0, size.1, 1, limits)?;
    }
    let options = plan.options;
    let first_plan = plan.first_resize;
    let quality = output_quality(pipeline, &probe);
    // A JPEG photo resized to a JPEG: the planar path, when it applies.
    if probe.format == SourceFormat::Jpeg
        && orientation == 1
        && pipeline.steps.len() == 1
        && probe.jpeg_markers.as_ref().is_some_and(|m| m.icc.is_none())
        && still_format(pipeline, probe.format, accept, false) == Format::Jpeg
        && let Some(plan) = &first_plan
    {
        let (ow, oh) = plan.output_size();
        check_size(ow.max(plan.scaled_w), oh.max(plan.scaled_h), 1, limits)?;
        deadline.check()?;
        let progressive = pipeline.output.progressive;
        if let Some(bytes) =
            planar::resize_jpeg(source, plan, options.jpeg_denom, quality, progressive)?
        {
            return Ok(Rendered::Image {
                bytes: with_kept_exif(bytes, pipeline, &probe),
                format: Format::Jpeg,
                width: ow,
                height: oh,
            });
        }
    }
    deadline.check()?;
    let between = || deadline.check();
    let mut image = decode::decode(source, &probe, &options, limits, &deadline)?;
    if orientation != 1 {
        image = image.try_map(between, |f| Ok(orient::apply_orientation(f, orientation)))?;
    }

    for (i, step) in pipeline.steps.iter().enumerate() {
        deadline.check()?;
        let frames = image.frames.len() as u64;
        let (w, h) = (image.first().width, image.first().height);
        image = match step {
            Step::Resize(r) => match if i == 0 {
                first_plan.clone()
            } else {
                geometry::plan(w, h, r)
            } {
                None => image,
                Some(plan) => {
                    let (ow, oh) = plan.output_size();
                    check_size(ow.max(plan.scaled_w), oh.max(plan.scaled_h), frames, limits)?;
                    image.try_map(between, |frame| resize_by_plan(&frame, &plan))?
                }
            },
            Step::Crop(c) => image.try_map(between, |f| ops::crop(&f, c))?,
            Step::IndexCrop(c) => image.try_map(between, |f| Ok(ops::index_crop(&f, c)))?,
            Step::Circle { radius } => image.try_map(between, |f| Ok(ops::circle(&f, *radius)))?,
            Step::RoundedCorners { radius } => {
                image.try_map(between, |f| Ok(ops::rounded_corners(&f, *radius)))?
            }
            Step::Rotate { degrees } => {
                let (rw, rh) = ops::rotated_size(w, h, *degrees);
                check_size(rw, rh, frames, limits)?;
                image.try_map(between, |f| Ok(ops::rotate(&f, *degrees)))?
            }
            // Orientation was applied right after decoding (or deliberately skipped).
            Step::AutoOrient(_) => image,
            Step::Blur { radius, sigma } => image.try_map(between, |f| {
                blur::blur(f, u32::from(*radius), f64::from(*sigma), &between)
            })?,
            Step::Brightness(v) => image.try_map(between, |f| Ok(ops::brightness(f, *v)))?,
            Step::Contrast(v) => image.try_map(between, |f| Ok(ops::contrast(f, *v)))?,
            Step::Sharpen(v) => image.try_map(between, |f| blur::sharpen(f, *v, &between))?,
            Step::AverageHue => {
                let [r, g, b] = ops::average_colour(image.first());
                return Ok(Rendered::Json(format!(
                    "{{\"RGB\":\"0x{r:02X}{g:02X}{b:02X}\"}}"
                )));
            }
            Step::Info => return Ok(Rendered::Json(info_json(source, &probe))),
            Step::Facts => return Ok(Rendered::Json(facts_json(source, &probe, w, h))),
            Step::Flip {
                horizontal,
                vertical,
            } => image.try_map(between, |f| Ok(tone::flip(&f, *horizontal, *vertical)))?,
            Step::Adjust(a) => image.try_map(between, |f| Ok(tone::adjust(f, a)))?,
            Step::Trim(t) => image.try_map(between, |f| Ok(tone::trim(&f, t)))?,
            Step::FocalCrop {
                width,
                height,
                focus,
            } => image.try_map(between, |f| {
                Ok(tone::focal_crop(&f, *width, *height, *focus))
            })?,
            Step::FirstFrame => Image::still(image.into_first()),
            Step::Watermark(mark) => {
                // The mark depends only on the frame size, which every frame shares.
                // A watermark image goes through this same engine, with no marks of its
                // own: the parser refuses nested image marks, and resolving them could
                // recurse without end.
                let nested =
                    |bytes: &[u8], p: &Pipeline| render_with(bytes, p, None, limits, &NoMarks);
                let prepared = watermark::prepare(mark, marks, &nested, w, h, limits)?;
                image.try_map(between, |f| Ok(watermark::stamp(f, &prepared)))?
            }
        };
    }

    if let Some(bg) = pipeline.output.background
        && image.frames.iter().any(Frame::has_alpha)
    {
        image = image.try_map(between, |f| Ok(tone::flatten(&f, bg)))?;
    }
    let format = output_format(pipeline, probe.format, accept, &image);
    deadline.check()?;
    let (width, height) = (image.first().width, image.first().height);
    let bytes = match format {
        // Formats that animate keep every frame.
        Format::Gif => gif::encode(&image, between)?,
        Format::Webp if image.is_animated() => webp::encode_animated(&image, quality, between)?,
        Format::Jpeg => with_kept_exif(
            encode(image.first(), format, quality, pipeline.output.progressive)?,
            pipeline,
            &probe,
        ),
        _ => encode(image.first(), format, quality, pipeline.output.progressive)?,
    };
    Ok(Rendered::Image {
        bytes,
        format,
        width,
        height,
    })
}

/// A JPEG output with the source's EXIF the pipeline keeps (none unless asked).
fn with_kept_exif(jpeg: Vec<u8>, pipeline: &Pipeline, probe: &sniff::Probe) -> Vec<u8> {
    let kept = probe
        .jpeg_markers
        .as_ref()
        .and_then(|m| m.exif.as_deref())
        .and_then(|exif| super::exif_keep::kept_exif(exif, pipeline.output.metadata));
    match kept {
        Some(tiff) => super::exif_keep::insert_app1(jpeg, &tiff),
        None => jpeg,
    }
}

/// The encoder quality: `Q` as given, `q` relative to the source's estimated quality.
fn output_quality(pipeline: &Pipeline, probe: &sniff::Probe) -> u8 {
    match pipeline.output.quality {
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
    }
}

/// Applies a resize plan to one frame.
fn resize_by_plan(frame: &Frame, plan: &ResizePlan) -> EngineResult<Frame> {
    match plan.finish {
        Finish::None => resize::resize(frame, plan.scaled_w, plan.scaled_h, None),
        Finish::CropCentre { w, h } => {
            // Crop in source coordinates and resample once.
            let fx = f64::from(frame.width) / f64::from(plan.scaled_w);
            let fy = f64::from(frame.height) / f64::from(plan.scaled_h);
            let (cw, ch) = (f64::from(w) * fx, f64::from(h) * fy);
            let cx = (f64::from(frame.width) - cw) / 2.0;
            let cy = (f64::from(frame.height) - ch) / 2.0;
            resize::resize(frame, w, h, Some((cx, cy, cw, ch)))
        }
        Finish::Pad { w, h, background } => {
            let scaled = resize::resize(frame, plan.scaled_w, plan.scaled_h, None)?;
            Ok(ops::pad(&scaled, w, h, background))
        }
    }
}

/// Refuses a `w` x `h` intermediate (of `frames` frames) the limits do not allow, before
/// it is allocated.
fn check_size(w: u32, h: u32, frames: u64, limits: &Limits) -> EngineResult<()> {
    if w.max(h) > limits.max_output_side {
        return Err(EngineError::TooLarge(format!(
            "a side of {} pixels exceeds the limit of {}",
            w.max(h),
            limits.max_output_side
        )));
    }
    let pixels = u64::from(w) * u64::from(h);
    if pixels > limits.max_output_pixels {
        return Err(EngineError::TooLarge(format!(
            "{w}x{h} exceeds the limit of {} pixels",
            limits.max_output_pixels
        )));
    }
    if frames > 1 && pixels.saturating_mul(frames) > limits.max_animation_pixels {
        return Err(EngineError::TooLarge(format!(
            "{frames} frames of {w}x{h} exceed the animation limit of {} pixels",
            limits.max_animation_pixels
        )));
    }
    Ok(())
}

/// Whether the `Accept` header names `mime` with a non-zero quality. Wildcards do not
/// count: every client takes JPEG and PNG, and only a named type is a promise.
fn accepts(accept: Option<&str>, mime: &str) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|range| {
            let mut parts = range.split(';');
            let named = parts
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(mime));
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            named && !q_zero
        })
    })
}

fn output_format(
    pipeline: &Pipeline,
    source: SourceFormat,
    accept: Option<&str>,
    image: &Image,
) -> Format {
    // An animation stays animated (WebP, else GIF).
    if matches!(pipeline.output.format, Some(FormatChoice::Auto)) && image.is_animated() {
        return if accepts(accept, "image/webp") {
            Format::Webp
        } else {
            Format::Gif
        };
    }
    still_format(pipeline, source, accept, image.first().uses_alpha())
}

/// The output format of a still picture.
fn still_format(
    pipeline: &Pipeline,
    source: SourceFormat,
    accept: Option<&str>,
    uses_alpha: bool,
) -> Format {
    match pipeline.output.format {
        Some(FormatChoice::Fixed(f)) => f,
        // The best the client takes: AVIF, then WebP, then JPEG (PNG when it uses alpha).
        Some(FormatChoice::Auto) => {
            if accepts(accept, "image/avif") {
                Format::Avif
            } else if accepts(accept, "image/webp") {
                Format::Webp
            } else if uses_alpha {
                Format::Png
            } else {
                Format::Jpeg
            }
        }
        None => plan::kept_format(source),
    }
}

/// AVIF encoder speed (1-10): fast enough for a 720-pixel image in well under 100 ms on
/// one core.
const AVIF_SPEED: u8 = 10;

/// Encodes one frame (a still image, or an animation's first frame).
fn encode(frame: &Frame, format: Format, quality: u8, progressive: bool) -> EngineResult<Vec<u8>> {
    match format {
        Format::Jpeg => jpeg::encode(frame, quality, progressive),
        Format::Png => png::encode(frame),
        Format::Webp => webp::encode(frame, quality),
        Format::Avif => avif::encode(frame, quality, AVIF_SPEED),
        Format::Gif => gif::encode(&Image::still(frame.clone()), || Ok(())),
        Format::Bmp => bmp::encode(frame),
        Format::Tiff => tiff::encode(frame),
        Format::Heic => Err(EngineError::Unsupported("heic is not supported".into())),
    }
}

/// OSS's info document: sizes, format and the EXIF fields, each as `{"value": "..."}`.
/// Cloudflare's `format=json`: the result's size, then the source's.
fn facts_json(source: &[u8], probe: &sniff::Probe, width: u32, height: u32) -> String {
    serde_json::json!({
        "width": width,
        "height": height,
        "original": {
            "file_size": source.len(),
            "width": probe.width,
            "height": probe.height,
            "format": probe.format.content_type(),
        }
    })
    .to_string()
}

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
