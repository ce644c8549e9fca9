//! JPEG through libjpeg-turbo (turbojpeg): header probe, DCT-domain shrink-on-load,
//! CMYK/YCCK conversion, encoding; plus the APP markers libjpeg-turbo does not surface
//! (EXIF orientation, ICC profile, Adobe transform).

use super::color;
use super::frame::{Frame, Layout};
use super::{EngineError, EngineResult};

/// What the JPEG's APP markers say.
#[derive(Debug, Default, Clone)]
pub struct Markers {
    pub exif: Option<Vec<u8>>,
    pub icc: Option<Vec<u8>>,
    /// An Adobe APP14 marker: Photoshop stores CMYK inverted.
    pub adobe: bool,
    /// The encoder's quality setting (1-100), estimated from the luminance quantisation
    /// table against the IJG standard table that libjpeg scales.
    pub quality: Option<u8>,
}

/// The IJG luminance table (JPEG Annex K), in zig-zag order as DQT stores it.
const IJG_LUMA_ZIGZAG: [u16; 64] = [
    16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40, 26, 24, 22, 22, 24, 49, 35, 37,
    29, 40, 58, 51, 61, 60, 57, 51, 56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109, 81,
    87, 95, 98, 103, 104, 103, 62, 77, 113, 121, 112, 100, 120, 92, 101, 103, 99,
];

fn estimate_quality(dqt: &[u8]) -> Option<u8> {
    let (&pq_tq, rest) = dqt.split_first()?;
    let sixteen_bit = pq_tq >> 4 != 0;
    let values: Vec<u16> = if sixteen_bit {
        rest.chunks_exact(2)
            .take(64)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .collect()
    } else {
        rest.iter().take(64).map(|&b| u16::from(b)).collect()
    };
    if values.len() < 64 {
        return None;
    }
    // libjpeg scales the table by `scale` percent (then clamps to 1..=255); invert that.
    let scale: f64 = values
        .iter()
        .zip(IJG_LUMA_ZIGZAG)
        .map(|(&q, s)| f64::from(q) * 100.0 / f64::from(s))
        .sum::<f64>()
        / 64.0;
    let quality = if scale <= 100.0 {
        (200.0 - scale) / 2.0
    } else {
        5000.0 / scale
    };
    Some(quality.round().clamp(1.0, 100.0) as u8)
}

/// Walks the marker segments before the image data. Never reads past the buffer.
pub fn markers(data: &[u8]) -> Markers {
    let mut m = Markers::default();
    let mut icc_chunks: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut i = 2;
    while i + 4 <= data.len() && data[i] == 0xFF {
        let marker = data[i + 1];
        if marker == 0xDA || marker == 0xD9 {
            break;
        }
        let len = usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]]));
        let Some(body) = data.get(i + 4..i + 2 + len) else {
            break;
        };
        if len < 2 {
            break;
        }
        match marker {
            0xE1 if body.starts_with(b"Exif\0\0") && m.exif.is_none() => {
                m.exif = Some(body[6..].to_vec())
            }
            0xE2 if body.starts_with(b"ICC_PROFILE\0") && body.len() > 14 => {
                icc_chunks.push((body[12], body[14..].to_vec()));
            }
            0xEE if body.starts_with(b"Adobe") => m.adobe = true,
            // Table 0 (luminance) comes first in every encoder seen in practice.
            0xDB if m.quality.is_none() && body.first().is_some_and(|b| b & 0x0F == 0) => {
                m.quality = estimate_quality(body);
            }
            _ => {}
        }
        i += 2 + len;
    }
    if !icc_chunks.is_empty() {
        icc_chunks.sort_by_key(|(seq, _)| *seq);
        m.icc = Some(icc_chunks.into_iter().flat_map(|(_, c)| c).collect());
    }
    m
}

/// EXIF orientation 1-8 from a TIFF-structured EXIF block, 1 when absent or unreadable.
pub fn exif_orientation(exif: &[u8]) -> u8 {
    let Ok(parsed) = exif::Reader::new().read_raw(exif.to_vec()) else {
        return 1;
    };
    parsed
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .filter(|o| (1..=8).contains(o))
        .map_or(1, |o| o as u8)
}

pub struct Header {
    pub width: u32,
    pub height: u32,
    pub cmyk: bool,
    pub progressive: bool,
}

fn tj_err(e: turbojpeg::Error) -> EngineError {
    EngineError::Decode(format!("jpeg: {e}"))
}

pub fn header(data: &[u8]) -> EngineResult<Header> {
    let h = turbojpeg::read_header(data).map_err(tj_err)?;
    Ok(Header {
        width: h.width as u32,
        height: h.height as u32,
        cmyk: matches!(
            h.colorspace,
            turbojpeg::Colorspace::CMYK | turbojpeg::Colorspace::YCCK
        ),
        progressive: h.is_progressive,
    })
}

