//! PNG through the pure-Rust `png` crate: every bit depth and colour type (palette,
//! grey, grey+alpha, 16-bit, interlaced) comes out as 8-bit RGB or RGBA.

use super::color;
use super::frame::{Frame, Layout};
use super::{EngineError, EngineResult};

pub struct Header {
    pub width: u32,
    pub height: u32,
}

pub fn header(data: &[u8]) -> EngineResult<Header> {
    let reader = png::Decoder::new(std::io::Cursor::new(data))
        .read_info()
        .map_err(|e| EngineError::Decode(format!("png: {e}")))?;
    let info = reader.info();
    Ok(Header {
        width: info.width,
        height: info.height,
    })
}

pub fn decode(data: &[u8], max_bytes: usize) -> EngineResult<Frame> {
    let err = |e: png::DecodingError| EngineError::Decode(format!("png: {e}"));
    let mut decoder = png::Decoder::new(std::io::Cursor::new(data));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    decoder.set_limits(png::Limits { bytes: max_bytes });
    let mut reader = decoder.read_info().map_err(err)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| EngineError::TooLarge("png: image too large".into()))?;
    let icc = reader.info().icc_profile.as_ref().map(|p| p.to_vec());
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(err)?;
    buf.truncate(info.buffer_size());
    let (w, h) = (info.width, info.height);
    let frame = match info.color_type {
        png::ColorType::Rgb => Frame::new(w, h, Layout::Rgb8, buf),
        png::ColorType::Rgba => Frame::new(w, h, Layout::Rgba8, buf),
        png::ColorType::Grayscale => Frame::new(
            w,
            h,
            Layout::Rgb8,
            buf.iter().flat_map(|&g| [g, g, g]).collect(),
        ),
        png::ColorType::GrayscaleAlpha => Frame::new(
            w,
            h,
            Layout::Rgba8,
            buf.chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0], p[1]])
                .collect(),
        ),
        png::ColorType::Indexed => {
            return Err(EngineError::Decode("png: palette was not expanded".into()));
        }
    };
    Ok(match icc {
        Some(icc) => color::rgb_to_srgb(frame, &icc),
        None => frame,
    })
}

pub fn encode(frame: &Frame) -> EngineResult<Vec<u8>> {
    let err = |e: png::EncodingError| EngineError::Encode(format!("png: {e}"));
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, frame.width, frame.height);
        enc.set_color(match frame.layout {
            Layout::Rgb8 => png::ColorType::Rgb,
            Layout::Rgba8 => png::ColorType::Rgba,
        });
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header().map_err(err)?;
        writer.write_image_data(&frame.data).map_err(err)?;
        writer.finish().map_err(err)?;
    }
    Ok(out)
}
