//! Image type detection from magic bytes. Content-Type headers are not trusted: an
//! upstream (or an attacker's server) can label anything `image/png`.

/// How many body bytes a fetch reads, at most, looking for a known signature. Binary
/// formats need a few dozen; the window is generous so SVG files with a long XML
/// declaration, comments and a DOCTYPE before `<svg` are still recognised.
pub const SNIFF_WINDOW: usize = 8 * 1024;

/// An image format imgd can recognise by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageKind {
    Jpeg,
    Png,
    Gif,
    Webp,
    Avif,
    Bmp,
    Tiff,
    Svg,
}

impl ImageKind {
    pub fn content_type(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Png => "image/png",
            ImageKind::Gif => "image/gif",
            ImageKind::Webp => "image/webp",
            ImageKind::Avif => "image/avif",
            ImageKind::Bmp => "image/bmp",
            ImageKind::Tiff => "image/tiff",
            ImageKind::Svg => "image/svg+xml",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "jpg",
            ImageKind::Png => "png",
            ImageKind::Gif => "gif",
            ImageKind::Webp => "webp",
            ImageKind::Avif => "avif",
            ImageKind::Bmp => "bmp",
            ImageKind::Tiff => "tiff",
            ImageKind::Svg => "svg",
        }
    }
}

/// The image kind `prefix` starts with, judged by magic bytes only. A prefix too short to
/// decide gives `None`.
pub fn sniff(prefix: &[u8]) -> Option<ImageKind> {
    match classify(prefix) {
        Verdict::Image(kind) => Some(kind),
        Verdict::NotImage | Verdict::NeedMore => None,
    }
}

/// Three-way answer so a streaming reader stops as soon as the answer is known instead of
/// always filling the whole window (HTML is refused after its first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Image(ImageKind),
    NotImage,
    NeedMore,
}

pub(crate) fn classify(p: &[u8]) -> Verdict {
    const BINARY: [fn(&[u8]) -> Verdict; 7] = [jpeg, png, gif, webp, avif, bmp, tiff];
    let mut need_more = false;
    for check in BINARY {
        match check(p) {
            Verdict::Image(kind) => return Verdict::Image(kind),
            Verdict::NeedMore => need_more = true,
            Verdict::NotImage => {}
        }
    }
    match svg(p) {
        Verdict::NotImage if need_more => Verdict::NeedMore,
        verdict => verdict,
    }
}

/// Matches fixed byte strings at fixed offsets, answering `NeedMore` while every byte
/// seen so far agrees.
fn pieces(p: &[u8], kind: ImageKind, parts: &[(usize, &[u8])]) -> Verdict {
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
        Verdict::Image(kind)
    } else {
        Verdict::NeedMore
    }
}

fn any_of(p: &[u8], kind: ImageKind, alternatives: &[&[(usize, &[u8])]]) -> Verdict {
    let mut verdict = Verdict::NotImage;
    for parts in alternatives {
        match pieces(p, kind, parts) {
            Verdict::Image(k) => return Verdict::Image(k),
            Verdict::NeedMore => verdict = Verdict::NeedMore,
            Verdict::NotImage => {}
        }
    }
    verdict
}

fn jpeg(p: &[u8]) -> Verdict {
    pieces(p, ImageKind::Jpeg, &[(0, b"\xFF\xD8\xFF")])
}

fn png(p: &[u8]) -> Verdict {
    pieces(p, ImageKind::Png, &[(0, b"\x89PNG\r\n\x1a\n")])
}

fn gif(p: &[u8]) -> Verdict {
    any_of(p, ImageKind::Gif, &[&[(0, b"GIF87a")], &[(0, b"GIF89a")]])
}

fn webp(p: &[u8]) -> Verdict {
    pieces(p, ImageKind::Webp, &[(0, b"RIFF"), (8, b"WEBP")])
}

