//! The fonts text marks are drawn with: OSS's `type_` names, the faces they map to, where
//! those faces live on disk, and the per-character fallback chain.
//!
//! OSS names seven fonts. Three are free and packaged by Debian (WenQuanYi Zen Hei,
//! WenQuanYi Micro Hei, Droid Sans Fallback); the four FangZheng (方正) faces are
//! commercial, so each maps to the closest free style in `fonts-noto-cjk`: Heiti (黑体,
//! sans) to Noto Sans CJK SC; Shusong (书宋) and Fangsong (仿宋), both Song/Ming styles,
//! to Noto Serif CJK SC; Kaiti (楷体, brush script) has no free face in those packages
//! and its modulated strokes are closer to the serif than to the sans, so it maps to
//! Noto Serif CJK SC too. `notosans` names the Noto Sans Regular built into the binary.
//!
//! System faces are read from their files the first time a character needs them and kept
//! for the life of the process; a file that is missing, unreadable or not a font is
//! skipped as if it were not installed, so text always renders with what is there.

use ab_glyph::{Font, FontArc, FontRef, FontVec, GlyphId};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Noto Sans Regular (SIL Open Font License 1.1), the one font imgd ships.
const NOTO_SANS: &[u8] = include_bytes!("../../../assets/NotoSans-Regular.ttf");

/// OSS's default when a request names no `type_`.
pub const DEFAULT_FONT: &str = "wqy-zenhei";

/// Where Debian installs fonts; the file paths of [`Face`] are relative to it.
pub const SYSTEM_FONT_DIR: &str = "/usr/share/fonts";

/// A typeface imgd can draw with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Face {
    /// Built in: Latin, Greek, Cyrillic, no CJK.
    NotoSans,
    WqyZenHei,
    WqyMicroHei,
    DroidSansFallback,
    /// The Simplified Chinese face of Noto Sans CJK.
    NotoSansCjkSc,
    /// The Simplified Chinese face of Noto Serif CJK.
    NotoSerifCjkSc,
}

/// Every accepted `type_` name and the face it draws with. The one list: the OSS parser
/// refuses names not in it, and the engine resolves names through it.
const NAMES: [(&str, Face); 8] = [
    ("wqy-zenhei", Face::WqyZenHei),
    ("wqy-microhei", Face::WqyMicroHei),
    ("fangzhengshusong", Face::NotoSerifCjkSc),
    ("fangzhengkaiti", Face::NotoSerifCjkSc),
    ("fangzhengheiti", Face::NotoSansCjkSc),
    ("fangzhengfangsong", Face::NotoSerifCjkSc),
    ("droidsansfallback", Face::DroidSansFallback),
    ("notosans", Face::NotoSans),
];

/// Where a character the chosen face lacks is looked for, in order: Latin first, then
/// the CJK faces by coverage (Noto Sans CJK covers the most, Droid Sans Fallback is
/// smallest). Every face is listed, so a character any installed face has is found.
const FALLBACK: [Face; 6] = [
    Face::NotoSans,
    Face::NotoSansCjkSc,
    Face::WqyZenHei,
    Face::WqyMicroHei,
    Face::DroidSansFallback,
    Face::NotoSerifCjkSc,
];

impl Face {
    /// All faces, in the order of their slots in a [`FontSet`].
    pub const ALL: [Face; 6] = [
        Face::NotoSans,
        Face::WqyZenHei,
        Face::WqyMicroHei,
        Face::DroidSansFallback,
        Face::NotoSansCjkSc,
        Face::NotoSerifCjkSc,
    ];

    /// The family name the face's own name table gives.
    pub fn family(self) -> &'static str {
        match self {
            Face::NotoSans => "Noto Sans",
            Face::WqyZenHei => "WenQuanYi Zen Hei",
            Face::WqyMicroHei => "WenQuanYi Micro Hei",
            Face::DroidSansFallback => "Droid Sans Fallback",
            Face::NotoSansCjkSc => "Noto Sans CJK SC",
            Face::NotoSerifCjkSc => "Noto Serif CJK SC",
        }
    }

    /// The face's file relative to the font directory and its index in a collection;
    /// `None` for the built-in face.
    pub fn file(self) -> Option<(&'static str, u32)> {
        match self {
            Face::NotoSans => None,
            Face::WqyZenHei => Some(("truetype/wqy/wqy-zenhei.ttc", 0)),
            Face::WqyMicroHei => Some(("truetype/wqy/wqy-microhei.ttc", 0)),
            Face::DroidSansFallback => Some(("truetype/droid/DroidSansFallbackFull.ttf", 0)),
            // The collections hold JP, KR, SC, TC, HK in that order.
            Face::NotoSansCjkSc => Some(("opentype/noto/NotoSansCJK-Regular.ttc", 2)),
            Face::NotoSerifCjkSc => Some(("opentype/noto/NotoSerifCJK-Regular.ttc", 2)),
        }
    }

    /// The Debian package that installs the face's file.
    pub fn package(self) -> Option<&'static str> {
        match self {
            Face::NotoSans => None,
            Face::WqyZenHei => Some("fonts-wqy-zenhei"),
            Face::WqyMicroHei => Some("fonts-wqy-microhei"),
            Face::DroidSansFallback => Some("fonts-droid-fallback"),
            Face::NotoSansCjkSc | Face::NotoSerifCjkSc => Some("fonts-noto-cjk"),
        }
    }

    fn slot(self) -> usize {
        match self {
            Face::NotoSans => 0,
            Face::WqyZenHei => 1,
            Face::WqyMicroHei => 2,
            Face::DroidSansFallback => 3,
            Face::NotoSansCjkSc => 4,
            Face::NotoSerifCjkSc => 5,
        }
    }
}

