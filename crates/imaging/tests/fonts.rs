//! Text watermarks in any script: OSS's `type_` font names, the per-character fallback
//! chain, and fonts missing from the host.
//!
//! Most tests need the font packages `scripts/install-build-deps.sh` installs and say so
//! when they are missing. Set `WATERMARK_DUMP=/some/dir` to write the rendered PNGs there.

use ab_glyph::{Font, FontVec};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use imaging::engine::watermark::fonts::{
    self, DEFAULT_FONT, Face, FontSet, SYSTEM_FONT_DIR, font_names,
};
use imaging::engine::watermark::text::render_with_fonts;
use imaging::engine::{EngineError, Limits, Rendered, render_with};
use imaging::{Field, Process, ProcessError, Rgb, Step, TextMark, WatermarkContent, oss};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The watermark example of seed 004: "Hello 图片服务!" in OSS's default font.
const SEED_EXAMPLE: &str = "image/watermark,text_SGVsbG8g5Zu-54mH5pyN5YqhIQ";
const SEED_TEXT: &str = "Hello 图片服务!";
/// A private-use code point no font has: what a missing glyph looks like.
const NO_FONT_HAS: char = '\u{10FFFD}';

/// OSS's names and the face each is documented to draw with.
const OSS_FONTS: [(&str, Face); 7] = [
    ("wqy-zenhei", Face::WqyZenHei),
    ("wqy-microhei", Face::WqyMicroHei),
    ("fangzhengshusong", Face::NotoSerifCjkSc),
    ("fangzhengkaiti", Face::NotoSerifCjkSc),
    ("fangzhengheiti", Face::NotoSansCjkSc),
    ("fangzhengfangsong", Face::NotoSerifCjkSc),
    ("droidsansfallback", Face::DroidSansFallback),
];

fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

/// Fails with instructions when a system font is missing, instead of letting a test
/// pass or fail for the wrong reason.
fn require_system_fonts() {
    for face in Face::ALL {
        if let Some((file, _)) = face.file() {
            let path = Path::new(SYSTEM_FONT_DIR).join(file);
            assert!(
                path.is_file(),
                "{} is missing: install the Debian package {} (scripts/install-build-deps.sh does)",
                path.display(),
                face.package().unwrap_or("?"),
            );
        }
    }
}

/// The face loaded by the test itself, not through imgd, to check imgd's choices.
fn load_independently(face: Face) -> FontVec {
    match face.file() {
        None => {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/NotoSans-Regular.ttf");
            FontVec::try_from_vec(std::fs::read(path).unwrap()).unwrap()
        }
        Some((file, index)) => {
            let bytes = std::fs::read(Path::new(SYSTEM_FONT_DIR).join(file)).unwrap();
            FontVec::try_from_vec_and_index(bytes, index).unwrap()
        }
    }
}

fn mark(text: &str, font: &str, size: u32) -> TextMark {
    TextMark {
        text: text.to_owned(),
        font: font.to_owned(),
        color: Rgb::BLACK,
        size,
        shadow: 0,
        rotate: 0,
    }
}

/// A fresh, empty directory under the system temp dir.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("imgd-fonts-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Renders `ops` over a white 240x120 PNG and returns the decoded RGB pixels.
fn render_rgb(ops: &str, dump: &str) -> Vec<u8> {
    let mut source = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut source, 240, 120);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().unwrap();
        writer
            .write_image_data(&vec![255u8; 240 * 120 * 3])
            .unwrap();
    }
    let pipeline = match oss::parse_process(ops).unwrap_or_else(|e| panic!("{ops}: {e}")) {
        Process::Pipeline(p) => p,
        Process::Style(_) => panic!("styles need a server"),
    };
    let rendered = render_with(
        &source,
        &pipeline,
        None,
        &Limits::default(),
        &HashMap::<String, Vec<u8>>::new(),
    )
    .unwrap_or_else(|e| panic!("{ops}: {e}"));
    let Rendered::Image { bytes, .. } = rendered else {
        panic!("not an image")
    };
    if let Some(dir) = std::env::var_os("WATERMARK_DUMP") {
        std::fs::write(Path::new(&dir).join(format!("{dump}.png")), &bytes).unwrap();
    }
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    buf
}

fn inked(rgb: &[u8]) -> usize {
    rgb.chunks_exact(3).filter(|p| p[0] < 128).count()
}

#[test]
fn the_seed_example_parses_to_chinese_text_in_the_default_font() {
    let Process::Pipeline(pipeline) = oss::parse_process(SEED_EXAMPLE).unwrap() else {
        panic!("not a pipeline");
    };
    let [Step::Watermark(watermark)] = pipeline.steps.as_slice() else {
        panic!("one watermark step expected: {pipeline:?}");
    };
    let WatermarkContent::Text(text) = &watermark.content else {
        panic!("a text mark expected");
    };
    assert_eq!(text.text, SEED_TEXT);
    assert_eq!(text.font, DEFAULT_FONT);
    assert_eq!(fonts::face_for(DEFAULT_FONT), Some(Face::WqyZenHei));
}

