//! The `watermark` action end to end: `x-oss-process` strings parsed by the OSS parser
//! and rendered by the engine, with pixel checks on the decoded output.
//!
//! Set `WATERMARK_DUMP=/some/dir` to also write the outputs there for a look.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use imaging::engine::watermark::fonts::{Face, SYSTEM_FONT_DIR};
use imaging::engine::{EngineError, Limits, Rendered, render_with};
use imaging::oss;
use std::collections::HashMap;

const WHITE: [u8; 4] = [255, 255, 255, 255];
const BLUE: [u8; 4] = [0, 0, 255, 255];

fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

fn corpus(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A solid PNG, RGB when `pixel` is opaque and `rgba` is false, RGBA otherwise.
fn solid_png(width: u32, height: u32, pixel: [u8; 4], rgba: bool) -> Vec<u8> {
    let channels = if rgba { 4 } else { 3 };
    let data: Vec<u8> = (0..width * height)
        .flat_map(|_| pixel[..channels].to_vec())
        .collect();
    encode_png(width, height, rgba, &data)
}

fn encode_png(width: u32, height: u32, rgba: bool, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(if rgba {
            png::ColorType::Rgba
        } else {
            png::ColorType::Rgb
        });
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(data).unwrap();
    }
    out
}

fn run(
    source: &[u8],
    ops: &str,
    marks: &HashMap<String, Vec<u8>>,
    limits: &Limits,
) -> Result<Rendered, EngineError> {
    let pipeline = match oss::parse_process(ops).expect("valid ops") {
        imaging::Process::Pipeline(p) => p,
        imaging::Process::Style(_) => panic!("styles need a server"),
    };
    render_with(source, &pipeline, None, limits, marks)
}

/// A decoded output: width, height, channels as stored, and RGBA pixels.
struct Image {
    width: u32,
    height: u32,
    channels: usize,
    rgba: Vec<u8>,
}

impl Image {
    fn at(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * self.width + x) * 4) as usize;
        [
            self.rgba[i],
            self.rgba[i + 1],
            self.rgba[i + 2],
            self.rgba[i + 3],
        ]
    }

    /// Bounding box (x0, y0, x1, y1), inclusive, of the pixels matching `pred`.
    fn bbox(&self, pred: impl Fn([u8; 4]) -> bool) -> Option<(u32, u32, u32, u32)> {
        let mut b: Option<(u32, u32, u32, u32)> = None;
        for y in 0..self.height {
            for x in 0..self.width {
                if pred(self.at(x, y)) {
                    b = Some(match b {
                        None => (x, y, x, y),
                        Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
                    });
                }
            }
        }
        b
    }

    fn count(&self, pred: impl Fn([u8; 4]) -> bool) -> usize {
        self.rgba
            .chunks_exact(4)
            .filter(|p| pred([p[0], p[1], p[2], p[3]]))
            .count()
    }
}

fn decode(r: &Rendered, dump: &str) -> Image {
    let Rendered::Image { bytes, format, .. } = r else {
        panic!("not an image")
    };
    assert_eq!(*format, imaging::Format::Png, "tests render PNG");
    if let Some(dir) = std::env::var_os("WATERMARK_DUMP") {
        std::fs::write(
            std::path::Path::new(&dir).join(format!("{dump}.png")),
            bytes,
        )
        .unwrap();
    }
    let mut d = png::Decoder::new(std::io::Cursor::new(bytes));
    d.set_transformations(png::Transformations::EXPAND);
    let mut reader = d.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let channels = info.color_type.samples();
    let rgba = match info.color_type {
        png::ColorType::Rgb => buf
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        png::ColorType::Rgba => buf,
        other => panic!("unexpected {other:?}"),
    };
    Image {
        width: info.width,
        height: info.height,
        channels,
        rgba,
    }
}

fn render_ok(source: &[u8], ops: &str, marks: &HashMap<String, Vec<u8>>, dump: &str) -> Image {
    let r = run(source, ops, marks, &Limits::default()).unwrap_or_else(|e| panic!("{ops}: {e}"));
    decode(&r, dump)
}

