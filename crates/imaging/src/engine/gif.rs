//! GIF through the pure-Rust `gif` crate. Decoding composites every frame onto the full
//! canvas (offsets, transparency, the three disposal methods), so the steps see whole
//! pictures; encoding quantises each frame to its own palette with NeuQuant and keeps
//! the animation's delays and loop count.

use super::frame::{Frame, Image, Layout};
use super::{EngineError, EngineResult};
use gif::{ColorOutput, DecodeOptions, DisposalMethod, MemoryLimit, Repeat};
use std::num::NonZeroU64;

fn err(e: gif::DecodingError) -> EngineError {
    EngineError::Decode(format!("gif: {e}"))
}

pub struct Header {
    pub width: u32,
    pub height: u32,
    pub frames: u32,
}

/// The logical screen size and the number of frames, from walking the blocks: nothing
/// is decompressed or allocated. A file cut short counts the frames that begin in it
/// (the decoder reports the damage).
pub fn header(data: &[u8]) -> EngineResult<Header> {
    let bad = |what: &str| EngineError::Decode(format!("gif: {what}"));
    if data.len() < 13 {
        return Err(bad("the header is cut short"));
    }
    let width = u32::from(u16::from_le_bytes([data[6], data[7]]));
    let height = u32::from(u16::from_le_bytes([data[8], data[9]]));
    let table_len = |flags: u8| {
        if flags & 0x80 != 0 {
            3 << ((flags & 7) + 1)
        } else {
            0
        }
    };
    let mut at = 13 + table_len(data[10]);
    // Skips a chain of data sub-blocks starting at `at`; None when it runs off the end.
    let skip_sub_blocks = |mut at: usize| -> Option<usize> {
        loop {
            let len = usize::from(*data.get(at)?);
            at += 1;
            if len == 0 {
                return Some(at);
            }
            at += len;
        }
    };
    let mut frames = 0u32;
    while let Some(&block) = data.get(at) {
        let next = match block {
            0x3B => break,
            0x21 => skip_sub_blocks(at + 2),
            0x2C => {
                frames = frames.saturating_add(1);
                data.get(at + 9)
                    .and_then(|&flags| skip_sub_blocks(at + 10 + table_len(flags) + 1))
            }
            _ => return Err(bad("an unknown block")),
        };
        match next {
            Some(n) => at = n,
            None => break,
        }
    }
    if frames == 0 {
        return Err(bad("no image in the file"));
    }
    Ok(Header {
        width,
        height,
        frames,
    })
}

