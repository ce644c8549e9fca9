//! AVIF. Decoding: the container through `avif-parse`, the AV1 bitstream through libdav1d
//! (the system library, via the `dav1d` crate), YUV to RGB here with the matrix, range and
//! colour space the `colr` box (or, without one, BT.601 limited range) names; an alpha
//! item becomes the alpha channel. Samples deeper than 8 bits are rounded to 8 (SDR) or,
//! for PQ and HLG, tone-mapped by `hdr.rs`. The clean aperture (`clap`) is cropped and
//! `irot`/`imir` become the probe's orientation ([`heif_meta`]). Still images only: an
//! image sequence shows its primary item; a grid primary is `heif.rs`'s (libheif).
//! Encoding: `ravif` (rav1e), 8-bit, single-threaded at a fast speed.

use super::color::{self, Cicp};
use super::frame::{Frame, Layout};
use super::heif_meta::{self, boxes, find_box};
use super::{EngineError, EngineResult, hdr};
use dav1d::{PixelLayout, PlanarImageComponent as Plane};

fn parse_err(e: avif_parse::Error) -> EngineError {
    EngineError::Decode(format!("avif: {e}"))
}

/// Parses the container. avif-parse checks some invariants with debug assertions, so a
/// malformed file could panic in a debug build; that is a decode error like any other.
fn read(data: &[u8]) -> EngineResult<(avif_parse::AvifData, avif_parse::AV1Metadata)> {
    if !boxes_fill(data) {
        return Err(EngineError::Decode(
            "avif: the file is cut short or its boxes overrun it".into(),
        ));
    }
    std::panic::catch_unwind(|| {
        let parsed = avif_parse::read_avif(&mut &data[..])?;
        let meta = parsed.primary_item_metadata()?;
        Ok((parsed, meta))
    })
    .map_err(|_| EngineError::Decode("avif: malformed container".into()))?
    .map_err(parse_err)
}

pub struct Header {
    pub width: u32,
    pub height: u32,
    pub orientation: u8,
    pub bits: u8,
    /// Before the clean aperture: what the decoder allocates.
    pub decoded_pixels: u64,
}

/// The size from the primary item's AV1 sequence header (cropped to the clean aperture)
/// and the orientation from `irot`/`imir`; no pixel is decoded.
pub fn header(data: &[u8]) -> EngineResult<Header> {
    let (_, meta) = read(data)?;
    let (mut width, mut height) = (meta.max_frame_width.get(), meta.max_frame_height.get());
    let decoded_pixels = u64::from(width) * u64::from(height);
    let bits = meta.bit_depth;
    let mut orientation = 1;
    if let Ok(primary) = heif_meta::read(data) {
        orientation = primary.display_orientation();
        if let Some(c) = primary
            .crop
            .filter(|c| c.x + c.width <= width && c.y + c.height <= height)
        {
            (width, height) = (c.width, c.height);
        }
    }
    Ok(Header {
        width,
        height,
        orientation,
        bits,
        decoded_pixels,
    })
}

/// Decodes the primary item (and its alpha item) into at most `max_pixels` pixels.
pub fn decode(data: &[u8], max_pixels: u64) -> EngineResult<Frame> {
    let (parsed, _) = read(data)?;
    let colour = ColourInfo::from_container(data);
    let limit = u32::try_from(max_pixels).unwrap_or(u32::MAX);
    let picture = decode_av1(&parsed.primary_item, limit)?;
    let (w, h) = (picture.width(), picture.height());
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(EngineError::TooLarge(format!("avif: {w}x{h}")));
    }
    let alpha = match parsed.alpha_item.as_deref() {
        Some(item) => {
            let a = decode_av1(item, limit)?;
            if (a.width(), a.height()) != (w, h) {
                return Err(EngineError::Decode(
                    "avif: the alpha plane's size differs from the image's".into(),
                ));
            }
            Some(a)
        }
        None => None,
    };
    let nclx = colour.nclx.unwrap_or(Cicp {
        primaries: 2,
        transfer: 2,
        matrix: 6,
        full_range: false,
    });
    let curve = hdr::Curve::from_cicp(nclx.transfer);
    let mut frame = yuv_to_rgb(&picture, &nclx, alpha.as_ref(), curve)?;
    if parsed.premultiplied_alpha {
        frame.unpremultiply();
    }
    let frame = match (curve, colour.icc) {
        // Tone mapping already ended in sRGB.
        (Some(_), _) => frame,
        (None, Some(icc)) => color::rgb_to_srgb(frame, &icc),
        (None, None) => color::cicp_to_srgb(frame, &nclx),
    };
    let crop = heif_meta::read(data).ok().and_then(|p| p.crop);
    Ok(heif_meta::apply_crop(frame, crop))
}