#[test]
fn every_character_of_the_seed_is_drawn_from_a_face_that_has_it() {
    require_system_fonts();
    let system = FontSet::system();
    let mut independent = HashMap::new();
    for name in font_names() {
        let shaped = system.shape(SEED_TEXT, name).unwrap();
        let chars: Vec<char> = shaped.iter().map(|s| s.ch).collect();
        assert_eq!(chars, SEED_TEXT.chars().collect::<Vec<_>>(), "{name}");
        for s in &shaped {
            assert_ne!(s.glyph, 0, "{name}: {:?} drawn as the missing glyph", s.ch);
            let font = independent
                .entry(s.face)
                .or_insert_with(|| load_independently(s.face));
            assert_eq!(
                font.glyph_id(s.ch).0,
                s.glyph,
                "{name}: {:?} is not glyph {} of {}",
                s.ch,
                s.glyph,
                s.face.family()
            );
            if !s.ch.is_ascii() {
                assert_ne!(s.face, Face::NotoSans, "{name}: {:?} has no CJK", s.ch);
            }
        }
    }
    // The built-in face is first in the chain for Latin, a CJK face for the rest.
    let shaped = system.shape(SEED_TEXT, "notosans").unwrap();
    assert!(shaped[..6].iter().all(|s| s.face == Face::NotoSans));
    assert!(shaped[6..10].iter().all(|s| s.face == Face::NotoSansCjkSc));
    assert_eq!(shaped[10].face, Face::NotoSans);
}

#[test]
fn cjk_characters_render_as_distinct_glyphs_not_boxes() {
    require_system_fonts();
    let ops = |text: &str| {
        format!(
            "image/watermark,text_{},size_80,g_nw,x_0,y_0/format,png",
            b64(text)
        )
    };
    let missing = render_rgb(&ops(&NO_FONT_HAS.to_string()), "font_missing_glyph");
    let rendered: Vec<(char, Vec<u8>)> = "图片服务"
        .chars()
        .map(|c| {
            (
                c,
                render_rgb(&ops(&c.to_string()), &format!("font_{}", c as u32)),
            )
        })
        .collect();
    for (i, (c, rgb)) in rendered.iter().enumerate() {
        assert!(inked(rgb) > 400, "{c:?} has almost no ink: {}", inked(rgb));
        assert_ne!(rgb, &missing, "{c:?} is drawn as the missing-glyph box");
        for (other, other_rgb) in &rendered[i + 1..] {
            assert_ne!(
                rgb, other_rgb,
                "{c:?} and {other:?} render identically (boxes)"
            );
        }
    }
    // The seed's own string, whole, differs from the same line with boxes for the CJK.
    let seed = render_rgb(&format!("{SEED_EXAMPLE}/format,png"), "font_seed");
    let boxed: String = SEED_TEXT
        .chars()
        .map(|c| if c.is_ascii() { c } else { NO_FONT_HAS })
        .collect();
    let boxes = render_rgb(
        &format!("image/watermark,text_{}/format,png", b64(&boxed)),
        "font_seed_boxes",
    );
    assert_ne!(seed, boxes);
}

#[test]
fn each_face_draws_at_the_requested_em_size_on_one_baseline() {
    require_system_fonts();
    let limits = Limits::default();
    // 'H' from Noto Sans (cap height 0.714 em), '国' from Noto Sans CJK (a full-width
    // ideograph, about 0.9 em tall): both must scale by their own units per em.
    let layer =
        render_with_fonts(&mark("H国", "notosans", 100), FontSet::system(), &limits).unwrap();
    let (w, h) = (layer.width as usize, layer.height as usize);
    let alpha = |x: usize, y: usize| layer.data[(y * w + x) * 4 + 3];
    let column_rows = |x0: usize, x1: usize| {
        let rows: Vec<usize> = (0..h)
            .filter(|&y| (x0..x1).any(|x| alpha(x, y) > 127))
            .collect();
        (rows[0], rows[rows.len() - 1])
    };
    // Split at the first fully empty column after the H's ink.
    let inked_column = |x: usize| (0..h).any(|y| alpha(x, y) > 127);
    let h_start = (0..w).find(|&x| inked_column(x)).unwrap();
    let gap = (h_start..w).find(|&x| !inked_column(x)).unwrap();
    let (h_top, h_bottom) = column_rows(0, gap);
    let (g_top, g_bottom) = column_rows(gap, w);
    let cap = h_bottom - h_top + 1;
    let ideograph = g_bottom - g_top + 1;
    assert!((66..=76).contains(&cap), "H is {cap} px tall at 100 px");
    assert!(
        (80..=100).contains(&ideograph),
        "国 is {ideograph} px tall at 100 px"
    );
    // Same baseline: the ideograph sits on it, dipping at most 0.15 em below.
    assert!(
        g_bottom >= h_bottom && g_bottom <= h_bottom + 15,
        "{h_bottom} vs {g_bottom}"
    );
}

