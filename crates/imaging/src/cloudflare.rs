//! The Cloudflare dialect: comma-separated `key=value` options, as in
//! `/cdn-cgi/image/<options>/<source>` and Images flexible variants
//! (`w=400,h=300,fit=cover,sharpen=3`), and the options of named variants. Both parse
//! into the pipeline IR; nothing here runs an image.
//!
//! Steps run in Cloudflare's order whatever the order of the options: first frame
//! (`anim=false`), trim, rotate (so width and height name the rotated sides), resize
//! (with `dpr`), flip, tone (brightness, contrast,
//! gamma, saturation), sharpen, blur; `format=json` reports instead of encoding. A
//! repeated option takes its last value, as a query string would.

use crate::error::ProcessError;
use crate::ir::{
    Adjust, Fit, Focus, Format, FormatChoice, KeptMetadata, OutputOptions, Pipeline, Quality,
    Resize, ResizeTarget, Rgb, Step, Trim,
};

/// Largest side a resize may ask for (Cloudflare's own limit).
const MAX_SIDE: u32 = 12_000;
/// `options` longer than this are refused before parsing.
const MAX_OPTIONS_LEN: usize = 2048;

/// A parsed option list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    pub pipeline: Pipeline,
    pub on_error: OnError,
}

/// What the server does when the image cannot be rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Answer the error.
    Fail,
    /// `onerror=redirect`: send the client to the unprocessed source.
    Redirect,
}

/// How a resize meets its box (named variants take all but `squeeze`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantFit {
    /// Fit inside the box, never enlarge.
    ScaleDown,
    /// Fit inside the box, enlarging if needed.
    Contain,
    /// Fill the box exactly, cutting the excess (around the gravity).
    Cover,
    /// Like cover, but never enlarge.
    Crop,
    /// Fit inside, then pad to exactly the box with the background colour.
    Pad,
    /// Exactly the box, ignoring the aspect ratio (transform URLs only).
    Squeeze,
}

impl VariantFit {
    pub fn name(self) -> &'static str {
        match self {
            VariantFit::ScaleDown => "scale-down",
            VariantFit::Contain => "contain",
            VariantFit::Cover => "cover",
            VariantFit::Crop => "crop",
            VariantFit::Pad => "pad",
            VariantFit::Squeeze => "squeeze",
        }
    }

    /// A named variant's fit (no `squeeze`, which Cloudflare's variants lack).
    pub fn from_name(name: &str) -> Option<VariantFit> {
        match Self::any_from_name(name)? {
            VariantFit::Squeeze => None,
            fit => Some(fit),
        }
    }

    fn any_from_name(name: &str) -> Option<VariantFit> {
        [
            VariantFit::ScaleDown,
            VariantFit::Contain,
            VariantFit::Cover,
            VariantFit::Crop,
            VariantFit::Pad,
            VariantFit::Squeeze,
        ]
        .into_iter()
        .find(|f| f.name() == name)
    }
}

/// What metadata a JPEG output keeps of a JPEG source's EXIF (other formats carry none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataPolicy {
    Keep,
    Copyright,
    None,
}