fn av1_err(e: dav1d::Error) -> EngineError {
    EngineError::Decode(format!("avif: the AV1 data could not be decoded ({e:?})"))
}

/// Decodes one AV1 still with libdav1d, single-threaded, refusing frames over `limit`
/// pixels before they are allocated.
fn decode_av1(obu: &[u8], limit: u32) -> EngineResult<dav1d::Picture> {
    let mut settings = dav1d::Settings::new();
    settings.set_n_threads(1);
    settings.set_max_frame_delay(1);
    settings.set_frame_size_limit(limit);
    let mut decoder = dav1d::Decoder::with_settings(&settings).map_err(av1_err)?;
    let mut pending = match decoder.send_data(obu.to_vec(), None, None, None) {
        Ok(()) => false,
        Err(e) if e.is_again() => true,
        Err(e) => return Err(av1_err(e)),
    };
    // Each round either returns a picture or hands over more of the data; the data is
    // finite, so a bounded number of rounds suffices for any well-formed still.
    for _ in 0..64 {
        match decoder.get_picture() {
            Ok(p) => return Ok(p),
            Err(e) if e.is_again() => {
                if !pending {
                    break;
                }
                pending = match decoder.send_pending_data() {
                    Ok(()) => false,
                    Err(e) if e.is_again() => true,
                    Err(e) => return Err(av1_err(e)),
                };
            }
            Err(e) => return Err(av1_err(e)),
        }
    }
    Err(EngineError::Decode(
        "avif: the AV1 data holds no displayable frame".into(),
    ))
}

#[derive(Default)]
struct ColourInfo {
    nclx: Option<Cicp>,
    icc: Option<Vec<u8>>,
}

impl ColourInfo {
    /// Finds the `colr` properties under `meta/iprp/ipco`. Never reads past the buffer.
    fn from_container(data: &[u8]) -> ColourInfo {
        let mut info = ColourInfo::default();
        let Some(meta) = find_box(data, b"meta") else {
            return info;
        };
        // `meta` is a full box: version and flags come first.
        let Some(ipco) = meta
            .get(4..)
            .and_then(|m| find_box(m, b"iprp"))
            .and_then(|p| find_box(p, b"ipco"))
        else {
            return info;
        };
        for (kind, body) in boxes(ipco) {
            if kind != *b"colr" || body.len() < 4 {
                continue;
            }
            match &body[..4] {
                b"nclx" if body.len() >= 11 && info.nclx.is_none() => {
                    let u16_at = |i: usize| u16::from_be_bytes([body[i], body[i + 1]]);
                    info.nclx = Some(Cicp {
                        primaries: u16_at(4),
                        transfer: u16_at(6),
                        matrix: u16_at(8),
                        full_range: body[10] & 0x80 != 0,
                    });
                }
                b"rICC" | b"prof" if info.icc.is_none() => info.icc = Some(body[4..].to_vec()),
                _ => {}
            }
        }
        info
    }
}

