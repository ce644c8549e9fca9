//! Every decoder and encoder on the shared corpus: sizes, alpha and pixels at known points,
//! animation (frames, delays, loop count) through resize and re-encode, every output
//! format read back, the frame and pixel limits, and broken input refused cleanly.

use imaging::engine::decode::decode_any;
use imaging::engine::frame::{Frame, Image};
use imaging::engine::sniff::{self, SourceFormat};
use imaging::engine::{EngineError, Limits, Rendered, render};
use imaging::{Format, oss};
use std::time::Duration;

fn corpus(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn pipeline(ops: &str) -> imaging::Pipeline {
    match oss::parse_process(ops).expect("valid ops") {
        imaging::Process::Pipeline(p) => p,
        imaging::Process::Style(_) => panic!("styles need a server"),
    }
}

fn run_with(
    source: &[u8],
    ops: &str,
    accept: Option<&str>,
    limits: &Limits,
) -> Result<Rendered, EngineError> {
    render(source, &pipeline(ops), accept, limits)
}

fn run(source: &[u8], ops: &str) -> Result<Rendered, EngineError> {
    run_with(source, ops, None, &Limits::default())
}

/// The encoded bytes and format of an image result.
fn output(r: Rendered) -> (Vec<u8>, Format) {
    match r {
        Rendered::Image { bytes, format, .. } => (bytes, format),
        Rendered::Json(j) => panic!("expected an image, got {j}"),
    }
}

/// Decodes any bytes with the engine's own decoders.
fn decoded(bytes: &[u8]) -> Image {
    decode_any(bytes, &Limits::default()).expect("decodes")
}

/// animated-loop-3's frames show 3 s each, the last 15 s.
fn loop3_delays() -> Vec<u32> {
    let mut d = vec![3000; 9];
    d.push(15000);
    d
}

/// The frame an animation shows `t` ms after it starts (the last one past its end).
fn shown_at(img: &Image, t: u32) -> &Frame {
    let mut end = 0;
    for (f, d) in img.frames.iter().zip(&img.delays_ms) {
        end += d;
        if t < end {
            return f;
        }
    }
    img.frames.last().unwrap()
}

/// Mean difference per channel, colours weighted by alpha (what a transparent pixel's
/// colour is does not matter).
fn mean_diff(a: &Frame, b: &Frame) -> f64 {
    let (a, b) = (a.clone().to_rgba(), b.clone().to_rgba());
    assert_eq!((a.width, a.height), (b.width, b.height));
    let premul = |p: &[u8]| {
        let alpha = f64::from(p[3]) / 255.0;
        [
            f64::from(p[0]) * alpha,
            f64::from(p[1]) * alpha,
            f64::from(p[2]) * alpha,
            f64::from(p[3]),
        ]
    };
    a.data
        .chunks_exact(4)
        .zip(b.data.chunks_exact(4))
        .map(|(x, y)| {
            let (x, y) = (premul(x), premul(y));
            (0..4).map(|i| (x[i] - y[i]).abs()).sum::<f64>()
        })
        .sum::<f64>()
        / a.data.len() as f64
}

/// Whether two animations play the same: equal total time and, at the start of every
/// source frame, pictures within `tolerance` of each other.
fn assert_plays_like(out: &Image, src: &Image, tolerance: f64, what: &str) {
    let total = |i: &Image| i.delays_ms.iter().sum::<u32>();
    assert_eq!(total(out), total(src), "{what}: total duration");
    assert_eq!(out.loop_count, src.loop_count, "{what}: loop count");
    let mut t = 0;
    for (i, d) in src.delays_ms.iter().enumerate() {
        let diff = mean_diff(shown_at(out, t), &src.frames[i]);
        assert!(diff < tolerance, "{what}: frame {i} differs by {diff:.1}");
        t += d;
    }
}

fn close(got: [u8; 4], want: [u8; 4], tolerance: u8) -> bool {
    got.iter()
        .zip(want)
        .all(|(g, w)| g.abs_diff(w) <= tolerance)
}

fn assert_close(f: &Frame, x: u32, y: u32, want: [u8; 4], tolerance: u8, what: &str) {
    let got = f.pixel(x, y);
    assert!(
        close(got, want, tolerance),
        "{what} at ({x},{y}): {got:?}, want {want:?}"
    );
}

#[test]
fn corpus_stills_decode_with_known_sizes_and_colours() {
    let webp = decoded(&corpus("4.webp"));
    let f = webp.first();
    assert_eq!((f.width, f.height, webp.frames.len()), (1024, 772, 1));
    assert!(!webp.uses_alpha());
    assert_close(f, 0, 0, [27, 125, 192, 255], 6, "4.webp sky");

    let webp_a = decoded(&corpus("5_webp_a.webp"));
    let f = webp_a.first();
    assert_eq!((f.width, f.height), (300, 300));
    assert!(f.has_alpha());
    assert_eq!(
        f.pixel(0, 0)[3],
        0,
        "the corner outside the dial is transparent"
    );
    // The whole dial is translucent: about 2/3 opaque at the rim, less at the hub.
    let rim = f.pixel(150, 2)[3];
    assert!((150..=190).contains(&rim), "rim alpha {rim}");
    let hub = f.pixel(150, 150)[3];
    assert!(hub > 0 && hub < 100, "hub alpha {hub}");

    let avif = decoded(&corpus("sdr_cosmos12920_cicp1-13-6_yuv444_full_qp10.avif"));
    let f = avif.first();
    assert_eq!((f.width, f.height), (2048, 858));
    assert!(!f.has_alpha());
    assert_close(f, 0, 0, [255, 1, 83, 255], 8, "avif red foliage");
    assert_close(f, 1024, 429, [11, 44, 159, 255], 8, "avif blue face");

    // CCITT Group 3 fax, bit order reversed, WhiteIsZero: a white page with black print.
    let fax = decoded(&corpus("G31D.TIF"));
    let f = fax.first();
    assert_eq!((f.width, f.height), (2464, 3248));
    assert_eq!(f.pixel(0, 0), [255, 255, 255, 255]);
    let black = f.data.chunks_exact(3).filter(|p| p[0] == 0).count() as f64;
    let share = black / f64::from(f.width * f.height);
    assert!(share > 0.02 && share < 0.3, "black share {share}");
    // The thick vertical rule right of centre.
    assert_eq!(f.pixel(1623, 1500), [0, 0, 0, 255]);

    let check = decoded(&corpus("check.svg"));
    let f = check.first();
    assert_eq!((f.width, f.height), (100, 100), "the viewBox size");
    assert_eq!(f.pixel(0, 0)[3], 0);
    assert_eq!(f.pixel(50, 50), [0, 128, 0, 255], "green tick");

    let circle = decoded(&corpus("circle.svg"));
    let f = circle.first();
    assert_eq!((f.width, f.height), (8, 8));
    assert_eq!(f.pixel(0, 0)[3], 0);
    assert_eq!(f.pixel(4, 4), [255, 20, 147, 255], "deeppink");
}

#[test]
fn corpus_animations_decode_with_frames_delays_and_loops() {
    for (name, size, delays, loops, distinct) in [
        ("animated-loop-3.gif", (370, 285), loop3_delays(), 3, 9),
        ("animated-loop-3.webp", (370, 285), loop3_delays(), 3, 9),
        // The squares hold still for a few frames between turns.
        ("rotating-squares.gif", (80, 80), vec![30; 30], 0, 8),
    ] {
        let image = decoded(&corpus(name));
        let frames = delays.len();
        assert_eq!(image.frames.len(), frames, "{name} frames");
        assert_eq!(image.delays_ms, delays, "{name} delays");
        assert_eq!(image.loop_count, loops, "{name} loops");
        for f in &image.frames {
            assert_eq!(
                (f.width, f.height),
                size,
                "{name}: every frame is the canvas"
            );
        }
        let changes = image.frames.windows(2).filter(|w| w[0] != w[1]).count();
        assert_eq!(
            changes, distinct,
            "{name}: frames that differ from the one before"
        );
        let probe = sniff::probe(&corpus(name)).unwrap();
        assert_eq!(probe.frames as usize, frames, "{name}: probed frame count");
    }
    // The squares rotate on a transparent canvas: disposal must clear what the frame
    // before drew, so the corners stay transparent in every frame.
    let squares = decoded(&corpus("rotating-squares.gif"));
    for (i, f) in squares.frames.iter().enumerate() {
        assert_eq!(f.pixel(0, 0)[3], 0, "frame {i} corner");
    }
    assert!(squares.frames.iter().all(|f| f.uses_alpha()));
    // GIF and WebP versions of the same animation agree.
    let gif = decoded(&corpus("animated-loop-3.gif"));
    let webp = decoded(&corpus("animated-loop-3.webp"));
    for (i, (g, w)) in gif.frames.iter().zip(&webp.frames).enumerate() {
        let (g, w) = (g.clone().to_rgba(), w.clone().to_rgba());
        let diff = g
            .data
            .iter()
            .zip(&w.data)
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / g.data.len() as f64;
        assert!(diff < 6.0, "frame {i} differs by {diff:.1} on average");
    }
}

#[test]
fn svg_is_drawn_sharp_at_the_size_the_first_resize_asks_for() {
    // circle.svg is 8x8; a vector source is enlarged even under OSS's default limit_1.
    let out = output(run(&corpus("circle.svg"), "image/resize,w_200/format,png").unwrap());
    let img = decoded(&out.0);
    let f = img.first();
    assert_eq!((f.width, f.height), (200, 200));
    assert_eq!(f.pixel(100, 100), [255, 20, 147, 255]);
    // 6 px inside the edge of a 93.75 px radius: fully opaque when drawn at 200 px,
    // soft if an 8 px raster had been scaled up 25 times.
    assert_eq!(f.pixel(100, 12)[3], 255);
    assert_eq!(f.pixel(100, 1)[3], 0);
    // Without a resize the intrinsic size; other steps then work on that raster.
    let plain = output(run(&corpus("check.svg"), "image/rotate,90").unwrap());
    assert_eq!(plain.1, Format::Png, "SVG sources default to PNG");
    let f = decoded(&plain.0);
    assert_eq!((f.first().width, f.first().height), (100, 100));
    // m_fill on an SVG: drawn at the scaled size, then cropped.
    let filled = output(run(&corpus("check.svg"), "image/resize,m_fill,w_300,h_150").unwrap());
    let f = decoded(&filled.0);
    assert_eq!((f.first().width, f.first().height), (300, 150));
}

#[test]
fn animated_gif_resized_stays_an_animated_gif() {
    let (bytes, format) =
        output(run(&corpus("animated-loop-3.gif"), "image/resize,w_100").unwrap());
    assert_eq!(format, Format::Gif);
    assert!(bytes.starts_with(b"GIF89a"));
    let img = decoded(&bytes);
    assert_eq!(img.frames.len(), 10);
    assert_eq!(img.delays_ms, loop3_delays());
    assert_eq!(img.loop_count, 3);
    assert_eq!((img.first().width, img.first().height), (100, 77));
    assert_eq!(img.frames.windows(2).filter(|w| w[0] != w[1]).count(), 9);

    // Transparency survives quantisation, frame by frame.
    let (bytes, _) =
        output(run(&corpus("rotating-squares.gif"), "image/resize,w_40,limit_0").unwrap());
    let img = decoded(&bytes);
    assert_eq!(img.frames.len(), 30);
    assert_eq!(img.delays_ms, vec![30; 30]);
    assert_eq!(img.loop_count, 0, "loops forever");
    for f in &img.frames {
        assert_eq!(f.pixel(0, 0)[3], 0);
        let opaque = f.data.chunks_exact(4).filter(|p| p[3] == 255).count();
        assert!(
            opaque > 100,
            "the squares are drawn ({opaque} opaque pixels)"
        );
    }
}

#[test]
fn animated_webp_resized_stays_an_animated_webp() {
    let (bytes, format) =
        output(run(&corpus("animated-loop-3.webp"), "image/resize,w_100").unwrap());
    assert_eq!(format, Format::Webp);
    assert!(bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP");
    let img = decoded(&bytes);
    assert_eq!(img.frames.len(), 10);
    assert_eq!(img.delays_ms, loop3_delays());
    assert_eq!(img.loop_count, 3);
    assert_eq!((img.first().width, img.first().height), (100, 77));
    // Resized the same way, GIF and WebP outputs show the same pictures.
    let (gif, _) = output(run(&corpus("animated-loop-3.gif"), "image/resize,w_100").unwrap());
    assert_plays_like(&img, &decoded(&gif), 8.0, "webp vs gif");
}

#[test]
fn animations_cross_between_gif_and_webp_and_flatten_for_still_formats() {
    // libwebp folds a frame identical to the one before into that frame's duration, so
    // the squares' 30 frames (8 changes) become fewer, longer ones that play the same.
    let squares = decoded(&corpus("rotating-squares.gif"));
    let (webp, _) = output(run(&corpus("rotating-squares.gif"), "image/format,webp").unwrap());
    let img = decoded(&webp);
    assert!(
        img.frames.len() >= 9 && img.frames.len() <= 30,
        "{}",
        img.frames.len()
    );
    assert!(
        img.frames.iter().all(|f| f.pixel(0, 0)[3] == 0),
        "alpha kept"
    );
    assert_plays_like(&img, &squares, 6.0, "squares as webp");

    let loop3 = decoded(&corpus("animated-loop-3.webp"));
    let (gif, _) = output(run(&corpus("animated-loop-3.webp"), "image/format,gif").unwrap());
    let img = decoded(&gif);
    assert_eq!(img.frames.len(), 10);
    assert_eq!(img.delays_ms, loop3_delays());
    assert_plays_like(&img, &loop3, 6.0, "webp as gif");

    // Still formats take the first frame.
    let first = decoded(&corpus("animated-loop-3.gif")).frames[0].clone();
    for ops in ["image/format,png", "image/format,jpg", "image/format,avif"] {
        let (bytes, _) = output(run(&corpus("animated-loop-3.gif"), ops).unwrap());
        let img = decoded(&bytes);
        assert_eq!(img.frames.len(), 1, "{ops}");
        if ops.ends_with("png") {
            assert_eq!(img.frames[0].clone().to_rgba(), first.clone().to_rgba());
        }
    }
    // Steps apply to every frame.
    let (bytes, _) = output(
        run(
            &corpus("animated-loop-3.gif"),
            "image/crop,w_100,h_50,g_center/rotate,90",
        )
        .unwrap(),
    );
    let img = decoded(&bytes);
    assert_eq!(img.frames.len(), 10);
    assert!(img.frames.iter().all(|f| (f.width, f.height) == (50, 100)));
}

#[test]
fn every_output_format_reads_back() {
    let formats = [
        ("jpg", Format::Jpeg, SourceFormat::Jpeg),
        ("png", Format::Png, SourceFormat::Png),
        ("webp", Format::Webp, SourceFormat::Webp),
        ("avif", Format::Avif, SourceFormat::Avif),
        ("gif", Format::Gif, SourceFormat::Gif),
        ("bmp", Format::Bmp, SourceFormat::Bmp),
        ("tiff", Format::Tiff, SourceFormat::Tiff),
    ];
    for (source, want_alpha) in [("flowers.jpeg", false), ("with-alpha.png", true)] {
        let src = corpus(source);
        let reference = decoded(&output(run(&src, "image/resize,w_120/format,png").unwrap()).0);
        for (name, format, sniffed) in formats {
            let ops = format!("image/resize,w_120/format,{name}");
            let r = run(&src, &ops).unwrap_or_else(|e| panic!("{source} {ops}: {e}"));
            let (bytes, got) = output(r);
            assert_eq!(got, format, "{ops}");
            assert_eq!(sniff::sniff(&bytes), Some(sniffed), "{source} {ops}");
            let img = decoded(&bytes);
            assert_eq!(img.frames.len(), 1);
            assert_eq!(img.first().width, 120, "{source} {ops}");
            // The same picture, within what each lossy encoder gives away.
            if !want_alpha {
                let diff = mean_diff(img.first(), reference.first());
                assert!(diff < 6.0, "{source} {ops}: differs by {diff:.1}");
            }
            // with-alpha.png is uniformly about 2/3 opaque: JPEG has no alpha, and GIF's
            // 1-bit transparency makes it opaque.
            if want_alpha && !matches!(format, Format::Jpeg | Format::Gif) {
                assert!(img.uses_alpha(), "{source} {ops} keeps alpha");
            }
        }
        assert!(matches!(
            run(&src, "image/format,heic"),
            Err(EngineError::Unsupported(m)) if m.contains("heic is not supported")
        ));
    }
}

#[test]
fn bmp_and_tiff_round_trip_losslessly() {
    for source in ["flowers.jpeg", "with-alpha.png"] {
        let (png, _) = output(run(&corpus(source), "image/resize,w_64/format,png").unwrap());
        let reference = decoded(&png).into_first();
        for name in ["bmp", "tiff"] {
            let (bytes, _) = output(run(&png, &format!("image/format,{name}")).unwrap());
            let back = decoded(&bytes).into_first();
            assert_eq!(back, reference, "{source} through {name}");
            // And back out again as PNG, the same pixels.
            let (again, _) = output(run(&bytes, "image/format,png").unwrap());
            assert_eq!(decoded(&again).into_first(), reference);
        }
    }
}

#[test]
fn default_output_keeps_the_source_format_where_it_can() {
    let bmp = output(run(&corpus("flowers.jpeg"), "image/resize,w_50/format,bmp").unwrap()).0;
    let tiff = output(run(&corpus("flowers.jpeg"), "image/resize,w_50/format,tiff").unwrap()).0;
    let cases: [(Vec<u8>, Format); 7] = [
        (corpus("flowers.jpeg"), Format::Jpeg),
        (corpus("animated-loop-3.gif"), Format::Gif),
        (corpus("4.webp"), Format::Webp),
        (
            corpus("sdr_cosmos12920_cicp1-13-6_yuv444_full_qp10.avif"),
            Format::Avif,
        ),
        (bmp, Format::Bmp),
        (tiff, Format::Png),
        (corpus("circle.svg"), Format::Png),
    ];
    for (src, want) in cases {
        let (_, got) = output(run(&src, "image/resize,w_40").unwrap());
        assert_eq!(got, want);
    }
}

#[test]
fn format_auto_follows_accept() {
    let photo = corpus("flowers.jpeg");
    let alpha = corpus("with-alpha.png");
    let animated = corpus("animated-loop-3.gif");
    let limits = Limits::default();
    let auto = |src: &[u8], accept: Option<&str>| {
        output(run_with(src, "image/resize,w_60/format,auto", accept, &limits).unwrap())
    };
    let browser = Some("image/avif,image/webp,image/apng,image/*,*/*;q=0.8");
    assert_eq!(auto(&photo, browser).1, Format::Avif);
    assert_eq!(auto(&photo, Some("image/webp,*/*")).1, Format::Webp);
    assert_eq!(
        auto(&photo, Some("image/avif;q=0, image/webp;q=0.9")).1,
        Format::Webp
    );
    assert_eq!(auto(&photo, Some("*/*")).1, Format::Jpeg);
    assert_eq!(auto(&photo, None).1, Format::Jpeg);
    assert_eq!(auto(&alpha, None).1, Format::Png);
    assert_eq!(auto(&alpha, browser).1, Format::Avif);
    // An animation stays animated: WebP when accepted, else GIF.
    let (bytes, format) = auto(&animated, browser);
    assert_eq!(format, Format::Webp);
    assert_eq!(decoded(&bytes).frames.len(), 10);
    assert_eq!(auto(&animated, None).1, Format::Gif);
}

#[test]
fn info_reports_every_format() {
    for (name, format, w, h) in [
        ("4.webp", "webp", 1024, 772),
        ("animated-loop-3.gif", "gif", 370, 285),
        ("G31D.TIF", "tiff", 2464, 3248),
        ("check.svg", "svg", 100, 100),
        (
            "sdr_cosmos12920_cicp1-13-6_yuv444_full_qp10.avif",
            "avif",
            2048,
            858,
        ),
    ] {
        let Rendered::Json(info) = run(&corpus(name), "image/info").unwrap() else {
            panic!("{name}: not json")
        };
        let v: serde_json::Value = serde_json::from_str(&info).unwrap();
        assert_eq!(v["Format"]["value"], format, "{name}");
        assert_eq!(v["ImageWidth"]["value"], w.to_string(), "{name}");
        assert_eq!(v["ImageHeight"]["value"], h.to_string(), "{name}");
    }
}

#[test]
fn animations_over_the_frame_limit_are_refused() {
    let limits = Limits {
        max_frames: 5,
        ..Limits::default()
    };
    for name in [
        "animated-loop-3.gif",
        "animated-loop-3.webp",
        "rotating-squares.gif",
    ] {
        match run_with(&corpus(name), "image/resize,w_50", None, &limits) {
            Err(EngineError::TooLarge(m)) => assert!(m.contains("frames"), "{name}: {m}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    // At the limit is fine.
    let limits = Limits {
        max_frames: 10,
        ..Limits::default()
    };
    assert!(
        run_with(
            &corpus("animated-loop-3.gif"),
            "image/resize,w_50",
            None,
            &limits
        )
        .is_ok()
    );
    // Total animation pixels are bounded too.
    let limits = Limits {
        max_animation_pixels: 370 * 285 * 9,
        ..Limits::default()
    };
    assert!(matches!(
        run_with(
            &corpus("animated-loop-3.webp"),
            "image/resize,w_50",
            None,
            &limits
        ),
        Err(EngineError::TooLarge(_))
    ));
}

#[test]
fn sources_over_the_pixel_limit_are_refused_before_decoding() {
    let tiny = Limits {
        max_source_pixels: 1000,
        ..Limits::default()
    };
    for name in [
        "4.webp",
        "5_webp_a.webp",
        "animated-loop-3.gif",
        "animated-loop-3.webp",
        "rotating-squares.gif",
        "sdr_cosmos12920_cicp1-13-6_yuv444_full_qp10.avif",
        "G31D.TIF",
        "check.svg",
    ] {
        assert!(
            matches!(
                run_with(&corpus(name), "image/resize,w_10", None, &tiny),
                Err(EngineError::TooLarge(_))
            ),
            "{name}"
        );
    }
    // Headers that claim huge sizes over almost no data: refused as too large (from the
    // header), not as a decode failure of the missing pixels.
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00]);
    gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x80]);
    gif.extend_from_slice(&[0; 6]);
    gif.extend_from_slice(&[0x02, 0x02, 0x44, 0x01, 0x00, 0x3B]);
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="90000" height="90000"/>"#;
    let mut bmp = output(run(&corpus("flowers.jpeg"), "image/resize,w_8/format,bmp").unwrap()).0;
    bmp[18..22].copy_from_slice(&40000i32.to_le_bytes());
    bmp[22..26].copy_from_slice(&40000i32.to_le_bytes());
    for (name, bytes) in [("gif", gif), ("svg", svg.to_vec()), ("bmp", bmp)] {
        let started = std::time::Instant::now();
        let r = run(&bytes, "image/resize,w_10");
        assert!(matches!(r, Err(EngineError::TooLarge(_))), "{name}: {r:?}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{name} was quick"
        );
    }
}

#[test]
fn truncated_and_corrupt_inputs_are_errors_not_panics() {
    let mut sources: Vec<(String, Vec<u8>)> = [
        "4.webp",
        "5_webp_a.webp",
        "animated-loop-3.gif",
        "animated-loop-3.webp",
        "rotating-squares.gif",
        "sdr_cosmos12920_cicp1-13-6_yuv444_full_qp10.avif",
        "G31D.TIF",
        "check.svg",
        "with-alpha.png",
        "flowers.jpeg",
    ]
    .iter()
    .map(|n| (n.to_string(), corpus(n)))
    .collect();
    for fmt in ["bmp", "tiff", "avif", "gif", "webp"] {
        let bytes = output(
            run(
                &corpus("with-alpha.png"),
                &format!("image/resize,w_64/format,{fmt}"),
            )
            .unwrap(),
        )
        .0;
        sources.push((format!("encoded {fmt}"), bytes));
    }
    for (name, data) in &sources {
        for keep in [data.len() / 2, data.len() / 5, 40, 12] {
            let cut = &data[..keep.min(data.len() - 1)];
            match run(cut, "image/resize,w_32") {
                Err(EngineError::Internal(m)) => panic!("{name} cut to {keep}: a panic: {m}"),
                Err(_) => {}
                Ok(_) => panic!("{name} cut to {keep} bytes decoded"),
            }
        }
        // Flipped bytes in the middle: any outcome but a panic.
        let mut flipped = data.clone();
        let mid = flipped.len() / 2;
        for b in &mut flipped[mid..(mid + 64).min(data.len())] {
            *b ^= 0x5A;
        }
        if let Err(EngineError::Internal(m)) = run(&flipped, "image/resize,w_32") {
            panic!("{name} corrupted: a panic: {m}");
        }
    }
}

/// A frame placed wholly right of (or below) the canvas draws nothing; found by the
/// `decode_with_limits` fuzz target, where it indexed the canvas out of bounds.
#[test]
fn gif_frames_outside_the_canvas_draw_nothing() {
    let mut gif = b"GIF89a".to_vec();
    // 2x2 screen, global colour table of two entries: black, white.
    gif.extend_from_slice(&[2, 0, 2, 0, 0x80, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF]);
    // (disposal, left, top, LZW data of one pixel): white at (0, 0); black at (16, 0),
    // disposed to the background; black at (0, 16).
    for (disposal, left, top, pixel) in [
        (1u8, 0u8, 0u8, [0x4C, 0x01]),
        (2, 16, 0, [0x44, 0x01]),
        (1, 0, 16, [0x44, 0x01]),
    ] {
        gif.extend_from_slice(&[0x21, 0xF9, 4, disposal << 2, 10, 0, 0, 0]);
        gif.extend_from_slice(&[0x2C, left, 0, top, 0, 1, 0, 1, 0, 0]);
        gif.extend_from_slice(&[2, 2, pixel[0], pixel[1], 0]);
    }
    gif.push(0x3B);

    let img = decoded(&gif);
    assert_eq!(img.frames.len(), 3);
    for (i, f) in img.frames.iter().enumerate() {
        assert_eq!((f.width, f.height), (2, 2), "frame {i}");
        assert_eq!(f.pixel(0, 0), [255, 255, 255, 255], "frame {i}");
        assert_eq!(f.pixel(1, 1)[3], 0, "frame {i}");
    }
    for ops in ["image/resize,w_1", "image/format,png"] {
        match run(&gif, ops) {
            Ok(_) => {}
            Err(e) => panic!("{ops}: {e}"),
        }
    }
}

/// A box inside `meta` that claims more bytes than its parent holds is refused before
/// avif-parse reserves its declared size; found by the `decode_with_limits` fuzz target
/// as a 3 GB allocation for a 472-byte file.
#[test]
fn avif_boxes_overrunning_their_parent_are_refused_before_parsing() {
    let avif = output(run(&corpus("with-alpha.png"), "image/resize,w_16/format,avif").unwrap()).0;
    assert!(run(&avif, "image/info").is_ok());
    let iloc = avif
        .windows(4)
        .position(|w| w == b"iloc")
        .expect("an iloc box");
    for size in [0xB800_002C_u32, u32::MAX, 0x0001_0000] {
        let mut bad = avif.clone();
        bad[iloc - 4..iloc].copy_from_slice(&size.to_be_bytes());
        for ops in ["image/info", "image/resize,w_8"] {
            match run(&bad, ops) {
                Err(EngineError::Decode(m)) if m.contains("overrun") => {}
                other => panic!("iloc of {size} bytes, {ops}: {other:?}"),
            }
        }
    }
}

#[test]
fn a_heic_with_no_image_in_it_is_a_decode_error() {
    // HEIC input is decoded (tests/heif.rs); this one is only an ftyp.
    let mut heic = vec![0, 0, 0, 24];
    heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    heic.extend_from_slice(&[0; 64]);
    assert!(matches!(
        run(&heic, "image/resize,w_10"),
        Err(EngineError::Decode(m)) if m.contains("heif")
    ));
}

#[test]
fn an_exhausted_time_budget_stops_an_animation() {
    let limits = Limits {
        time_budget: Some(Duration::from_nanos(1)),
        ..Limits::default()
    };
    assert!(matches!(
        run_with(
            &corpus("rotating-squares.gif"),
            "image/resize,w_40",
            None,
            &limits
        ),
        Err(EngineError::OverBudget)
    ));
}

#[test]
fn alpha_survives_premultiplied_resampling_on_every_frame() {
    // The squares are light blues and greys (every opaque colour has a channel of 155 or
    // more) on transparent black. Scaled down, their edges turn translucent; resampled
    // without premultiplying, the transparent black would bleed in and darken them.
    let (bytes, _) = output(
        run(
            &corpus("rotating-squares.gif"),
            "image/resize,w_23/format,webp/quality,Q_100",
        )
        .unwrap(),
    );
    let img = decoded(&bytes);
    let mut edges = 0;
    for f in &img.frames {
        for p in f.data.chunks_exact(4) {
            if p[3] > 64 && p[3] < 192 {
                edges += 1;
                let brightest = p[..3].iter().copied().max().unwrap_or(0);
                assert!(brightest >= 135, "an edge pixel darkened: {p:?}");
            }
        }
    }
    assert!(edges > 100, "the edges are translucent ({edges} pixels)");
}

#[test]
fn watermarks_are_stamped_on_every_frame() {
    // "imgd" in URL-safe base64, in black at the top left of a white animation.
    let ops = "image/watermark,text_aW1nZA,color_000000,size_40,g_nw,x_10,y_10";
    let src = decoded(&corpus("animated-loop-3.gif"));
    let (bytes, format) = output(run(&corpus("animated-loop-3.gif"), ops).unwrap());
    assert_eq!(format, Format::Gif);
    let out = decoded(&bytes);
    assert_eq!(out.frames.len(), 10);
    for (i, (o, s)) in out.frames.iter().zip(&src.frames).enumerate() {
        let dark = |f: &Frame| {
            let f = f.clone().to_rgba();
            (10..60)
                .flat_map(|y| (10..100).map(move |x| (x, y)))
                .filter(|&(x, y)| f.pixel(x, y)[0] < 80)
                .count()
        };
        assert!(dark(o) > dark(s) + 50, "frame {i} carries the mark");
    }
}

#[test]
fn svg_loads_nothing_from_outside_the_document() {
    use base64::Engine as _;
    let outside = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/flowers.jpeg")
        .canonicalize()
        .unwrap();
    let external = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="40" height="40">
  <image href="{0}" width="40" height="40"/>
  <image xlink:href="file://{0}" width="40" height="40"/>
  <image href="http://127.0.0.1:9/x.png" width="40" height="40"/>
</svg>"#,
        outside.display()
    );
    let img = decoded(&output(run(external.as_bytes(), "image/format,png").unwrap()).0);
    assert!(
        img.first().data.chunks_exact(4).all(|p| p[3] == 0),
        "nothing outside the document is drawn"
    );
    // An image embedded as a data: URL is drawn.
    let (png, _) = output(
        run(
            &corpus("flowers.jpeg"),
            "image/resize,w_40,h_40,m_fixed/format,png",
        )
        .unwrap(),
    );
    let embedded = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><image href="data:image/png;base64,{}" width="40" height="40"/></svg>"#,
        base64::engine::general_purpose::STANDARD.encode(&png)
    );
    let img = decoded(&output(run(embedded.as_bytes(), "image/format,png").unwrap()).0);
    assert!(img.first().data.chunks_exact(4).all(|p| p[3] == 255));
}

