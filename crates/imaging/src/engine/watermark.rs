//! The `watermark` action: text and image marks composited onto the frame.
//!
//! A mark is first built as one straight-alpha RGBA layer ([`prepare`]): the text line
//! (with shadow and rotation), the watermark image (through its own nested process,
//! then scaled by `P_`), or both side by side. The layer is then placed by gravity and
//! margins, or tiled, and composited "over" the frame with the mark's opacity
//! ([`stamp`]). Parts outside the frame are clipped. The frame keeps its layout: an RGB
//! frame stays RGB, an RGBA frame gets the correct union of both alphas.
//!
//! Placement, OSS style: `x` is the distance from the left or right edge and applies to
//! the west and east columns only (north, center and south are centred horizontally);
//! `y` is the distance from the top or bottom edge and applies to the north and south
//! rows only; the middle row is centred vertically and then moved down by `voffset`
//! (negative moves up). A tiled mark repeats on a grid with one tile where the untiled
//! mark would be, `x` pixels between columns and `y` pixels between rows.
//!
//! [`apply`] is a pure function of one frame. Animated sources can call [`prepare`]
//! once and [`stamp`] every frame, since the layer depends only on the frame's size.

pub mod fonts;
pub mod text;

use super::frame::{Frame, Layout};
use super::{EngineError, EngineResult, Limits, Rendered, png, resize};
use crate::ir::{
    Format, FormatChoice, Gravity, ImageMark, MarkAlign, MarkOrder, MixedLayout, OutputOptions,
    Pipeline, Watermark, WatermarkContent,
};
use std::collections::HashMap;

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

/// Renders a watermark image's bytes through its nested pipeline. The pipeline runner
/// passes the engine itself in (without marks of its own), so a mark is rendered like any
/// source while this module stays below the runner that calls it.
pub type RenderNested<'a> = &'a dyn Fn(&[u8], &Pipeline) -> EngineResult<Rendered>;

/// Composites `mark` onto `frame`.
pub fn apply(
    frame: Frame,
    mark: &Watermark,
    marks: &dyn MarkImages,
    render: RenderNested<'_>,
    limits: &Limits,
) -> EngineResult<Frame> {
    let prepared = prepare(mark, marks, render, frame.width, frame.height, limits)?;
    Ok(stamp(frame, &prepared))
}

/// A mark rendered for frames of one size, ready to be stamped onto each of them.
#[derive(Debug, Clone)]
pub struct PreparedMark {
    /// Straight-alpha RGBA.
    layer: Frame,
    gravity: Gravity,
    x: u32,
    y: u32,
    voffset: i32,
    opacity: u8,
    tile: bool,
}

impl PreparedMark {
    /// Size of the mark's layer (text box after shadow and rotation, scaled image, or
    /// both side by side).
    pub fn size(&self) -> (u32, u32) {
        (self.layer.width, self.layer.height)
    }
}

/// Builds the mark's layer for frames of `frame_width` x `frame_height` (`P_` scales an
/// image mark relative to them).
pub fn prepare(
    mark: &Watermark,
    marks: &dyn MarkImages,
    render: RenderNested<'_>,
    frame_width: u32,
    frame_height: u32,
    limits: &Limits,
) -> EngineResult<PreparedMark> {
    let layer = match &mark.content {
        WatermarkContent::Text(t) => text::render(t, limits)?,
        WatermarkContent::Image(image) => {
            image_layer(image, marks, render, frame_width, frame_height, limits)?
        }
        WatermarkContent::TextAndImage {
            text: t,
            image,
            layout,
        } => {
            let text_layer = text::render(t, limits)?;
            let image_layer = image_layer(image, marks, render, frame_width, frame_height, limits)?;
            side_by_side(text_layer, image_layer, layout, limits)?
        }
    };
    Ok(PreparedMark {
        layer,
        gravity: mark.gravity,
        x: mark.x,
        y: mark.y,
        voffset: mark.voffset,
        opacity: mark.opacity.min(100),
        tile: mark.tile,
    })
}

/// Composites a prepared mark onto `frame`, clipped to it.
pub fn stamp(mut frame: Frame, mark: &PreparedMark) -> Frame {
    if mark.opacity == 0 {
        return frame;
    }
    let (w, h) = (i64::from(mark.layer.width), i64::from(mark.layer.height));
    let (left, top) = origin(&frame, mark);
    if !mark.tile {
        composite(&mut frame, &mark.layer, left, top, mark.opacity);
        return frame;
    }
    // Columns and rows through (left, top) that can touch the frame. The pitch is at
    // least one pixel, and the frame is bounded by the limits, so the loop is too.
    let step_x = (w + i64::from(mark.x)).max(1);
    let step_y = (h + i64::from(mark.y)).max(1);
    let (fw, fh) = (i64::from(frame.width), i64::from(frame.height));
    let mut ty = top - (top + h).div_euclid(step_y) * step_y;
    while ty < fh {
        let mut tx = left - (left + w).div_euclid(step_x) * step_x;
        while tx < fw {
            composite(&mut frame, &mark.layer, tx, ty, mark.opacity);
            tx += step_x;
        }
        ty += step_y;
    }
    frame
}