fn no_marks() -> HashMap<String, Vec<u8>> {
    HashMap::new()
}

fn marks(entries: &[(&str, Vec<u8>)]) -> HashMap<String, Vec<u8>> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn reddish(p: [u8; 4]) -> bool {
    p[0] > 160 && p[1] < 140 && p[2] < 140 && p[1].abs_diff(p[2]) < 30
}

fn strongly_red(p: [u8; 4]) -> bool {
    p[0] > 220 && p[1] < 40 && p[2] < 40
}

fn blue(p: [u8; 4]) -> bool {
    p[2] > 200 && p[0] < 60 && p[1] < 60
}

fn not_white(p: [u8; 4]) -> bool {
    p[0] < 240 || p[1] < 240 || p[2] < 240
}

fn text_ops(text: &str, extra: &str) -> String {
    format!("image/watermark,text_{},{extra}/format,png", b64(text))
}

#[test]
fn text_lands_in_the_requested_corner_in_its_colour() {
    let white = solid_png(400, 300, WHITE, false);
    let out = render_ok(
        &white,
        &text_ops("Hello", "color_FF0000,size_40"),
        &no_marks(),
        "text_se",
    );
    assert_eq!((out.width, out.height), (400, 300));
    let (x0, y0, x1, y1) = out.bbox(not_white).expect("text drawn");
    // Default g_se with x_10, y_10: the line box ends 10 px from the right and bottom;
    // the glyphs sit inside it (no descenders in "Hello").
    assert!((370..=390).contains(&x1), "right edge {x1}");
    assert!((265..=290).contains(&y1), "bottom {y1}");
    assert!(x0 > 250 && y0 > 230, "text starts at ({x0},{y0})");
    let width = x1 - x0;
    assert!(
        (70..=130).contains(&width),
        "Hello at 40 px is {width} px wide"
    );
    assert!(out.count(strongly_red) > 200, "solid red strokes");
    // Nothing outside the text's box changed.
    assert!(out.at(10, 10) == WHITE && out.at(200, 150) == WHITE);
    // Every changed pixel is the red text blended with white: (255, v, v).
    let red_tint = |p: [u8; 4]| p[0] >= 250 && p[1].abs_diff(p[2]) <= 2;
    assert_eq!(
        out.count(not_white),
        out.count(|p| not_white(p) && red_tint(p))
    );
}

#[test]
fn gravity_and_margins_place_the_mark_exactly() {
    // A solid 20x10 image mark makes positions exact.
    let base = solid_png(200, 100, WHITE, false);
    let m = marks(&[("logo.png", solid_png(20, 10, BLUE, false))]);
    let key = b64("logo.png");
    let cases = [
        ("nw", (5, 7)),
        ("north", (90, 7)),
        ("ne", (175, 7)),
        ("west", (5, 45)),
        ("center", (90, 45)),
        ("east", (175, 45)),
        ("sw", (5, 83)),
        ("south", (90, 83)),
        ("se", (175, 83)),
    ];
    for (g, (x, y)) in cases {
        let ops = format!("image/watermark,image_{key},g_{g},x_5,y_7/format,png");
        let out = render_ok(&base, &ops, &m, &format!("gravity_{g}"));
        assert_eq!(
            out.bbox(blue),
            Some((x, y, x + 19, y + 9)),
            "g_{g}: mark misplaced"
        );
        assert_eq!(out.count(blue), 200, "g_{g}: whole mark drawn once");
    }
    // voffset moves middle-row marks down (negative: up); other rows ignore it.
    for (voffset, y) in [(20, 65), (-30, 15)] {
        let ops = format!("image/watermark,image_{key},g_east,x_5,voffset_{voffset}/format,png");
        let out = render_ok(&base, &ops, &m, "voffset");
        assert_eq!(
            out.bbox(blue),
            Some((175, y, 194, y + 9)),
            "voffset_{voffset}"
        );
    }
    let ops = format!("image/watermark,image_{key},g_se,voffset_20/format,png");
    let out = render_ok(&base, &ops, &m, "voffset_se");
    assert_eq!(out.bbox(blue), Some((170, 80, 189, 89)));
}

