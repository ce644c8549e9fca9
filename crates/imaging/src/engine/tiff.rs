//! TIFF through the pure-Rust `tiff` crate (first page): grey (1 to 16 bits), grey+alpha,
//! RGB(A) at 8 or 16 bits, naive CMYK; none, LZW, Deflate, PackBits, JPEG and CCITT G4
//! compression. CCITT Group 3 one-dimensional (fax) strips, which the `tiff` crate does
//! not read, are decoded here with the `fax` crate. Written as RGB(A) with LZW.

use super::color;
use super::frame::{Frame, Layout};
use super::{EngineError, EngineResult};
use std::io::Cursor;
use tiff::decoder::{Decoder, DecodingResult};
use tiff::tags::Tag;
use tiff::{ColorType, TiffError};

fn err(e: TiffError) -> EngineError {
    match e {
        TiffError::UnsupportedError(u) => EngineError::Unsupported(format!("tiff: {u}")),
        TiffError::LimitsExceeded => EngineError::TooLarge("tiff: image too large".into()),
        other => EngineError::Decode(format!("tiff: {other}")),
    }
}

pub struct Header {
    pub width: u32,
    pub height: u32,
    /// EXIF-style orientation (the TIFF tag), 1 when absent.
    pub orientation: u8,
}

/// Reads the first image directory only.
pub fn header(data: &[u8]) -> EngineResult<Header> {
    let mut decoder = Decoder::new(Cursor::new(data)).map_err(err)?;
    let (width, height) = decoder.dimensions().map_err(err)?;
    let orientation = decoder
        .find_tag_unsigned::<u16>(Tag::Orientation)
        .ok()
        .flatten()
        .filter(|o| (1..=8).contains(o))
        .map_or(1, |o| o as u8);
    Ok(Header {
        width,
        height,
        orientation,
    })
}

const COMPRESSION_CCITT_G3: u16 = 3;
const COMPRESSION_JPEG: u16 = 7;
const PHOTOMETRIC_WHITE_IS_ZERO: u16 = 0;