fn tiff(p: &[u8]) -> Verdict {
    // Classic and BigTIFF, both byte orders.
    any_of(
        p,
        ImageKind::Tiff,
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
    // at offset 14 takes one of a handful of values in real files.
    match pieces(p, ImageKind::Bmp, &[(0, b"BM")]) {
        Verdict::Image(_) => {}
        other => return other,
    }
    let Some(size) = p.get(14..18) else {
        return Verdict::NeedMore;
    };
    let size = u32::from_le_bytes([size[0], size[1], size[2], size[3]]);
    if matches!(size, 12 | 16 | 40 | 52 | 56 | 64 | 108 | 124) {
        Verdict::Image(ImageKind::Bmp)
    } else {
        Verdict::NotImage
    }
}

fn avif(p: &[u8]) -> Verdict {
    // An ISO-BMFF `ftyp` box whose major brand, or one of whose compatible brands, is
    // AVIF (still or sequence). HEIC shares the container and must not match.
    const BRANDS: [&[u8]; 2] = [b"avif", b"avis"];
    // The box size leads; ftyp boxes are tiny, so its high bytes are zero, which also
    // lets a short prefix of text be refused without waiting for eight bytes.
    match pieces(p, ImageKind::Avif, &[(0, b"\0\0"), (4, b"ftyp")]) {
        Verdict::Image(_) => {}
        other => return other,
    }
    let Some(major) = p.get(8..12) else {
        return Verdict::NeedMore;
    };
    if BRANDS.contains(&major) {
        return Verdict::Image(ImageKind::Avif);
    }
    let box_size = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize;
    // Real ftyp boxes are small; a huge "size" is not an ftyp box worth scanning.
    if !(16..=512).contains(&box_size) {
        return Verdict::NotImage;
    }
    let mut at = 16;
    while at + 4 <= box_size {
        match p.get(at..at + 4) {
            Some(brand) if BRANDS.contains(&brand) => return Verdict::Image(ImageKind::Avif),
            Some(_) => at += 4,
            None => return Verdict::NeedMore,
        }
    }
    Verdict::NotImage
}

fn svg(p: &[u8]) -> Verdict {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let mut i = 0;
    if p.starts_with(BOM) {
        i = BOM.len();
    } else if BOM.starts_with(p) && !p.is_empty() {
        return Verdict::NeedMore;
    }
    loop {
        while p
            .get(i)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        {
            i += 1;
        }
        let rest = &p[i..];
        if rest.is_empty() {
            return Verdict::NeedMore;
        }
        let skip_to = |open: usize, close: &[u8]| {
            find(&rest[open..], close).map(|at| open + at + close.len())
        };
        let skipped = if rest.starts_with(b"<?") {
            // XML declaration or another processing instruction.
            skip_to(2, b"?>")
        } else if rest.starts_with(b"<!--") {
            skip_to(4, b"-->")
        } else if starts_with_ignore_case(rest, b"<!DOCTYPE") {
            doctype_end(rest)
        } else if rest.starts_with(b"<svg") {
            return match rest.get(4) {
                Some(b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/') => Verdict::Image(ImageKind::Svg),
                Some(_) => Verdict::NotImage,
                None => Verdict::NeedMore,
            };
        } else {
            let partial = [&b"<?"[..], b"<!--", b"<!DOCTYPE", b"<svg"]
                .iter()
                .any(|token| rest.len() < token.len() && starts_with_ignore_case(token, rest));
            return if partial {
                Verdict::NeedMore
            } else {
                Verdict::NotImage
            };
        };
        match skipped {
            Some(n) => i += n,
            None => return Verdict::NeedMore,
        }
    }
}

/// End of a `<!DOCTYPE ...>`, stepping over an internal subset in brackets, whose entity
/// declarations may contain `>`.
fn doctype_end(rest: &[u8]) -> Option<usize> {
    let mut in_subset = false;
    for (at, &b) in rest.iter().enumerate() {
        match b {
            b'[' => in_subset = true,
            b']' => in_subset = false,
            b'>' if !in_subset => return Some(at + 1),
            _ => {}
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn starts_with_ignore_case(haystack: &[u8], prefix: &[u8]) -> bool {
    haystack.len() >= prefix.len() && haystack[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_signatures() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF"), Some(ImageKind::Jpeg));
        assert_eq!(sniff(b"\xFF\xD8\xFF"), Some(ImageKind::Jpeg));
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(ImageKind::Png)
        );
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Some(ImageKind::Gif));
        assert_eq!(sniff(b"GIF87a"), Some(ImageKind::Gif));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some(ImageKind::Webp));
        assert_eq!(sniff(b"II*\0\x08\0\0\0"), Some(ImageKind::Tiff));
        assert_eq!(sniff(b"MM\0*\0\0\0\x08"), Some(ImageKind::Tiff));
        assert_eq!(sniff(b"II+\0"), Some(ImageKind::Tiff));
        let mut bmp = b"BM\x46\0\0\0\0\0\0\0\x36\0\0\0".to_vec();
        bmp.extend_from_slice(&40u32.to_le_bytes());
        assert_eq!(sniff(&bmp), Some(ImageKind::Bmp));
    }

    #[test]
    fn avif_major_and_compatible_brands() {
        assert_eq!(
            sniff(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf"),
            Some(ImageKind::Avif)
        );
        assert_eq!(sniff(b"\0\0\0\x14ftypavis\0\0\0\0"), Some(ImageKind::Avif));
        assert_eq!(
            sniff(b"\0\0\0\x1cftypmif1\0\0\0\0mif1miafavif"),
            Some(ImageKind::Avif)
        );
        // HEIC and MP4 share the container but are not AVIF.
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"), None);
        assert_eq!(sniff(b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2"), None);
    }

    #[test]
    fn svg_preambles() {
        assert_eq!(
            sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            Some(ImageKind::Svg)
        );
        assert_eq!(sniff(b"<svg>"), Some(ImageKind::Svg));
        assert_eq!(sniff(b"\xEF\xBB\xBF \n\t<svg "), Some(ImageKind::Svg));
        assert_eq!(
            sniff(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg width=\"1\">"),
            Some(ImageKind::Svg)
        );
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?><!-- Generator: x > y --><!-- two -->\n<svg/>"),
            Some(ImageKind::Svg)
        );
        assert_eq!(
            sniff(
                b"<?xml version=\"1.0\"?>\n<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \
                  \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\" [ <!ENTITY a \"b>\"> ]>\n<svg>"
            ),
            Some(ImageKind::Svg)
        );
    }

    #[test]
    fn text_and_html_are_refused() {
        assert_eq!(sniff(b"<!DOCTYPE html><html><body>hi</body></html>"), None);
        assert_eq!(sniff(b"<html><svg></svg></html>"), None);
        assert_eq!(sniff(b"<?xml version=\"1.0\"?><rss>"), None);
        assert_eq!(sniff(b"<svgx>"), None);
        assert_eq!(sniff(b"{\"error\": \"not found\"}"), None);
        assert_eq!(sniff(b"BMW makes cars, not bitmaps"), None);
        assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"hello world"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn streaming_verdicts() {
        assert_eq!(classify(b""), Verdict::NeedMore);
        assert_eq!(classify(b"\x89PN"), Verdict::NeedMore);
        assert_eq!(classify(b"RIFF\0\0"), Verdict::NeedMore);
        assert_eq!(classify(b"<?xml version="), Verdict::NeedMore);
        assert_eq!(
            classify(b"<!-- a comment that is not closed yet"),
            Verdict::NeedMore
        );
        assert_eq!(classify(b"<sv"), Verdict::NeedMore);
        assert_eq!(classify(b"<svg"), Verdict::NeedMore);
        assert_eq!(classify(b"<!doc"), Verdict::NeedMore);
        // Decided early: no reason to read further.
        assert_eq!(classify(b"<h"), Verdict::NotImage);
        assert_eq!(classify(b"Not found"), Verdict::NotImage);
        assert_eq!(
            classify(b"\x89PNG\r\n\x1a\n"),
            Verdict::Image(ImageKind::Png)
        );
    }

    #[test]
    fn content_types_and_extensions() {
        assert_eq!(ImageKind::Jpeg.content_type(), "image/jpeg");
        assert_eq!(ImageKind::Svg.content_type(), "image/svg+xml");
        assert_eq!(ImageKind::Jpeg.extension(), "jpg");
        assert_eq!(ImageKind::Avif.extension(), "avif");
    }
}
