//! Parser for Alibaba OSS's `x-oss-process` dialect.
//!
//! Input is the already percent-decoded query value, e.g.
//! `image/resize,w_100,h_50,m_fill/rotate,90/format,webp`, `style/thumb`, or (POST
//! process_object only) either of those followed by `|sys/saveas,o_<b64>,b_<b64>`.
//!
//! Ranges and defaults follow OSS's documentation. Where OSS documents none, the bound
//! chosen here is stated next to the constant or the parameter table.
//!
//! This file is the grammar: process, style and saveas parts, the action list, and what
//! each action's parameters mean in the IR. The syntax the actions share (bare values,
//! `key_value` lists, integers, flags, colours, gravity) and the checks on decoded text
//! live in `oss/params.rs`.

use crate::engine::watermark::fonts;
use crate::error::{Field, ProcessError, excerpt};
use crate::ir::{
    Axis, Crop, Fit, Format, FormatChoice, Gravity, ImageMark, IndexCrop, MarkAlign, MarkOrder,
    MixedLayout, NestedProcess, Pipeline, Process, ProcessRequest, Quality, Resize, ResizeTarget,
    Rgb, SaveAs, Step, StyleName, TextMark, Watermark, WatermarkContent,
};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use std::str::Split;

mod params;

pub(crate) use params::gravity_name;
use params::{
    Params, bare_flag, bare_int, bare_value, check_font, check_key, check_text, malformed,
    no_parameters,
};

/// Longest process string accepted. OSS documents no limit; a real pipeline is a few
/// hundred bytes even with base64 watermarks, so this only stops abuse.
pub const MAX_PROCESS_LEN: usize = 8 * 1024;

/// Most actions in one pipeline. OSS documents no limit; each action costs a pass over
/// the pixels, so an unbounded chain would be a cheap denial of service.
pub const MAX_ACTIONS: usize = 32;

/// OSS's resize limit for `w`, `h`, `l`, `s`.
const MAX_RESIZE_SIDE: i64 = 16_384;
/// OSS's limit on source image sides; crop offsets and sizes beyond it cannot mean
/// anything.
const MAX_SOURCE_SIDE: i64 = 30_000;
/// OSS's limit for `circle,r_` and `rounded-corners,r_`.
const MAX_RADIUS: i64 = 4_096;
/// OSS's limit for watermark margins `x_`, `y_`.
const MAX_MARGIN: i64 = 4_096;
/// S3/OSS bucket name limit.
const MAX_BUCKET_BYTES: usize = 63;

const NESTED_PROCESS_MARKER: &str = "?x-oss-process=";

/// OSS emits URL-safe base64 with padding but its own docs say padding may be dropped,
/// and clients do both.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Parses a full process string, including an optional `|sys/saveas` suffix.
pub fn parse(input: &str) -> Result<ProcessRequest, ProcessError> {
    check_length(input)?;
    let (process, save_as) = match input.split_once('|') {
        None => (input, None),
        Some((process, suffix)) => {
            if suffix.contains('|') {
                return Err(ProcessError::MultipleSaveAs);
            }
            (process, Some(parse_save_as(suffix)?))
        }
    };
    Ok(ProcessRequest {
        process: parse_process_part(process, Nesting::TopLevel)?,
        save_as,
    })
}

