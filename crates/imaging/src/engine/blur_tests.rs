use super::*;
use crate::engine::EngineError;

fn no_deadline() -> EngineResult<()> {
    Ok(())
}

/// A deterministic picture with edges, gradients and noise.
fn picture(w: u32, h: u32, layout: Layout) -> Frame {
    let c = layout.channels();
    let mut data = Vec::with_capacity((w * h) as usize * c);
    let mut seed = 0x2545_f491_u32;
    for y in 0..h {
        for x in 0..w {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let noise = (seed % 40) as u8;
            let edge = if (x / 9 + y / 7) % 2 == 0 { 200 } else { 30 };
            data.push(edge);
            data.push(((x * 255) / w) as u8);
            data.push(noise.wrapping_add(((y * 200) / h) as u8));
            if c == 4 {
                data.push(if x < w / 3 { 0 } else { ((y * 255) / h) as u8 });
            }
        }
    }
    Frame::new(w, h, layout, data)
}

/// The textbook separable Gaussian in f64, edges repeated (premultiplied alpha): what
/// the fast paths must match.
fn reference(f: &Frame, radius: u32, sigma: f64) -> Vec<f64> {
    let k = gaussian(radius, sigma);
    let c = f.layout.channels();
    let (w, h) = (f.width as i64, f.height as i64);
    let mut plane: Vec<f64> = f.data.iter().map(|&v| f64::from(v)).collect();
    if c == 4 {
        for p in plane.chunks_exact_mut(4) {
            let a = p[3] / 255.0;
            for v in &mut p[..3] {
                *v *= a;
            }
        }
    }
    let r = i64::from(radius);
    let pass = |src: &[f64], horizontal: bool| -> Vec<f64> {
        let mut out = vec![0f64; src.len()];
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    let mut acc = 0.0;
                    for (i, kv) in k.iter().enumerate() {
                        let d = i as i64 - r;
                        let (sx, sy) = if horizontal {
                            ((x + d).clamp(0, w - 1), y)
                        } else {
                            (x, (y + d).clamp(0, h - 1))
                        };
                        acc += src[((sy * w + sx) as usize) * c + ch] * kv;
                    }
                    out[((y * w + x) as usize) * c + ch] = acc;
                }
            }
        }
        out
    };
    let mut out = pass(&pass(&plane, true), false);
    if c == 4 {
        for p in out.chunks_exact_mut(4) {
            let a = p[3] / 255.0;
            if a > 0.0 {
                for v in &mut p[..3] {
                    *v /= a;
                }
            }
        }
    }
    out
}

/// PSNR of `got` against `want`, over opaque-enough samples (colour under alpha 0 is
/// undefined).
fn psnr(got: &Frame, want: &[f64]) -> f64 {
    let c = got.layout.channels();
    let (mut se, mut n) = (0.0, 0.0);
    for (p, q) in got.data.chunks_exact(c).zip(want.chunks_exact(c)) {
        if c == 4 && q[3] < 8.0 {
            continue;
        }
        for (a, b) in p.iter().zip(q) {
            se += (f64::from(*a) - b).powi(2);
            n += 1.0;
        }
    }
    10.0 * (255.0f64.powi(2) / (se / n).max(1e-12)).log10()
}

#[test]
fn small_kernels_match_the_direct_gaussian_to_a_level() {
    for layout in [Layout::Rgb8, Layout::Rgba8] {
        let f = picture(61, 47, layout);
        for (r, s) in [(1, 1.0), (2, 1.0), (3, 2.0), (6, 2.0), (50, 1.5)] {
            let want = reference(&f, r, s);
            let got = blur(f.clone(), r, s, &no_deadline).expect("blur");
            let c = layout.channels();
            let worst = got
                .data
                .chunks_exact(c)
                .zip(want.chunks_exact(c))
                .filter(|(_, q)| c == 3 || q[3] >= 8.0)
                .flat_map(|(p, q)| p.iter().zip(q).map(|(a, b)| (f64::from(*a) - b).abs()))
                .fold(0.0, f64::max);
            assert!(worst <= 1.5, "{layout:?} r={r} s={s}: off by {worst}");
        }
    }
}