/// Top-left corner of the untiled mark, in frame pixels; may lie outside the frame.
fn origin(frame: &Frame, mark: &PreparedMark) -> (i64, i64) {
    let (fw, fh) = (i64::from(frame.width), i64::from(frame.height));
    let (w, h) = (i64::from(mark.layer.width), i64::from(mark.layer.height));
    let (x, y) = (i64::from(mark.x), i64::from(mark.y));
    let (column, row) = match mark.gravity {
        Gravity::NorthWest => (0, 0),
        Gravity::North => (1, 0),
        Gravity::NorthEast => (2, 0),
        Gravity::West => (0, 1),
        Gravity::Center => (1, 1),
        Gravity::East => (2, 1),
        Gravity::SouthWest => (0, 2),
        Gravity::South => (1, 2),
        Gravity::SouthEast => (2, 2),
    };
    let left = match column {
        0 => x,
        1 => (fw - w).div_euclid(2),
        _ => fw - w - x,
    };
    let top = match row {
        0 => y,
        1 => (fh - h).div_euclid(2) + i64::from(mark.voffset),
        _ => fh - h - y,
    };
    (left, top)
}

/// The watermark image, decoded through its nested process (if any), as RGBA, scaled
/// by `P_` to fit that percentage of the frame's width and height.
fn image_layer(
    image: &ImageMark,
    marks: &dyn MarkImages,
    render: RenderNested<'_>,
    frame_width: u32,
    frame_height: u32,
    limits: &Limits,
) -> EngineResult<Frame> {
    let key = &image.key;
    let bytes = marks.get(key).ok_or_else(|| {
        EngineError::Invalid(format!(
            "watermark: the watermark image {key:?} was not found"
        ))
    })?;
    // Render through the ordinary engine (probe, limits, orientation, the nested steps)
    // and hand the pixels over as PNG, which keeps alpha losslessly. Nested image marks
    // are not resolved: the parser refuses them, and resolving them here could recurse.
    let mut pipeline = image
        .process
        .as_ref()
        .map(|nested| nested.pipeline.clone())
        .unwrap_or_default();
    pipeline.output = OutputOptions {
        format: Some(FormatChoice::Fixed(Format::Png)),
        quality: None,
        progressive: false,
        ..Default::default()
    };
    let in_mark = |e: EngineError| prefix_error(e, &format!("watermark image {key:?}: "));
    let rendered = render(bytes, &pipeline).map_err(in_mark)?;
    let png_bytes = match rendered {
        Rendered::Image { bytes, .. } => bytes,
        Rendered::Json(_) => {
            return Err(EngineError::Invalid(format!(
                "watermark: the process of watermark image {key:?} must produce an image"
            )));
        }
    };
    let max_bytes = usize::try_from(limits.max_output_pixels)
        .unwrap_or(usize::MAX)
        .saturating_mul(4);
    let decoded = png::decode(&png_bytes, max_bytes).map_err(in_mark)?;
    let mark = decoded.to_rgba();

    let Some(percent) = image.scale_percent else {
        return Ok(mark);
    };
    let percent = f64::from(percent.clamp(1, 100)) / 100.0;
    let box_w = f64::from(frame_width) * percent;
    let box_h = f64::from(frame_height) * percent;
    let factor = (box_w / f64::from(mark.width)).min(box_h / f64::from(mark.height));
    let w = (f64::from(mark.width) * factor).round().max(1.0);
    let h = (f64::from(mark.height) * factor).round().max(1.0);
    // At most the frame's own size, which already passed the limits.
    let (w, h) = (
        (w as u32).min(frame_width.max(1)),
        (h as u32).min(frame_height.max(1)),
    );
    check_size(w, h, limits)?;
    resize::resize(&mark, w, h, None)
}

