//! Embedded ICC profiles converted to sRGB with moxcms, so a picture looks the same
//! whatever space its file was stored in (and CMYK comes out in true colours).

use super::frame::{Frame, Layout};
use moxcms::{ColorProfile, DataColorSpace, Layout as CmsLayout, TransformOptions};

/// Converts an RGB(A) frame from `icc` to sRGB. A profile that cannot be read or used
/// leaves the pixels as they are: a wrong-looking image beats a refused one.
pub fn rgb_to_srgb(mut frame: Frame, icc: &[u8]) -> Frame {
    let Ok(src) = ColorProfile::new_from_slice(icc) else {
        return frame;
    };
    if src.color_space != DataColorSpace::Rgb {
        return frame;
    }
    let layout = match frame.layout {
        Layout::Rgb8 => CmsLayout::Rgb,
        Layout::Rgba8 => CmsLayout::Rgba,
    };
    let dst = ColorProfile::new_srgb();
    let Ok(t) = src.create_transform_8bit(layout, &dst, layout, TransformOptions::default()) else {
        return frame;
    };
    let mut out = vec![0u8; frame.data.len()];
    if t.transform(&frame.data, &mut out).is_ok() {
        frame.data = out;
    }
    frame
}

/// Converts CMYK samples (ink amounts, 0 = none) through a CMYK `icc` profile to sRGB.
/// `None` when the profile is not a usable CMYK one.
pub fn cmyk_to_srgb(cmyk: &[u8], icc: &[u8]) -> Option<Vec<u8>> {
    let src = ColorProfile::new_from_slice(icc).ok()?;
    if src.color_space != DataColorSpace::Cmyk {
        return None;
    }
    let dst = ColorProfile::new_srgb();
    let t = src
        .create_transform_8bit(
            CmsLayout::Rgba,
            &dst,
            CmsLayout::Rgb,
            TransformOptions::default(),
        )
        .ok()?;
    let mut out = vec![0u8; cmyk.len() / 4 * 3];
    t.transform(cmyk, &mut out).ok()?;
    Some(out)
}