#[test]
fn wide_kernels_approximate_the_gaussian_closely() {
    for layout in [Layout::Rgb8, Layout::Rgba8] {
        let f = picture(160, 120, layout);
        for (r, s) in [(10, 10.0), (20, 5.0), (50, 50.0), (30, 8.0)] {
            let want = reference(&f, r, s);
            let got = blur(f.clone(), r, s, &no_deadline).expect("blur");
            let db = psnr(&got, &want);
            assert!(db >= 38.0, "{layout:?} r={r} s={s}: {db:.1} dB");
        }
    }
}

#[test]
fn flat_pictures_stay_exactly_flat() {
    for (layout, px) in [
        (Layout::Rgb8, [17, 128, 250, 255]),
        (Layout::Rgba8, [200, 10, 99, 77]),
    ] {
        let f = Frame::filled(37, 23, layout, px);
        for (r, s) in [(2, 1.0), (40, 20.0)] {
            assert_eq!(blur(f.clone(), r, s, &no_deadline).expect("blur"), f);
        }
        assert_eq!(sharpen(f.clone(), 399, &no_deadline).expect("sharpen"), f);
    }
}

#[test]
fn transparent_pixels_lend_no_colour() {
    // Left half fully transparent red, right half opaque blue: the blurred seam is
    // blue, fading out, never purple.
    let (w, h) = (40u32, 8u32);
    let mut data = Vec::new();
    for _ in 0..h {
        for x in 0..w {
            data.extend_from_slice(if x < w / 2 {
                &[255, 0, 0, 0]
            } else {
                &[0, 0, 255, 255]
            });
        }
    }
    let f = Frame::new(w, h, Layout::Rgba8, data);
    let out = blur(f, 20, 8.0, &no_deadline).expect("blur");
    for p in out.data.chunks_exact(4).filter(|p| p[3] > 0) {
        assert!(p[0] <= 1 && p[2] >= 254, "{p:?}");
    }
}

#[test]
fn extreme_radii_and_tiny_frames_do_not_overflow() {
    let f = picture(3, 2, Layout::Rgba8);
    for (r, s) in [(250, 125.0), (1000, 500.0), (7, 1000.0)] {
        let out = blur(f.clone(), r, s, &no_deadline).expect("blur");
        assert_eq!((out.width, out.height), (3, 2));
    }
    let one = Frame::filled(1, 1, Layout::Rgb8, [9, 8, 7, 255]);
    assert_eq!(
        blur(one.clone(), 50, 50.0, &no_deadline).expect("blur"),
        one
    );
}

#[test]
fn the_deadline_stops_a_blur_part_way() {
    let f = picture(300, 1000, Layout::Rgb8);
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let expire_on_third = || {
        if calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 >= 3 {
            Err(EngineError::OverBudget)
        } else {
            Ok(())
        }
    };
    let result = blur(f, 40, 20.0, &expire_on_third);
    assert!(matches!(result, Err(EngineError::OverBudget)));
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::Relaxed),
        3,
        "checked during the horizontal passes"
    );
}

#[test]
fn sharpen_steepens_an_edge_and_keeps_alpha() {
    let (w, h) = (20u32, 4u32);
    let mut data = Vec::new();
    for _ in 0..h {
        for x in 0..w {
            let v = if x < w / 2 { 60 } else { 180 };
            data.extend_from_slice(&[v, v, v, 200]);
        }
    }
    let f = Frame::new(w, h, Layout::Rgba8, data);
    let out = sharpen(f.clone(), 200, &no_deadline).expect("sharpen");
    let at = |fr: &Frame, x: u32| fr.pixel(x, 1);
    assert!(at(&out, w / 2 - 1)[0] < 60, "dark side undershoots");
    assert!(at(&out, w / 2)[0] > 180, "bright side overshoots");
    assert_eq!(at(&out, 2), at(&f, 2), "far from the edge nothing moves");
    assert!(out.data.chunks_exact(4).all(|p| p[3] == 200));
}

