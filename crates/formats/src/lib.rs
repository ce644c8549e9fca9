//! Which image format a byte string holds, judged from its first bytes: imgd's one
//! magic-byte sniffer. `imaging` asks it which decoder to run and `fetch` whether an
//! origin's answer is an image at all. Content-Type headers and file names are never
//! consulted: an upstream (or an attacker's server) can label anything `image/png`.
//!
//! - [`ImageFormat`] names a format, with its name, file extension and content type.
//! - [`sniff`] judges a whole buffer, looking at no more than its first
//!   [`SNIFF_WINDOW`] bytes, so a file is recognised or not whatever its length.
//! - [`classify`] judges a prefix that may still grow: it answers [`Verdict::NeedMore`]
//!   while every byte seen so far fits some signature, so a streaming reader stops as
//!   soon as the answer is known (an HTML error page is refused after its first byte).
//!
//! Binary formats are matched by fixed signatures, checked a little beyond the magic
//! number where the magic alone is too weak (BMP's `BM`) or shared (ISO-BMFF's `ftyp`
//! for AVIF and HEIC). SVG is recognised by walking the XML preamble (declaration,
//! comments, doctype) to the root element, which must be `<svg` (`svg.rs`). Nothing
//! here parses dimensions; that is `imaging`'s header probe.

mod svg;

/// How many leading bytes are judged, at most. Binary formats need a few dozen; the
/// window is generous so SVG files with a long XML declaration, comments and a DOCTYPE
/// before `<svg` are still recognised. `fetch` reads no more than this looking for a
/// signature, and [`sniff`] ignores what lies beyond, so both agree on every file.
pub const SNIFF_WINDOW: usize = 8 * 1024;

/// An image format imgd recognises by its first bytes. HEIC (any HEIF whose brands do not
/// say AVIF) is decoded as input but never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
    Avif,
    Heic,
    Bmp,
    Tiff,
    Svg,
}

impl ImageFormat {
    /// The lower-case short name (`jpg`, `png`, …): what OSS's `info` reports as the
    /// format and `format,` spells it.
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Gif => "gif",
            ImageFormat::Webp => "webp",
            ImageFormat::Avif => "avif",
            ImageFormat::Heic => "heic",
            ImageFormat::Bmp => "bmp",
            ImageFormat::Tiff => "tiff",
            ImageFormat::Svg => "svg",
        }
    }

    /// The usual file extension, without the dot. It is the short name for every format
    /// today; callers naming files use this so that could change in one place.
    pub fn extension(self) -> &'static str {
        self.name()
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Webp => "image/webp",
            ImageFormat::Avif => "image/avif",
            ImageFormat::Heic => "image/heic",
            ImageFormat::Bmp => "image/bmp",
            ImageFormat::Tiff => "image/tiff",
            ImageFormat::Svg => "image/svg+xml",
        }
    }
}

/// The format `data` starts with, judged on at most its first [`SNIFF_WINDOW`] bytes.
/// `None` when no signature matches, or when the bytes end before one could be decided.
pub fn sniff(data: &[u8]) -> Option<ImageFormat> {
    match classify(&data[..data.len().min(SNIFF_WINDOW)]) {
        Verdict::Image(format) => Some(format),
        Verdict::NotImage | Verdict::NeedMore => None,
    }
}

/// [`classify`]'s answer for a prefix that may still grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Image(ImageFormat),
    /// No signature fits, whatever bytes follow.
    NotImage,
    /// Every byte so far fits some signature; more are needed to decide.
    NeedMore,
}

/// Judges `prefix`, which a streaming reader may extend and classify again. A caller
/// bounding its reads stops at [`SNIFF_WINDOW`] and treats `NeedMore` there as
/// `NotImage`, which is what [`sniff`] does.
pub fn classify(prefix: &[u8]) -> Verdict {
    const BINARY: [fn(&[u8]) -> Verdict; 7] = [jpeg, png, gif, webp, iso_bmff, bmp, tiff];
    let mut need_more = false;
    for check in BINARY {
        match check(prefix) {
            Verdict::Image(format) => return Verdict::Image(format),
            Verdict::NeedMore => need_more = true,
            Verdict::NotImage => {}
        }
    }
    match svg::classify(prefix) {
        Verdict::NotImage if need_more => Verdict::NeedMore,
        verdict => verdict,
    }
}

/// Matches fixed byte strings at fixed offsets, answering `NeedMore` while every byte
/// seen so far agrees.
fn pieces(p: &[u8], format: ImageFormat, parts: &[(usize, &[u8])]) -> Verdict {
    let mut complete = true;
    for &(at, want) in parts {
        let have = p.get(at..).unwrap_or(&[]);
        let n = have.len().min(want.len());
        if have[..n] != want[..n] {
            return Verdict::NotImage;
        }
        complete &= n == want.len();
    }
    if complete {
        Verdict::Image(format)
    } else {
        Verdict::NeedMore
    }
}

