//! Canonical serialization of the IR, the input to ETags and cache keys.
//!
//! The form is written in OSS syntax so that it stays readable in logs and re-parses
//! to the same IR. Because it is derived from the IR rather than from the request
//! text, every spelling that parses to the same IR gets the same string, whichever
//! dialect it came from. The rules:
//!
//! - steps in pipeline order, `/`-separated, after an `image/` prefix; an empty
//!   pipeline (e.g. `image/interlace,0`: the image is served as stored) is the empty
//!   string;
//! - within an action, parameters in a fixed order (listed per action below) and every
//!   parameter that has a default written out, so an omitted default and an explicit
//!   one look the same; optional parameters without a default appear only when set;
//! - parameters that cannot take effect are left out (resize `color_` unless `m_pad`;
//!   text settings without text; `P_` without an image; `order_`, `align_`,
//!   `interval_` unless both text and image are present);
//! - output options follow the steps, as `format`, `quality`, then `interlace,1`; a
//!   non-progressive output writes no `interlace` at all;
//! - integers in plain decimal; colours as upper-case `RRGGBB`; `jpeg` as `jpg`;
//!   base64 URL-safe without padding;
//! - a watermark image's own process is written in canonical form inside its `image_`.
//!
//! Changing any rule changes ETags of every processed object, so bump
//! [`CANONICAL_VERSION`] when doing so and mix it into derived keys.

use crate::ir::{
    Axis, Crop, Fit, FormatChoice, ImageMark, IndexCrop, MarkAlign, MarkOrder, Pipeline, Process,
    ProcessRequest, Quality, Resize, ResizeTarget, Rgb, SaveAs, Step, TextMark, Watermark,
    WatermarkContent,
};
use crate::oss::gravity_name;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Version of the canonical form's rules, for callers deriving persistent keys.
pub const CANONICAL_VERSION: u32 = 1;

impl ProcessRequest {
    /// Canonical form including the `|sys/saveas` suffix, if any.
    pub fn canonical(&self) -> String {
        let mut out = self.process.canonical();
        if let Some(save_as) = &self.save_as {
            out.push('|');
            out.push_str(&save_as_segment(save_as));
        }
        out
    }
}

impl Process {
    pub fn canonical(&self) -> String {
        match self {
            Process::Style(name) => format!("style/{}", name.as_str()),
            Process::Pipeline(pipeline) => pipeline.canonical(),
        }
    }
}

impl Pipeline {
    pub fn canonical(&self) -> String {
        let mut segments: Vec<String> = self.steps.iter().map(step_segment).collect();
        if let Some(format) = self.output.format {
            segments.push(format!("format,{}", format_name(format)));
        }
        if let Some(quality) = self.output.quality {
            segments.push(match quality {
                Quality::Relative(q) => format!("quality,q_{q}"),
                Quality::Absolute(q) => format!("quality,Q_{q}"),
            });
        }
        match self.output.metadata {
            crate::ir::KeptMetadata::None => {}
            crate::ir::KeptMetadata::Copyright => segments.push("cf-metadata,copyright".into()),
            crate::ir::KeptMetadata::All => segments.push("cf-metadata,keep".into()),
        }
        if let Some(bg) = self.output.background {
            segments.push(format!(
                "cf-background,{:02x}{:02x}{:02x}",
                bg.r, bg.g, bg.b
            ));
        }
        if self.output.progressive {
            segments.push("interlace,1".to_owned());
        }
        if segments.is_empty() {
            return String::new();
        }
        format!("image/{}", segments.join("/"))
    }
}

