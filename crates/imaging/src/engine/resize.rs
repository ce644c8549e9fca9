//! Lanczos3 resampling with fast_image_resize (SIMD), alpha premultiplied during the
//! convolution so transparent pixels do not bleed colour into their neighbours.

use super::frame::{Frame, Layout};
use super::{EngineError, EngineResult};
use fast_image_resize as fir;

fn pixel_type(l: Layout) -> fir::PixelType {
    match l {
        Layout::Rgb8 => fir::PixelType::U8x3,
        Layout::Rgba8 => fir::PixelType::U8x4,
    }
}

/// Resizes the whole frame, or the `crop` rectangle of it (x, y, w, h in source pixels,
/// fractional allowed), to `width` x `height`.
pub fn resize(
    frame: &Frame,
    width: u32,
    height: u32,
    crop: Option<(f64, f64, f64, f64)>,
) -> EngineResult<Frame> {
    if width == 0 || height == 0 {
        return Err(EngineError::Invalid("resize to an empty image".into()));
    }
    if width == frame.width && height == frame.height && crop.is_none() {
        return Ok(frame.clone());
    }
    let pt = pixel_type(frame.layout);
    let src = fir::images::ImageRef::new(frame.width, frame.height, &frame.data, pt)
        .map_err(|e| EngineError::Invalid(format!("resize source: {e}")))?;
    let mut dst = fir::images::Image::new(width, height, pt);
    let mut options = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Lanczos3));
    if let Some((x, y, w, h)) = crop {
        options = options.crop(x, y, w, h);
    }
    fir::Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| EngineError::Invalid(format!("resize: {e}")))?;
    Ok(Frame::new(width, height, frame.layout, dst.into_vec()))
}
