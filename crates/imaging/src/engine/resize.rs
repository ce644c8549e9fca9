//! Lanczos3 resampling with fast_image_resize (SIMD), alpha premultiplied during the
//! convolution so transparent pixels do not bleed colour into their neighbours.

use super::frame::{Frame, Layout};
use super::{EngineError, EngineResult};
use fast_image_resize as fir;

/// Samples of the Lanczos3 kernel per unit of distance in [`LANCZOS3_TABLE`].
const TABLE_STEPS: usize = 4096;

/// Lanczos3 sampled on [0, 3], so computing a resize's weights costs an interpolated
/// lookup per tap instead of two `sin` calls (which were a twentieth of a whole JPEG
/// thumbnail render). Linear interpolation at this spacing is off by under 1e-6, far
/// below the 14-bit fixed point the weights are rounded to.
static LANCZOS3_TABLE: std::sync::LazyLock<Vec<f64>> = std::sync::LazyLock::new(|| {
    (0..=3 * TABLE_STEPS + 1)
        .map(|i| lanczos3_exact(i as f64 / TABLE_STEPS as f64))
        .collect()
});

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let px = x * std::f64::consts::PI;
        px.sin() / px
    }
}

fn lanczos3_exact(x: f64) -> f64 {
    if (-3.0..3.0).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

fn lanczos3_tabled(x: f64) -> f64 {
    let x = x.abs();
    if x >= 3.0 {
        return 0.0;
    }
    let pos = x * TABLE_STEPS as f64;
    let i = pos as usize;
    let t = pos - i as f64;
    let table = &*LANCZOS3_TABLE;
    match (table.get(i), table.get(i + 1)) {
        (Some(a), Some(b)) => a + (b - a) * t,
        _ => lanczos3_exact(x),
    }
}

/// The resampling filter of every resize: Lanczos3.
pub fn lanczos3() -> fir::ResizeAlg {
    match fir::Filter::new("Lanczos3", lanczos3_tabled, 3.0) {
        Ok(f) => fir::ResizeAlg::Convolution(fir::FilterType::Custom(f)),
        Err(_) => fir::ResizeAlg::Convolution(fir::FilterType::Lanczos3),
    }
}

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
    let mut options = fir::ResizeOptions::new().resize_alg(lanczos3());
    if let Some((x, y, w, h)) = crop {
        options = options.crop(x, y, w, h);
    }
    fir::Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| EngineError::Invalid(format!("resize: {e}")))?;
    Ok(Frame::new(width, height, frame.layout, dst.into_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tabled_kernel_matches_lanczos3() {
        let mut worst = 0f64;
        for i in 0..=60_000 {
            let x = -3.0 + i as f64 * 1e-4;
            worst = worst.max((lanczos3_tabled(x) - lanczos3_exact(x)).abs());
        }
        assert!(worst < 2e-6, "{worst}");
        assert_eq!(lanczos3_tabled(0.0), 1.0);
        assert_eq!(lanczos3_tabled(3.0), 0.0);
        assert_eq!(lanczos3_tabled(-7.5), 0.0);
    }
}