/// Each DCT scale libjpeg-turbo decodes with SIMD, and the smallest factor it must leave
/// the final Lanczos3 pass. Chosen by measurement, not by habit (ARCHITECTURE.md,
/// "Shrink-on-load"): on a zone plate, a 1/2 decode followed by Lanczos3 is never worse
/// than a full decode, even at a margin of 1.5 (libjpeg-turbo's 4x4 IDCT is a good low-pass
/// filter), while the 1/4 and 1/8 decodes (2x2 and 1x1 IDCTs, close to box filters) alias
/// by 5-14 dB until the margin reaches about 8-10. `tests/shrink_on_load.rs` holds the
/// rule to 0.5 dB of a full decode and prints the survey the margins came from.
pub const SHRINK_SCALES: [(usize, f64); 3] = [(8, 10.0), (4, 10.0), (2, 1.5)];

/// The DCT scale denominator (1, 2, 4 or 8) for shrinking by `shrink`: the largest whose
/// margin [`SHRINK_SCALES`] allows. libjpeg-turbo also decodes at any M/8, but only the
/// power-of-two scales have SIMD IDCTs: measured on the 2725x2225 benchmark photo, a 5/8
/// decode was slower than a full one.
pub fn shrink_on_load(shrink: f64) -> usize {
    SHRINK_SCALES
        .into_iter()
        .find(|&(denom, margin)| shrink / denom as f64 >= margin)
        .map_or(1, |(denom, _)| denom)
}

/// Decodes, scaled down by `1/denom` in the DCT domain.
pub fn decode(data: &[u8], denom: usize, markers: &Markers) -> EngineResult<Frame> {
    let mut d = turbojpeg::Decompressor::new().map_err(tj_err)?;
    let h = d.read_header(data).map_err(tj_err)?;
    let factor = turbojpeg::ScalingFactor::new(1, denom);
    d.set_scaling_factor(factor).map_err(tj_err)?;
    // A hostile progressive file can carry thousands of scans; libjpeg-turbo's default
    // has no limit.
    d.set_scan_limit(500).map_err(tj_err)?;
    let s = h.scaled(factor);
    let cmyk = matches!(
        h.colorspace,
        turbojpeg::Colorspace::CMYK | turbojpeg::Colorspace::YCCK
    );
    let (format, channels) = if cmyk {
        (turbojpeg::PixelFormat::CMYK, 4)
    } else {
        (turbojpeg::PixelFormat::RGB, 3)
    };
    let mut px = vec![0u8; s.width * s.height * channels];
    d.decompress(
        data,
        turbojpeg::Image {
            pixels: &mut px[..],
            width: s.width,
            pitch: s.width * channels,
            height: s.height,
            format,
        },
    )
    .map_err(tj_err)?;
    let frame = if cmyk {
        // ICC CMYK counts ink (0 = none); Adobe files hand it over inverted.
        let ink: Vec<u8> = if markers.adobe {
            px.iter().map(|v| 255 - v).collect()
        } else {
            px
        };
        let rgb = markers
            .icc
            .as_deref()
            .and_then(|icc| color::cmyk_to_srgb(&ink, icc))
            .unwrap_or_else(|| naive_cmyk_to_rgb(&ink));
        Frame::new(s.width as u32, s.height as u32, Layout::Rgb8, rgb)
    } else {
        let frame = Frame::new(s.width as u32, s.height as u32, Layout::Rgb8, px);
        match markers.icc.as_deref() {
            Some(icc) => color::rgb_to_srgb(frame, icc),
            None => frame,
        }
    };
    Ok(frame)
}

/// CMYK ink amounts to RGB without a profile: the textbook formula, for files that
/// carry no CMYK ICC profile.
fn naive_cmyk_to_rgb(ink: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ink.len() / 4 * 3);
    for p in ink.chunks_exact(4) {
        let k = 255 - u32::from(p[3]);
        for &v in &p[..3] {
            out.push(((255 - u32::from(v)) * k / 255) as u8);
        }
    }
    out
}

pub fn encode(frame: &Frame, quality: u8, progressive: bool) -> EngineResult<Vec<u8>> {
    let enc_err = |e: turbojpeg::Error| EngineError::Encode(format!("jpeg: {e}"));
    let flat;
    let f = if frame.has_alpha() {
        flat = frame.clone().flatten([255, 255, 255]);
        &flat
    } else {
        frame
    };
    let mut c = turbojpeg::Compressor::new().map_err(enc_err)?;
    c.set_quality(i32::from(quality.clamp(1, 100)))
        .map_err(enc_err)?;
    c.set_subsamp(turbojpeg::Subsamp::Sub2x2).map_err(enc_err)?;
    c.set_optimize(true).map_err(enc_err)?;
    c.set_progressive(progressive).map_err(enc_err)?;
    let w = f.width as usize;
    c.compress_to_vec(turbojpeg::Image {
        pixels: &f.data[..],
        width: w,
        pitch: w * 3,
        height: f.height as usize,
        format: turbojpeg::PixelFormat::RGB,
    })
    .map_err(enc_err)
}