/// The accepted `type_` names, OSS's seven first, then imgd's own.
pub fn font_names() -> impl Iterator<Item = &'static str> {
    NAMES.iter().map(|(name, _)| *name)
}

/// The face a `type_` name draws with, or `None` for a name imgd does not know.
pub fn face_for(name: &str) -> Option<Face> {
    NAMES
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, face)| *face)
}

/// The accepted names as one phrase for error messages, built once from [`NAMES`].
pub fn accepted_names() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let names: Vec<&str> = font_names().collect();
        format!("a font name, one of {}", names.join(", "))
    })
}

/// A name no font answers to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown font {name:?}, expected {}", accepted_names())]
pub struct UnknownFont {
    pub name: String,
}

/// One character of a line and the face it is drawn from.
#[derive(Debug, Clone)]
pub struct Shaped {
    pub ch: char,
    pub face: Face,
    /// The glyph in `face`; 0 (the missing-glyph box) only when no installed face has
    /// the character.
    pub glyph: u16,
    pub(super) font: FontArc,
}

/// The faces of one font directory, each loaded on first use.
pub struct FontSet {
    dir: PathBuf,
    loaded: [OnceLock<Option<FontArc>>; Face::ALL.len()],
}

impl FontSet {
    /// The faces installed under [`SYSTEM_FONT_DIR`], shared by every render.
    pub fn system() -> &'static FontSet {
        static SYSTEM: OnceLock<FontSet> = OnceLock::new();
        SYSTEM.get_or_init(|| FontSet::in_dir(SYSTEM_FONT_DIR))
    }

    /// The faces installed under `dir` (laid out as [`SYSTEM_FONT_DIR`] is), plus the
    /// built-in one.
    pub fn in_dir(dir: impl Into<PathBuf>) -> FontSet {
        FontSet {
            dir: dir.into(),
            loaded: Default::default(),
        }
    }

    /// The face's font, or `None` when its file is absent or unusable here.
    fn font(&self, face: Face) -> Option<&FontArc> {
        self.loaded
            .get(face.slot())?
            .get_or_init(|| match face.file() {
                None => FontRef::try_from_slice(NOTO_SANS).ok().map(FontArc::new),
                Some((file, index)) => load(&self.dir.join(file), index),
            })
            .as_ref()
    }

    /// Whether the face can be drawn with here.
    pub fn is_available(&self, face: Face) -> bool {
        self.font(face).is_some()
    }

    /// Whether the face is available and has a glyph for `ch`.
    pub fn covers(&self, face: Face, ch: char) -> bool {
        self.font(face)
            .is_some_and(|f| f.glyph_id(ch) != GlyphId(0))
    }

    /// Picks the face for every character of `text` drawn in the font named `name`: the
    /// named face if it has the character, else the first face of the fallback chain
    /// that has it. A character no available face has gets the missing glyph of the
    /// first available face in that order.
    pub fn shape(&self, text: &str, name: &str) -> Result<Vec<Shaped>, UnknownFont> {
        let chosen = face_for(name).ok_or_else(|| UnknownFont {
            name: name.to_owned(),
        })?;
        // Faces are loaded only when a character reaches them, so Latin text in the
        // built-in face never reads a CJK font file.
        let chain: Vec<Face> = std::iter::once(chosen)
            .chain(FALLBACK.into_iter().filter(|face| *face != chosen))
            .collect();
        let mut shaped = Vec::with_capacity(text.len());
        for ch in text.chars() {
            let found = chain.iter().find_map(|&face| {
                let font = self.font(face)?;
                let id = font.glyph_id(ch);
                (id != GlyphId(0)).then_some((face, font, id))
            });
            let missing = || {
                chain
                    .iter()
                    .find_map(|&face| self.font(face).map(|font| (face, font, GlyphId(0))))
            };
            let Some((face, font, id)) = found.or_else(missing) else {
                // Not even the built-in face parsed: nothing can be drawn.
                continue;
            };
            shaped.push(Shaped {
                ch,
                face,
                glyph: id.0,
                font: font.clone(),
            });
        }
        Ok(shaped)
    }
}

/// Reads one face of a font file. Any failure means "not installed": the caller falls
/// back to other faces rather than failing the render.
fn load(path: &Path, index: u32) -> Option<FontArc> {
    let bytes = std::fs::read(path).ok()?;
    FontVec::try_from_vec_and_index(bytes, index)
        .ok()
        .map(FontArc::new)
}