/// Text and image in one row, `interval` pixels apart, aligned top, centre or bottom.
fn side_by_side(
    text: Frame,
    image: Frame,
    layout: &MixedLayout,
    limits: &Limits,
) -> EngineResult<Frame> {
    let (first, second) = match layout.order {
        MarkOrder::ImageFirst => (image, text),
        MarkOrder::TextFirst => (text, image),
    };
    let width = u64::from(first.width) + u64::from(layout.interval) + u64::from(second.width);
    let width = u32::try_from(width).unwrap_or(u32::MAX);
    let height = first.height.max(second.height);
    check_size(width, height, limits)?;
    let mut canvas = Frame::filled(width, height, Layout::Rgba8, [0, 0, 0, 0]);
    let top = |h: u32| -> i64 {
        let free = i64::from(height) - i64::from(h);
        match layout.align {
            MarkAlign::Top => 0,
            MarkAlign::Center => free / 2,
            MarkAlign::Bottom => free,
        }
    };
    composite(&mut canvas, &first, 0, top(first.height), 100);
    let second_left = i64::from(first.width) + i64::from(layout.interval);
    composite(&mut canvas, &second, second_left, top(second.height), 100);
    Ok(canvas)
}

/// Composites the RGBA `layer` over `frame` with its top-left corner at (`left`,
/// `top`), scaling the layer's alpha by `opacity` percent; whatever falls outside the
/// frame is skipped.
fn composite(frame: &mut Frame, layer: &Frame, left: i64, top: i64, opacity: u8) {
    if layer.layout != Layout::Rgba8 {
        return;
    }
    let (fw, fh) = (i64::from(frame.width), i64::from(frame.height));
    let (lw, lh) = (i64::from(layer.width), i64::from(layer.height));
    let (x0, x1) = (left.max(0), (left + lw).min(fw));
    let (y0, y1) = (top.max(0), (top + lh).min(fh));
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    let c = frame.layout.channels();
    let span = (x1 - x0) as usize;
    let opacity = u32::from(opacity.min(100));
    for y in y0..y1 {
        let src_start = (((y - top) * lw + (x0 - left)) * 4) as usize;
        let dst_start = ((y * fw + x0) as usize) * c;
        let (Some(src), Some(dst)) = (
            layer.data.get(src_start..src_start + span * 4),
            frame.data.get_mut(dst_start..dst_start + span * c),
        ) else {
            return;
        };
        for (d, s) in dst.chunks_exact_mut(c).zip(src.chunks_exact(4)) {
            blend_over(d, [s[0], s[1], s[2], s[3]], opacity);
        }
    }
}

/// Porter-Duff "over" of one straight-alpha source pixel (its alpha scaled by `opacity`
/// percent) onto an RGB (opaque) or RGBA (straight alpha) destination pixel.
fn blend_over(dst: &mut [u8], src: [u8; 4], opacity: u32) {
    let a = (u32::from(src[3]) * opacity + 50) / 100;
    if a == 0 {
        return;
    }
    let keep = 255 - a;
    match dst {
        [r, g, b] => {
            for (d, s) in [r, g, b].into_iter().zip(src) {
                *d = ((u32::from(s) * a + u32::from(*d) * keep + 127) / 255) as u8;
            }
        }
        [r, g, b, alpha] => {
            let da = u32::from(*alpha);
            // Resulting alpha, in 255ths of 255ths.
            let out = a * 255 + da * keep;
            if out == 0 {
                return;
            }
            for (d, s) in [r, g, b].into_iter().zip(src) {
                let v = u32::from(s) * a * 255 + u32::from(*d) * da * keep;
                *d = ((v + out / 2) / out) as u8;
            }
            *alpha = ((out + 127) / 255) as u8;
        }
        _ => {}
    }
}

/// Refuses a layer the limits cannot hold, before it is allocated.
fn check_size(w: u32, h: u32, limits: &Limits) -> EngineResult<()> {
    if w.max(h) > limits.max_output_side {
        return Err(EngineError::TooLarge(format!(
            "watermark: a side of {} pixels exceeds the limit of {}",
            w.max(h),
            limits.max_output_side
        )));
    }
    if u64::from(w) * u64::from(h) > limits.max_output_pixels {
        return Err(EngineError::TooLarge(format!(
            "watermark: {w}x{h} exceeds the limit of {} pixels",
            limits.max_output_pixels
        )));
    }
    Ok(())
}

/// The same error, its message prefixed with where it happened.
fn prefix_error(error: EngineError, prefix: &str) -> EngineError {
    match error {
        EngineError::Decode(m) => EngineError::Decode(format!("{prefix}{m}")),
        EngineError::Unsupported(m) => EngineError::Unsupported(format!("{prefix}{m}")),
        EngineError::TooLarge(m) => EngineError::TooLarge(format!("{prefix}{m}")),
        EngineError::Invalid(m) => EngineError::Invalid(format!("{prefix}{m}")),
        EngineError::Encode(m) => EngineError::Encode(format!("{prefix}{m}")),
        EngineError::Internal(m) => EngineError::Internal(format!("{prefix}{m}")),
        EngineError::OverBudget => EngineError::OverBudget,
    }
}