#[test]
fn text_follows_gravity_too() {
    let white = solid_png(300, 200, WHITE, false);
    for (g, quadrant) in [
        ("nw", (0, 0)),
        ("ne", (1, 0)),
        ("sw", (0, 1)),
        ("center", (2, 2)),
    ] {
        let out = render_ok(
            &white,
            &text_ops("Imgd", &format!("size_30,g_{g},x_0,y_0")),
            &no_marks(),
            &format!("text_{g}"),
        );
        let (x0, y0, x1, y1) = out.bbox(not_white).expect("drawn");
        let (cx, cy) = ((x0 + x1) / 2, (y0 + y1) / 2);
        match quadrant {
            (2, 2) => assert!(
                cx.abs_diff(150) < 8 && cy.abs_diff(100) < 8,
                "{g}: ({cx},{cy})"
            ),
            (qx, qy) => {
                assert_eq!((cx / 150, cy / 100), (qx, qy), "{g}: centre ({cx},{cy})");
                // With zero margins the text hugs its edges.
                let near_x = if qx == 0 { x0 } else { 299 - x1 };
                let near_y = if qy == 0 { y0 } else { 199 - y1 };
                assert!(near_x <= 4 && near_y <= 14, "{g}: {near_x},{near_y}");
            }
        }
    }
}

#[test]
fn opacity_blends_between_mark_and_image() {
    let base = solid_png(100, 60, WHITE, false);
    let m = marks(&[("m.png", solid_png(30, 20, BLUE, false))]);
    let key = b64("m.png");
    let pixel = |t: u8| {
        let ops = format!("image/watermark,image_{key},g_nw,x_0,y_0,t_{t}/format,png");
        render_ok(&base, &ops, &m, &format!("opacity_{t}")).at(10, 10)
    };
    assert_eq!(pixel(100), BLUE);
    let half = pixel(50);
    assert!(
        half[0].abs_diff(128) <= 2 && half[1].abs_diff(128) <= 2,
        "{half:?}"
    );
    assert_eq!(half[2], 255);
    assert_eq!(pixel(0), WHITE);

    let out = render_ok(
        &base,
        &text_ops("Mark", "color_000000,size_30,g_center,t_30"),
        &no_marks(),
        "text_t30",
    );
    let darkest = out.rgba.chunks_exact(4).map(|p| p[0]).min().unwrap();
    // 30% black over white is about 178 at full coverage, never darker.
    assert!((170..=190).contains(&darkest), "darkest {darkest}");
}

#[test]
fn shadow_darkens_pixels_offset_from_the_text() {
    let white = solid_png(300, 120, WHITE, false);
    let dark = |p: [u8; 4]| p[0] < 90 && p[1] < 90 && p[2] < 90;
    let plain = render_ok(
        &white,
        &text_ops("Shadow", "color_FF0000,size_40,g_center"),
        &no_marks(),
        "shadow_0",
    );
    let shaded = render_ok(
        &white,
        &text_ops("Shadow", "color_FF0000,size_40,g_center,shadow_100"),
        &no_marks(),
        "shadow_100",
    );
    assert_eq!(plain.count(dark), 0, "red text on white has no dark pixels");
    assert!(shaded.count(dark) > 30, "the shadow shows");
    let red = plain.bbox(strongly_red).unwrap();
    let shadow = shaded.bbox(dark).unwrap();
    assert!(
        shadow.0 >= red.0 && shadow.1 >= red.1 && shadow.2 > red.2 && shadow.3 > red.3,
        "shadow {shadow:?} lies below and right of the text {red:?}"
    );
    // shadow_50 is a half-opaque black: the darkest pure-grey (shadow only) pixel is
    // about 128.
    let half = render_ok(
        &white,
        &text_ops("Shadow", "color_FF0000,size_40,g_center,shadow_50"),
        &no_marks(),
        "shadow_50",
    );
    let grey = |p: [u8; 4]| p[0].abs_diff(p[1]) < 8 && p[1].abs_diff(p[2]) < 8 && p[0] < 220;
    let darkest_grey = |img: &Image| {
        img.rgba
            .chunks_exact(4)
            .filter(|p| grey([p[0], p[1], p[2], p[3]]))
            .map(|p| p[0])
            .min()
    };
    assert!(darkest_grey(&shaded).unwrap() < 20);
    let half_grey = darkest_grey(&half).unwrap();
    assert!((118..=140).contains(&half_grey), "{half_grey}");
}