impl MetadataPolicy {
    pub fn name(self) -> &'static str {
        match self {
            MetadataPolicy::Keep => "keep",
            MetadataPolicy::Copyright => "copyright",
            MetadataPolicy::None => "none",
        }
    }

    pub fn from_name(name: &str) -> Option<MetadataPolicy> {
        [
            MetadataPolicy::Keep,
            MetadataPolicy::Copyright,
            MetadataPolicy::None,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

/// Everything an option list can say, before it becomes steps.
#[derive(Debug, Default)]
struct Options {
    width: Option<f64>,
    height: Option<f64>,
    fit: Option<VariantFit>,
    dpr: Option<f64>,
    gravity: Option<Focus>,
    background: Option<Rgb>,
    quality: Option<u8>,
    format: Option<String>,
    blur: Option<u8>,
    adjust: Option<Adjust>,
    sharpen: Option<f64>,
    rotate: Option<u16>,
    flip: Option<(bool, bool)>,
    trim: Option<Trim>,
    metadata: Option<MetadataPolicy>,
    first_frame: bool,
    redirect: bool,
}

fn bad(option: &str, got: &str, message: &'static str) -> ProcessError {
    ProcessError::BadOption {
        option: option.to_owned(),
        got: got.to_owned(),
        message,
    }
}

fn number(
    option: &str,
    v: &str,
    min: f64,
    max: f64,
    message: &'static str,
) -> Result<f64, ProcessError> {
    match v.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && (min..=max).contains(&n) => Ok(n),
        _ => Err(bad(option, v, message)),
    }
}

/// Splits on commas outside parentheses, so `background=rgb(1,2,3)` stays whole.
fn split(options: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in options.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&options[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&options[start..]);
    parts
}

fn milli(v: f64) -> u32 {
    (v * 1000.0).round() as u32
}

fn parse_into(opts: &mut Options, key: &str, v: &str) -> Result<(), ProcessError> {
    fn adjust(opts: &mut Options) -> &mut Adjust {
        opts.adjust.get_or_insert(Adjust::NONE)
    }
    match key {
        "width" | "w" => {
            opts.width = Some(number(
                key,
                v,
                1.0,
                f64::from(MAX_SIDE),
                "expected 1 to 12000 pixels",
            )?)
        }
        "height" | "h" => {
            opts.height = Some(number(
                key,
                v,
                1.0,
                f64::from(MAX_SIDE),
                "expected 1 to 12000 pixels",
            )?)
        }
        "fit" => {
            opts.fit = Some(VariantFit::any_from_name(v).ok_or_else(|| {
                bad(
                    key,
                    v,
                    "expected scale-down, contain, cover, crop, pad or squeeze",
                )
            })?)
        }
        "dpr" => opts.dpr = Some(number(key, v, 0.1, 10.0, "expected 0.1 to 10")?),
        "gravity" | "g" => opts.gravity = Some(gravity(key, v)?),
        "background" => opts.background = Some(colour(key, v)?),
        "quality" | "q" => {
            opts.quality = Some(match v {
                "high" => 90,
                "medium-high" => 80,
                "medium-low" => 70,
                "low" => 55,
                _ => number(
                    key,
                    v,
                    1.0,
                    100.0,
                    "expected 1 to 100, high, medium-high, medium-low or low",
                )? as u8,
            })
        }
        "format" | "f" => match v {
            "auto" | "avif" | "webp" | "jpeg" | "baseline-jpeg" | "png" | "json" => {
                opts.format = Some(v.to_owned())
            }
            _ => {
                return Err(bad(
                    key,
                    v,
                    "expected auto, avif, webp, jpeg, baseline-jpeg, png or json",
                ));
            }
        },
        "blur" => opts.blur = Some(number(key, v, 0.0, 250.0, "expected 0 to 250")?.round() as u8),
        "brightness" => {
            adjust(opts).brightness_milli = milli(number(key, v, 0.0, 10.0, "expected 0 to 10")?)
        }
        "contrast" => {
            adjust(opts).contrast_milli = milli(number(key, v, 0.0, 10.0, "expected 0 to 10")?)
        }
        "gamma" => {
            adjust(opts).gamma_milli = milli(number(key, v, 0.1, 10.0, "expected 0.1 to 10")?)
        }
        "saturation" => {
            adjust(opts).saturation_milli = milli(number(key, v, 0.0, 10.0, "expected 0 to 10")?)
        }
        "sharpen" => opts.sharpen = Some(number(key, v, 0.0, 10.0, "expected 0 to 10")?),
        "rotate" => {
            opts.rotate = Some(match v {
                "0" | "90" | "180" | "270" => v.parse().unwrap_or(0),
                _ => return Err(bad(key, v, "expected 0, 90, 180 or 270")),
            })
        }
        "flip" => {
            opts.flip = Some(match v {
                "h" => (true, false),
                "v" => (false, true),
                "hv" | "vh" => (true, true),
                _ => return Err(bad(key, v, "expected h, v or hv")),
            })
        }
        "trim" => opts.trim = Some(trim_edges(key, v)?),
        "trim.top" | "trim.right" | "trim.bottom" | "trim.left" => {
            let px = number(key, v, 0.0, 100_000.0, "expected pixels")? as u32;
            let (mut top, mut right, mut bottom, mut left) = match opts.trim {
                Some(Trim::Edges {
                    top,
                    right,
                    bottom,
                    left,
                }) => (top, right, bottom, left),
                _ => (0, 0, 0, 0),
            };
            match key {
                "trim.top" => top = px,
                "trim.right" => right = px,
                "trim.bottom" => bottom = px,
                _ => left = px,
            }
            opts.trim = Some(Trim::Edges {
                top,
                right,
                bottom,
                left,
            });
        }
        "metadata" => {
            opts.metadata = Some(
                MetadataPolicy::from_name(v)
                    .ok_or_else(|| bad(key, v, "expected keep, copyright or none"))?,
            );
        }
        "anim" => {
            opts.first_frame = match v {
                "true" => false,
                "false" => true,
                _ => return Err(bad(key, v, "expected true or false")),
            }
        }
        "onerror" => {
            if v != "redirect" {
                return Err(bad(key, v, "expected redirect"));
            }
            opts.redirect = true;
        }
        _ => {
            return Err(ProcessError::UnknownOption {
                option: key.to_owned(),
            });
        }
    }
    Ok(())
}

/// Parses `/cdn-cgi/image/` options (already percent-decoded) into a pipeline.
pub fn parse_options(options: &str) -> Result<Transform, ProcessError> {
    if options.trim().is_empty() {
        return Err(ProcessError::Empty);
    }
    if options.len() > MAX_OPTIONS_LEN {
        return Err(ProcessError::TooLong {
            len: options.len(),
            max: MAX_OPTIONS_LEN,
        });
    }
    let mut opts = Options::default();
    for part in split(options) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| bad(part, "", "expected key=value"))?;
        parse_into(&mut opts, key.trim(), value.trim())?;
    }
    let on_error = if opts.redirect {
        OnError::Redirect
    } else {
        OnError::Fail
    };
    Ok(Transform {
        pipeline: build(&opts),
        on_error,
    })
}

