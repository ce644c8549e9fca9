//! WebP. Decoding in pure Rust (`image-webp`: lossy, lossless, alpha, animation with
//! its frames composited onto the canvas); encoding through libwebp (lossy), animations
//! with libwebp's `WebPAnimEncoder`.

use super::frame::{Frame, Image, Layout};
use super::{EngineError, EngineResult, color, jpeg};
use image_webp::{LoopCount, WebPDecoder};
use std::io::Cursor;

fn err(e: image_webp::DecodingError) -> EngineError {
    EngineError::Decode(format!("webp: {e}"))
}

pub struct Header {
    pub width: u32,
    pub height: u32,
    /// 1 for a still image.
    pub frames: u32,
    /// EXIF orientation, 1 when absent.
    pub orientation: u8,
}

/// Reads the RIFF chunk headers (and the EXIF chunk) only.
pub fn header(data: &[u8]) -> EngineResult<Header> {
    let mut decoder = WebPDecoder::new(Cursor::new(data)).map_err(err)?;
    let (width, height) = decoder.dimensions();
    let frames = if decoder.is_animated() {
        decoder.num_frames()
    } else {
        1
    };
    if frames == 0 {
        return Err(EngineError::Decode(
            "webp: an animation without frames".into(),
        ));
    }
    let orientation = decoder.exif_metadata().ok().flatten().map_or(1, |exif| {
        let tiff = exif.strip_prefix(b"Exif\0\0").unwrap_or(&exif);
        jpeg::exif_orientation(tiff)
    });
    Ok(Header {
        width,
        height,
        frames,
        orientation,
    })
}

/// Decodes a still image, or every frame of an animation (each the full canvas, as
/// shown). `max_bytes` is the decoder's memory limit; `between` runs before each frame.
pub fn decode(
    data: &[u8],
    max_bytes: usize,
    mut between: impl FnMut() -> EngineResult<()>,
) -> EngineResult<Image> {
    let mut decoder = WebPDecoder::new(Cursor::new(data)).map_err(err)?;
    decoder.set_memory_limit(max_bytes);
    let (w, h) = decoder.dimensions();
    let layout = if decoder.has_alpha() {
        Layout::Rgba8
    } else {
        Layout::Rgb8
    };
    let size = decoder
        .output_buffer_size()
        .filter(|&s| s <= max_bytes)
        .ok_or_else(|| EngineError::TooLarge("webp: image too large".into()))?;
    let icc = decoder.icc_profile().ok().flatten();
    let to_srgb = |frame: Frame| match &icc {
        Some(icc) => color::rgb_to_srgb(frame, icc),
        None => frame,
    };
    if !decoder.is_animated() {
        let mut buf = vec![0u8; size];
        decoder.read_image(&mut buf).map_err(err)?;
        return Ok(Image::still(to_srgb(Frame::new(w, h, layout, buf))));
    }
    // Viewers start from, and dispose to, transparency rather than the background hint.
    decoder.set_background_color([0, 0, 0, 0]).map_err(err)?;
    let count = decoder.num_frames();
    let mut frames = Vec::with_capacity(count as usize);
    let mut delays_ms = Vec::with_capacity(count as usize);
    for _ in 0..count {
        between()?;
        let mut buf = vec![0u8; size];
        let delay = decoder.read_frame(&mut buf).map_err(err)?;
        frames.push(to_srgb(Frame::new(w, h, layout, buf)));
        delays_ms.push(delay);
    }
    if frames.is_empty() {
        return Err(EngineError::Decode(
            "webp: an animation without frames".into(),
        ));
    }
    let loop_count = match decoder.loop_count() {
        LoopCount::Forever => 0,
        LoopCount::Times(n) => u32::from(n.get()),
    };
    Ok(Image {
        frames,
        delays_ms,
        loop_count,
    })
}

fn check_webp_size(frame: &Frame) -> EngineResult<(i32, i32)> {
    if frame.width > 16383 || frame.height > 16383 {
        return Err(EngineError::TooLarge(
            "webp: sides are limited to 16383 pixels".into(),
        ));
    }
    Ok((frame.width as i32, frame.height as i32))
}

