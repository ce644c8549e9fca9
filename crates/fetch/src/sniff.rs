//! Which bodies a fetch accepts as images. Recognition is the shared sniffer's
//! ([`formats`], also behind imaging's decoders), so a body fetch accepts is one imaging
//! can tell the format of; Content-Type headers are not trusted, since an upstream (or
//! an attacker's server) can label anything `image/png`. Every format the sniffer knows,
//! HEIC included, is one imaging decodes.

pub(crate) use formats::Verdict;
pub use formats::{ImageFormat as ImageKind, SNIFF_WINDOW};

/// The image kind `prefix` starts with, judged by magic bytes only, on at most its first
/// [`SNIFF_WINDOW`] bytes. A prefix too short to decide gives `None`.
pub fn sniff(prefix: &[u8]) -> Option<ImageKind> {
    match classify(&prefix[..prefix.len().min(SNIFF_WINDOW)]) {
        Verdict::Image(kind) => Some(kind),
        Verdict::NotImage | Verdict::NeedMore => None,
    }
}

/// [`formats::classify`]: a streaming reader calls it after each chunk and stops as soon
/// as the answer is known.
pub(crate) fn classify(prefix: &[u8]) -> Verdict {
    formats::classify(prefix)
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
        // HEIC and MP4 share the container but are not AVIF; MP4 is no image at all.
        assert_eq!(
            sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"),
            Some(ImageKind::Heic)
        );
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

    #[test]
    fn heic_is_an_image_now_that_imaging_decodes_it() {
        let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic";
        assert_eq!(classify(heic), Verdict::Image(ImageKind::Heic));
        assert_eq!(sniff(heic), Some(ImageKind::Heic));
    }
}