#[test]
fn rotate_turns_the_text_box() {
    let white = solid_png(300, 300, WHITE, false);
    let flat = render_ok(
        &white,
        &text_ops("Rotated", "size_30,g_center"),
        &no_marks(),
        "rotate_0",
    );
    let (x0, y0, x1, y1) = flat.bbox(not_white).unwrap();
    assert!(x1 - x0 > 2 * (y1 - y0), "horizontal text");
    let turned = render_ok(
        &white,
        &text_ops("Rotated", "size_30,g_center,rotate_90"),
        &no_marks(),
        "rotate_90",
    );
    let (tx0, ty0, tx1, ty1) = turned.bbox(not_white).unwrap();
    assert!(ty1 - ty0 > 2 * (tx1 - tx0), "vertical text");
    assert!(((ty1 - ty0) as i64 - (x1 - x0) as i64).abs() <= 3);
    let diagonal = render_ok(
        &white,
        &text_ops("Rotated", "size_30,g_center,rotate_45"),
        &no_marks(),
        "rotate_45",
    );
    let (dx0, dy0, dx1, dy1) = diagonal.bbox(not_white).unwrap();
    let (w, h) = (dx1 - dx0, dy1 - dy0);
    assert!(
        w.abs_diff(h) < w / 4,
        "45 degrees spans a squarish box: {w}x{h}"
    );
    // Clockwise rotation of left-to-right text runs down to the right: the top-left
    // quarter of the box has ink, the top-right quarter barely any.
    let ink = |qx0: u32, qy0: u32| {
        let mut n = 0;
        for y in qy0..qy0 + h / 3 {
            for x in qx0..qx0 + w / 3 {
                if not_white(diagonal.at(x, y)) {
                    n += 1;
                }
            }
        }
        n
    };
    assert!(ink(dx0, dy0) > 5 * ink(dx1 - w / 3, dy0).max(1));
}

#[test]
fn fill_tiles_the_whole_image() {
    let white = solid_png(400, 300, WHITE, false);
    let quadrants = |img: &Image| {
        let mut q = [0usize; 4];
        for y in 0..img.height {
            for x in 0..img.width {
                if reddish(img.at(x, y)) {
                    q[((y / 150) * 2 + x / 200) as usize] += 1;
                }
            }
        }
        q
    };
    let single = render_ok(
        &white,
        &text_ops("tile", "color_FF0000,size_24"),
        &no_marks(),
        "fill_0",
    );
    let q = quadrants(&single);
    assert!(q[0] == 0 && q[1] == 0 && q[2] == 0 && q[3] > 0, "{q:?}");
    let tiled = render_ok(
        &white,
        &text_ops("tile", "color_FF0000,size_24,fill_1,rotate_30"),
        &no_marks(),
        "fill_1",
    );
    let q = quadrants(&tiled);
    assert!(q.iter().all(|&n| n > 100), "every quadrant covered: {q:?}");

    // An image mark tiles on a grid: x_ and y_ are the gaps.
    let base = solid_png(100, 50, WHITE, false);
    let m = marks(&[("m.png", solid_png(10, 10, BLUE, false))]);
    let ops = format!(
        "image/watermark,image_{},fill_1,g_sw,x_5,y_3/format,png",
        b64("m.png")
    );
    let out = render_ok(&base, &ops, &m, "fill_image");
    // The untiled mark would be at (5, 37). Columns start at -10, 5, 20, … 95 (pitch
    // 15), rows at -2, 11, 24, 37 (pitch 13); the first row and last column are cut.
    for (x, y, expect) in [
        (5, 0, true),
        (14, 7, true),
        (5, 8, false),
        (5, 10, false),
        (5, 11, true),
        (5, 20, true),
        (5, 21, false),
        (5, 24, true),
        (5, 46, true),
        (5, 47, false),
        (15, 0, false),
        (20, 0, true),
        (95, 46, true),
        (99, 46, true),
        (0, 11, false),
    ] {
        assert_eq!(blue(out.at(x, y)), expect, "({x},{y})");
    }
}