#[test]
fn box_radii_reach_the_requested_variance() {
    for sigma in [2.5f64, 5.0, 10.0, 33.0, 125.0] {
        let radii = box_radii(sigma * sigma);
        let variance: f64 = radii
            .iter()
            .map(|&r| (((2 * r + 1) as f64).powi(2) - 1.0) / 12.0)
            .sum();
        let got = variance.sqrt();
        assert!(
            (got - sigma).abs() / sigma < 0.08,
            "σ {sigma}: {radii:?} gives {got}"
        );
    }
}

/// One box pass down one lane, the textbook way: what the vectorised pass must match.
fn box_reference(src: &[u16], lanes: usize, lane: usize, radius: usize) -> Vec<u16> {
    let h = src.len() / lanes;
    let at = |y: i64| f64::from(src[(y.clamp(0, h as i64 - 1) as usize) * lanes + lane]);
    let r = radius as i64;
    (0..h as i64)
        .map(|y| {
            let sum: f64 = (y - r..=y + r).map(at).sum();
            (sum / (2 * r + 1) as f64).round() as u16
        })
        .collect()
}

#[test]
fn column_box_pass_equals_the_textbook_box() {
    // A deterministic pseudo-random column per height, up to the full 16-bit range.
    let mut state = 0x2545_f491_u32;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state & 0xffff) as u16
    };
    for lanes in [1usize, 3, 48, 64] {
        for h in [1usize, 2, 5, 17, 301] {
            let src: Vec<u16> = (0..h * lanes).map(|_| next()).collect();
            for radius in [0usize, 1, 2, 7, 40, 400] {
                let mut got = vec![0u16; h * lanes];
                column_box(&src, lanes, &mut got, lanes, radius);
                for lane in 0..lanes {
                    let want = box_reference(&src, lanes, lane, radius);
                    let column = got.iter().skip(lane).step_by(lanes);
                    // The float multiply may round a tie the other way: one 16-bit
                    // level, 1/257 of an 8-bit one.
                    for (y, (&g, &w)) in column.zip(&want).enumerate() {
                        assert!(
                            g.abs_diff(w) <= 1,
                            "lanes {lanes} h {h} radius {radius} lane {lane} y {y}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_band_transposes_and_back_unchanged() {
    for (c, alpha) in [(3usize, false), (4, false)] {
        let (w, rows) = (37usize, 5usize);
        let src: Vec<u8> = (0..w * rows * c).map(|i| (i * 7 % 251) as u8).collect();
        let mut band = vec![0u16; w * rows * c];
        gather_band(&src, &mut band, w * c, c, alpha);
        let mut back = vec![0u16; w * rows * c];
        scatter_band(&band, &mut back, w * c, c);
        let want: Vec<u16> = src.iter().map(|&v| u16::from(v) * 257).collect();
        assert_eq!(back, want, "c {c}");
    }
}

#[test]
fn sharing_a_blur_over_workers_changes_no_sample() {
    // Odd sizes, so the last band and the last worker's columns are partial.
    for layout in [Layout::Rgb8, Layout::Rgba8] {
        let f = picture(203, 77, layout);
        for (radius, sigma) in [(3, 1.5), (30, 10.0)] {
            let kernel = Kernel::new(radius, sigma).expect("a kernel");
            let alone = filter(f.clone(), &kernel, &no_deadline, 1).expect("blur");
            for workers in [2, 3, 5] {
                let shared = filter(f.clone(), &kernel, &no_deadline, workers).expect("blur");
                assert_eq!(shared, alone, "{layout:?} r {radius} workers {workers}");
            }
        }
    }
}
