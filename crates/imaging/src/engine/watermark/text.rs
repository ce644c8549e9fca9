//! Text marks: one line of text rasterised glyph by glyph, each from the face that has it
//! ([`fonts`]), then the optional shadow and rotation, as a straight-alpha RGBA layer.

use super::fonts::{FontSet, Shaped};
use super::{blend_over, check_size};
use crate::engine::frame::{Frame, Layout};
use crate::engine::{EngineError, EngineResult, Limits, ops};
use crate::ir::TextMark;
use ab_glyph::{Font, FontArc, GlyphId, PxScale, ScaleFont, point};

/// How far the shadow sits below and to the right of the text.
pub fn shadow_offset(size: u32) -> u32 {
    (size.saturating_add(10) / 20).max(1)
}

/// `size_` is the em size in pixels, as a CSS font-size is; ab_glyph scales by line
/// height (ascent - descent), which differs per face (1.362 em for Noto Sans), so each
/// face gets its own scale and all of them draw at the same em size.
fn scale_for(font: &FontArc, size: u32) -> PxScale {
    let units_per_em = font.units_per_em().unwrap_or(1000.0);
    PxScale::from(size as f32 * font.height_unscaled() / units_per_em)
}

/// Renders `mark` with the system's fonts; see [`render_with_fonts`].
pub fn render(mark: &TextMark, limits: &Limits) -> EngineResult<Frame> {
    render_with_fonts(mark, FontSet::system(), limits)
}

/// Renders `mark` into an RGBA layer whose size is the text's line box (advance width
/// by ascent-to-descent height of the faces used, widened for any glyph overhang), grown
/// by the shadow offset and then by the rotation (clockwise, about the box's centre).
pub fn render_with_fonts(mark: &TextMark, fonts: &FontSet, limits: &Limits) -> EngineResult<Frame> {
    let shaped = fonts
        .shape(&mark.text, &mark.font)
        .map_err(|e| EngineError::Invalid(format!("watermark: {e}")))?;
    if shaped.is_empty() && !mark.text.is_empty() {
        return Err(EngineError::Internal(
            "no font could be loaded, not even the built-in one".into(),
        ));
    }
    // The parser bounds size to 1-1000; clamp again so another dialect cannot make the
    // glyph rasteriser allocate without bound.
    let size = mark.size.clamp(1, 1000);
    // One baseline for the line: the tallest ascent of the faces used, so a CJK glyph
    // and a Latin one sit on the same line.
    let (mut ascent, mut descent) = (0f32, 0f32);
    for glyph in &shaped {
        let scaled = glyph.font.as_scaled(scale_for(&glyph.font, size));
        ascent = ascent.max(scaled.ascent());
        descent = descent.min(scaled.descent());
    }

    let mut caret = 0f32;
    let mut previous: Option<&Shaped> = None;
    let mut outlines = Vec::new();
    let (mut min_x, mut min_y, mut max_x, mut max_y) = (0f32, 0f32, 0f32, ascent - descent);
    for shaped in &shaped {
        let font = &shaped.font;
        let scale = scale_for(font, size);
        let scaled = font.as_scaled(scale);
        let id = GlyphId(shaped.glyph);
        // Kerning pairs are defined within one face only.
        if let Some(previous) = previous.filter(|p| p.face == shaped.face) {
            caret += scaled.kern(GlyphId(previous.glyph), id);
        }
        let glyph = id.with_scale_and_position(scale, point(caret, ascent));
        caret += scaled.h_advance(id);
        previous = Some(shaped);
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