/// The pipeline a saved style runs: `process` must parse and must not name a style
/// itself (styles do not nest). Every way of saving a style (CLI, admin API, the OSS
/// style API, the configuration file) checks with this.
pub fn style_content(process: &str) -> Result<Pipeline, String> {
    match parse_process(process) {
        Ok(Process::Pipeline(p)) => Ok(p),
        Ok(Process::Style(_)) => Err("a style cannot refer to another style".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses a process string for GET, where `|sys/saveas` is not allowed.
pub fn parse_process(input: &str) -> Result<Process, ProcessError> {
    check_length(input)?;
    parse_process_part(input, Nesting::TopLevel)
}

fn check_length(input: &str) -> Result<(), ProcessError> {
    if input.len() > MAX_PROCESS_LEN {
        return Err(ProcessError::TooLong {
            len: input.len(),
            max: MAX_PROCESS_LEN,
        });
    }
    Ok(())
}

/// A watermark image's own process is parsed with the same grammar, minus the features
/// that would let one request fan out into unbounded work.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nesting {
    TopLevel,
    WatermarkImage,
}

fn parse_process_part(input: &str, nesting: Nesting) -> Result<Process, ProcessError> {
    if input.is_empty() {
        return Err(ProcessError::Empty);
    }
    if input.contains('|') {
        return Err(ProcessError::SaveAsNotAllowed);
    }
    let (kind, rest) = match input.split_once('/') {
        Some((kind, rest)) => (kind, Some(rest)),
        None => (input, None),
    };
    match kind {
        "image" => parse_image_actions(rest.unwrap_or(""), nesting).map(Process::Pipeline),
        "style" => {
            if nesting == Nesting::WatermarkImage {
                return Err(ProcessError::NestedNotAllowed { what: "styles" });
            }
            match rest {
                Some(name) if !name.contains('/') => StyleName::new(name).map(Process::Style),
                _ => Err(ProcessError::MalformedStyle),
            }
        }
        other => Err(ProcessError::UnknownProcessType {
            found: excerpt(other),
        }),
    }
}

fn parse_image_actions(actions: &str, nesting: Nesting) -> Result<Pipeline, ProcessError> {
    if actions.is_empty() {
        return Err(ProcessError::NoActions);
    }
    let count = actions.split('/').count();
    if count > MAX_ACTIONS {
        return Err(ProcessError::TooManyActions {
            count,
            max: MAX_ACTIONS,
        });
    }
    let mut builder = PipelineBuilder::default();
    for (index, action) in actions.split('/').enumerate() {
        if action.is_empty() {
            return Err(ProcessError::EmptyAction {
                position: index + 1,
            });
        }
        builder.add_action(action, nesting)?;
    }
    Ok(builder.pipeline)
}

#[derive(Default)]
struct PipelineBuilder {
    pipeline: Pipeline,
    // Output options are a single setting each; a second mention is more likely a
    // mistake than an intended override, so it is refused instead of silently winning.
    seen_format: bool,
    seen_quality: bool,
    seen_interlace: bool,
}

impl PipelineBuilder {
    fn add_action(&mut self, action: &str, nesting: Nesting) -> Result<(), ProcessError> {
        let mut tokens = action.split(',');
        let name = tokens.next().unwrap_or("");
        let step = match name {
            "resize" => Step::Resize(parse_resize(tokens)?),
            "crop" => Step::Crop(parse_crop(tokens)?),
            "indexcrop" => Step::IndexCrop(parse_index_crop(tokens)?),
            "circle" => Step::Circle {
                radius: parse_radius("circle", tokens)?,
            },
            "rounded-corners" => Step::RoundedCorners {
                radius: parse_radius("rounded-corners", tokens)?,
            },
            "rotate" => Step::Rotate {
                degrees: bare_int("rotate", tokens, 0, 360)?,
            },
            "auto-orient" => Step::AutoOrient(bare_flag("auto-orient", tokens)?),
            "blur" => parse_blur(tokens)?,
            "bright" => Step::Brightness(bare_int("bright", tokens, -100, 100)?),
            "contrast" => Step::Contrast(bare_int("contrast", tokens, -100, 100)?),
            "sharpen" => Step::Sharpen(bare_int("sharpen", tokens, 50, 399)?),
            "watermark" => Step::Watermark(Box::new(parse_watermark(tokens, nesting)?)),
            "info" => {
                no_parameters("info", tokens)?;
                Step::Info
            }
            "average-hue" => {
                no_parameters("average-hue", tokens)?;
                Step::AverageHue
            }
            "format" => {
                once("format", &mut self.seen_format)?;
                self.pipeline.output.format = Some(parse_format(tokens)?);
                return Ok(());
            }
            "quality" => {
                once("quality", &mut self.seen_quality)?;
                self.pipeline.output.quality = Some(parse_quality(tokens)?);
                return Ok(());
            }
            "interlace" => {
                once("interlace", &mut self.seen_interlace)?;
                self.pipeline.output.progressive = bare_flag("interlace", tokens)?;
                return Ok(());
            }
            other => {
                return Err(ProcessError::UnknownAction {
                    action: excerpt(other),
                });
            }
        };
        self.pipeline.steps.push(step);
        Ok(())
    }
}

fn once(action: &'static str, seen: &mut bool) -> Result<(), ProcessError> {
    if std::mem::replace(seen, true) {
        return Err(ProcessError::DuplicateAction { action });
    }
    Ok(())
}

fn parse_resize(tokens: Split<'_, char>) -> Result<Resize, ProcessError> {
    let params = Params::keyed(
        "resize",
        tokens,
        &["m", "w", "h", "l", "s", "p", "limit", "color"],
    )?;
    let width = params.int("w", 1, MAX_RESIZE_SIDE)?;
    let height = params.int("h", 1, MAX_RESIZE_SIDE)?;
    let long = params.int("l", 1, MAX_RESIZE_SIDE)?;
    let short = params.int("s", 1, MAX_RESIZE_SIDE)?;
    let percent = params.int("p", 1, 1000)?;
    let limit = params.flag("limit")?.unwrap_or(true);
    // Validated even when unused so that a typo is reported rather than ignored.
    let background = params.color("color")?.unwrap_or(Rgb::WHITE);
    let fit = match params.raw("m") {
        None | Some("lfit") => Fit::Contain,
        Some("mfit") => Fit::Cover,
        Some("fill") => Fit::CoverCrop,
        Some("pad") => Fit::Pad { background },
        Some("fixed") => Fit::Stretch,
        Some(other) => {
            return Err(malformed(
                "resize",
                Field::Named("m"),
                other,
                "one of lfit, mfit, fill, pad, fixed",
            ));
        }
    };

    if percent.is_some() {
        let sized = [("w", width), ("h", height), ("l", long), ("s", short)];
        if let Some((name, _)) = sized.iter().find(|(_, value)| value.is_some()) {
            return Err(ProcessError::Conflict {
                action: "resize",
                first: "p",
                second: name,
            });
        }
    }
    // OSS: once w or h is given, l and s do not take effect. Dropping them here keeps
    // the canonical form free of parameters that change nothing.
    let target = match (width, height, long, short, percent) {
        (None, None, None, None, None) => {
            return Err(ProcessError::MissingOneOf {
                action: "resize",
                parameters: &["w", "h", "l", "s", "p"],
            });
        }
        (None, None, None, None, Some(percent)) => ResizeTarget::Percent(percent),
        (None, None, long, short, _) => ResizeTarget::LongShort { long, short },
        (width, height, _, _, _) => ResizeTarget::Box { width, height },
    };
    Ok(Resize {
        fit,
        target,
        enlarge: !limit,
    })
}

fn parse_crop(tokens: Split<'_, char>) -> Result<Crop, ProcessError> {
    let params = Params::keyed("crop", tokens, &["w", "h", "x", "y", "g"])?;
    Ok(Crop {
        origin: params.gravity("g")?.unwrap_or(Gravity::NorthWest),
        x: params.int("x", 0, MAX_SOURCE_SIDE)?.unwrap_or(0),
        y: params.int("y", 0, MAX_SOURCE_SIDE)?.unwrap_or(0),
        width: params.int("w", 1, MAX_SOURCE_SIDE)?,
        height: params.int("h", 1, MAX_SOURCE_SIDE)?,
    })
}

fn parse_index_crop(tokens: Split<'_, char>) -> Result<IndexCrop, ProcessError> {
    let params = Params::keyed("indexcrop", tokens, &["x", "y", "i"])?;
    let x = params.int("x", 1, MAX_SOURCE_SIDE)?;
    let y = params.int("y", 1, MAX_SOURCE_SIDE)?;
    let index = params.int("i", 0, MAX_SOURCE_SIDE)?.unwrap_or(0);
    let (axis, slice) = match (x, y) {
        (Some(slice), None) => (Axis::Horizontal, slice),
        (None, Some(slice)) => (Axis::Vertical, slice),
        (Some(_), Some(_)) => {
            return Err(ProcessError::Conflict {
                action: "indexcrop",
                first: "x",
                second: "y",
            });
        }
        (None, None) => {
            return Err(ProcessError::MissingOneOf {
                action: "indexcrop",
                parameters: &["x", "y"],
            });
        }
    };
    Ok(IndexCrop { axis, slice, index })
}

fn parse_radius(action: &'static str, tokens: Split<'_, char>) -> Result<u32, ProcessError> {
    let params = Params::keyed(action, tokens, &["r"])?;
    params.required_int("r", 1, MAX_RADIUS)
}

fn parse_blur(tokens: Split<'_, char>) -> Result<Step, ProcessError> {
    let params = Params::keyed("blur", tokens, &["r", "s"])?;
    Ok(Step::Blur {
        radius: params.required_int("r", 1, 50)?,
        sigma: params.required_int("s", 1, 50)?,
    })
}

fn parse_format(tokens: Split<'_, char>) -> Result<FormatChoice, ProcessError> {
    let value = bare_value("format", tokens)?;
    let format = match value {
        "auto" => return Ok(FormatChoice::Auto),
        "jpg" | "jpeg" => Format::Jpeg,
        "png" => Format::Png,
        "webp" => Format::Webp,
        "avif" => Format::Avif,
        "gif" => Format::Gif,
        "bmp" => Format::Bmp,
        "tiff" => Format::Tiff,
        "heic" => Format::Heic,
        other => {
            return Err(malformed(
                "format",
                Field::Bare,
                other,
                "one of jpg, jpeg, png, webp, avif, gif, bmp, tiff, heic, auto",
            ));
        }
    };
    Ok(FormatChoice::Fixed(format))
}

fn parse_quality(tokens: Split<'_, char>) -> Result<Quality, ProcessError> {
    let params = Params::keyed("quality", tokens, &["q", "Q"])?;
    match (params.int("q", 1, 100)?, params.int("Q", 1, 100)?) {
        (Some(relative), None) => Ok(Quality::Relative(relative)),
        (None, Some(absolute)) => Ok(Quality::Absolute(absolute)),
        (Some(_), Some(_)) => Err(ProcessError::Conflict {
            action: "quality",
            first: "q",
            second: "Q",
        }),
        (None, None) => Err(ProcessError::MissingOneOf {
            action: "quality",
            parameters: &["q", "Q"],
        }),
    }
}

/// Parameters that only matter for one kind of mark (e.g. `size_` without `text_`) are
/// still range-checked but then dropped, as OSS ignores them; that keeps equivalent
/// requests on one canonical form.
fn parse_watermark(tokens: Split<'_, char>, nesting: Nesting) -> Result<Watermark, ProcessError> {
    const A: &str = "watermark";
    let params = Params::keyed(
        A,
        tokens,
        &[
            "text", "type", "color", "size", "shadow", "rotate", "fill", "image", "P", "t", "g",
            "x", "y", "voffset", "order", "align", "interval",
        ],
    )?;

    let text = params.base64_text("text")?;
    let font = params.base64_text("type")?;
    let color = params.color("color")?.unwrap_or(Rgb::BLACK);
    let size = params.int("size", 1, 1000)?.unwrap_or(40);
    let shadow = params.int("shadow", 0, 100)?.unwrap_or(0);
    let rotate = params.int("rotate", 0, 360)?.unwrap_or(0);
    let image = params.base64_text("image")?;
    let scale_percent = params.int("P", 1, 100)?;
    // OSS: order 0 puts the image first; align 2 (bottom) is its default.
    let order = match params.int::<u8>("order", 0, 1)? {
        Some(1) => MarkOrder::TextFirst,
        _ => MarkOrder::ImageFirst,
    };
    let align = match params.int::<u8>("align", 0, 2)? {
        Some(0) => MarkAlign::Top,
        Some(1) => MarkAlign::Center,
        _ => MarkAlign::Bottom,
    };
    let interval = params.int("interval", 0, 1000)?.unwrap_or(0);

    let text_mark = match text {
        None => None,
        Some(text) => {
            let font = font.unwrap_or_else(|| fonts::DEFAULT_FONT.to_owned());
            check_text(&text)?;
            check_font(&font)?;
            Some(TextMark {
                text,
                font,
                color,
                size,
                shadow,
                rotate,
            })
        }
    };
    let image_mark = match image {
        None => None,
        Some(decoded) => {
            if nesting == Nesting::WatermarkImage {
                return Err(ProcessError::NestedNotAllowed {
                    what: "image watermarks",
                });
            }
            Some(parse_watermark_image(&decoded, scale_percent)?)
        }
    };
    let content = match (text_mark, image_mark) {
        (Some(text), None) => WatermarkContent::Text(text),
        (None, Some(image)) => WatermarkContent::Image(image),
        (Some(text), Some(image)) => WatermarkContent::TextAndImage {
            text,
            image,
            layout: MixedLayout {
                order,
                align,
                interval,
            },
        },
        (None, None) => {
            return Err(ProcessError::MissingOneOf {
                action: A,
                parameters: &["text", "image"],
            });
        }
    };

    Ok(Watermark {
        content,
        gravity: params.gravity("g")?.unwrap_or(Gravity::SouthEast),
        x: params.int("x", 0, MAX_MARGIN)?.unwrap_or(10),
        y: params.int("y", 0, MAX_MARGIN)?.unwrap_or(10),
        voffset: params.int("voffset", -1000, 1000)?.unwrap_or(0),
        opacity: params.int("t", 0, 100)?.unwrap_or(100),
        tile: params.flag("fill")?.unwrap_or(false),
    })
}

fn parse_watermark_image(
    decoded: &str,
    scale_percent: Option<u8>,
) -> Result<ImageMark, ProcessError> {
    let (key, nested) = match decoded.split_once(NESTED_PROCESS_MARKER) {
        Some((key, nested)) => (key, Some(nested)),
        None => (decoded, None),
    };
    check_key("watermark", Field::Named("image"), key)?;
    let process = match nested {
        None => None,
        Some(source) => {
            let wrap = |error| ProcessError::NestedProcess(Box::new(error));
            match parse_process_part(source, Nesting::WatermarkImage).map_err(wrap)? {
                Process::Pipeline(pipeline) => Some(NestedProcess {
                    source: source.to_owned(),
                    pipeline,
                }),
                Process::Style(_) => {
                    return Err(ProcessError::NestedNotAllowed { what: "styles" });
                }
            }
        }
    };
    Ok(ImageMark {
        key: key.to_owned(),
        process,
        scale_percent,
    })
}

fn parse_save_as(suffix: &str) -> Result<SaveAs, ProcessError> {
    let unknown = || ProcessError::UnknownSysAction {
        action: excerpt(suffix),
    };
    let actions = suffix.strip_prefix("sys/").ok_or_else(unknown)?;
    let mut tokens = actions.split(',');
    if tokens.next() != Some("saveas") {
        return Err(unknown());
    }
    let params = Params::keyed("saveas", tokens, &["o", "b"])?;
    let key = params
        .base64_text("o")?
        .ok_or(ProcessError::MissingParameter {
            action: "saveas",
            parameter: "o",
        })?;
    check_key("saveas", Field::Named("o"), &key)?;
    let bucket = params.base64_text("b")?;
    if let Some(bucket) = &bucket {
        // Full bucket-name rules belong to the store; this only rejects what can never
        // be a bucket name.
        if bucket.is_empty() || bucket.len() > MAX_BUCKET_BYTES {
            return Err(malformed(
                "saveas",
                Field::Named("b"),
                bucket,
                "a bucket name of 1-63 bytes",
            ));
        }
    }
    Ok(SaveAs { key, bucket })
}

/// Shared by every parameter that carries text (watermark text and font, image keys,
/// saveas targets), through [`Params::base64_text`].
fn decode_base64_text(
    action: &'static str,
    field: Field,
    raw: &str,
) -> Result<String, ProcessError> {
    const EXPECTED: &str = "URL-safe base64 of UTF-8 text";
    let bytes = BASE64_LENIENT
        .decode(raw)
        .map_err(|_| malformed(action, field, raw, EXPECTED))?;
    String::from_utf8(bytes).map_err(|_| malformed(action, field, raw, EXPECTED))
}

#[cfg(test)]
mod tests;