/// Whether the top-level boxes exactly fill `data` (a truncated file does not), and the
/// boxes inside `meta`, `iprp` and `ipco` fit in their parent. avif-parse reserves memory
/// for a box's declared size before reading it (`iloc`, `auxC`), so a few hundred bytes
/// that declare a box of gigabytes must be refused here, not allocated for.
fn boxes_fill(data: &[u8]) -> bool {
    let mut at = 0usize;
    while at < data.len() {
        let Some(head) = data.get(at..at + 8) else {
            return false;
        };
        let (header, size) = match u32::from_be_bytes([head[0], head[1], head[2], head[3]]) {
            // The last box runs to the end (avif-parse refuses such a box before reading it).
            0 => return true,
            1 => match data.get(at + 8..at + 16) {
                Some(large) => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(large);
                    (16, u64::from_be_bytes(b))
                }
                None => return false,
            },
            n => (8, u64::from(n)),
        };
        let end = match usize::try_from(size).ok().and_then(|s| at.checked_add(s)) {
            Some(end) if size >= header as u64 && end <= data.len() => end,
            _ => return false,
        };
        let Some(body) = data.get(at + header..end) else {
            return false;
        };
        let children_fit = match &head[4..8] {
            // A full box: version and flags come before the children.
            b"meta" => body.get(4..).is_some_and(boxes_fill),
            b"iprp" | b"ipco" => boxes_fill(body),
            _ => true,
        };
        if !children_fit {
            return false;
        }
        at = end;
    }
    true
}

/// Luma weights (Kr, Kb) of a CICP matrix; `None` for the identity (GBR) matrix.
fn luma_weights(matrix: u16) -> Option<(f32, f32)> {
    match matrix {
        0 => None,
        1 => Some((0.2126, 0.0722)),
        4 => Some((0.30, 0.11)),
        7 => Some((0.212, 0.087)),
        9 | 10 => Some((0.2627, 0.0593)),
        // 5, 6, unspecified and the rest: BT.601.
        _ => Some((0.299, 0.114)),
    }
}

