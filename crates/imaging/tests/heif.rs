//! HEIC/HEIF input, grid AVIF and HEIC, and 10/12-bit and HDR (PQ, HLG) sources, each
//! compared with the same picture as JPEG (or PNG) by PSNR. The fixtures are made by
//! `tests/fixtures/make.py` (which prints libheif's own PSNR for each) from a 320x240
//! downscale of the corpus's nikon_gps_photo.jpg, saved as `photo.jpg`.

use imaging::engine::decode::{check_probe, decode_any};
use imaging::engine::frame::{Frame, Layout};
use imaging::engine::heif_meta;
use imaging::engine::sniff::{self, SourceFormat};
use imaging::engine::{EngineError, Limits, Rendered, cost, render};
use imaging::{Format, oss};
use std::time::Duration;

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn pipeline(ops: &str) -> imaging::Pipeline {
    match oss::parse_process(ops).expect("valid ops") {
        imaging::Process::Pipeline(p) => p,
        imaging::Process::Style(_) => panic!("styles need a server"),
    }
}

fn run(source: &[u8], ops: &str) -> Result<Rendered, EngineError> {
    render(source, &pipeline(ops), None, &Limits::default())
}

/// The engine's rendering of `name` (orientation applied) as lossless PNG, decoded.
fn shown(name: &str) -> Frame {
    match run(&fixture(name), "image/format,png").unwrap_or_else(|e| panic!("{name}: {e}")) {
        Rendered::Image { bytes, .. } => {
            decode_any(&bytes, &Limits::default()).unwrap().into_first()
        }
        Rendered::Json(j) => panic!("{name}: {j}"),
    }
}

fn reference() -> Frame {
    decode_any(&fixture("photo.jpg"), &Limits::default())
        .unwrap()
        .into_first()
}