#[test]
fn unknown_font_names_are_refused_by_the_parser_and_the_engine() {
    let ops = |font: &str| format!("image/watermark,text_{},type_{}", b64("a"), b64(font));
    let err = oss::parse_process(&ops("comic-sans")).unwrap_err();
    assert!(
        matches!(
            err,
            ProcessError::Malformed {
                field: Field::Named("type"),
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("\"comic-sans\""), "{message}");
    for name in font_names() {
        assert!(message.contains(name), "{message} lacks {name}");
        // The other side of the check: every listed name is accepted.
        oss::parse_process(&ops(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // Names are exact: OSS's are lowercase.
    assert!(oss::parse_process(&ops("WQY-ZENHEI")).is_err());
    // A pipeline built by other means reaches the engine with the name unchecked.
    let err = render_with_fonts(
        &mark("a", "comic-sans", 20),
        FontSet::system(),
        &Limits::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, EngineError::Invalid(m) if m.contains("comic-sans")),
        "{err:?}"
    );
}

#[test]
fn each_oss_name_draws_with_its_documented_face() {
    require_system_fonts();
    let system = FontSet::system();
    let accepted: Vec<&str> = font_names().collect();
    for (name, face) in OSS_FONTS {
        assert!(accepted.contains(&name), "{name} is not accepted");
        assert_eq!(fonts::face_for(name), Some(face), "{name}");
        assert!(
            system.is_available(face),
            "{name}: {} not loaded",
            face.family()
        );
        // The named face itself draws the ideograph; no fallback is needed.
        let shaped = system.shape("图", name).unwrap();
        assert_eq!(shaped[0].face, face, "{name}");
        // Latin comes from the named face when it has it: Droid Sans Fallback has none.
        let latin = system.shape("A", name).unwrap();
        let expected = if face == Face::DroidSansFallback {
            Face::NotoSans
        } else {
            face
        };
        assert_eq!(latin[0].face, expected, "{name}");
    }
    assert_eq!(fonts::face_for("notosans"), Some(Face::NotoSans));
    assert_eq!(accepted.len(), OSS_FONTS.len() + 1);
    // Different families give different pixels.
    let layer = |name: &str| {
        render_with_fonts(&mark("图片", name, 60), system, &Limits::default())
            .unwrap()
            .data
    };
    assert_ne!(layer("wqy-zenhei"), layer("wqy-microhei"));
    assert_ne!(layer("fangzhengheiti"), layer("fangzhengshusong"));
    assert_ne!(layer("droidsansfallback"), layer("fangzhengheiti"));
}

#[test]
fn missing_font_files_fall_back_without_failing() {
    let limits = Limits::default();
    // Nothing installed: only the built-in face is left, which lacks the CJK glyphs, so
    // they get its missing glyph (the old behaviour, which the tests above refuse).
    let empty = FontSet::in_dir(scratch_dir("empty"));
    for face in Face::ALL {
        assert_eq!(empty.is_available(face), face == Face::NotoSans, "{face:?}");
    }
    let shaped = empty.shape(SEED_TEXT, DEFAULT_FONT).unwrap();
    assert_eq!(shaped.len(), SEED_TEXT.chars().count());
    assert!(shaped.iter().all(|s| s.face == Face::NotoSans));
    for s in &shaped {
        assert_eq!(s.glyph == 0, !s.ch.is_ascii(), "{:?}", s.ch);
    }
    let layer = render_with_fonts(&mark(SEED_TEXT, DEFAULT_FONT, 40), &empty, &limits).unwrap();
    assert!(layer.data.chunks_exact(4).any(|p| p[3] > 0));
    // This is what the old code drew for every CJK character: one identical box, which
    // the distinctness check of `cjk_characters_render_as_distinct_glyphs_not_boxes`
    // would catch.
    let boxes: Vec<Vec<u8>> = "图片服务"
        .chars()
        .map(|c| {
            render_with_fonts(&mark(&c.to_string(), DEFAULT_FONT, 80), &empty, &limits)
                .unwrap()
                .data
        })
        .collect();
    assert!(boxes.iter().all(|b| *b == boxes[0]));

    // The requested face's file is garbage, another CJK face is installed: the CJK
    // characters come from that one.
    require_system_fonts();
    let dir = scratch_dir("partial");
    let (zenhei, _) = Face::WqyZenHei.file().unwrap();
    let (droid, _) = Face::DroidSansFallback.file().unwrap();
    std::fs::create_dir_all(dir.join(zenhei).parent().unwrap()).unwrap();
    std::fs::write(dir.join(zenhei), b"not a font").unwrap();
    std::fs::create_dir_all(dir.join(droid).parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(Path::new(SYSTEM_FONT_DIR).join(droid), dir.join(droid)).unwrap();
    let partial = FontSet::in_dir(&dir);
    assert!(!partial.is_available(Face::WqyZenHei));
    let shaped = partial.shape(SEED_TEXT, "wqy-zenhei").unwrap();
    for s in &shaped {
        let expected = if s.ch.is_ascii() {
            Face::NotoSans
        } else {
            Face::DroidSansFallback
        };
        assert_eq!(s.face, expected, "{:?}", s.ch);
        assert_ne!(s.glyph, 0, "{:?}", s.ch);
    }
    render_with_fonts(&mark(SEED_TEXT, "wqy-zenhei", 40), &partial, &limits).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