/// Decodes the first page within `max_bytes` of decoded samples.
pub fn decode(data: &[u8], max_bytes: usize) -> EngineResult<Frame> {
    let mut limits = tiff::decoder::Limits::default();
    limits.decoding_buffer_size = max_bytes;
    limits.intermediate_buffer_size = limits.intermediate_buffer_size.min(max_bytes);
    let mut decoder = Decoder::new(Cursor::new(data))
        .map_err(err)?
        .with_limits(limits);
    let (w, h) = decoder.dimensions().map_err(err)?;
    let compression = decoder
        .find_tag_unsigned::<u16>(Tag::Compression)
        .map_err(err)?
        .unwrap_or(1);
    if compression == COMPRESSION_CCITT_G3 {
        return decode_g3(data, &mut decoder, w, h);
    }
    let colour = decoder.colortype().map_err(err)?;
    let planar = decoder
        .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
        .map_err(err)?
        .unwrap_or(1);
    let samples_per_pixel = decoder
        .find_tag_unsigned::<u16>(Tag::SamplesPerPixel)
        .map_err(err)?
        .unwrap_or(1);
    if planar == 2 && samples_per_pixel > 1 {
        return Err(EngineError::Unsupported(
            "tiff: samples stored in separate planes".into(),
        ));
    }
    let associated_alpha = decoder
        .find_tag_unsigned_vec::<u16>(Tag::ExtraSamples)
        .ok()
        .flatten()
        .is_some_and(|v| v.first() == Some(&1));
    let icc = decoder
        .find_tag(Tag::IccProfile)
        .ok()
        .flatten()
        .and_then(|v| v.into_u8_vec().ok());
    let result = decoder.read_image().map_err(err)?;
    let pixels = w as usize * h as usize;
    // Samples as 8 bits, whatever their stored depth.
    let samples: Vec<u8> = match result {
        DecodingResult::U8(v) => v,
        DecodingResult::U16(v) => v.iter().map(|s| (s >> 8) as u8).collect(),
        _ => {
            return Err(EngineError::Unsupported(format!(
                "tiff: {colour:?} samples other than unsigned integers"
            )));
        }
    };
    let short = || EngineError::Decode("tiff: fewer samples than the image needs".into());
    let frame = match colour {
        ColorType::Gray(bits @ (1 | 2 | 4)) => {
            let grey = unpack_grey(&samples, w as usize, h as usize, bits).ok_or_else(short)?;
            Frame::new(
                w,
                h,
                Layout::Rgb8,
                grey.iter().flat_map(|&g| [g, g, g]).collect(),
            )
        }
        ColorType::Gray(8 | 16) => {
            let grey = samples.get(..pixels).ok_or_else(short)?;
            Frame::new(
                w,
                h,
                Layout::Rgb8,
                grey.iter().flat_map(|&g| [g, g, g]).collect(),
            )
        }
        ColorType::GrayA(8 | 16)
        | ColorType::Multiband {
            bit_depth: 8 | 16,
            num_samples: 2,
        } => {
            let ga = samples.get(..pixels * 2).ok_or_else(short)?;
            Frame::new(
                w,
                h,
                Layout::Rgba8,
                ga.chunks_exact(2)
                    .flat_map(|p| [p[0], p[0], p[0], p[1]])
                    .collect(),
            )
        }
        ColorType::RGB(8 | 16) => {
            let rgb = samples.get(..pixels * 3).ok_or_else(short)?;
            Frame::new(w, h, Layout::Rgb8, rgb.to_vec())
        }
        ColorType::YCbCr(8) if compression == COMPRESSION_JPEG => {
            // The JPEG decoder has already converted to RGB.
            let rgb = samples.get(..pixels * 3).ok_or_else(short)?;
            Frame::new(w, h, Layout::Rgb8, rgb.to_vec())
        }
        ColorType::RGBA(8 | 16) => {
            let mut rgba = samples.get(..pixels * 4).ok_or_else(short)?.to_vec();
            if associated_alpha {
                unpremultiply(&mut rgba);
            }
            Frame::new(w, h, Layout::Rgba8, rgba)
        }
        ColorType::CMYK(8 | 16) => {
            let cmyk = samples.get(..pixels * 4).ok_or_else(short)?;
            Frame::new(
                w,
                h,
                Layout::Rgb8,
                cmyk.chunks_exact(4)
                    .flat_map(|p| {
                        let k = 255 - u32::from(p[3]);
                        [0, 1, 2].map(|i| ((255 - u32::from(p[i])) * k / 255) as u8)
                    })
                    .collect(),
            )
        }
        other => {
            return Err(EngineError::Unsupported(format!("tiff: {other:?} images")));
        }
    };
    Ok(match icc {
        Some(icc) if !icc.is_empty() => color::rgb_to_srgb(frame, &icc),
        _ => frame,
    })
}

/// Expands rows of 1, 2 or 4-bit grey (each row padded to a byte) to 8 bits.
fn unpack_grey(packed: &[u8], w: usize, h: usize, bits: u8) -> Option<Vec<u8>> {
    let bits = usize::from(bits);
    let row_bytes = (w * bits).div_ceil(8);
    let max = (1u16 << bits) - 1;
    let mut out = Vec::with_capacity(w * h);
    for row in packed.chunks(row_bytes).take(h) {
        if row.len() < row_bytes {
            return None;
        }
        for x in 0..w {
            let bit = x * bits;
            let byte = row[bit / 8];
            let shift = 8 - bits - bit % 8;
            let v = (u16::from(byte) >> shift) & max;
            out.push((v * 255 / max) as u8);
        }
    }
    (out.len() == w * h).then_some(out)
}

fn unpremultiply(rgba: &mut [u8]) {
    for p in rgba.chunks_exact_mut(4) {
        let a = u32::from(p[3]);
        if a != 0 && a != 255 {
            for c in &mut p[..3] {
                *c = ((u32::from(*c) * 255 + a / 2) / a).min(255) as u8;
            }
        }
    }
}

