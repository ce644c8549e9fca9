//! The JPEG-to-JPEG resize path in YCbCr planes.
//!
//! A plain "resize (or fill) this photo to a JPEG thumbnail" is the commonest request an
//! image host gets. The general path decodes to RGB (upsampling chroma and converting
//! colour), resamples three interleaved channels, then converts back to YCbCr and
//! subsamples chroma to encode. This path skips all of that: libjpeg-turbo hands over
//! the Y, Cb and Cr planes as stored, each plane is resampled on its own (Lanczos3, the
//! chroma planes straight to the output's 4:2:0 size), and the encoder takes the planes
//! as they are.
//!
//! The result matches the RGB path's up to rounding: JFIF YCbCr is an affine function of
//! RGB, so resampling the planes equals converting the resampled RGB, and resampling
//! chroma directly to half size is what the encoder's 2x2 averaging approximates.
//!
//! It applies only where that reasoning holds: a baseline colour JPEG in YCbCr without
//! an ICC profile, upright, whose whole pipeline is one resize without padding, written
//! as JPEG at an even output size. Everything else takes the general path.

use super::geometry::{Finish, ResizePlan};
use super::{EngineError, EngineResult};
use fast_image_resize as fir;
use turbojpeg::{Colorspace, Subsamp};

/// One decoded plane: `width` x `height` samples, tightly packed.
struct Plane<'a> {
    width: u32,
    height: u32,
    data: &'a [u8],
}

/// Horizontal and vertical chroma subsampling factors of the layouts this path reads.
fn factors(subsamp: Subsamp) -> Option<(usize, usize)> {
    match subsamp {
        Subsamp::None => Some((1, 1)),
        Subsamp::Sub2x1 => Some((2, 1)),
        Subsamp::Sub2x2 => Some((2, 2)),
        Subsamp::Sub1x2 => Some((1, 2)),
        _ => None,
    }
}

fn tj_err(e: turbojpeg::Error) -> EngineError {
    EngineError::Decode(format!("jpeg: {e}"))
}

/// Renders `source` through `plan` into a JPEG if this path applies; `Ok(None)` sends
/// the request down the general path. `denom` is the DCT shrink-on-load denominator
/// the general path would use, so both see the same decoded resolution.
pub fn resize_jpeg(
    source: &[u8],
    plan: &ResizePlan,
    denom: usize,
    quality: u8,
    progressive: bool,
) -> EngineResult<Option<Vec<u8>>> {
    let (out_w, out_h) = plan.output_size();
    if out_w % 2 != 0 || out_h % 2 != 0 || matches!(plan.finish, Finish::Pad { .. }) {
        return Ok(None);
    }
    let mut decoder = turbojpeg::Decompressor::new().map_err(tj_err)?;
    let header = decoder.read_header(source).map_err(tj_err)?;
    if header.colorspace != Colorspace::YCbCr || header.is_lossless {
        return Ok(None);
    }
    let Some((hsf, vsf)) = factors(header.subsamp) else {
        return Ok(None);
    };
    let factor = turbojpeg::ScalingFactor::new(1, denom);
    decoder.set_scaling_factor(factor).map_err(tj_err)?;
    decoder.set_scan_limit(500).map_err(tj_err)?;
    let scaled = header.scaled(factor);
    let (w, h) = (scaled.width, scaled.height);

    // Plane sizes as libjpeg-turbo lays them out with no row padding: luma padded to
    // whole chroma blocks, chroma that divided by the factors.
    let luma_w = w.div_ceil(hsf) * hsf;
    let luma_h = h.div_ceil(vsf) * vsf;
    let sizes = [
        (luma_w, luma_h),
        (luma_w / hsf, luma_h / vsf),
        (luma_w / hsf, luma_h / vsf),
    ];
    let total: usize = sizes.iter().map(|(pw, ph)| pw * ph).sum();
    if turbojpeg::yuv_pixels_len(w, 1, h, header.subsamp).map_err(tj_err)? != total {
        // A layout this module does not understand: never guess.
        return Ok(None);
    }
    let mut packed = vec![0u8; total];
    decoder
        .decompress_to_yuv(
            source,
            turbojpeg::YuvImage {
                pixels: &mut packed[..],
                width: w,
                align: 1,
                height: h,
                subsamp: header.subsamp,
            },
        )
        .map_err(tj_err)?;
    // Views into the one buffer, in the order libjpeg-turbo wrote them.
    let mut planes = Vec::with_capacity(3);
    let mut rest = &packed[..];
    for (pw, ph) in sizes {
        let (plane, tail) = rest.split_at(pw * ph);
        planes.push(Plane {
            width: pw as u32,
            height: ph as u32,
            data: plane,
        });
        rest = tail;
    }
    // The region of the (scaled) source that becomes the output, in luma samples.
    let (fw, fh) = (w as f64, h as f64);
    let (cx, cy, cw, ch) = match plan.finish {
        Finish::CropCentre { w: ow, h: oh } => {
            let cw = f64::from(ow) * fw / f64::from(plan.scaled_w);
            let ch = f64::from(oh) * fh / f64::from(plan.scaled_h);
            ((fw - cw) / 2.0, (fh - ch) / 2.0, cw, ch)
        }
        _ => (0.0, 0.0, fw, fh),
    };
    let luma = resample(&planes[0], (cx, cy, cw, ch), out_w, out_h)?;
    // Chroma sample j of a plane subsampled by f covers luma samples f*j..f*j+f, so the
    // same region in chroma coordinates is the luma one divided by the factors.
    let (hf, vf) = (hsf as f64, vsf as f64);
    let chroma_region = (cx / hf, cy / vf, cw / hf, ch / vf);
    let cb = resample(&planes[1], chroma_region, out_w / 2, out_h / 2)?;
    let cr = resample(&planes[2], chroma_region, out_w / 2, out_h / 2)?;

    let enc_err = |e: turbojpeg::Error| EngineError::Encode(format!("jpeg: {e}"));
    let mut encoder = turbojpeg::Compressor::new().map_err(enc_err)?;
    encoder
        .set_quality(i32::from(quality.clamp(1, 100)))
        .map_err(enc_err)?;
    encoder.set_optimize(true).map_err(enc_err)?;
    encoder.set_progressive(progressive).map_err(enc_err)?;
    let (ow, oh) = (out_w as usize, out_h as usize);
    let image = turbojpeg::YuvPlanesImage {
        y_plane: &luma[..],
        u_plane: &cb[..],
        v_plane: &cr[..],
        width: ow,
        height: oh,
        y_stride: ow,
        u_stride: ow / 2,
        v_stride: ow / 2,
        subsamp: Subsamp::Sub2x2,
    };
    let bytes = encoder
        .compress_yuv_planes_to_vec(&image)
        .map_err(enc_err)?;
    Ok(Some(bytes))
}

/// Lanczos3 of `region` (x, y, w, h; fractional) of one plane to `width` x `height`.
fn resample(
    plane: &Plane<'_>,
    region: (f64, f64, f64, f64),
    width: u32,
    height: u32,
) -> EngineResult<Vec<u8>> {
    let src = fir::images::ImageRef::new(plane.width, plane.height, plane.data, fir::PixelType::U8)
        .map_err(|e| EngineError::Invalid(format!("resize source: {e}")))?;
    let mut dst = fir::images::Image::new(width, height, fir::PixelType::U8);
    let (x, y, w, h) = region;
    let options = fir::ResizeOptions::new()
        .resize_alg(super::resize::lanczos3())
        .crop(x, y, w, h);
    fir::Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| EngineError::Invalid(format!("resize: {e}")))?;
    Ok(dst.into_vec())
}