#[test]
fn image_mark_is_placed_and_scaled_by_p() {
    let base = solid_png(400, 200, WHITE, false);
    let m = marks(&[("logo.png", solid_png(50, 50, BLUE, false))]);
    let key = b64("logo.png");
    let out = render_ok(
        &base,
        &format!("image/watermark,image_{key}/format,png"),
        &m,
        "image_se",
    );
    assert_eq!(out.bbox(blue), Some((340, 140, 389, 189)));
    // P_10: the mark fits 10% of the main image (40x20) keeping its aspect: 20x20.
    let out = render_ok(
        &base,
        &format!("image/watermark,image_{key},P_10/format,png"),
        &m,
        "image_p10",
    );
    assert_eq!(out.bbox(blue), Some((370, 170, 389, 189)));
    // P_ is relative to the main image: the same mark on a main image half the size.
    let small = solid_png(200, 100, WHITE, false);
    let out = render_ok(
        &small,
        &format!("image/watermark,image_{key},P_10/format,png"),
        &m,
        "image_p10_small",
    );
    assert_eq!(out.bbox(blue), Some((180, 80, 189, 89)));
}

#[test]
fn nested_process_runs_on_the_mark() {
    let base = solid_png(200, 100, WHITE, false);
    let m = marks(&[("big.png", solid_png(80, 40, BLUE, false))]);
    let image = b64("big.png?x-oss-process=image/resize,w_20");
    let out = render_ok(
        &base,
        &format!("image/watermark,image_{image},g_nw,x_3,y_4/format,png"),
        &m,
        "nested_resize",
    );
    assert_eq!(
        out.bbox(blue),
        Some((3, 4, 22, 13)),
        "80x40 shrunk to 20x10"
    );
    // Rotation in the nested process turns the mark upright.
    let image = b64("big.png?x-oss-process=image/resize,w_20/rotate,90");
    let out = render_ok(
        &base,
        &format!("image/watermark,image_{image},g_nw,x_3,y_4/format,png"),
        &m,
        "nested_rotate",
    );
    assert_eq!(out.bbox(blue), Some((3, 4, 12, 23)));
}

#[test]
fn text_and_image_sit_side_by_side() {
    let base = solid_png(400, 200, WHITE, false);
    let m = marks(&[("tall.png", solid_png(30, 80, BLUE, false))]);
    let image = b64("tall.png");
    let text = b64("Mix");
    let render = |extra: &str, dump: &str| {
        render_ok(
            &base,
            &format!(
                "image/watermark,text_{text},color_FF0000,size_30,image_{image},g_nw,x_10,y_10,{extra}/format,png"
            ),
            &m,
            dump,
        )
    };

    // order_0 (default): image first; align_2 (default): bottoms line up.
    let out = render("interval_12", "mixed_default");
    let img = out.bbox(blue).unwrap();
    let txt = out.bbox(reddish).unwrap();
    assert_eq!(img, (10, 10, 39, 89));
    assert!(
        txt.0 >= 40 + 12 && txt.0 <= 40 + 12 + 4,
        "text after gap: {txt:?}"
    );
    // The text's line box (about 30 px) ends at the image's bottom; the glyphs stop at
    // the baseline, a descent above it.
    assert!(txt.3 < 89 && txt.3 > 89 - 14, "bottom aligned: {txt:?}");

    // order_1: text first.
    let out = render("order_1,interval_12", "mixed_text_first");
    let img = out.bbox(blue).unwrap();
    let txt = out.bbox(reddish).unwrap();
    assert!(
        txt.0 >= 10 && txt.2 < img.0,
        "text {txt:?} left of image {img:?}"
    );
    assert!(img.0 - txt.2 >= 12);
    assert_eq!(img.1, 10);

    // align_0: tops line up; align_1: centres.
    let out = render("align_0", "mixed_top");
    let txt = out.bbox(reddish).unwrap();
    assert!(txt.1 >= 10 && txt.1 < 10 + 15, "top aligned: {txt:?}");
    let out = render("align_1", "mixed_centre");
    let txt = out.bbox(reddish).unwrap();
    let centre = (txt.1 + txt.3) / 2;
    assert!(centre.abs_diff(50) <= 8, "centred near 50: {txt:?}");
}