pub fn encode(frame: &Frame, quality: u8) -> EngineResult<Vec<u8>> {
    let channels = frame.layout.channels();
    let stride = frame.width as usize * channels;
    let (width, height) = check_webp_size(frame)?;
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

/// Releases libwebp's animation encoder however the encoding ends.
struct AnimEncoder(*mut libwebp_sys::WebPAnimEncoder);

impl Drop for AnimEncoder {
    fn drop(&mut self) {
        // SAFETY: the pointer came from WebPAnimEncoderNewInternal, is not null, and is
        // deleted only here.
        unsafe { libwebp_sys::WebPAnimEncoderDelete(self.0) };
    }
}

/// Encodes an animation (lossy frames at `quality`), keeping each frame's delay and the
/// loop count. libwebp may merge a frame identical to the one before into a longer one.
pub fn encode_animated(
    image: &Image,
    quality: u8,
    mut between: impl FnMut() -> EngineResult<()>,
) -> EngineResult<Vec<u8>> {
    use libwebp_sys as sys;
    let (width, height) = check_webp_size(image.first())?;
    let failed = |what: &str| EngineError::Encode(format!("webp: {what} failed"));

    // SAFETY: an all-zero options struct is a valid target for the init call, which
    // fills in every field.
    let mut options: sys::WebPAnimEncoderOptions = unsafe { std::mem::zeroed() };
    // SAFETY: `options` is a live, writable struct of the type libwebp expects.
    if unsafe {
        sys::WebPAnimEncoderOptionsInitInternal(&mut options, sys::WEBP_MUX_ABI_VERSION as i32)
    } == 0
    {
        return Err(failed("animation options"));
    }
    options.anim_params.loop_count = i32::try_from(image.loop_count.min(65535)).unwrap_or(0);
    options.anim_params.bgcolor = 0; // transparent
    // SAFETY: `options` was initialised above; the returned encoder is owned by `enc`.
    let raw = unsafe {
        sys::WebPAnimEncoderNewInternal(width, height, &options, sys::WEBP_MUX_ABI_VERSION as i32)
    };
    if raw.is_null() {
        return Err(failed("creating the animation encoder"));
    }
    let enc = AnimEncoder(raw);

    let mut config = sys::WebPConfig::new().map_err(|_| failed("configuration"))?;
    config.quality = f32::from(quality);
    config.lossless = 0;
    // SAFETY: `config` is an initialised WebPConfig.
    if unsafe { sys::WebPValidateConfig(&config) } == 0 {
        return Err(failed("configuration"));
    }

    let mut timestamp: i32 = 0;
    for (frame, delay) in image.frames.iter().zip(&image.delays_ms) {
        between()?;
        if (frame.width as i32, frame.height as i32) != (width, height) {
            return Err(EngineError::Internal(
                "webp: frames of different sizes".into(),
            ));
        }
        let mut picture = sys::WebPPicture::new().map_err(|_| failed("picture"))?;
        picture.use_argb = 1;
        picture.width = width;
        picture.height = height;
        let channels = frame.layout.channels();
        let stride = (frame.width as usize * channels) as i32;
        // SAFETY: `frame.data` holds `height` rows of `stride` bytes; libwebp copies them
        // into the picture's own buffer, which WebPPictureFree releases below.
        let imported = unsafe {
            match frame.layout {
                Layout::Rgb8 => {
                    sys::WebPPictureImportRGB(&mut picture, frame.data.as_ptr(), stride)
                }
                Layout::Rgba8 => {
                    sys::WebPPictureImportRGBA(&mut picture, frame.data.as_ptr(), stride)
                }
            }
        };
        let added = imported != 0
            // SAFETY: the encoder, picture and config are all live and initialised.
            && unsafe { sys::WebPAnimEncoderAdd(enc.0, &mut picture, timestamp, &config) } != 0;
        // SAFETY: the picture was initialised by WebPPicture::new; freeing it once is valid
        // whether or not the import allocated.
        unsafe { sys::WebPPictureFree(&mut picture) };
        if !added {
            return Err(failed("adding a frame"));
        }
        // A zero delay would merge the frame away; give it the shortest real duration.
        let step = i32::try_from((*delay).max(1)).unwrap_or(i32::MAX);
        timestamp = timestamp.saturating_add(step);
    }
    // SAFETY: a null frame tells the encoder the last frame ends at `timestamp`.
    if unsafe { sys::WebPAnimEncoderAdd(enc.0, std::ptr::null_mut(), timestamp, std::ptr::null()) }
        == 0
    {
        return Err(failed("finishing the animation"));
    }
    let mut data = sys::WebPData::default();
    // SAFETY: `data` receives a buffer libwebp allocated; it is copied, then released with
    // WebPDataClear exactly once.
    let bytes = unsafe {
        if sys::WebPAnimEncoderAssemble(enc.0, &mut data) == 0 || data.bytes.is_null() {
            None
        } else {
            let bytes = std::slice::from_raw_parts(data.bytes, data.size).to_vec();
            sys::WebPDataClear(&mut data);
            Some(bytes)
        }
    };
    bytes.ok_or_else(|| failed("assembling the animation"))
}
