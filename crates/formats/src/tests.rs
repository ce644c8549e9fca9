use super::*;

fn bmp_with_dib_size(size: u32) -> Vec<u8> {
    let mut bmp = b"BM\x46\0\0\0\0\0\0\0\x36\0\0\0".to_vec();
    bmp.extend_from_slice(&size.to_le_bytes());
    bmp
}

fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
    let size = 16 + 4 * compatible.len() as u32;
    let mut b = size.to_be_bytes().to_vec();
    b.extend_from_slice(b"ftyp");
    b.extend_from_slice(major);
    b.extend_from_slice(&[0; 4]);
    for brand in compatible {
        b.extend_from_slice(*brand);
    }
    b
}

#[test]
fn binary_signatures() {
    assert_eq!(
        sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF"),
        Some(ImageFormat::Jpeg)
    );
    assert_eq!(
        sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
        Some(ImageFormat::Png)
    );
    assert_eq!(sniff(b"GIF87a"), Some(ImageFormat::Gif));
    assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Some(ImageFormat::Gif));
    assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some(ImageFormat::Webp));
    assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt "), None);
    assert_eq!(sniff(b"II*\0\x08\0\0\0"), Some(ImageFormat::Tiff));
    assert_eq!(sniff(b"MM\0*\0\0\0\x08"), Some(ImageFormat::Tiff));
}

#[test]
fn bigtiff_in_both_byte_orders() {
    assert_eq!(sniff(b"II+\0\x08\0\0\0"), Some(ImageFormat::Tiff));
    assert_eq!(sniff(b"MM\0+\0\x08\0\0"), Some(ImageFormat::Tiff));
}

#[test]
fn bmp_needs_a_known_dib_header_size() {
    for size in [12, 16, 40, 52, 56, 64, 108, 124] {
        assert_eq!(
            sniff(&bmp_with_dib_size(size)),
            Some(ImageFormat::Bmp),
            "{size}"
        );
    }
    assert_eq!(sniff(&bmp_with_dib_size(41)), None);
    assert_eq!(sniff(b"BMW makes cars, not bitmaps"), None);
    assert_eq!(classify(b"BM\x46\0"), Verdict::NeedMore);
}

#[test]
fn avif_by_major_or_compatible_brand() {
    assert_eq!(
        sniff(&ftyp(b"avif", &[b"avif", b"mif1", b"miaf"])),
        Some(ImageFormat::Avif)
    );
    assert_eq!(sniff(&ftyp(b"avis", &[])), Some(ImageFormat::Avif));
    // Generic HEIF major brand, AV1 inside: AVIF, not HEIC.
    assert_eq!(
        sniff(&ftyp(b"mif1", &[b"mif1", b"miaf", b"avif"])),
        Some(ImageFormat::Avif)
    );
}

#[test]
fn heic_when_no_brand_says_avif() {
    assert_eq!(
        sniff(&ftyp(b"heic", &[b"mif1", b"heic"])),
        Some(ImageFormat::Heic)
    );
    assert_eq!(sniff(&ftyp(b"heix", &[])), Some(ImageFormat::Heic));
    assert_eq!(
        sniff(&ftyp(b"mif1", &[b"mif1", b"heic"])),
        Some(ImageFormat::Heic)
    );
    assert_eq!(sniff(&ftyp(b"msf1", &[b"hevc"])), Some(ImageFormat::Heic));
    // Same container, not an image.
    assert_eq!(sniff(&ftyp(b"isom", &[b"isom", b"iso2"])), None);
    // A box size no ftyp box has.
    assert_eq!(sniff(b"\x01\0\0\x1cftypisom\0\0\0\0avif"), None);
}

#[test]
fn svg_preambles() {
    assert_eq!(sniff(b"<svg>"), Some(ImageFormat::Svg));
    assert_eq!(sniff(b"<svg/>"), Some(ImageFormat::Svg));
    assert_eq!(sniff(b"\xEF\xBB\xBF \n\t<svg "), Some(ImageFormat::Svg));
    assert_eq!(
        sniff(b"<?xml version=\"1.0\"?><!-- x > y --><!-- two -->\n<svg/>"),
        Some(ImageFormat::Svg)
    );
    assert_eq!(
        sniff(b"<!doctype svg [ <!ENTITY a \"b>\"> ]>\n<svg>"),
        Some(ImageFormat::Svg)
    );
}

#[test]
fn svg_must_be_the_root_element() {
    assert_eq!(sniff(b"<html><svg></svg></html>"), None);
    assert_eq!(sniff(b"<body><svg></svg></body>"), None);
    assert_eq!(
        sniff(b"<?xml version=\"1.0\"?><rss><svg></svg></rss>"),
        None
    );
    assert_eq!(sniff(b"<svgx>"), None);
    assert_eq!(sniff(b"<SVG>"), None);
    // No-break space is not XML whitespace.
    assert_eq!(sniff("\u{a0}<svg>".as_bytes()), None);
}

#[test]
fn sniff_judges_only_the_window() {
    let svg_after = |preamble: usize| {
        let mut b = b"<!--".to_vec();
        b.resize(preamble - 3, b' ');
        b.extend_from_slice(b"-->\n<svg width=\"1\"/>");
        b
    };
    // Past a 4 KiB preamble, still within the window.
    assert_eq!(sniff(&svg_after(6000)), Some(ImageFormat::Svg));
    // The root element lies beyond the window: not judged, so not an image.
    assert_eq!(sniff(&svg_after(SNIFF_WINDOW + 10)), None);
    assert_eq!(
        classify(&svg_after(SNIFF_WINDOW + 10)),
        Verdict::Image(ImageFormat::Svg)
    );
}

#[test]
fn streaming_verdicts() {
    assert_eq!(classify(b""), Verdict::NeedMore);
    assert_eq!(classify(b"\x89PN"), Verdict::NeedMore);
    assert_eq!(classify(b"\0\0\0\x1cftyp"), Verdict::NeedMore);
    assert_eq!(classify(b"\xEF\xBB"), Verdict::NeedMore);
    assert_eq!(classify(b"<!-- not closed yet"), Verdict::NeedMore);
    assert_eq!(classify(b"<svg"), Verdict::NeedMore);
    assert_eq!(classify(b"<h"), Verdict::NotImage);
    assert_eq!(classify(b"{\"error\": 1}"), Verdict::NotImage);
}

#[test]
fn names_extensions_and_content_types() {
    let all = [
        (ImageFormat::Jpeg, "jpg", "image/jpeg"),
        (ImageFormat::Png, "png", "image/png"),
        (ImageFormat::Gif, "gif", "image/gif"),
        (ImageFormat::Webp, "webp", "image/webp"),
        (ImageFormat::Avif, "avif", "image/avif"),
        (ImageFormat::Heic, "heic", "image/heic"),
        (ImageFormat::Bmp, "bmp", "image/bmp"),
        (ImageFormat::Tiff, "tiff", "image/tiff"),
        (ImageFormat::Svg, "svg", "image/svg+xml"),
    ];
    for (format, name, content_type) in all {
        assert_eq!(format.name(), name);
        assert_eq!(format.extension(), name);
        assert_eq!(format.content_type(), content_type);
    }
}
