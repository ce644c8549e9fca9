//! The pixel operations of the pipeline steps, on [`Frame`]s.

use super::frame::{Frame, Layout};
use super::orient;
use super::{EngineError, EngineResult};
use crate::ir::{Axis, Crop, Gravity, IndexCrop, Rgb};

/// Copies the `w` x `h` region at (`x`, `y`); the region must lie inside the frame.
pub fn region(f: &Frame, x: u32, y: u32, w: u32, h: u32) -> Frame {
    let c = f.layout.channels();
    let row = f.width as usize * c;
    let mut data = Vec::with_capacity(w as usize * h as usize * c);
    for r in y as usize..(y + h) as usize {
        let start = r * row + x as usize * c;
        data.extend_from_slice(&f.data[start..start + w as usize * c]);
    }
    Frame::new(w, h, f.layout, data)
}

fn anchor(g: Gravity) -> (u8, u8) {
    // (horizontal, vertical): 0 = start, 1 = centre, 2 = end.
    match g {
        Gravity::NorthWest => (0, 0),
        Gravity::North => (1, 0),
        Gravity::NorthEast => (2, 0),
        Gravity::West => (0, 1),
        Gravity::Center => (1, 1),
        Gravity::East => (2, 1),
        Gravity::SouthWest => (0, 2),
        Gravity::South => (1, 2),
        Gravity::SouthEast => (2, 2),
    }
}

/// Where a `w`-long span starts along an axis of length `len`, `offset` away from the
/// anchor (start, centre or end).
fn place(anchor: u8, len: u32, w: u32, offset: u32) -> i64 {
    let (len, w, offset) = (i64::from(len), i64::from(w), i64::from(offset));
    match anchor {
        0 => offset,
        1 => (len - w) / 2 + offset,
        _ => len - w - offset,
    }
}

/// OSS crop: a region placed relative to a gravity point, clipped to the image.
pub fn crop(f: &Frame, c: &Crop) -> EngineResult<Frame> {
    let (ax, ay) = anchor(c.origin);
    let want_w = c.width.unwrap_or(f.width);
    let want_h = c.height.unwrap_or(f.height);
    let x0 = place(ax, f.width, want_w.min(f.width), c.x);
    let y0 = place(ay, f.height, want_h.min(f.height), c.y);
    if x0 >= i64::from(f.width)
        || y0 >= i64::from(f.height)
        || x0 + i64::from(want_w) <= 0
        || y0 + i64::from(want_h) <= 0
    {
        return Err(EngineError::Invalid(format!(
            "crop: the region starts outside the {}x{} image",
            f.width, f.height
        )));
    }
    let x1 = (x0 + i64::from(want_w)).min(i64::from(f.width));
    let y1 = (y0 + i64::from(want_h)).min(i64::from(f.height));
    let (x0, y0) = (x0.max(0), y0.max(0));
    Ok(region(
        f,
        x0 as u32,
        y0 as u32,
        (x1 - x0) as u32,
        (y1 - y0) as u32,
    ))
}

/// OSS indexcrop: cut into equal slices along one axis and keep slice `index`; an index
/// past the end keeps the image whole, as OSS does.
pub fn index_crop(f: &Frame, c: &IndexCrop) -> Frame {
    let len = match c.axis {
        Axis::Horizontal => f.width,
        Axis::Vertical => f.height,
    };
    let start = u64::from(c.slice) * u64::from(c.index);
    if c.slice == 0 || start >= u64::from(len) {
        return f.clone();
    }
    let start = start as u32;
    let span = c.slice.min(len - start);
    match c.axis {
        Axis::Horizontal => region(f, start, 0, span, f.height),
        Axis::Vertical => region(f, 0, start, f.width, span),
    }
}

