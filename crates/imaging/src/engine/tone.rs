//! Steps the Cloudflare dialect brings: mirroring, tone and colour multipliers, edge
//! trimming and crops around a focal point. Each works on one frame.

use super::frame::{Frame, Layout};
use super::ops::region;
use crate::ir::{Adjust, Focus, Rgb, Trim};

pub fn flip(f: &Frame, horizontal: bool, vertical: bool) -> Frame {
    let c = f.layout.channels();
    let (w, h) = (f.width as usize, f.height as usize);
    let mut data = vec![0u8; f.data.len()];
    for y in 0..h {
        let sy = if vertical { h - 1 - y } else { y };
        for x in 0..w {
            let sx = if horizontal { w - 1 - x } else { x };
            let (d, s) = ((y * w + x) * c, (sy * w + sx) * c);
            data[d..d + c].copy_from_slice(&f.data[s..s + c]);
        }
    }
    Frame::new(f.width, f.height, f.layout, data)
}

/// Brightness, contrast and gamma act per channel through one lookup table; saturation
/// then moves each pixel away from (or towards) its luma.
pub fn adjust(mut f: Frame, a: &Adjust) -> Frame {
    let brightness = f64::from(a.brightness_milli) / 1000.0;
    let contrast = f64::from(a.contrast_milli) / 1000.0;
    let inverse_gamma = 1000.0 / f64::from(a.gamma_milli.max(1));
    let mut lut = [0u8; 256];
    for (i, out) in lut.iter_mut().enumerate() {
        let mut v = i as f64 / 255.0 * brightness;
        v = (v - 0.5) * contrast + 0.5;
        v = v.clamp(0.0, 1.0).powf(inverse_gamma);
        *out = (v * 255.0).round().clamp(0.0, 255.0) as u8;
    }
    let c = f.layout.channels();
    let saturation = f64::from(a.saturation_milli) / 1000.0;
    for px in f.data.chunks_exact_mut(c) {
        for ch in &mut px[..3] {
            *ch = lut[usize::from(*ch)];
        }
        if a.saturation_milli != 1000 {
            let luma =
                0.2126 * f64::from(px[0]) + 0.7152 * f64::from(px[1]) + 0.0722 * f64::from(px[2]);
            for ch in &mut px[..3] {
                let v = luma + (f64::from(*ch) - luma) * saturation;
                *ch = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    f
}

/// Lays the frame over `bg`: the result has no alpha.
pub fn flatten(f: &Frame, bg: Rgb) -> Frame {
    if !f.has_alpha() {
        return f.clone();
    }
    let mut data = Vec::with_capacity(f.width as usize * f.height as usize * 3);
    for px in f.data.chunks_exact(4) {
        let a = u32::from(px[3]);
        for (c, b) in px[..3].iter().zip([bg.r, bg.g, bg.b]) {
            data.push(((u32::from(*c) * a + u32::from(b) * (255 - a) + 127) / 255) as u8);
        }
    }
    Frame::new(f.width, f.height, Layout::Rgb8, data)
}

/// How far two pixels may differ, per channel, and still count as the border colour
/// (JPEG noise makes a flat border uneven).
const BORDER_TOLERANCE: i16 = 12;

pub fn trim(f: &Frame, t: &Trim) -> Frame {
    let (w, h) = (f.width, f.height);
    match *t {
        Trim::Edges {
            top,
            right,
            bottom,
            left,
        } => {
            // Never trim everything away: at least one pixel stays.
            let x = left.min(w - 1);
            let y = top.min(h - 1);
            let nw = w
                .saturating_sub(left.saturating_add(right))
                .max(1)
                .min(w - x);
            let nh = h
                .saturating_sub(top.saturating_add(bottom))
                .max(1)
                .min(h - y);
            region(f, x, y, nw, nh)
        }
        Trim::Border => {
            let border = f.pixel(0, 0);
            let differs = |x: u32, y: u32| {
                let p = f.pixel(x, y);
                (0..4).any(|i| (i16::from(p[i]) - i16::from(border[i])).abs() > BORDER_TOLERANCE)
            };
            let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
            for y in 0..h {
                for x in 0..w {
                    if differs(x, y) {
                        x0 = x0.min(x);
                        y0 = y0.min(y);
                        x1 = x1.max(x);
                        y1 = y1.max(y);
                    }
                }
            }
            if x0 > x1 || y0 > y1 {
                // One colour throughout: nothing to keep apart from the border.
                return f.clone();
            }
            region(f, x0, y0, x1 - x0 + 1, y1 - y0 + 1)
        }
    }
}

/// The `width` × `height` box (clipped to the frame) centred on `focus` as far as the
/// frame's edges allow.
pub fn focal_crop(f: &Frame, width: u32, height: u32, focus: Focus) -> Frame {
    let (w, h) = (f.width, f.height);
    let (bw, bh) = (width.clamp(1, w), height.clamp(1, h));
    let place = |len: u32, box_len: u32, milli: u16| -> u32 {
        let centre = u64::from(len) * u64::from(milli.min(1000)) / 1000;
        let start = centre.saturating_sub(u64::from(box_len) / 2);
        start.min(u64::from(len - box_len)) as u32
    };
    region(
        f,
        place(w, bw, focus.x_milli),
        place(h, bh, focus.y_milli),
        bw,
        bh,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> Frame {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&[(x * 40) as u8, (y * 40) as u8, 100]);
            }
        }
        Frame::new(w, h, Layout::Rgb8, data)
    }

    #[test]
    fn flips_move_corners() {
        let f = gradient(4, 3);
        let h = flip(&f, true, false);
        assert_eq!(h.pixel(0, 0), f.pixel(3, 0));
        let v = flip(&f, false, true);
        assert_eq!(v.pixel(0, 0), f.pixel(0, 2));
        let both = flip(&f, true, true);
        assert_eq!(both.pixel(0, 0), f.pixel(3, 2));
    }

    #[test]
    fn adjustments_move_tones_the_right_way() {
        let f = Frame::filled(2, 2, Layout::Rgb8, [100, 150, 200, 255]);
        let darker = adjust(
            f.clone(),
            &Adjust {
                brightness_milli: 500,
                ..Adjust::NONE
            },
        );
        assert_eq!(darker.pixel(0, 0)[0], 50);
        let lighter = adjust(
            f.clone(),
            &Adjust {
                gamma_milli: 2000,
                ..Adjust::NONE
            },
        );
        assert!(lighter.pixel(0, 0)[0] > 100);
        let grey = adjust(
            f.clone(),
            &Adjust {
                saturation_milli: 0,
                ..Adjust::NONE
            },
        );
        let p = grey.pixel(0, 0);
        assert!(p[0] == p[1] && p[1] == p[2], "{p:?}");
        let flat = adjust(
            f.clone(),
            &Adjust {
                contrast_milli: 0,
                ..Adjust::NONE
            },
        );
        assert_eq!(flat.pixel(0, 0)[0], 128);
        assert_eq!(adjust(f.clone(), &Adjust::NONE), f);
    }

    #[test]
    fn trims_cut_edges_and_borders() {
        let f = gradient(6, 5);
        let t = trim(
            &f,
            &Trim::Edges {
                top: 1,
                right: 2,
                bottom: 1,
                left: 1,
            },
        );
        assert_eq!((t.width, t.height), (3, 3));
        assert_eq!(t.pixel(0, 0), f.pixel(1, 1));
        let all = trim(
            &f,
            &Trim::Edges {
                top: 9,
                right: 9,
                bottom: 9,
                left: 9,
            },
        );
        assert_eq!((all.width, all.height), (1, 1));

        let mut framed = Frame::filled(10, 8, Layout::Rgb8, [255, 255, 255, 255]);
        for y in 2..5 {
            for x in 3..7 {
                let i = (y * 10 + x) * 3;
                framed.data[i..i + 3].copy_from_slice(&[0, 0, 0]);
            }
        }
        let inner = trim(&framed, &Trim::Border);
        assert_eq!((inner.width, inner.height), (4, 3));
        assert_eq!(inner.pixel(0, 0), [0, 0, 0, 255]);
    }

    #[test]
    fn focal_crops_follow_the_focus_within_the_frame() {
        let f = gradient(6, 4);
        let left = focal_crop(
            &f,
            2,
            4,
            Focus {
                x_milli: 0,
                y_milli: 500,
            },
        );
        assert_eq!(left.pixel(0, 0), f.pixel(0, 0));
        let right = focal_crop(
            &f,
            2,
            4,
            Focus {
                x_milli: 1000,
                y_milli: 500,
            },
        );
        assert_eq!(right.pixel(1, 0), f.pixel(5, 0));
        let centre = focal_crop(&f, 2, 2, Focus::CENTER);
        assert_eq!(centre.pixel(0, 0), f.pixel(2, 1));
        let clipped = focal_crop(&f, 50, 50, Focus::CENTER);
        assert_eq!((clipped.width, clipped.height), (6, 4));
    }
}