// The engine's sniffer is the `formats` crate, shared with `fetch`. These pin what the
// engine gained or lost when its own sniffer was replaced by that one.

#[test]
fn bigtiff_sources_are_recognised_and_decode() {
    let mut file = std::io::Cursor::new(Vec::new());
    let pixels: Vec<u8> = (0..6 * 4).flat_map(|i| [i as u8 * 10, 0, 255]).collect();
    tiff::encoder::TiffEncoder::new_big(&mut file)
        .expect("encoder")
        .write_image::<tiff::encoder::colortype::RGB8>(6, 4, &pixels)
        .expect("bigtiff");
    let bytes = file.into_inner();
    assert_eq!(&bytes[..4], b"II+\0");
    assert_eq!(sniff::sniff(&bytes), Some(SourceFormat::Tiff));
    let image = decoded(&bytes);
    assert_eq!((image.first().width, image.first().height), (6, 4));
}

#[test]
fn avif_listed_under_the_generic_heif_brand_is_avif_not_heic() {
    let mut avif = corpus("sdr_cosmos12920_cicp1-13-6_yuv444_full_qp10.avif");
    assert_eq!(&avif[8..12], b"avif");
    avif[8..12].copy_from_slice(b"mif1");
    assert_eq!(sniff::sniff(&avif), Some(SourceFormat::Avif));
}

#[test]
fn text_that_merely_resembles_a_signature_is_not_an_image() {
    for text in [
        &b"BMW makes cars, not bitmaps"[..],
        b"<body><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"/></body>",
        b"<?xml version=\"1.0\"?><rss><svg width=\"4\" height=\"4\"/></rss>",
    ] {
        assert_eq!(
            sniff::sniff(text),
            None,
            "{}",
            String::from_utf8_lossy(text)
        );
        assert!(
            matches!(
                run(text, "image/info"),
                Err(EngineError::Unsupported(m)) if m == "the source is not a recognised image"
            ),
            "{}",
            String::from_utf8_lossy(text)
        );
    }
}