/// Keeps what `inside(x, y)` accepts; everything else becomes transparent. Edges are
/// antialiased by `coverage` (0..=1).
fn mask(f: Frame, coverage: impl Fn(f64, f64) -> f64) -> Frame {
    let mut f = f.to_rgba();
    let w = f.width as usize;
    for (i, p) in f.data.chunks_exact_mut(4).enumerate() {
        let (x, y) = ((i % w) as f64 + 0.5, (i / w) as f64 + 0.5);
        let cov = coverage(x, y).clamp(0.0, 1.0);
        p[3] = (f64::from(p[3]) * cov).round() as u8;
    }
    f
}

/// OSS circle: the centred square of side `2r` (r clipped to fit), outside the circle
/// transparent.
pub fn circle(f: &Frame, radius: u32) -> Frame {
    let r = radius.min(f.width / 2).min(f.height / 2).max(1);
    let side = (2 * r).min(f.width).min(f.height);
    let square = region(f, (f.width - side) / 2, (f.height - side) / 2, side, side);
    let rf = f64::from(side) / 2.0;
    mask(square, |x, y| {
        rf - ((x - rf).powi(2) + (y - rf).powi(2)).sqrt() + 0.5
    })
}

/// OSS rounded-corners: corners cut to quarter circles of radius `r`.
pub fn rounded_corners(f: &Frame, radius: u32) -> Frame {
    let r = f64::from(radius.min(f.width / 2).min(f.height / 2));
    let (w, h) = (f64::from(f.width), f64::from(f.height));
    mask(f.clone(), |x, y| {
        let cx = if x < r {
            r
        } else if x > w - r {
            w - r
        } else {
            return 1.0;
        };
        let cy = if y < r {
            r
        } else if y > h - r {
            h - r
        } else {
            return 1.0;
        };
        r - ((x - cx).powi(2) + (y - cy).powi(2)).sqrt() + 0.5
    })
}

/// The canvas size [`rotate`] produces, so it can be checked before allocating.
pub fn rotated_size(w: u32, h: u32, degrees: u16) -> (u32, u32) {
    let d = u32::from(degrees) % 360;
    if d % 180 == 0 {
        return (w, h);
    }
    if d % 90 == 0 {
        return (h, w);
    }
    let (sin, cos) = f64::from(d).to_radians().sin_cos();
    let (w, h) = (f64::from(w), f64::from(h));
    (
        (w * cos.abs() + h * sin.abs()).ceil().max(1.0) as u32,
        (w * sin.abs() + h * cos.abs()).ceil().max(1.0) as u32,
    )
}

/// Clockwise rotation by any angle; the canvas grows to hold the whole image and the new
/// corners are transparent (white once flattened for formats without alpha).
pub fn rotate(f: &Frame, degrees: u16) -> Frame {
    let d = u32::from(degrees) % 360;
    if d % 90 == 0 {
        return orient::rotate_right_angle(f, d);
    }
    let src = f.clone().to_rgba();
    let theta = f64::from(d).to_radians();
    let (sin, cos) = theta.sin_cos();
    let (w, h) = (f64::from(src.width), f64::from(src.height));
    let (onw, onh) = rotated_size(src.width, src.height, degrees);
    let (nw, nh) = (f64::from(onw), f64::from(onh));
    let (ncx, ncy, cx, cy) = (nw / 2.0, nh / 2.0, w / 2.0, h / 2.0);
    let mut data = vec![0u8; onw as usize * onh as usize * 4];
    for oy in 0..onh {
        for ox in 0..onw {
            // Inverse-map the output pixel centre into the source.
            let dx = f64::from(ox) + 0.5 - ncx;
            let dy = f64::from(oy) + 0.5 - ncy;
            let sx = dx * cos + dy * sin + cx - 0.5;
            let sy = -dx * sin + dy * cos + cy - 0.5;
            let px = bilinear(&src, sx, sy);
            let i = (oy as usize * onw as usize + ox as usize) * 4;
            data[i..i + 4].copy_from_slice(&px);
        }
    }
    Frame::new(onw, onh, Layout::Rgba8, data)
}