/// The pipeline of a named variant; its format follows `Accept`.
pub fn variant_pipeline(
    fit: VariantFit,
    width: Option<u32>,
    height: Option<u32>,
    metadata: MetadataPolicy,
) -> Pipeline {
    let opts = Options {
        metadata: Some(metadata),
        width: width.map(f64::from),
        height: height.map(f64::from),
        fit: Some(fit),
        format: Some("auto".into()),
        ..Default::default()
    };
    build(&opts)
}

fn resize(fit: Fit, width: Option<u32>, height: Option<u32>, enlarge: bool) -> Step {
    Step::Resize(Resize {
        fit,
        target: ResizeTarget::Box { width, height },
        enlarge,
    })
}

fn build(opts: &Options) -> Pipeline {
    let mut steps = Vec::new();
    if opts.first_frame {
        steps.push(Step::FirstFrame);
    }
    if let Some(t) = opts.trim {
        steps.push(Step::Trim(t));
    }
    // Cloudflare flips before it rotates: `flip=h,rotate=90` mirrors the picture as
    // stored, then turns it.
    if let Some((horizontal, vertical)) = opts.flip {
        steps.push(Step::Flip {
            horizontal,
            vertical,
        });
    }
    // Width and height name the sides after rotation (Cloudflare's rule).
    if let Some(degrees) = opts.rotate.filter(|d| *d != 0) {
        steps.push(Step::Rotate { degrees });
    }
    let dpr = opts.dpr.unwrap_or(1.0);
    let side = |v: Option<f64>| v.map(|px| ((px * dpr).round() as u32).clamp(1, MAX_SIDE));
    let (width, height) = (side(opts.width), side(opts.height));
    if width.is_some() || height.is_some() {
        let fit = opts.fit.unwrap_or(VariantFit::ScaleDown);
        let focus = opts.gravity.unwrap_or(Focus::CENTER);
        let background = opts.background.unwrap_or(Rgb::WHITE);
        match (fit, width, height) {
            (VariantFit::ScaleDown, ..) => steps.push(resize(Fit::Contain, width, height, false)),
            (VariantFit::Cover, Some(_), Some(_)) if focus == Focus::CENTER => {
                steps.push(resize(Fit::CoverCrop, width, height, true));
            }
            (VariantFit::Cover, Some(w), Some(h)) => {
                steps.push(resize(Fit::Cover, width, height, true));
                steps.push(Step::FocalCrop {
                    width: w,
                    height: h,
                    focus,
                });
            }
            (VariantFit::Crop, Some(w), Some(h)) => {
                steps.push(resize(Fit::Cover, width, height, false));
                steps.push(Step::FocalCrop {
                    width: w,
                    height: h,
                    focus,
                });
            }
            (VariantFit::Pad, Some(_), Some(_)) => {
                steps.push(resize(Fit::Pad { background }, width, height, true))
            }
            (VariantFit::Squeeze, Some(_), Some(_)) => {
                steps.push(resize(Fit::Stretch, width, height, true))
            }
            // One side given: every mode but scale-down and crop is "fit, may enlarge".
            (VariantFit::Crop, ..) => steps.push(resize(Fit::Contain, width, height, false)),
            _ => steps.push(resize(Fit::Contain, width, height, true)),
        }
    }
    if let Some(a) = opts.adjust.filter(|a| *a != Adjust::NONE) {
        steps.push(Step::Adjust(a));
    }
    if let Some(s) = opts.sharpen.filter(|s| *s > 0.0) {
        // The engine's sharpen takes OSS's 50-399 scale; Cloudflare's 1 is a light touch
        // (about OSS's suggested 100) and 10 the strongest.
        steps.push(Step::Sharpen((50.0 + s * 35.0).round().min(399.0) as u16));
    }
    if let Some(radius) = opts.blur.filter(|r| *r > 0) {
        steps.push(Step::Blur {
            radius,
            sigma: (radius / 2).max(1),
        });
    }
    let mut output = OutputOptions {
        quality: opts.quality.map(Quality::Absolute),
        // Cloudflare's default keeps the copyright only.
        metadata: match opts.metadata.unwrap_or(MetadataPolicy::Copyright) {
            MetadataPolicy::Keep => KeptMetadata::All,
            MetadataPolicy::Copyright => KeptMetadata::Copyright,
            MetadataPolicy::None => KeptMetadata::None,
        },
        // Under transparency as well as around a padded image.
        background: opts.background,
        ..Default::default()
    };
    match opts.format.as_deref() {
        Some("auto") => output.format = Some(FormatChoice::Auto),
        Some("avif") => output.format = Some(FormatChoice::Fixed(Format::Avif)),
        Some("webp") => output.format = Some(FormatChoice::Fixed(Format::Webp)),
        Some("png") => output.format = Some(FormatChoice::Fixed(Format::Png)),
        Some("jpeg") => {
            output.format = Some(FormatChoice::Fixed(Format::Jpeg));
            output.progressive = true;
        }
        Some("baseline-jpeg") => output.format = Some(FormatChoice::Fixed(Format::Jpeg)),
        Some("json") => steps.push(Step::Facts),
        _ => {}
    }
    Pipeline { steps, output }
}

mod values;
use values::{colour, gravity, trim_edges};

#[cfg(test)]
mod tests;