fn step_segment(step: &Step) -> String {
    match step {
        Step::Resize(resize) => resize_segment(resize),
        Step::Crop(crop) => crop_segment(crop),
        Step::IndexCrop(index_crop) => index_crop_segment(index_crop),
        Step::Circle { radius } => format!("circle,r_{radius}"),
        Step::RoundedCorners { radius } => format!("rounded-corners,r_{radius}"),
        Step::Rotate { degrees } => format!("rotate,{degrees}"),
        Step::AutoOrient(apply) => format!("auto-orient,{}", u8::from(*apply)),
        Step::Blur { radius, sigma } => format!("blur,r_{radius},s_{sigma}"),
        Step::Brightness(amount) => format!("bright,{amount}"),
        Step::Contrast(amount) => format!("contrast,{amount}"),
        Step::Sharpen(amount) => format!("sharpen,{amount}"),
        Step::Watermark(watermark) => watermark_segment(watermark),
        Step::Info => "info".to_owned(),
        Step::AverageHue => "average-hue".to_owned(),
        // Steps no OSS action spells: names of their own, never valid OSS, so no two
        // pipelines share a canonical string.
        Step::Flip {
            horizontal,
            vertical,
        } => format!(
            "cf-flip,h_{},v_{}",
            u8::from(*horizontal),
            u8::from(*vertical)
        ),
        Step::Adjust(a) => format!(
            "cf-adjust,b_{},c_{},g_{},s_{}",
            a.brightness_milli, a.contrast_milli, a.gamma_milli, a.saturation_milli
        ),
        Step::Trim(crate::ir::Trim::Edges {
            top,
            right,
            bottom,
            left,
        }) => format!("cf-trim,t_{top},r_{right},b_{bottom},l_{left}"),
        Step::Trim(crate::ir::Trim::Border) => "cf-trim,border".to_owned(),
        Step::FocalCrop {
            width,
            height,
            focus,
        } => format!(
            "cf-focal-crop,w_{width},h_{height},x_{},y_{}",
            focus.x_milli, focus.y_milli
        ),
        Step::FirstFrame => "cf-first-frame".to_owned(),
        Step::Facts => "cf-facts".to_owned(),
    }
}

/// Order: m, then w,h | l,s | p, then limit, then color (pad only).
fn resize_segment(resize: &Resize) -> String {
    let mode = match resize.fit {
        Fit::Contain => "lfit",
        Fit::Cover => "mfit",
        Fit::CoverCrop => "fill",
        Fit::Pad { .. } => "pad",
        Fit::Stretch => "fixed",
    };
    let mut out = format!("resize,m_{mode}");
    match resize.target {
        ResizeTarget::Box { width, height } => {
            push_optional(&mut out, "w", width);
            push_optional(&mut out, "h", height);
        }
        ResizeTarget::LongShort { long, short } => {
            push_optional(&mut out, "l", long);
            push_optional(&mut out, "s", short);
        }
        ResizeTarget::Percent(percent) => out.push_str(&format!(",p_{percent}")),
    }
    out.push_str(&format!(",limit_{}", u8::from(!resize.enlarge)));
    if let Fit::Pad { background } = resize.fit {
        out.push_str(&format!(",color_{}", hex(background)));
    }
    out
}

/// Order: g, x, y, then w, h when set.
fn crop_segment(crop: &Crop) -> String {
    let mut out = format!(
        "crop,g_{},x_{},y_{}",
        gravity_name(crop.origin),
        crop.x,
        crop.y
    );
    push_optional(&mut out, "w", crop.width);
    push_optional(&mut out, "h", crop.height);
    out
}

/// Order: x or y, then i.
fn index_crop_segment(index_crop: &IndexCrop) -> String {
    let axis = match index_crop.axis {
        Axis::Horizontal => "x",
        Axis::Vertical => "y",
    };
    format!(
        "indexcrop,{axis}_{},i_{}",
        index_crop.slice, index_crop.index
    )
}

