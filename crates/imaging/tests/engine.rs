//! Golden tests of the engine on the shared corpus: sizes, formats, alpha, pixels at known
//! points, orientation, and refusals of broken input.

use imaging::engine::{EngineError, Limits, Rendered, render};
use imaging::oss;

fn corpus(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run(source: &[u8], ops: &str) -> Result<Rendered, EngineError> {
    let pipeline = match oss::parse_process(ops).expect("valid ops") {
        imaging::Process::Pipeline(p) => p,
        imaging::Process::Style(_) => panic!("styles need a server"),
    };
    render(source, &pipeline, None, &Limits::default())
}

/// Decodes an output (PNG or JPEG) back to RGBA for pixel checks.
fn pixels(r: &Rendered) -> (u32, u32, Vec<u8>) {
    let Rendered::Image { bytes, .. } = r else {
        panic!("not an image")
    };
    let again = run(bytes, "image/format,png").unwrap();
    let Rendered::Image { bytes, .. } = again else {
        unreachable!()
    };
    let mut d = png::Decoder::new(std::io::Cursor::new(bytes));
    d.set_transformations(png::Transformations::EXPAND);
    let mut reader = d.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let rgba = if info.color_type == png::ColorType::Rgb {
        buf.chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect()
    } else {
        buf
    };
    (info.width, info.height, rgba)
}

fn size(r: &Rendered) -> (u32, u32) {
    match r {
        Rendered::Image { width, height, .. } => (*width, *height),
        Rendered::Json(_) => panic!("json"),
    }
}

fn at(img: &(u32, u32, Vec<u8>), x: u32, y: u32) -> [u8; 4] {
    let i = ((y * img.0 + x) * 4) as usize;
    [img.2[i], img.2[i + 1], img.2[i + 2], img.2[i + 3]]
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (i32::from(*x) - i32::from(*y)).abs() as f64)
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn all_exif_orientations_come_out_upright_and_identical() {
    // The corpus files differ in their printed digit and in encoding details, so compare
    // small thumbnails: the picture's layout, not its pixels.
    let thumb = |name: &str, ops: &str| pixels(&run(&corpus(name), ops).unwrap());
    for kind in ["Landscape", "Portrait"] {
        let reference = thumb(&format!("orientation/{kind}_1.jpg"), "image/resize,w_24");
        let upside_down = thumb(
            &format!("orientation/{kind}_1.jpg"),
            "image/resize,w_24/rotate,180",
        );
        let mirrored_diff = mean_abs_diff(&upside_down.2, &reference.2);
        assert!(
            mirrored_diff > 20.0,
            "the comparison must see orientation ({mirrored_diff:.1})"
        );
        for n in 2..=8 {
            let out = thumb(&format!("orientation/{kind}_{n}.jpg"), "image/resize,w_24");
            assert_eq!(
                (out.0, out.1),
                (reference.0, reference.1),
                "{kind}_{n} size"
            );
            let diff = mean_abs_diff(&out.2, &reference.2);
            assert!(
                diff < 8.0,
                "{kind}_{n} differs from {kind}_1 by {diff:.1} on average"
            );
        }
    }
    // Without auto-orient the stored pixels come through as they are.
    let raw = thumb(
        "orientation/Landscape_6.jpg",
        "image/auto-orient,0/resize,w_24",
    );
    let upright = thumb("orientation/Landscape_1.jpg", "image/resize,w_24");
    assert_ne!((raw.0, raw.1), (upright.0, upright.1));
}

#[test]
fn resize_modes_give_oss_sizes_on_a_jpeg() {
    let src = corpus("2569067123_aca715a2ee_o.jpg"); // 2725x2225
    let cases = [
        ("image/resize,w_300", (300, 245)),
        ("image/resize,h_100", (122, 100)),
        ("image/resize,m_lfit,w_300,h_300", (300, 245)),
        ("image/resize,m_mfit,w_300,h_300", (367, 300)),
        ("image/resize,m_fill,w_300,h_300", (300, 300)),
        ("image/resize,m_pad,w_300,h_300,color_FF0000", (300, 300)),
        ("image/resize,m_fixed,w_300,h_100", (300, 100)),
        ("image/resize,l_300", (300, 245)),
        ("image/resize,p_10", (273, 223)),
        ("image/resize,w_5000", (2725, 2225)),
        ("image/resize,w_3000,limit_0", (3000, 2450)),
    ];
    for (ops, want) in cases {
        assert_eq!(size(&run(&src, ops).unwrap()), want, "{ops}");
    }
    // m_pad fills the bars with the colour asked for.
    let padded = pixels(&run(&src, "image/resize,m_pad,w_300,h_300,color_FF0000").unwrap());
    let bar = at(&padded, 150, 2);
    assert!(bar[0] > 240 && bar[1] < 20 && bar[2] < 20, "{bar:?}");
}

#[test]
fn crop_indexcrop_rotate_circle_and_corners() {
    let src = corpus("flowers.jpeg");
    let full = size(&run(&src, "image/format,png").unwrap());
    assert_eq!(
        size(&run(&src, "image/crop,w_100,h_50,x_10,y_10").unwrap()),
        (100, 50)
    );
    assert_eq!(
        size(&run(&src, "image/crop,w_100,h_50,g_se").unwrap()),
        (100, 50)
    );
    assert!(matches!(
        run(&src, &format!("image/crop,x_{},w_10", full.0 + 1)),
        Err(EngineError::Invalid(_))
    ));
    assert_eq!(
        size(&run(&src, "image/indexcrop,x_100,i_0").unwrap()),
        (100, full.1)
    );
    assert_eq!(
        size(&run(&src, "image/rotate,90").unwrap()),
        (full.1, full.0)
    );
    let tilted = run(&src, "image/rotate,45/format,png").unwrap();
    assert!(size(&tilted).0 > full.0 && size(&tilted).1 > full.1);
    assert_eq!(
        at(&pixels(&tilted), 0, 0)[3],
        0,
        "new corners are transparent"
    );

    let circle = pixels(&run(&src, "image/circle,r_50/format,png").unwrap());
    assert_eq!((circle.0, circle.1), (100, 100));
    assert_eq!(at(&circle, 0, 0)[3], 0);
    assert_eq!(at(&circle, 50, 50)[3], 255);
    let rounded = pixels(&run(&src, "image/rounded-corners,r_30/format,png").unwrap());
    assert_eq!(at(&rounded, 0, 0)[3], 0);
    assert_eq!(at(&rounded, rounded.0 / 2, rounded.1 / 2)[3], 255);
}

#[test]
fn filters_change_pixels_in_the_expected_direction() {
    let src = corpus("low-contrast.jpg");
    let base = pixels(&run(&src, "image/format,png").unwrap());
    let mean = |img: &(u32, u32, Vec<u8>)| {
        img.2.iter().map(|&v| f64::from(v)).sum::<f64>() / img.2.len() as f64
    };
    let brighter = pixels(&run(&src, "image/bright,50/format,png").unwrap());
    let darker = pixels(&run(&src, "image/bright,-50/format,png").unwrap());
    assert!(mean(&brighter) > mean(&base) + 10.0 && mean(&darker) < mean(&base) - 10.0);
    let spread = |img: &(u32, u32, Vec<u8>)| {
        let m = mean(img);
        img.2
            .chunks(4)
            .map(|p| (f64::from(p[0]) - m).abs())
            .sum::<f64>()
    };
    let contrasty = pixels(&run(&src, "image/contrast,80/format,png").unwrap());
    assert!(spread(&contrasty) > spread(&base));
    let blurred = pixels(&run(&src, "image/blur,r_5,s_3/format,png").unwrap());
    let sharpened = pixels(&run(&src, "image/sharpen,200/format,png").unwrap());
    assert!(mean_abs_diff(&blurred.2, &base.2) > 0.3);
    assert!(mean_abs_diff(&sharpened.2, &base.2) > 0.3);
}

#[test]
fn output_formats_quality_and_interlace() {
    let src = corpus("flowers.jpeg");
    let Rendered::Image { bytes, .. } = run(&src, "image/format,webp").unwrap() else {
        panic!()
    };
    assert!(bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP");
    let Rendered::Image { bytes: prog, .. } = run(&src, "image/interlace,1/format,jpg").unwrap()
    else {
        panic!()
    };
    assert!(
        prog.windows(2).any(|w| w == [0xFF, 0xC2]),
        "progressive JPEGs carry SOF2"
    );
    let Rendered::Image { bytes: base, .. } = run(&src, "image/format,jpg").unwrap() else {
        panic!()
    };
    assert!(!base.windows(2).any(|w| w == [0xFF, 0xC2]));
    let Rendered::Image { bytes: low, .. } = run(&src, "image/quality,Q_20").unwrap() else {
        panic!()
    };
    let Rendered::Image { bytes: high, .. } = run(&src, "image/quality,Q_95").unwrap() else {
        panic!()
    };
    assert!(low.len() < high.len());
    assert!(matches!(
        run(&src, "image/format,heic"),
        Err(EngineError::Unsupported(_))
    ));
}

#[test]
fn alpha_and_high_bit_depth_pngs() {
    let alpha = pixels(&run(&corpus("with-alpha.png"), "image/format,png").unwrap());
    assert!(alpha.2.chunks(4).any(|p| p[3] < 255), "alpha survives");
    for name in [
        "16-bit-grey-alpha.png",
        "Flag_of_the_Netherlands-16bit.png",
        "grey-8bit-alpha.png",
    ] {
        let out = run(&corpus(name), "image/resize,w_50/format,png").unwrap();
        assert_eq!(size(&out).0, 50, "{name}");
    }
    // The Dutch flag: red over white over blue.
    let flag = pixels(
        &run(
            &corpus("Flag_of_the_Netherlands-16bit.png"),
            "image/format,png",
        )
        .unwrap(),
    );
    let (w, h) = (flag.0, flag.1);
    let top = at(&flag, w / 2, h / 6);
    let mid = at(&flag, w / 2, h / 2);
    let bottom = at(&flag, w / 2, h * 5 / 6);
    assert!(top[0] > 150 && top[2] < 100, "top {top:?}");
    assert!(mid.iter().take(3).all(|&c| c > 230), "middle {mid:?}");
    assert!(bottom[2] > 100 && bottom[0] < 80, "bottom {bottom:?}");
}

#[test]
fn cmyk_jpeg_colours_are_converted() {
    let out = pixels(
        &run(
            &corpus("Channel_digital_image_CMYK_color.jpg"),
            "image/resize,w_300/format,png",
        )
        .unwrap(),
    );
    // The image is a colourful photo: a CMYK file read as RGB without conversion comes
    // out nearly black or colour-inverted; check it is neither.
    let mean: f64 = out
        .2
        .chunks(4)
        .map(|p| f64::from(p[0]) + f64::from(p[1]) + f64::from(p[2]))
        .sum::<f64>()
        / (out.2.len() / 4) as f64
        / 3.0;
    assert!(mean > 60.0 && mean < 200.0, "mean {mean}");
}

#[test]
fn info_and_average_hue_are_json() {
    let Rendered::Json(info) = run(&corpus("nikon_gps_photo.jpg"), "image/info").unwrap() else {
        panic!()
    };
    let v: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(v["Format"]["value"], "jpg");
    assert!(
        v["ImageWidth"]["value"]
            .as_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
            > 0
    );
    assert!(v["FileSize"]["value"].is_string());
    assert!(v.get("Make").is_some(), "EXIF fields are reported: {info}");
    let Rendered::Json(hue) = run(&corpus("flowers.jpeg"), "image/average-hue").unwrap() else {
        panic!()
    };
    let v: serde_json::Value = serde_json::from_str(&hue).unwrap();
    let rgb = v["RGB"].as_str().unwrap();
    assert!(rgb.starts_with("0x") && rgb.len() == 8, "{rgb}");
}

#[test]
fn broken_and_hostile_inputs_are_refused_cleanly() {
    for name in ["truncated.jpg", "corrupt-header.jpg"] {
        match run(&corpus(name), "image/resize,w_100") {
            Err(EngineError::Decode(_)) | Err(EngineError::Unsupported(_)) => {}
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(matches!(
        run(b"not an image at all", "image/resize,w_10"),
        Err(EngineError::Unsupported(_))
    ));
    // A JPEG header claiming 30000x30000 is refused before any pixel buffer exists.
    let mut bomb = corpus("flowers.jpeg");
    let sof = bomb
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("baseline SOF0");
    bomb[sof + 5..sof + 9].copy_from_slice(&[0x75, 0x30, 0x75, 0x30]);
    assert!(matches!(
        run(&bomb, "image/resize,w_100"),
        Err(EngineError::TooLarge(_))
    ));
    // Intermediates past the pixel limit are refused before they are allocated.
    assert!(matches!(
        run(
            &corpus("flowers.jpeg"),
            "image/resize,w_16384,h_16384,m_fixed,limit_0"
        ),
        Err(EngineError::TooLarge(_))
    ));
    assert!(matches!(
        run(
            &corpus("flowers.jpeg"),
            "image/resize,w_8000,h_6000,m_fixed,limit_0/rotate,45"
        ),
        Err(EngineError::TooLarge(_))
    ));
}

/// PSNR in dB of two RGBA buffers' colour channels.
fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut se = 0f64;
    let mut n = 0f64;
    for (pa, pb) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        for c in 0..3 {
            let d = f64::from(pa[c]) - f64::from(pb[c]);
            se += d * d;
            n += 1.0;
        }
    }
    10.0 * (255.0f64.powi(2) / (se / n)).log10()
}

/// A lone JPEG-to-JPEG resize runs on YCbCr planes; the same geometry after a no-op
/// first step (`rotate,0`) takes the RGB path. Against a lossless resize of the same
/// geometry, the planar result must be as close as the RGB one: a misplaced chroma plane
/// or crop would cost several dB.
#[test]
fn planar_jpeg_resizes_match_the_rgb_path() {
    let cases = [
        // 4:2:0, fill with a centred crop (the benchmark task).
        ("2569067123_aca715a2ee_o.jpg", "resize,m_fill,w_720,h_588"),
        // 4:2:0, fit within.
        ("flowers.jpeg", "resize,w_640"),
        // 4:2:2 and 4:4:4 sources.
        ("nikon_gps_photo.jpg", "resize,w_320"),
        ("orientation/Landscape_1.jpg", "resize,m_fill,w_200,h_200"),
        ("gamma_dalai_lama_gray.jpg", "resize,w_128"),
        // Progressive.
        ("photo4000_prog.jpg", "resize,m_fixed,w_1000,h_600"),
    ];
    for (file, resize) in cases {
        let source = corpus(file);
        let planar = run(&source, &format!("image/{resize}/quality,Q_90")).unwrap();
        let rgb = run(&source, &format!("image/rotate,0/{resize}/quality,Q_90")).unwrap();
        assert_eq!(size(&planar), size(&rgb), "{file}");
        let Rendered::Image { format, .. } = &planar else {
            panic!("json")
        };
        assert_eq!(*format, imaging::Format::Jpeg);
        let (a, b) = (pixels(&planar), pixels(&rgb));
        // Each path against a lossless resize decoded at the same scale: the planar one
        // shrinks on load like the general path's own `resize/format,png` does.
        let reference =
            pixels(&run(&source, &format!("image/rotate,0/{resize}/format,png")).unwrap());
        let same_scale = pixels(&run(&source, &format!("image/{resize}/format,png")).unwrap());
        let (ours, theirs) = (psnr(&a.2, &same_scale.2), psnr(&b.2, &reference.2));
        assert!(
            ours >= theirs - 0.5,
            "{file} {resize}: planar {ours:.2} dB, rgb {theirs:.2} dB against the lossless resize"
        );
        let between = psnr(&a.2, &b.2);
        assert!(between > 36.0, "{file} {resize}: {between:.2} dB apart");
    }
    // Shapes this path leaves to the RGB one still come out right: an odd output size,
    // padding, an ICC profile, EXIF rotation, and a truncated file (refused).
    let odd = run(&corpus("flowers.jpeg"), "image/resize,w_333").unwrap();
    assert_eq!(size(&odd), (333, 187));
    let pad = run(&corpus("flowers.jpeg"), "image/resize,m_pad,w_300,h_300").unwrap();
    assert_eq!(size(&pad), (300, 300));
    let icc = run(&corpus("low-contrast.jpg"), "image/resize,w_150").unwrap();
    assert_eq!(size(&icc).0, 150);
    let rotated = run(&corpus("orientation/Landscape_6.jpg"), "image/resize,w_100").unwrap();
    assert_eq!(size(&rotated).0, 100);
    assert!(run(&corpus("truncated.jpg"), "image/resize,w_720").is_err());
}