fn psnr(a: &Frame, b: &Frame) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height), "sizes differ");
    assert_eq!(a.layout, b.layout, "layouts differ");
    let se: f64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let mse = se / a.data.len() as f64;
    if mse == 0.0 {
        99.0
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

/// Asserts `name` shows the reference photo at `min_db` or better; returns the PSNR.
fn matches_photo(name: &str, min_db: f64) -> f64 {
    let got = shown(name);
    let db = psnr(&got, &reference());
    println!(
        "{name}: {}x{} PSNR {db:.1} dB against photo.jpg",
        got.width, got.height
    );
    assert!(db >= min_db, "{name}: {db:.1} dB, wanted {min_db}");
    db
}

#[test]
fn a_plain_heic_decodes_to_the_same_picture_as_the_jpeg() {
    let probe = sniff::probe(&fixture("photo.heic")).unwrap();
    assert_eq!(probe.format, SourceFormat::Heic);
    assert_eq!(
        (probe.width, probe.height, probe.orientation, probe.bits),
        (320, 240, 1, 8)
    );
    // Measured 40.2 dB (libheif's own rendering: 40.4).
    matches_photo("photo.heic", 36.0);
}

#[test]
fn exif_orientation_6_without_irot_turns_the_picture_upright() {
    // As heif-enc 1.15 writes a JPEG carrying orientation 6: stored sideways, no irot.
    let probe = sniff::probe(&fixture("exif6.heic")).unwrap();
    assert_eq!(
        (probe.width, probe.height, probe.orientation),
        (240, 320, 6)
    );
    matches_photo("exif6.heic", 33.0);
    // auto-orient,0 keeps the stored raster, so the sides stay swapped.
    let Rendered::Image { width, height, .. } =
        run(&fixture("exif6.heic"), "image/auto-orient,0/format,png").unwrap()
    else {
        panic!()
    };
    assert_eq!((width, height), (240, 320));
}

#[test]
fn an_iphone_like_heic_with_irot_and_exif_6_turns_exactly_once() {
    let probe = sniff::probe(&fixture("iphone.heic")).unwrap();
    assert_eq!(
        (probe.width, probe.height, probe.orientation),
        (240, 320, 6)
    );
    // Turned twice it would be upside down, at the right size: only pixels tell.
    let db = matches_photo("iphone.heic", 33.0);
    let mut upside_down = reference();
    upside_down = imaging::engine::orient::apply_orientation(upside_down, 3);
    assert!(psnr(&shown("iphone.heic"), &upside_down) < db - 15.0);
}

#[test]
fn clean_aperture_rotation_and_mirror_apply_in_order() {
    // Stored 256x336 with padding; clap, irot 90° anticlockwise, imir top-bottom.
    let probe = sniff::probe(&fixture("transforms.heic")).unwrap();
    assert_eq!(
        (probe.width, probe.height, probe.orientation),
        (240, 320, 5)
    );
    assert_eq!(probe.decoded_pixels, 256 * 336);
    matches_photo("transforms.heic", 33.0);
}

#[test]
fn an_icc_profile_is_converted_to_srgb() {
    // The pixels are Display P3 values; read as sRGB they score 32.2 dB (make.py).
    let db = matches_photo("p3.heic", 35.0);
    assert!(db > 32.2 + 2.0);
}

#[test]
fn alpha_survives_and_matches_the_png() {
    let heic = decode_any(&fixture("alpha.heic"), &Limits::default())
        .unwrap()
        .into_first();
    let png = decode_any(&fixture("alpha.png"), &Limits::default())
        .unwrap()
        .into_first();
    assert_eq!(heic.layout, Layout::Rgba8);
    assert!(heic.uses_alpha());
    let db = psnr(&heic, &png);
    println!("alpha.heic: PSNR {db:.1} dB against alpha.png (RGBA)");
    assert!(db >= 40.0, "{db:.1}");
    let alpha = |f: &Frame| {
        f.data
            .iter()
            .skip(3)
            .step_by(4)
            .copied()
            .collect::<Vec<u8>>()
    };
    let (a, b) = (alpha(&heic), alpha(&png));
    let worst = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
    assert!(worst <= 2, "alpha differs by up to {worst}");
}

#[test]
fn grids_decode_to_the_whole_picture() {
    for (name, format, min_db) in [
        ("grid.heic", SourceFormat::Heic, 36.0),
        ("grid.avif", SourceFormat::Avif, 34.0),
    ] {
        let probe = sniff::probe(&fixture(name)).unwrap();
        assert_eq!(probe.format, format);
        // The tiles cover 320x256; the grid's output size is what counts.
        assert_eq!((probe.width, probe.height), (320, 240), "{name}");
        matches_photo(name, min_db);
    }
}

#[test]
fn ten_bit_sdr_avif_rounds_to_the_8_bit_picture() {
    let probe = sniff::probe(&fixture("sdr10.avif")).unwrap();
    assert_eq!(probe.bits, 10);
    matches_photo("sdr10.avif", 35.0);
}

#[test]
fn pq_and_hlg_tone_map_back_to_the_sdr_photo() {
    // The SDR photo re-encoded as HDR with its white at 203 nits: the knee above 0.8
    // (linear) alone costs 41.9 dB; with the codecs, measured pq.avif 30.5, hlg.avif
    // 33.9, pq.heic 34.1 dB (libheif and the dav1d path agree on pq.avif to 55 dB).
    for name in ["pq.avif", "hlg.avif", "pq.heic"] {
        let probe = sniff::probe(&fixture(name)).unwrap();
        assert_eq!(probe.bits, 10, "{name}");
        matches_photo(name, 28.0);
    }
}

#[test]
fn highlights_above_sdr_white_are_compressed_not_clipped() {
    // A lossless 12-bit grey ramp from black to 4000 nits, evenly spaced in PQ signal.
    let ramp = decode_any(&fixture("pq-ramp.avif"), &Limits::default())
        .unwrap()
        .into_first();
    assert_eq!((ramp.width, ramp.height), (256, 4));
    let row: Vec<u8> = (0..256).map(|x| ramp.pixel(x, 0)[0]).collect();
    assert!(
        row.windows(2).all(|w| w[0] <= w[1]),
        "not monotonic: {row:?}"
    );
    // Where the ramp passes 203 nits (PQ signal 0.5807 of 0.9026 at 4000 nits).
    let white = (0.5807 / 0.9026 * 255.0) as usize;
    let above = &row[white + 1..];
    let mut levels = above.to_vec();
    levels.dedup();
    println!(
        "ramp: white at x={white} -> {}, top -> {}, {} levels above white",
        row[white],
        row[255],
        levels.len()
    );
    assert!(
        (240..=250).contains(&row[white]),
        "white maps to {}",
        row[white]
    );
    // 203 to 4000 nits still spread over a dozen levels, and halfway up (about 900
    // nits) is not yet white: compressed, not clipped.
    assert!(levels.len() >= 10, "highlights collapse to {levels:?}");
    assert!(above[above.len() / 2] < 255, "{above:?}");
    assert!(row[10] < row[100] && row[100] < row[white]);
}

#[test]
fn broken_files_are_decode_errors_not_panics() {
    assert!(matches!(
        run(&fixture("truncated.heic"), "image/format,png"),
        Err(EngineError::Decode(_))
    ));
    // Overwritten coded data may decode to garbage or fail; it must not panic.
    match run(&fixture("corrupt.heic"), "image/resize,w_64/format,jpg") {
        Ok(_) | Err(EngineError::Decode(_)) => {}
        Err(e) => panic!("corrupt.heic: {e:?}"),
    }
    let heic = fixture("photo.heic");
    for cut in [16, 40, 100, 400, 1000, heic.len() / 2, heic.len() - 1] {
        match run(&heic[..cut], "image/format,png") {
            Err(EngineError::Decode(_)) | Err(EngineError::Unsupported(_)) => {}
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    // An ftyp that says HEIC with nothing after it.
    let mut empty = vec![0, 0, 0, 24];
    empty.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    empty.extend_from_slice(&[0; 64]);
    assert!(matches!(
        run(&empty, "image/resize,w_10"),
        Err(EngineError::Decode(_))
    ));
}

#[test]
fn a_header_that_declares_a_huge_image_is_refused_before_decoding() {
    // The real SPS is read: x265 codes the 320x240 photo as 320x240.
    let photo = fixture("photo.heic");
    assert_eq!(heif_meta::read(&photo).unwrap().coded_pixels, 320 * 240);
    // ispe 100000x100000; a grid claiming 30000x30000; an SPS claiming 20000x20000.
    for name in ["huge.heic", "huge-grid.heic", "huge-sps.heic"] {
        let probe = sniff::probe(&fixture(name)).unwrap();
        assert!(
            matches!(
                check_probe(&probe, &Limits::default()),
                Err(EngineError::TooLarge(_))
            ),
            "{name}"
        );
        assert!(
            matches!(
                run(&fixture(name), "image/resize,w_10"),
                Err(EngineError::TooLarge(_))
            ),
            "{name}"
        );
    }
}

#[test]
fn heic_sources_render_to_every_output_but_heic() {
    let src = fixture("photo.heic");
    let Rendered::Image {
        bytes,
        format,
        width,
        height,
    } = run(&src, "image/resize,w_200/format,jpg").unwrap()
    else {
        panic!()
    };
    assert_eq!((format, width, height), (Format::Jpeg, 200, 150));
    assert_eq!(sniff::probe(&bytes).unwrap().format, SourceFormat::Jpeg);
    assert!(matches!(
        run(&src, "image/format,heic"),
        Err(EngineError::Unsupported(m)) if m.contains("heic is not supported")
    ));
}

#[test]
fn an_exhausted_time_budget_stops_a_heic_decode() {
    let limits = Limits {
        time_budget: Some(Duration::from_nanos(1)),
        ..Limits::default()
    };
    let r = render(
        &fixture("grid.heic"),
        &pipeline("image/format,png"),
        None,
        &limits,
    );
    assert!(matches!(r, Err(EngineError::OverBudget)), "{r:?}");
}

#[test]
fn deep_sources_are_budgeted_at_16_bits() {
    let p = pipeline("image/format,png");
    let cost = |name: &str| {
        let src = fixture(name);
        cost::peak_bytes(src.len(), &sniff::probe(&src).unwrap(), &p)
    };
    // Same size, same pipeline: the 10-bit decode holds twice the sample bytes and a
    // 16-bit copy.
    let (sdr, hdr) = (cost("photo.heic"), cost("pq.heic"));
    assert!(hdr > sdr + 320 * 240 * 8, "{sdr} vs {hdr}");
}