fn any_of(p: &[u8], format: ImageFormat, alternatives: &[&[(usize, &[u8])]]) -> Verdict {
    let mut verdict = Verdict::NotImage;
    for parts in alternatives {
        match pieces(p, format, parts) {
            Verdict::Image(f) => return Verdict::Image(f),
            Verdict::NeedMore => verdict = Verdict::NeedMore,
            Verdict::NotImage => {}
        }
    }
    verdict
}

fn jpeg(p: &[u8]) -> Verdict {
    pieces(p, ImageFormat::Jpeg, &[(0, b"\xFF\xD8\xFF")])
}

fn png(p: &[u8]) -> Verdict {
    pieces(p, ImageFormat::Png, &[(0, b"\x89PNG\r\n\x1a\n")])
}

fn gif(p: &[u8]) -> Verdict {
    any_of(p, ImageFormat::Gif, &[&[(0, b"GIF87a")], &[(0, b"GIF89a")]])
}

fn webp(p: &[u8]) -> Verdict {
    pieces(p, ImageFormat::Webp, &[(0, b"RIFF"), (8, b"WEBP")])
}

fn tiff(p: &[u8]) -> Verdict {
    // Classic and BigTIFF, both byte orders; the `tiff` decoder reads all four.
    any_of(
        p,
        ImageFormat::Tiff,
        &[
            &[(0, b"II*\0")],
            &[(0, b"MM\0*")],
            &[(0, b"II+\0")],
            &[(0, b"MM\0+")],
        ],
    )
}

fn bmp(p: &[u8]) -> Verdict {
    // "BM" alone would claim any text starting with those letters; the DIB header size
    // at offset 14 takes one of a handful of values in real files (Windows 12, 40, 52,
    // 56, 108, 124; OS/2 16 and 64).
    match pieces(p, ImageFormat::Bmp, &[(0, b"BM")]) {
        Verdict::Image(_) => {}
        other => return other,
    }
    let Some(&[a, b, c, d]) = p.get(14..18) else {
        return Verdict::NeedMore;
    };
    if matches!(
        u32::from_le_bytes([a, b, c, d]),
        12 | 16 | 40 | 52 | 56 | 64 | 108 | 124
    ) {
        Verdict::Image(ImageFormat::Bmp)
    } else {
        Verdict::NotImage
    }
}

/// An ISO-BMFF file opening with its `ftyp` box. AVIF when the major brand or any
/// compatible brand is an AVIF one (still or sequence): files whose major brand is the
/// generic HEIF `mif1` but which list `avif` hold AV1 and decode as AVIF. HEIC when no
/// brand says AVIF and the major brand is a HEIF one. Anything else (MP4, say) is not an
/// image.
fn iso_bmff(p: &[u8]) -> Verdict {
    const AVIF_BRANDS: [&[u8]; 2] = [b"avif", b"avis"];
    const HEIF_BRANDS: [&[u8]; 4] = [b"heic", b"heix", b"mif1", b"msf1"];
    // The box size leads; ftyp boxes are tiny, so its high bytes are zero, which also
    // lets a short prefix of text be refused without waiting for eight bytes.
    match pieces(p, ImageFormat::Avif, &[(0, b"\0\0"), (4, b"ftyp")]) {
        Verdict::Image(_) => {}
        other => return other,
    }
    let (Some(&[s0, s1, s2, s3]), Some(major)) = (p.get(..4), p.get(8..12)) else {
        return Verdict::NeedMore;
    };
    if AVIF_BRANDS.contains(&major) {
        return Verdict::Image(ImageFormat::Avif);
    }
    let box_size = u32::from_be_bytes([s0, s1, s2, s3]) as usize;
    // Real ftyp boxes are small; a huge "size" is not an ftyp box worth scanning. The
    // compatible brands start after the major brand and its minor version.
    if (16..=512).contains(&box_size) {
        let mut at = 16;
        while at + 4 <= box_size {
            match p.get(at..at + 4) {
                Some(brand) if AVIF_BRANDS.contains(&brand) => {
                    return Verdict::Image(ImageFormat::Avif);
                }
                Some(_) => at += 4,
                None => return Verdict::NeedMore,
            }
        }
    }
    if HEIF_BRANDS.contains(&major) {
        Verdict::Image(ImageFormat::Heic)
    } else {
        Verdict::NotImage
    }
}

#[cfg(test)]
mod tests;
