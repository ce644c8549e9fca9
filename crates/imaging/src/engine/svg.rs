//! SVG through `resvg`, rasterised at its intrinsic size or straight at the size the first
//! resize asks for (so a small icon scaled up stays sharp). Nothing outside the document is
//! loaded: `href`s naming files or URLs are ignored, and only `data:` images are drawn,
//! each checked against the pixel limit first. No fonts are loaded, so text is not drawn.

use super::frame::{Frame, Layout};
use super::{EngineError, EngineResult, gif, jpeg, png, webp};
use formats::ImageFormat;
use resvg::{tiny_skia, usvg};
use std::sync::Arc;

fn options(max_pixels: u64) -> usvg::Options<'static> {
    usvg::Options {
        resources_dir: None,
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: Box::new(move |_mime, data: Arc<Vec<u8>>, opts| {
                let format = formats::sniff(&data)?;
                if format == ImageFormat::Svg {
                    return usvg::Tree::from_data_nested(&data, opts)
                        .ok()
                        .map(usvg::ImageKind::SVG);
                }
                // Only the header is read, so a decompression bomb inside the document is
                // skipped, not drawn.
                let (width, height) = match format {
                    ImageFormat::Png => png::header(&data).map(|h| (h.width, h.height)),
                    ImageFormat::Jpeg => jpeg::header(&data).map(|h| (h.width, h.height)),
                    ImageFormat::Gif => gif::header(&data).map(|h| (h.width, h.height)),
                    ImageFormat::Webp => webp::header(&data).map(|h| (h.width, h.height)),
                    _ => return None,
                }
                .ok()?;
                if u64::from(width) * u64::from(height) > max_pixels {
                    return None;
                }
                Some(match format {
                    ImageFormat::Png => usvg::ImageKind::PNG(data),
                    ImageFormat::Jpeg => usvg::ImageKind::JPEG(data),
                    ImageFormat::Gif => usvg::ImageKind::GIF(data),
                    _ => usvg::ImageKind::WEBP(data),
                })
            }),
            // Files and URLs: never loaded.
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    }
}

fn parse(data: &[u8], opts: &usvg::Options) -> EngineResult<usvg::Tree> {
    usvg::Tree::from_data(data, opts).map_err(|e| EngineError::Decode(format!("svg: {e}")))
}

pub struct Header {
    pub width: u32,
    pub height: u32,
}

fn intrinsic(tree: &usvg::Tree) -> (u32, u32) {
    let s = tree.size();
    let side = |v: f32| v.round().clamp(1.0, u32::MAX as f32) as u32;
    (side(s.width()), side(s.height()))
}

/// The intrinsic size (width/height, else the viewBox). Parses the document but draws
/// nothing and decodes no embedded image.
pub fn header(data: &[u8]) -> EngineResult<Header> {
    let (width, height) = intrinsic(&parse(data, &options(0))?);
    Ok(Header { width, height })
}

/// Rasterises the document stretched to `size`, or at its intrinsic size. The caller has
/// checked that size against the limits.
pub fn render(data: &[u8], size: Option<(u32, u32)>, max_pixels: u64) -> EngineResult<Frame> {
    let tree = parse(data, &options(max_pixels))?;
    let (w, h) = size.unwrap_or_else(|| intrinsic(&tree));
    let mut pixmap = tiny_skia::Pixmap::new(w, h)
        .ok_or_else(|| EngineError::TooLarge(format!("svg: cannot draw at {w}x{h}")))?;
    let s = tree.size();
    let transform = tiny_skia::Transform::from_scale(w as f32 / s.width(), h as f32 / s.height());
    resvg::render(&tree, transform, &mut pixmap.as_mut());
    // tiny-skia keeps premultiplied alpha; frames hold straight alpha.
    let mut data = pixmap.take();
    for p in data.chunks_exact_mut(4) {
        let a = u32::from(p[3]);
        if a != 0 && a != 255 {
            for c in &mut p[..3] {
                *c = ((u32::from(*c) * 255 + a / 2) / a).min(255) as u8;
            }
        }
    }
    Ok(Frame::new(w, h, Layout::Rgba8, data))
}
