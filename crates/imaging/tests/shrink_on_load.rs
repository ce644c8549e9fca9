//! JPEG shrink-on-load is chosen by measured quality (ARCHITECTURE.md, "Shrink-on-load"):
//! on content built to alias, the path the engine picks must stay within 0.5 dB of a
//! full-resolution decode followed by the same Lanczos3 resize, both measured against a
//! Lanczos3 resize of the pixels before they were ever JPEG-encoded.

use imaging::engine::decode::decode_any;
use imaging::engine::frame::{Frame, Layout};
use imaging::engine::{Limits, Rendered, jpeg, render, resize};
use imaging::oss;

/// A circular zone plate: the local frequency rises with the radius and reaches
/// Nyquist at the corners, so every frequency a downscale can alias is present.
fn zone_plate(w: u32, h: u32) -> Frame {
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    let reach = (cx * cx + cy * cy).sqrt();
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (f64::from(x) - cx, f64::from(y) - cy);
            let phase = std::f64::consts::PI * (dx * dx + dy * dy) / (2.0 * reach);
            let v = (127.5 + 127.0 * phase.cos()).round() as u8;
            // Colour too, so the chroma planes alias if they can.
            data.extend_from_slice(&[v, 255 - v, v / 2 + 64]);
        }
    }
    Frame::new(w, h, Layout::Rgb8, data)
}

/// A checkerboard of 2-pixel squares beside one of 1-pixel squares (at Nyquist).
fn checkerboard(w: u32, h: u32) -> Frame {
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let on = if x < w / 2 {
                (x / 2 + y / 2) % 2 == 0
            } else {
                (x + y) % 2 == 0
            };
            let v = if on { 235 } else { 20 };
            data.extend_from_slice(&[v, v, v]);
        }
    }
    Frame::new(w, h, Layout::Rgb8, data)
}

fn psnr(a: &Frame, b: &Frame) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let se: f64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum();
    let mse = se / a.data.len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-12)).log10()
}

fn rendered_frame(source: &[u8], ops: &str) -> Frame {
    let pipeline = match oss::parse_process(ops).expect("valid ops") {
        imaging::Process::Pipeline(p) => p,
        imaging::Process::Style(_) => unreachable!(),
    };
    let Rendered::Image { bytes, .. } =
        render(source, &pipeline, None, &Limits::default()).expect("render")
    else {
        panic!("not an image")
    };
    decode_any(&bytes, &Limits::default())
        .expect("decode output")
        .into_first()
}

/// For each shrink factor: (chosen path's PSNR, full decode's PSNR).
fn measure(original: &Frame, widths: &[u32]) -> Vec<(u32, usize, f64, f64)> {
    let source = jpeg::encode(original, 95, false).expect("encode");
    let markers = jpeg::markers(&source);
    let full = jpeg::decode(&source, 1, &markers).expect("full decode");
    widths
        .iter()
        .map(|&w| {
            // PNG output: the general path, no second JPEG loss in the measurement.
            let chosen = rendered_frame(&source, &format!("image/resize,w_{w}/format,png"));
            let h = chosen.height;
            let reference = resize::resize(original, w, h, None).expect("reference");
            let from_full = resize::resize(&full, w, h, None).expect("full path");
            let shrink = f64::from(original.width) / f64::from(w);
            (
                w,
                jpeg::shrink_on_load(shrink),
                psnr(&chosen, &reference),
                psnr(&from_full, &reference),
            )
        })
        .collect()
}

fn assert_within_half_a_db(name: &str, rows: &[(u32, usize, f64, f64)]) {
    for &(w, denom, chosen, full) in rows {
        eprintln!("{name} w={w}: 1/{denom} decode {chosen:.2} dB, full decode {full:.2} dB");
    }
    for &(w, denom, chosen, full) in rows {
        assert!(
            chosen >= full - 0.5,
            "{name} at w={w}: the 1/{denom} decode gives {chosen:.2} dB, full decode {full:.2} dB"
        );
    }
}

#[test]
fn shrink_on_load_does_not_alias_a_zone_plate() {
    let plate = zone_plate(1600, 1200);
    // Shrink factors 1.5x to 40x, across every boundary where the scale changes.
    let widths = [
        1066, 800, 640, 533, 500, 423, 400, 320, 260, 200, 160, 120, 100, 80, 40, 30, 20, 16,
    ];
    let rows = measure(&plate, &widths);
    assert!(
        rows.iter().any(|r| r.1 > 1),
        "some ratio must shrink on load, or this test measures nothing"
    );
    assert_within_half_a_db("zone plate", &rows);
}

/// At Nyquist itself a full decode followed by Lanczos3 is exact (grey), so a difference
/// in dB says nothing there; what matters is that no pattern survives: above 45 dB the
/// residue is invisible.
#[test]
fn shrink_on_load_leaves_no_pattern_of_a_fine_checkerboard() {
    let board = checkerboard(1600, 1200);
    let rows = measure(&board, &[800, 533, 423, 320, 200, 100, 40, 20]);
    for &(w, denom, chosen, full) in &rows {
        eprintln!("checkerboard w={w}: 1/{denom} decode {chosen:.2} dB, full decode {full:.2} dB");
        assert!(
            chosen >= 45.0,
            "checkerboard at w={w}: 1/{denom} decode {chosen:.2} dB"
        );
    }
}

#[test]
fn shrink_factors_keep_a_measured_margin_for_lanczos3() {
    for (shrink, want) in [
        (1.0, 1),
        (2.9, 1),
        (3.0, 2),
        (3.78, 2),
        (8.0, 2),
        (39.0, 2),
        (40.0, 4),
        (79.0, 4),
        (80.0, 8),
    ] {
        assert_eq!(jpeg::shrink_on_load(shrink), want, "{shrink}x");
    }
}

/// The survey the margins were chosen from: for each DCT scale and margin left to
/// Lanczos3, the zone plate's PSNR loss against a full decode. Run with
/// `cargo test --release -p imaging --test shrink_on_load -- --ignored --nocapture`.
#[test]
#[ignore]
fn survey_margins_per_scale() {
    let plate = zone_plate(1600, 1200);
    let source = jpeg::encode(&plate, 95, false).expect("encode");
    let markers = jpeg::markers(&source);
    let full = jpeg::decode(&source, 1, &markers).expect("full decode");
    for denom in [2usize, 4, 8] {
        let scaled = jpeg::decode(&source, denom, &markers).expect("scaled decode");
        for margin in [1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0] {
            let w = (1600.0 / (denom as f64 * margin)).round() as u32;
            let h = (1200.0 / (denom as f64 * margin)).round() as u32;
            let reference = resize::resize(&plate, w, h, None).expect("reference");
            let a = psnr(
                &resize::resize(&full, w, h, None).expect("full"),
                &reference,
            );
            let b = psnr(
                &resize::resize(&scaled, w, h, None).expect("scaled"),
                &reference,
            );
            eprintln!(
                "1/{denom} margin {margin}: {w}x{h} loss {:.2} dB ({b:.2} vs {a:.2})",
                a - b
            );
        }
    }
}
