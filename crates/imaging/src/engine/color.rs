//! Embedded ICC profiles and CICP colour descriptions converted to sRGB with moxcms, so a
//! picture looks the same whatever space its file was stored in (and CMYK comes out in
//! true colours). HDR transfer functions (PQ, HLG) are `hdr.rs`'s, not moxcms's.

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

/// A CICP colour description (ITU-T H.273 code points), as an `nclx` box carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cicp {
    pub primaries: u16,
    pub transfer: u16,
    pub matrix: u16,
    pub full_range: bool,
}

/// Converts from the colour space the CICP code points name to sRGB, when they name
/// something other than sRGB/BT.709 (or leave it unspecified).
pub fn cicp_to_srgb(frame: Frame, cicp: &Cicp) -> Frame {
    use moxcms::{CicpColorPrimaries, CicpProfile, MatrixCoefficients, TransferCharacteristics};
    let srgb_like_primaries = matches!(cicp.primaries, 1 | 2);
    let srgb_like_transfer = matches!(cicp.transfer, 1 | 2 | 6 | 13 | 14 | 15);
    if srgb_like_primaries && srgb_like_transfer {
        return frame;
    }
    // Only code points with primaries and an SDR curve moxcms can model; PQ and HLG are
    // tone-mapped by `hdr.rs` before this, and unknown ones are left as decoded.
    if !matches!(cicp.primaries, 1 | 2 | 4..=7 | 9 | 11 | 12)
        || !matches!(cicp.transfer, 1 | 2 | 4..=8 | 13..=15)
    {
        return frame;
    }
    let code = |v: u16| u8::try_from(v).unwrap_or(2);
    let primaries = if srgb_like_primaries {
        1
    } else {
        code(cicp.primaries)
    };
    let transfer = if srgb_like_transfer {
        13
    } else {
        code(cicp.transfer)
    };
    let (Ok(primaries), Ok(transfer), Ok(matrix)) = (
        CicpColorPrimaries::try_from(primaries),
        TransferCharacteristics::try_from(transfer),
        MatrixCoefficients::try_from(code(cicp.matrix)),
    ) else {
        return frame;
    };
    let src = ColorProfile::new_from_cicp(CicpProfile {
        color_primaries: primaries,
        transfer_characteristics: transfer,
        matrix_coefficients: matrix,
        full_range: cicp.full_range,
    });
    let layout = match frame.layout {
        Layout::Rgb8 => CmsLayout::Rgb,
        Layout::Rgba8 => CmsLayout::Rgba,
    };
    let Ok(t) = src.create_transform_8bit(
        layout,
        &ColorProfile::new_srgb(),
        layout,
        TransformOptions::default(),
    ) else {
        return frame;
    };
    let mut out = vec![0u8; frame.data.len()];
    if t.transform(&frame.data, &mut out).is_err() {
        return frame;
    }
    Frame { data: out, ..frame }
}