/// Decodes every frame, each composited onto the canvas as a viewer shows it.
/// `between` runs before each frame (the deadline check). `max_frame_bytes` bounds the
/// decoder's buffer for any one frame.
pub fn decode(
    data: &[u8],
    max_frame_bytes: u64,
    mut between: impl FnMut() -> EngineResult<()>,
) -> EngineResult<Image> {
    let mut options = DecodeOptions::new();
    options.set_color_output(ColorOutput::RGBA);
    options.set_memory_limit(MemoryLimit::Bytes(
        NonZeroU64::new(max_frame_bytes).unwrap_or(NonZeroU64::MIN),
    ));
    let mut decoder = options.read_info(data).map_err(err)?;
    let (cw, ch) = (usize::from(decoder.width()), usize::from(decoder.height()));
    if cw == 0 || ch == 0 {
        return Err(EngineError::Decode("gif: the canvas is empty".into()));
    }
    // Viewers start from, and dispose to, transparency rather than the background colour.
    let mut canvas = vec![0u8; cw * ch * 4];
    let mut frames = Vec::new();
    let mut delays_ms = Vec::new();
    loop {
        between()?;
        let Some(frame) = decoder.read_next_frame().map_err(err)? else {
            break;
        };
        let (left, top) = (usize::from(frame.left), usize::from(frame.top));
        let (fw, fh) = (usize::from(frame.width), usize::from(frame.height));
        if frame.buffer.len() < fw * fh * 4 {
            return Err(EngineError::Decode("gif: short frame data".into()));
        }
        let saved = (frame.dispose == DisposalMethod::Previous).then(|| canvas.clone());
        // Only the part of the frame inside the canvas is drawn: none of a frame wholly
        // right of or below it, whose rows would start past the canvas's end.
        let draw_w = cw.saturating_sub(left).min(fw);
        let draw_h = if draw_w == 0 {
            0
        } else {
            ch.saturating_sub(top).min(fh)
        };
        for y in 0..draw_h {
            let src = &frame.buffer[y * fw * 4..(y * fw + draw_w) * 4];
            let row = ((top + y) * cw + left) * 4;
            let dst = &mut canvas[row..row + draw_w * 4];
            for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
                if s[3] != 0 {
                    d.copy_from_slice(s);
                }
            }
        }
        frames.push(Frame::new(
            cw as u32,
            ch as u32,
            Layout::Rgba8,
            canvas.clone(),
        ));
        delays_ms.push(u32::from(frame.delay) * 10);
        match frame.dispose {
            DisposalMethod::Background => {
                for y in 0..draw_h {
                    let row = ((top + y) * cw + left) * 4;
                    canvas[row..row + draw_w * 4].fill(0);
                }
            }
            DisposalMethod::Previous => {
                if let Some(saved) = saved {
                    canvas = saved;
                }
            }
            _ => {}
        }
    }
    if frames.is_empty() {
        return Err(EngineError::Decode("gif: no image in the file".into()));
    }
    // GIF counts repeats after the first showing; an Image counts showings.
    let loop_count = match decoder.repeat() {
        Repeat::Infinite => 0,
        Repeat::Finite(n) => u32::from(n) + 1,
    };
    Ok(Image {
        frames,
        delays_ms,
        loop_count,
    })
}

/// Encodes every frame (a still image is a one-frame GIF). Alpha becomes GIF's 1-bit
/// transparency at the half-way mark.
pub fn encode(
    image: &Image,
    mut between: impl FnMut() -> EngineResult<()>,
) -> EngineResult<Vec<u8>> {
    let first = image.first();
    let too_large = || EngineError::TooLarge("gif: sides are limited to 65535 pixels".into());
    let width = u16::try_from(first.width).map_err(|_| too_large())?;
    let height = u16::try_from(first.height).map_err(|_| too_large())?;
    let enc_err = |e: gif::EncodingError| EngineError::Encode(format!("gif: {e}"));
    let mut out = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut out, width, height, &[]).map_err(enc_err)?;
        // Without the looping extension a GIF shows once; with it, 1 + its repeats.
        if image.is_animated() && image.loop_count != 1 {
            let repeat = match u16::try_from(image.loop_count.saturating_sub(1)) {
                Ok(n) if image.loop_count != 0 => Repeat::Finite(n),
                _ => Repeat::Infinite,
            };
            encoder.set_repeat(repeat).map_err(enc_err)?;
        }
        for (frame, delay) in image.frames.iter().zip(&image.delays_ms) {
            between()?;
            if frame.width != first.width || frame.height != first.height {
                return Err(EngineError::Internal(
                    "gif: frames of different sizes".into(),
                ));
            }
            let mut rgba = frame.clone().to_rgba().data;
            for p in rgba.chunks_exact_mut(4) {
                p[3] = if p[3] >= 128 { 255 } else { 0 };
            }
            let mut g = gif::Frame::from_rgba_speed(width, height, &mut rgba, 10);
            g.delay = u16::try_from(delay.div_ceil(10)).unwrap_or(u16::MAX);
            // Every frame covers the whole canvas; clearing it after each one keeps
            // transparent pixels from showing the frame before.
            g.dispose = DisposalMethod::Background;
            encoder.write_frame(&g).map_err(enc_err)?;
        }
    }
    Ok(out)
}
