//! WebP encoding through libwebp (lossy). Decoding WebP stays in pure Rust.

use super::frame::{Frame, Layout};
use super::{EngineError, EngineResult};

pub fn encode(frame: &Frame, quality: u8) -> EngineResult<Vec<u8>> {
    let channels = frame.layout.channels();
    let stride = frame.width as usize * channels;
    let width =
        i32::try_from(frame.width).map_err(|_| EngineError::TooLarge("webp: too wide".into()))?;
    let height =
        i32::try_from(frame.height).map_err(|_| EngineError::TooLarge("webp: too tall".into()))?;
    if frame.width > 16383 || frame.height > 16383 {
        return Err(EngineError::TooLarge(
            "webp: sides are limited to 16383 pixels".into(),
        ));
    }
    let encoder = match frame.layout {
        Layout::Rgb8 => libwebp_sys::WebPEncodeRGB,
        Layout::Rgba8 => libwebp_sys::WebPEncodeRGBA,
    };
    let mut out: *mut u8 = std::ptr::null_mut();
    // SAFETY: `frame.data` holds `height` rows of `stride` bytes (Frame's invariant), and
    // libwebp only reads that much; `out` receives a buffer libwebp allocated, which is
    // copied and then released with WebPFree exactly once.
    let len = unsafe {
        encoder(
            frame.data.as_ptr(),
            width,
            height,
            stride as i32,
            f32::from(quality),
            &mut out,
        )
    };
    if len == 0 || out.is_null() {
        return Err(EngineError::Encode("webp: encoding failed".into()));
    }
    // SAFETY: libwebp returned `len` valid bytes at `out`.
    let bytes = unsafe { std::slice::from_raw_parts(out, len) }.to_vec();
    // SAFETY: `out` came from libwebp's allocator and is not used after this.
    unsafe { libwebp_sys::WebPFree(out.cast()) };
    Ok(bytes)
}