/// Order: text,type,color,size,shadow,rotate; image,P; order,align,interval;
/// then t,g,x,y,voffset,fill.
fn watermark_segment(watermark: &Watermark) -> String {
    let mut out = String::from("watermark");
    match &watermark.content {
        WatermarkContent::Text(text) => push_text_mark(&mut out, text),
        WatermarkContent::Image(image) => push_image_mark(&mut out, image),
        WatermarkContent::TextAndImage {
            text,
            image,
            layout,
        } => {
            push_text_mark(&mut out, text);
            push_image_mark(&mut out, image);
            let order = match layout.order {
                MarkOrder::ImageFirst => 0,
                MarkOrder::TextFirst => 1,
            };
            let align = match layout.align {
                MarkAlign::Top => 0,
                MarkAlign::Center => 1,
                MarkAlign::Bottom => 2,
            };
            out.push_str(&format!(
                ",order_{order},align_{align},interval_{}",
                layout.interval
            ));
        }
    }
    out.push_str(&format!(
        ",t_{},g_{},x_{},y_{},voffset_{},fill_{}",
        watermark.opacity,
        gravity_name(watermark.gravity),
        watermark.x,
        watermark.y,
        watermark.voffset,
        u8::from(watermark.tile)
    ));
    out
}

fn push_text_mark(out: &mut String, text: &TextMark) {
    out.push_str(&format!(
        ",text_{},type_{},color_{},size_{},shadow_{},rotate_{}",
        URL_SAFE_NO_PAD.encode(&text.text),
        URL_SAFE_NO_PAD.encode(&text.font),
        hex(text.color),
        text.size,
        text.shadow,
        text.rotate
    ));
}

fn push_image_mark(out: &mut String, image: &ImageMark) {
    let mut reference = image.key.clone();
    if let Some(nested) = &image.process {
        let nested = nested.pipeline.canonical();
        // An empty nested pipeline changes nothing, so it is spelled like no process.
        if !nested.is_empty() {
            reference.push_str("?x-oss-process=");
            reference.push_str(&nested);
        }
    }
    out.push_str(&format!(",image_{}", URL_SAFE_NO_PAD.encode(reference)));
    push_optional(out, "P", image.scale_percent);
}

/// Order: o, then b when set.
fn save_as_segment(save_as: &SaveAs) -> String {
    let mut out = format!("sys/saveas,o_{}", URL_SAFE_NO_PAD.encode(&save_as.key));
    if let Some(bucket) = &save_as.bucket {
        out.push_str(&format!(",b_{}", URL_SAFE_NO_PAD.encode(bucket)));
    }
    out
}

fn push_optional<T: std::fmt::Display>(out: &mut String, key: &str, value: Option<T>) {
    if let Some(value) = value {
        out.push_str(&format!(",{key}_{value}"));
    }
}

fn hex(color: Rgb) -> String {
    format!("{:02X}{:02X}{:02X}", color.r, color.g, color.b)
}

fn format_name(choice: FormatChoice) -> &'static str {
    match choice {
        FormatChoice::Auto => "auto",
        FormatChoice::Fixed(format) => format.name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Gravity, OutputOptions};

    #[test]
    fn empty_pipeline_is_empty_string() {
        assert_eq!(Pipeline::default().canonical(), "");
    }

    #[test]
    fn ir_built_by_hand_serializes_like_oss() {
        // Another dialect builds IR directly; it must land on the same canonical form
        // as the equivalent OSS string.
        let pipeline = Pipeline {
            steps: vec![Step::Resize(Resize {
                fit: Fit::CoverCrop,
                target: ResizeTarget::Box {
                    width: Some(400),
                    height: None,
                },
                enlarge: false,
            })],
            output: OutputOptions {
                format: Some(FormatChoice::Fixed(crate::ir::Format::Jpeg)),
                quality: None,
                progressive: false,
                ..Default::default()
            },
        };
        let parsed = crate::oss::parse_process("image/format,jpeg/resize,w_400,m_fill")
            .map(|process| process.canonical());
        assert_eq!(Ok(pipeline.canonical()), parsed);
        assert_eq!(
            pipeline.canonical(),
            "image/resize,m_fill,w_400,limit_1/format,jpg"
        );
    }

    #[test]
    fn crop_writes_defaults() {
        let crop = Crop {
            origin: Gravity::NorthWest,
            x: 0,
            y: 0,
            width: None,
            height: Some(5),
        };
        assert_eq!(crop_segment(&crop), "crop,g_nw,x_0,y_0,h_5");
    }
}