/// Bilinear sample of an RGBA frame in premultiplied space; outside is transparent.
fn bilinear(f: &Frame, x: f64, y: f64) -> [u8; 4] {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let mut acc = [0f64; 4];
    for (dx, dy, wgt) in [
        (0.0, 0.0, (1.0 - fx) * (1.0 - fy)),
        (1.0, 0.0, fx * (1.0 - fy)),
        (0.0, 1.0, (1.0 - fx) * fy),
        (1.0, 1.0, fx * fy),
    ] {
        let (sx, sy) = (x0 + dx, y0 + dy);
        if wgt == 0.0
            || sx < 0.0
            || sy < 0.0
            || sx >= f64::from(f.width)
            || sy >= f64::from(f.height)
        {
            continue;
        }
        let p = f.pixel(sx as u32, sy as u32);
        let a = f64::from(p[3]) / 255.0;
        acc[0] += f64::from(p[0]) * a * wgt;
        acc[1] += f64::from(p[1]) * a * wgt;
        acc[2] += f64::from(p[2]) * a * wgt;
        acc[3] += a * wgt;
    }
    if acc[3] <= 0.0 {
        return [0, 0, 0, 0];
    }
    [
        (acc[0] / acc[3]).round().clamp(0.0, 255.0) as u8,
        (acc[1] / acc[3]).round().clamp(0.0, 255.0) as u8,
        (acc[2] / acc[3]).round().clamp(0.0, 255.0) as u8,
        (acc[3] * 255.0).round().clamp(0.0, 255.0) as u8,
    ]
}

/// Centres `f` on a `w` x `h` canvas of `bg`.
pub fn pad(f: &Frame, w: u32, h: u32, bg: Rgb) -> Frame {
    let mut canvas = Frame::filled(w, h, f.layout, [bg.r, bg.g, bg.b, 255]);
    let c = f.layout.channels();
    let (ox, oy) = (
        (w.saturating_sub(f.width)) / 2,
        (h.saturating_sub(f.height)) / 2,
    );
    let cw = f.width.min(w) as usize;
    for y in 0..f.height.min(h) as usize {
        let src = y * f.width as usize * c;
        let dst = ((oy as usize + y) * w as usize + ox as usize) * c;
        canvas.data[dst..dst + cw * c].copy_from_slice(&f.data[src..src + cw * c]);
    }
    canvas
}

fn map_colour(mut f: Frame, lut: &[u8; 256]) -> Frame {
    let c = f.layout.channels();
    for p in f.data.chunks_exact_mut(c) {
        for v in &mut p[..3] {
            *v = lut[usize::from(*v)];
        }
    }
    f
}

/// OSS bright: -100..=100 shifts every colour channel by that share of full scale.
pub fn brightness(f: Frame, amount: i8) -> Frame {
    let shift = f64::from(amount) * 255.0 / 100.0;
    let lut: [u8; 256] =
        std::array::from_fn(|v| (v as f64 + shift).round().clamp(0.0, 255.0) as u8);
    map_colour(f, &lut)
}

/// OSS contrast: -100..=100 scales distances from mid-grey (−100 flattens to grey).
pub fn contrast(f: Frame, amount: i8) -> Frame {
    let k = 1.0 + f64::from(amount) / 100.0;
    let lut: [u8; 256] =
        std::array::from_fn(|v| ((v as f64 - 127.5) * k + 127.5).round().clamp(0.0, 255.0) as u8);
    map_colour(f, &lut)
}

/// The mean colour, as OSS's average-hue reports it.
pub fn average_colour(f: &Frame) -> [u8; 3] {
    let c = f.layout.channels();
    let mut sum = [0u64; 3];
    let n = (f.width as u64 * f.height as u64).max(1);
    for p in f.data.chunks_exact(c) {
        for i in 0..3 {
            sum[i] += u64::from(p[i]);
        }
    }
    [(sum[0] / n) as u8, (sum[1] / n) as u8, (sum[2] / n) as u8]
}
