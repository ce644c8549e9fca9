//! BMP through the `image` crate's BMP codec (built alone): every header version,
//! palettes, RLE, bit fields, top-down rows; written as 24-bit, or 32-bit with alpha.

use super::frame::{Frame, Layout};
use super::{EngineError, EngineResult};
use image::codecs::bmp::{BmpDecoder, BmpEncoder};
use image::{ColorType, ExtendedColorType, ImageDecoder};
use std::io::Cursor;

fn err(e: image::ImageError) -> EngineError {
    match e {
        image::ImageError::Limits(l) => EngineError::TooLarge(format!("bmp: {l}")),
        image::ImageError::Unsupported(u) => EngineError::Unsupported(format!("bmp: {u}")),
        other => EngineError::Decode(format!("bmp: {other}")),
    }
}

pub struct Header {
    pub width: u32,
    pub height: u32,
}

/// Reads the file and info headers (and the palette) only.
pub fn header(data: &[u8]) -> EngineResult<Header> {
    let decoder = BmpDecoder::new(Cursor::new(data)).map_err(err)?;
    let (width, height) = decoder.dimensions();
    Ok(Header { width, height })
}

/// Decodes within `max_bytes` of pixel memory.
pub fn decode(data: &[u8], max_bytes: u64) -> EngineResult<Frame> {
    let mut decoder = BmpDecoder::new(Cursor::new(data)).map_err(err)?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(max_bytes);
    decoder.set_limits(limits).map_err(err)?;
    let (w, h) = decoder.dimensions();
    let layout = match decoder.color_type() {
        ColorType::Rgb8 => Layout::Rgb8,
        ColorType::Rgba8 => Layout::Rgba8,
        other => {
            return Err(EngineError::Unsupported(format!("bmp: {other:?} pixels")));
        }
    };
    let size = decoder.total_bytes();
    if size > max_bytes {
        return Err(EngineError::TooLarge(format!(
            "bmp: {w}x{h} needs {size} bytes; the limit is {max_bytes}"
        )));
    }
    let mut buf = vec![0u8; size as usize];
    decoder.read_image(&mut buf).map_err(err)?;
    Ok(Frame::new(w, h, layout, buf))
}

pub fn encode(frame: &Frame) -> EngineResult<Vec<u8>> {
    let mut out = Vec::new();
    let colour = match frame.layout {
        Layout::Rgb8 => ExtendedColorType::Rgb8,
        Layout::Rgba8 => ExtendedColorType::Rgba8,
    };
    BmpEncoder::new(&mut out)
        .encode(&frame.data, frame.width, frame.height, colour)
        .map_err(|e| EngineError::Encode(format!("bmp: {e}")))?;
    Ok(out)
}