/// CCITT T.4 (Group 3) one-dimensional strips: each row a run of white/black codes after
/// an EOL. Two-dimensional G3 is refused.
fn decode_g3(
    data: &[u8],
    decoder: &mut Decoder<Cursor<&[u8]>>,
    w: u32,
    h: u32,
) -> EngineResult<Frame> {
    let tag = |decoder: &mut Decoder<Cursor<&[u8]>>, t: Tag| {
        decoder.find_tag_unsigned::<u32>(t).map_err(err)
    };
    let t4_options = tag(decoder, Tag::Unknown(292))?.unwrap_or(0);
    if t4_options & 1 != 0 {
        return Err(EngineError::Unsupported(
            "tiff: two-dimensional CCITT Group 3 compression is not supported".into(),
        ));
    }
    let width = u16::try_from(w)
        .map_err(|_| EngineError::Unsupported("tiff: a fax image wider than 65535".into()))?;
    let reversed = tag(decoder, Tag::FillOrder)?.unwrap_or(1) == 2;
    let white_is_zero = tag(decoder, Tag::PhotometricInterpretation)?
        .is_none_or(|p| p == u32::from(PHOTOMETRIC_WHITE_IS_ZERO));
    let rows_per_strip = tag(decoder, Tag::RowsPerStrip)?.unwrap_or(h).max(1);
    let offsets = decoder
        .find_tag_unsigned_vec::<u64>(Tag::StripOffsets)
        .map_err(err)?
        .ok_or_else(|| EngineError::Decode("tiff: no strip offsets".into()))?;
    let counts = decoder
        .find_tag_unsigned_vec::<u64>(Tag::StripByteCounts)
        .map_err(err)?
        .ok_or_else(|| EngineError::Decode("tiff: no strip byte counts".into()))?;
    let (white, black) = if white_is_zero { (255, 0) } else { (0, 255) };
    let mut grey = Vec::with_capacity(w as usize * h as usize);
    for (strip, (&offset, &count)) in offsets.iter().zip(&counts).enumerate() {
        let rows_here = h
            .saturating_sub(strip as u32 * rows_per_strip)
            .min(rows_per_strip);
        if rows_here == 0 {
            break;
        }
        let bytes = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(count).ok())
            .and_then(|(o, c)| data.get(o..o.checked_add(c)?))
            .ok_or_else(|| EngineError::Decode("tiff: a strip lies outside the file".into()))?;
        let input = bytes.iter().map(move |&b| {
            Ok::<u8, std::convert::Infallible>(if reversed { b.reverse_bits() } else { b })
        });
        let mut g3 = fax::decoder::Group3Decoder::new(input)
            .map_err(|_| EngineError::Decode("tiff: a fax strip does not start with EOL".into()))?;
        for row in 0..rows_here {
            let last_row = row + 1 == rows_here;
            let status = match g3.advance() {
                Ok(status) => status,
                // Encoders may end the strip right after the last row, without the EOL
                // the decoder looks for; a complete last row still counts.
                Err(_) if last_row && g3.transitions().last() == Some(&width) => {
                    fax::decoder::DecodeStatus::End
                }
                Err(_) => {
                    return Err(EngineError::Decode(format!(
                        "tiff: bad fax data in row {row}"
                    )));
                }
            };
            grey.extend(
                fax::decoder::pels(g3.transitions(), width).map(|c| match c {
                    fax::Color::White => white,
                    fax::Color::Black => black,
                }),
            );
            if status == fax::decoder::DecodeStatus::End && !last_row {
                return Err(EngineError::Decode("tiff: the fax data ends early".into()));
            }
        }
    }
    if grey.len() != w as usize * h as usize {
        return Err(EngineError::Decode("tiff: the fax data ends early".into()));
    }
    Ok(Frame::new(
        w,
        h,
        Layout::Rgb8,
        grey.iter().flat_map(|&g| [g, g, g]).collect(),
    ))
}

/// RGB(A) at 8 bits, LZW with the horizontal predictor.
pub fn encode(frame: &Frame) -> EngineResult<Vec<u8>> {
    use tiff::encoder::{Compression, Predictor, TiffEncoder, colortype};
    let enc_err = |e: TiffError| EngineError::Encode(format!("tiff: {e}"));
    let mut out = Cursor::new(Vec::new());
    let mut encoder = TiffEncoder::new(&mut out)
        .map_err(enc_err)?
        .with_compression(Compression::Lzw)
        .with_predictor(Predictor::Horizontal);
    match frame.layout {
        Layout::Rgb8 => {
            encoder.write_image::<colortype::RGB8>(frame.width, frame.height, &frame.data)
        }
        Layout::Rgba8 => {
            encoder.write_image::<colortype::RGBA8>(frame.width, frame.height, &frame.data)
        }
    }
    .map_err(enc_err)?;
    Ok(out.into_inner())
}