#[test]
fn missing_mark_image_is_an_error_naming_it() {
    let base = solid_png(50, 50, WHITE, false);
    let ops = format!(
        "image/watermark,image_{}/format,png",
        b64("folder/absent.png")
    );
    match run(&base, &ops, &no_marks(), &Limits::default()) {
        Err(EngineError::Invalid(msg)) => assert!(msg.contains("folder/absent.png"), "{msg}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    // Bytes that are no image are a decode error about the mark.
    let m = marks(&[("junk.png", b"not an image at all".to_vec())]);
    let ops = format!("image/watermark,image_{}/format,png", b64("junk.png"));
    match run(&base, &ops, &m, &Limits::default()) {
        Err(e) => assert!(e.to_string().contains("junk.png"), "{e}"),
        Ok(_) => panic!("junk accepted"),
    }
}

#[test]
fn layouts_and_alpha_are_kept() {
    // A JPEG main image stays RGB (JPEG out), a PNG with alpha keeps alpha.
    let jpeg = corpus("flowers.jpeg");
    let r = run(
        &jpeg,
        &text_ops("flowers", "color_FFFFFF,size_48,shadow_60,g_south"),
        &no_marks(),
        &Limits::default(),
    )
    .unwrap();
    let out = decode(&r, "flowers");
    assert_eq!(out.channels, 3);
    let plain = run(&jpeg, "image/format,png", &no_marks(), &Limits::default()).unwrap();
    let plain = decode(&plain, "flowers_plain");
    let white = |p: [u8; 4]| p[0] > 245 && p[1] > 245 && p[2] > 245;
    assert!(out.count(white) > plain.count(white) + 300);
    // Only the bottom band, where g_south puts the text, changed.
    let top = (out.width * 4 * out.height / 2) as usize;
    assert_eq!(out.rgba[..top], plain.rgba[..top]);

    // Over a fully transparent canvas, a half-opaque mark keeps its colour (straight
    // alpha) and gets half alpha.
    let clear = solid_png(60, 40, [0, 0, 0, 0], true);
    let m = marks(&[("m.png", solid_png(20, 20, [255, 0, 0, 255], true))]);
    let ops = format!(
        "image/watermark,image_{},g_nw,x_0,y_0,t_50/format,png",
        b64("m.png")
    );
    let out = render_ok(&clear, &ops, &m, "alpha_over_clear");
    assert_eq!(out.channels, 4);
    let p = out.at(5, 5);
    assert_eq!(&p[..3], &[255, 0, 0]);
    assert!(p[3].abs_diff(128) <= 1, "{p:?}");
    assert_eq!(out.at(30, 30), [0, 0, 0, 0]);

    // A translucent mark over an opaque RGBA pixel stays opaque.
    let opaque = solid_png(60, 40, [0, 0, 255, 255], true);
    let m = marks(&[("m.png", solid_png(20, 20, [255, 0, 0, 128], true))]);
    let out = render_ok(
        &opaque,
        &ops.replace("t_50", "t_100"),
        &m,
        "alpha_over_opaque",
    );
    let p = out.at(5, 5);
    assert_eq!(p[3], 255);
    assert!(p[0].abs_diff(128) <= 2 && p[2].abs_diff(127) <= 2, "{p:?}");

    // The corpus PNG with alpha as a mark: its transparent parts leave the image alone.
    let m = marks(&[("alpha.png", corpus("with-alpha.png"))]);
    let base = solid_png(600, 600, WHITE, false);
    let ops = format!(
        "image/watermark,image_{},g_center/format,png",
        b64("alpha.png")
    );
    let out = render_ok(&base, &ops, &m, "corpus_alpha_mark");
    assert_eq!(out.channels, 3);
    assert!(out.count(not_white) > 0);
}

#[test]
fn marks_outside_the_image_are_clipped() {
    let base = solid_png(120, 80, WHITE, false);
    let m = marks(&[("m.png", solid_png(300, 200, BLUE, false))]);
    let key = b64("m.png");
    // Larger than the image: covers it all, no panic.
    let out = render_ok(
        &base,
        &format!("image/watermark,image_{key},g_center/format,png"),
        &m,
        "clip_large",
    );
    assert_eq!(out.count(blue), 120 * 80);
    // Margins past the image: nothing drawn.
    let out = render_ok(
        &base,
        &format!("image/watermark,image_{key},g_nw,x_4096,y_4096/format,png"),
        &m,
        "clip_far",
    );
    assert_eq!(out.count(blue), 0);
    // Half off the bottom edge.
    let small = marks(&[("m.png", solid_png(20, 20, BLUE, false))]);
    let out = render_ok(
        &base,
        &format!("image/watermark,image_{key},g_west,x_0,voffset_40/format,png"),
        &small,
        "clip_half",
    );
    assert_eq!(out.bbox(blue), Some((0, 70, 19, 79)));
    // Text far larger than the image, rotated, tiled.
    let out = render_ok(
        &base,
        &text_ops("Huge", "size_1000,rotate_33,fill_1,color_FF0000,g_center"),
        &no_marks(),
        "clip_huge_text",
    );
    assert_eq!((out.width, out.height), (120, 80));
}

#[test]
fn limits_bound_the_mark() {
    let base = solid_png(100, 100, WHITE, false);
    let tight = Limits {
        max_output_side: 2000,
        max_output_pixels: 1_000_000,
        ..Limits::default()
    };
    let long = "W".repeat(64);
    // 64 glyphs at 1000 px cannot fit a 2000 px side.
    let err = run(&base, &text_ops(&long, "size_1000"), &no_marks(), &tight).unwrap_err();
    assert!(matches!(err, EngineError::TooLarge(_)), "{err:?}");
    // Rotation grows the box past the pixel limit.
    let err = run(
        &base,
        &text_ops("WWWW", "size_400,rotate_45"),
        &no_marks(),
        &tight,
    )
    .unwrap_err();
    assert!(matches!(err, EngineError::TooLarge(_)), "{err:?}");
    // The same text unrotated fits.
    run(&base, &text_ops("WWWW", "size_400"), &no_marks(), &tight).unwrap();
    // A side-by-side mark is bounded too.
    let m = marks(&[("wide.png", solid_png(1990, 10, BLUE, false))]);
    let ops = format!(
        "image/watermark,image_{},text_{},interval_50/format,png",
        b64("wide.png"),
        b64("x")
    );
    let err = run(&base, &ops, &m, &tight).unwrap_err();
    assert!(matches!(err, EngineError::TooLarge(_)), "{err:?}");
}

#[test]
fn the_font_name_chooses_the_face() {
    let (zenhei_file, _) = Face::WqyZenHei.file().unwrap();
    let zenhei_path = std::path::Path::new(SYSTEM_FONT_DIR).join(zenhei_file);
    assert!(
        zenhei_path.is_file(),
        "{} is missing: run scripts/install-build-deps.sh",
        zenhei_path.display()
    );
    let white = solid_png(200, 80, WHITE, false);
    let default = render_ok(
        &white,
        &text_ops("Font", "size_30"),
        &no_marks(),
        "font_default",
    );
    let zenhei = render_ok(
        &white,
        &text_ops("Font", &format!("size_30,type_{}", b64("wqy-zenhei"))),
        &no_marks(),
        "font_zenhei",
    );
    let builtin = render_ok(
        &white,
        &text_ops("Font", &format!("size_30,type_{}", b64("notosans"))),
        &no_marks(),
        "font_builtin",
    );
    // No type_ means OSS's default, WenQuanYi Zen Hei; another name, another face
    // (tests/fonts.rs checks which).
    assert_eq!(default.rgba, zenhei.rgba);
    assert_ne!(default.rgba, builtin.rgba);
    assert!(default.count(not_white) > 50);
    assert!(builtin.count(not_white) > 50);
}
