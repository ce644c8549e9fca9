//! Text marks: one line of text rasterised with the embedded font, then the optional
//! shadow and rotation, as a straight-alpha RGBA layer.

use super::{blend_over, check_size};
use crate::engine::frame::{Frame, Layout};
use crate::engine::{EngineError, EngineResult, Limits, ops};
use crate::ir::TextMark;
use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use std::sync::OnceLock;

/// Noto Sans Regular (SIL Open Font License 1.1), the one font imgd ships.
const NOTO_SANS: &[u8] = include_bytes!("../../../assets/NotoSans-Regular.ttf");

/// The font for an OSS `type_` name. imgd ships one font, so every name the parser lets
/// through (OSS's own are wqy-zenhei, wqy-microhei, fangzhengshusong, fangzhengkaiti,
/// fangzhengheiti, fangzhengfangsong, droidsansfallback) renders with Noto Sans, which has
/// no CJK glyphs: such characters come out as the font's missing-glyph box.
fn font(_name: &str) -> EngineResult<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(NOTO_SANS).ok())
        .as_ref()
        .ok_or_else(|| EngineError::Internal("the embedded font could not be parsed".into()))
}

/// How far the shadow sits below and to the right of the text.
pub fn shadow_offset(size: u32) -> u32 {
    (size.saturating_add(10) / 20).max(1)
}

/// Renders `mark` into an RGBA layer whose size is the text's line box (advance width
/// by ascent-to-descent height, widened for any glyph overhang), grown by the shadow
/// offset and then by the rotation (clockwise, about the box's centre).
pub fn render(mark: &TextMark, limits: &Limits) -> EngineResult<Frame> {
    let font = font(&mark.font)?;
    // The parser bounds size to 1-1000; clamp again so another dialect cannot make the
    // glyph rasteriser allocate without bound.
    let size = mark.size.clamp(1, 1000);
    // `size_` is the em size in pixels, as a CSS font-size is; ab_glyph scales by line
    // height (ascent - descent), which for Noto Sans is 1.362 em.
    let units_per_em = font.units_per_em().unwrap_or(1000.0);
    let scale = PxScale::from(size as f32 * font.height_unscaled() / units_per_em);
    let scaled = font.as_scaled(scale);
    let ascent = scaled.ascent();

    let mut caret = 0f32;
    let mut previous = None;
    let mut outlines = Vec::new();
    let (mut min_x, mut min_y, mut max_x, mut max_y) = (0f32, 0f32, 0f32, scaled.height());
    for c in mark.text.chars() {
        let id = font.glyph_id(c);
        if let Some(previous) = previous {
            caret += scaled.kern(previous, id);
        }
        let glyph = id.with_scale_and_position(scale, point(caret, ascent));
        caret += scaled.h_advance(id);
        previous = Some(id);
        if let Some(outline) = font.outline_glyph(glyph) {
            let b = outline.px_bounds();
            min_x = min_x.min(b.min.x);
            min_y = min_y.min(b.min.y);
            max_x = max_x.max(b.max.x);
            max_y = max_y.max(b.max.y);
            outlines.push(outline);
        }
    }
    max_x = max_x.max(caret);

    let (left, top) = (min_x.floor(), min_y.floor());
    let width = extent(max_x.ceil() - left, limits)?;
    let height = extent(max_y.ceil() - top, limits)?;
    let shadow = if mark.shadow > 0 {
        shadow_offset(size)
    } else {
        0
    };
    let (canvas_w, canvas_h) = (width.saturating_add(shadow), height.saturating_add(shadow));
    check_size(canvas_w, canvas_h, limits)?;

    // Coverage of the text alone, 0-255 per pixel.
    let mut coverage = vec![0u8; width as usize * height as usize];
    for outline in &outlines {
        let b = outline.px_bounds();
        let (gx, gy) = ((b.min.x - left) as i64, (b.min.y - top) as i64);
        outline.draw(|x, y, c| {
            let (px, py) = (gx + i64::from(x), gy + i64::from(y));
            if px < 0 || py < 0 || px >= i64::from(width) || py >= i64::from(height) {
                return;
            }
            let i = py as usize * width as usize + px as usize;
            if let Some(cell) = coverage.get_mut(i) {
                let v = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
                *cell = cell.saturating_add(v);
            }
        });
    }

    let at = |x: u32, y: u32| -> u8 {
        if x >= width || y >= height {
            return 0;
        }
        coverage
            .get(y as usize * width as usize + x as usize)
            .copied()
            .unwrap_or(0)
    };
    let colour = [mark.color.r, mark.color.g, mark.color.b];
    let shadow_opacity = u32::from(mark.shadow.min(100));
    let mut data = vec![0u8; canvas_w as usize * canvas_h as usize * 4];
    for (i, px) in data.chunks_exact_mut(4).enumerate() {
        let x = (i % canvas_w as usize) as u32;
        let y = (i / canvas_w as usize) as u32;
        if shadow > 0 && x >= shadow && y >= shadow {
            let a = (u32::from(at(x - shadow, y - shadow)) * shadow_opacity + 50) / 100;
            px[3] = a as u8;
        }
        let a = at(x, y);
        if a > 0 {
            blend_over(px, [colour[0], colour[1], colour[2], a], 100);
        }
    }
    let layer = Frame::new(canvas_w, canvas_h, Layout::Rgba8, data);

    let degrees = mark.rotate % 360;
    if degrees == 0 {
        return Ok(layer);
    }
    let (rw, rh) = ops::rotated_size(layer.width, layer.height, degrees);
    check_size(rw, rh, limits)?;
    Ok(ops::rotate(&layer, degrees))
}

/// A measured side in whole pixels, refused before anything is allocated if the limits
/// cannot hold it.
fn extent(len: f32, limits: &Limits) -> EngineResult<u32> {
    if !len.is_finite() || len > limits.max_output_side as f32 {
        return Err(EngineError::TooLarge(format!(
            "the watermark text would be wider or taller than {} pixels",
            limits.max_output_side
        )));
    }
    Ok((len.max(1.0)) as u32)
}