/// YUV to RGB, rounded to 8 bits; with an HDR `curve`, kept at 16 bits and tone-mapped.
fn yuv_to_rgb(
    pic: &dav1d::Picture,
    nclx: &Cicp,
    alpha: Option<&dav1d::Picture>,
    curve: Option<hdr::Curve>,
) -> EngineResult<Frame> {
    let (w, h) = (pic.width() as usize, pic.height() as usize);
    let bits = pic.bits_per_component().map_or(8, |b| b.0) as u32;
    let wide = pic.bit_depth() > 8;
    let max = ((1u32 << bits) - 1) as f32;
    let scale = (1u32 << (bits - 8)) as f32;
    let (ssx, ssy) = match pic.pixel_layout() {
        PixelLayout::I420 => (1, 1),
        PixelLayout::I422 => (1, 0),
        PixelLayout::I444 | PixelLayout::I400 => (0, 0),
    };
    let mono = pic.pixel_layout() == PixelLayout::I400;
    let sample = |plane: &[u8], stride: usize, x: usize, y: usize| -> Option<f32> {
        if wide {
            let i = y * stride + x * 2;
            Some(f32::from(u16::from_le_bytes([
                *plane.get(i)?,
                *plane.get(i + 1)?,
            ])))
        } else {
            plane.get(y * stride + x).map(|&v| f32::from(v))
        }
    };
    let yp = pic.plane(Plane::Y);
    let ys = pic.stride(Plane::Y) as usize;
    let (up, vp) = if mono {
        (None, None)
    } else {
        (Some(pic.plane(Plane::U)), Some(pic.plane(Plane::V)))
    };
    let cs = pic.stride(Plane::U) as usize;
    let ap = alpha.map(|a| {
        (
            a.plane(Plane::Y),
            a.stride(Plane::Y) as usize,
            a.bit_depth() > 8,
            a.bits_per_component().map_or(8, |b| b.0) as u32,
        )
    });
    let weights = luma_weights(nclx.matrix);
    let (y_off, y_range, c_range) = if nclx.full_range {
        (0.0, max, max)
    } else {
        (16.0 * scale, 219.0 * scale, 224.0 * scale)
    };
    let half = (1u32 << (bits - 1)) as f32;
    let layout = if alpha.is_some() {
        Layout::Rgba8
    } else {
        Layout::Rgb8
    };
    let channels = layout.channels();
    let short = || EngineError::Decode("avif: a plane is shorter than the picture".into());
    let to8 = |v: f32| (v * 255.0).round().clamp(0.0, 255.0) as u8;
    let to16 = |v: f32| (v * 65535.0).round().clamp(0.0, 65535.0) as u16;
    let (mut out, mut out16) = match curve {
        None => (vec![0u8; w * h * channels], Vec::new()),
        Some(_) => (Vec::new(), vec![0u16; w * h * channels]),
    };
    for y in 0..h {
        for x in 0..w {
            let luma = sample(&yp, ys, x, y).ok_or_else(short)?;
            let (u, v) = match (&up, &vp) {
                (Some(up), Some(vp)) => (
                    sample(up, cs, x >> ssx, y >> ssy).ok_or_else(short)?,
                    sample(vp, cs, x >> ssx, y >> ssy).ok_or_else(short)?,
                ),
                _ => (half, half),
            };
            let yf = (luma - y_off) / y_range;
            let (r, g, b) = match weights {
                None => {
                    // GBR: the planes hold G, B, R at luma's range.
                    let bf = (u - y_off) / y_range;
                    let rf = (v - y_off) / y_range;
                    (rf, yf, bf)
                }
                Some((kr, kb)) => {
                    let uf = (u - half) / c_range;
                    let vf = (v - half) / c_range;
                    let r = yf + 2.0 * (1.0 - kr) * vf;
                    let b = yf + 2.0 * (1.0 - kb) * uf;
                    let g = (yf - kr * r - kb * b) / (1.0 - kr - kb);
                    (r, g, b)
                }
            };
            let i = (y * w + x) * channels;
            if curve.is_some() {
                out16[i] = to16(r);
                out16[i + 1] = to16(g);
                out16[i + 2] = to16(b);
            } else {
                out[i] = to8(r);
                out[i + 1] = to8(g);
                out[i + 2] = to8(b);
            }
            if let Some((plane, stride, a_wide, a_bits)) = &ap {
                let a = if *a_wide {
                    let j = y * stride + x * 2;
                    let hi = plane.get(j..j + 2).ok_or_else(short)?;
                    f32::from(u16::from_le_bytes([hi[0], hi[1]]))
                } else {
                    f32::from(*plane.get(y * stride + x).ok_or_else(short)?)
                };
                let a = a / ((1u32 << a_bits) - 1) as f32;
                if curve.is_some() {
                    out16[i + 3] = to16(a);
                } else {
                    out[i + 3] = to8(a);
                }
            }
        }
    }
    if let Some(curve) = curve {
        out = hdr::tone_map(&out16, channels, curve, nclx.primaries);
    }
    Ok(Frame::new(w as u32, h as u32, layout, out))
}

/// `speed` 1 (slowest, smallest) to 10 (fastest). 8-bit, one thread.
pub fn encode(frame: &Frame, quality: u8, speed: u8) -> EngineResult<Vec<u8>> {
    let encoder = ravif::Encoder::new()
        .with_quality(f32::from(quality.clamp(1, 100)))
        .with_alpha_quality(f32::from(quality.clamp(1, 100)))
        .with_speed(speed.clamp(1, 10))
        .with_bit_depth(ravif::BitDepth::Eight)
        .with_num_threads(Some(1));
    let (w, h) = (frame.width as usize, frame.height as usize);
    let enc_err = |e: ravif::Error| EngineError::Encode(format!("avif: {e}"));
    let encoded = match frame.layout {
        Layout::Rgb8 => {
            let pixels: Vec<ravif::RGB8> = frame
                .data
                .chunks_exact(3)
                .map(|p| ravif::RGB8::new(p[0], p[1], p[2]))
                .collect();
            encoder
                .encode_rgb(ravif::Img::new(&pixels[..], w, h))
                .map_err(enc_err)?
        }
        Layout::Rgba8 => {
            let pixels: Vec<ravif::RGBA8> = frame
                .data
                .chunks_exact(4)
                .map(|p| ravif::RGBA8::new(p[0], p[1], p[2], p[3]))
                .collect();
            encoder
                .encode_rgba(ravif::Img::new(&pixels[..], w, h))
                .map_err(enc_err)?
        }
    };
    Ok(encoded.avif_file)
}
