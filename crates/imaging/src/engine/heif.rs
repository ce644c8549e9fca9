//! HEIC/HEIF input, and AVIFs whose primary image is a grid of tiles (which `avif-parse`
//! cannot compose), through the system libheif (1.15 or later; `build.rs` finds it with
//! pkg-config). libheif is a chosen dependency: it is what every HEIF reader on Linux
//! uses, it composes grids, and it drives the codecs (libde265 for HEVC, libdav1d or
//! libaom for AV1) so that imgd links no HEVC decoder of its own.
//!
//! The FFI declarations below are the few calls used, written from libheif's `heif.h`.
//! Each libheif object is owned by a Rust type whose `Drop` frees it, so every path
//! (errors included) releases what it allocated, and every `heif_error` is checked.
//!
//! What libheif is trusted with, and what is checked first: the container is read here
//! ([`heif_meta`]) before libheif sees it, and the sizes libheif and its HEVC decoder
//! will allocate (the grid's output size, else `ispe`; every HEVC configuration's SPS)
//! are held to the pixel limit; libheif's own per-side limit is set as well. Orientation is not libheif's: decoding ignores `irot`/`imir`/`clap`
//! (`ignore_transformations`), the clean aperture is cropped here and the orientation
//! goes to the engine through the probe, which applies it once, as for JPEG. The time
//! budget is checked before and after the decode (libheif cannot be interrupted).
//!
//! Colour: an ICC profile goes through [`color::rgb_to_srgb`]; an `nclx` box through the
//! same CICP conversion as AVIF, or, for PQ and HLG, [`hdr::tone_map`]. Samples deeper
//! than 8 bits are decoded as 16-bit and rounded (SDR) or tone-mapped (HDR).

use super::color::{self, Cicp};
use super::frame::{Frame, Layout};
use super::hdr;
use super::heif_meta::{self, Primary};
use super::limits::Deadline;
use super::{EngineError, EngineResult};
use std::ffi::{CStr, c_int};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::OnceLock;

#[allow(non_camel_case_types)]
mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    #[repr(C)]
    pub struct heif_context {
        _opaque: [u8; 0],
    }
    #[repr(C)]
    pub struct heif_image_handle {
        _opaque: [u8; 0],
    }
    #[repr(C)]
    pub struct heif_image {
        _opaque: [u8; 0],
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct heif_error {
        pub code: c_int,
        pub subcode: c_int,
        pub message: *const c_char,
    }
    /// The leading fields of `heif_decoding_options`, which libheif allocates (at its
    /// own, larger, size) and fills with defaults; only these two are touched here.
    #[repr(C)]
    pub struct heif_decoding_options {
        pub version: u8,
        pub ignore_transformations: u8,
    }
    /// The version 1 fields of `heif_color_profile_nclx` (the enums are C ints).
    #[repr(C)]
    pub struct heif_color_profile_nclx {
        pub version: u8,
        pub color_primaries: c_int,
        pub transfer_characteristics: c_int,
        pub matrix_coefficients: c_int,
        pub full_range_flag: u8,
    }

    pub const COLORSPACE_RGB: c_int = 1;
    pub const CHROMA_RGB: c_int = 10;
    pub const CHROMA_RGBA: c_int = 11;
    pub const CHROMA_RRGGBB_LE: c_int = 14;
    pub const CHROMA_RRGGBBAA_LE: c_int = 15;
    pub const CHANNEL_INTERLEAVED: c_int = 10;
    pub const ERROR_UNSUPPORTED_FILETYPE: c_int = 3;
    pub const ERROR_UNSUPPORTED_FEATURE: c_int = 4;
    pub const SUBERROR_SECURITY_LIMIT_EXCEEDED: c_int = 1000;

    unsafe extern "C" {
        pub fn heif_init(params: *mut c_void) -> heif_error;
        pub fn heif_context_alloc() -> *mut heif_context;
        pub fn heif_context_free(ctx: *mut heif_context);
        pub fn heif_context_read_from_memory_without_copy(
            ctx: *mut heif_context,
            mem: *const c_void,
            size: usize,
            options: *const c_void,
        ) -> heif_error;
        pub fn heif_context_set_maximum_image_size_limit(ctx: *mut heif_context, width: c_int);
        pub fn heif_context_set_max_decoding_threads(ctx: *mut heif_context, threads: c_int);
        pub fn heif_context_get_primary_image_handle(
            ctx: *mut heif_context,
            out: *mut *mut heif_image_handle,
        ) -> heif_error;
        pub fn heif_image_handle_release(handle: *const heif_image_handle);
        pub fn heif_image_handle_has_alpha_channel(handle: *const heif_image_handle) -> c_int;
        pub fn heif_image_handle_is_premultiplied_alpha(handle: *const heif_image_handle) -> c_int;
        pub fn heif_image_handle_get_luma_bits_per_pixel(handle: *const heif_image_handle)
        -> c_int;
        pub fn heif_image_handle_get_raw_color_profile_size(
            handle: *const heif_image_handle,
        ) -> usize;
        pub fn heif_image_handle_get_raw_color_profile(
            handle: *const heif_image_handle,
            out: *mut c_void,
        ) -> heif_error;
        pub fn heif_image_handle_get_nclx_color_profile(
            handle: *const heif_image_handle,
            out: *mut *mut heif_color_profile_nclx,
        ) -> heif_error;
        pub fn heif_nclx_color_profile_free(profile: *mut heif_color_profile_nclx);
        pub fn heif_decoding_options_alloc() -> *mut heif_decoding_options;
        pub fn heif_decoding_options_free(options: *mut heif_decoding_options);
        pub fn heif_decode_image(
            handle: *const heif_image_handle,
            out: *mut *mut heif_image,
            colorspace: c_int,
            chroma: c_int,
            options: *const heif_decoding_options,
        ) -> heif_error;
        pub fn heif_image_release(image: *const heif_image);
        pub fn heif_image_get_width(image: *const heif_image, channel: c_int) -> c_int;
        pub fn heif_image_get_height(image: *const heif_image, channel: c_int) -> c_int;
        pub fn heif_image_get_bits_per_pixel_range(
            image: *const heif_image,
            channel: c_int,
        ) -> c_int;
        pub fn heif_image_get_plane_readonly(
            image: *const heif_image,
            channel: c_int,
            stride: *mut c_int,
        ) -> *const u8;
    }
}

/// No side of a HEIF image may exceed this (AV1's own maximum); libheif refuses larger
/// ones itself, on top of the pixel limit checked here.
const MAX_SIDE: u64 = 65_536;

fn decode_err(what: &str) -> EngineError {
    EngineError::Decode(format!("heif: {what}"))
}

/// Turns a `heif_error` into a result; the message is copied out at once, as libheif may
/// reuse its buffer.
fn check(err: ffi::heif_error) -> EngineResult<()> {
    if err.code == 0 {
        return Ok(());
    }
    let message = if err.message.is_null() {
        "unknown error".to_string()
    } else {
        // SAFETY: libheif documents `message` as always a valid C string when non-null.
        unsafe { CStr::from_ptr(err.message) }
            .to_string_lossy()
            .into_owned()
    };
    let message = format!("heif: {message}");
    Err(match (err.code, err.subcode) {
        (_, ffi::SUBERROR_SECURITY_LIMIT_EXCEEDED) => EngineError::TooLarge(message),
        (ffi::ERROR_UNSUPPORTED_FILETYPE | ffi::ERROR_UNSUPPORTED_FEATURE, _) => {
            EngineError::Unsupported(message)
        }
        _ => EngineError::Decode(message),
    })
}

/// Initialises libheif once per process (it registers its codecs then); never undone, as
/// any thread may decode at any time until the process ends.
fn init() -> EngineResult<()> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        // SAFETY: a null parameter block asks for the defaults.
        check(unsafe { ffi::heif_init(ptr::null_mut()) }).map_err(|e| e.to_string())
    })
    .clone()
    .map_err(EngineError::Internal)
}

/// A libheif context reading `data` in place (`without_copy`): it borrows the bytes.
struct Context<'a> {
    raw: NonNull<ffi::heif_context>,
    _data: PhantomData<&'a [u8]>,
}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated by heif_context_alloc and freed only here.
        unsafe { ffi::heif_context_free(self.raw.as_ptr()) }
    }
}

impl<'a> Context<'a> {
    fn read(data: &'a [u8], max_side: u64) -> EngineResult<Context<'a>> {
        init()?;
        // SAFETY: no preconditions; a null return is handled.
        let raw = NonNull::new(unsafe { ffi::heif_context_alloc() })
            .ok_or_else(|| EngineError::Internal("heif: no memory for a context".into()))?;
        let ctx = Context {
            raw,
            _data: PhantomData,
        };
        let side = c_int::try_from(max_side).unwrap_or(c_int::MAX);
        // SAFETY: `raw` is a live context; `data` outlives it (the lifetime 'a), as
        // reading without a copy requires.
        unsafe {
            ffi::heif_context_set_maximum_image_size_limit(raw.as_ptr(), side);
            // Tiles are decoded on this thread: the server bounds concurrent renders, and
            // a render should not fan out behind its back.
            ffi::heif_context_set_max_decoding_threads(raw.as_ptr(), 0);
            check(ffi::heif_context_read_from_memory_without_copy(
                raw.as_ptr(),
                data.as_ptr().cast(),
                data.len(),
                ptr::null(),
            ))?;
        }
        Ok(ctx)
    }

    fn primary(&self) -> EngineResult<Handle<'a>> {
        let mut out = ptr::null_mut();
        // SAFETY: a live context and a valid out-pointer.
        let err =
            unsafe { ffi::heif_context_get_primary_image_handle(self.raw.as_ptr(), &mut out) };
        // Owned before the error is looked at, so it is released on every path.
        let handle = NonNull::new(out).map(|raw| Handle {
            raw,
            _data: PhantomData,
        });
        check(err)?;
        handle.ok_or_else(|| decode_err("the file has no primary image"))
    }
}

/// An image handle; libheif reference-counts the context behind it.
struct Handle<'a> {
    raw: NonNull<ffi::heif_image_handle>,
    _data: PhantomData<&'a [u8]>,
}

impl Drop for Handle<'_> {
    fn drop(&mut self) {
        // SAFETY: obtained from libheif and released only here.
        unsafe { ffi::heif_image_handle_release(self.raw.as_ptr()) }
    }
}

impl<'a> Handle<'a> {
    fn has_alpha(&self) -> bool {
        // SAFETY: a live handle (likewise below).
        unsafe { ffi::heif_image_handle_has_alpha_channel(self.raw.as_ptr()) != 0 }
    }

    fn premultiplied(&self) -> bool {
        unsafe { ffi::heif_image_handle_is_premultiplied_alpha(self.raw.as_ptr()) != 0 }
    }

    /// Bits per luma sample; libheif answers -1 when it does not know (taken as 8).
    fn luma_bits(&self) -> u32 {
        let bits = unsafe { ffi::heif_image_handle_get_luma_bits_per_pixel(self.raw.as_ptr()) };
        u32::try_from(bits).unwrap_or(8)
    }

    /// The ICC profile, when there is one no longer than the file holding it.
    fn icc(&self, file_len: usize) -> Option<Vec<u8>> {
        let size = unsafe { ffi::heif_image_handle_get_raw_color_profile_size(self.raw.as_ptr()) };
        if size == 0 || size > file_len {
            return None;
        }
        let mut icc = vec![0u8; size];
        // SAFETY: the buffer holds the `size` bytes libheif reported it will write.
        let err = unsafe {
            ffi::heif_image_handle_get_raw_color_profile(self.raw.as_ptr(), icc.as_mut_ptr().cast())
        };
        check(err).ok().map(|()| icc)
    }

    /// The `nclx` colour box, when there is one.
    fn nclx(&self) -> Option<Cicp> {
        let mut out = ptr::null_mut();
        // SAFETY: a live handle and a valid out-pointer.
        let err =
            unsafe { ffi::heif_image_handle_get_nclx_color_profile(self.raw.as_ptr(), &mut out) };
        let profile = NonNull::new(out).map(Nclx);
        check(err).ok()?;
        // Bound to a name so that it is freed at the end of this function, after the
        // fields are read, not at the end of the statement that borrows it.
        let profile = profile?;
        // SAFETY: libheif allocated at least the version 1 fields read here.
        let p = unsafe { profile.0.as_ref() };
        let code = |v: c_int| u16::try_from(v).unwrap_or(2);
        Some(Cicp {
            primaries: code(p.color_primaries),
            transfer: code(p.transfer_characteristics),
            matrix: code(p.matrix_coefficients),
            full_range: p.full_range_flag != 0,
        })
    }

    /// Decodes to interleaved RGB(A), as stored: transformations are left to the caller.
    fn decode(&self, chroma: c_int) -> EngineResult<Image<'a>> {
        let options = DecodingOptions::new()?;
        let mut out = ptr::null_mut();
        // SAFETY: a live handle, options from heif_decoding_options_alloc and a valid
        // out-pointer.
        let err = unsafe {
            ffi::heif_decode_image(
                self.raw.as_ptr(),
                &mut out,
                ffi::COLORSPACE_RGB,
                chroma,
                options.0.as_ptr(),
            )
        };
        let image = NonNull::new(out).map(|raw| Image {
            raw,
            _data: PhantomData,
        });
        check(err)?;
        image.ok_or_else(|| decode_err("libheif returned no image"))
    }
}

struct Nclx(NonNull<ffi::heif_color_profile_nclx>);

impl Drop for Nclx {
    fn drop(&mut self) {
        // SAFETY: allocated by libheif for the caller to free.
        unsafe { ffi::heif_nclx_color_profile_free(self.0.as_ptr()) }
    }
}

struct DecodingOptions(NonNull<ffi::heif_decoding_options>);

impl Drop for DecodingOptions {
    fn drop(&mut self) {
        // SAFETY: allocated by heif_decoding_options_alloc and freed only here.
        unsafe { ffi::heif_decoding_options_free(self.0.as_ptr()) }
    }
}

impl DecodingOptions {
    fn new() -> EngineResult<DecodingOptions> {
        // SAFETY: no preconditions; a null return is handled.
        let raw = NonNull::new(unsafe { ffi::heif_decoding_options_alloc() })
            .ok_or_else(|| EngineError::Internal("heif: no memory for options".into()))?;
        let options = DecodingOptions(raw);
        // SAFETY: every version of the struct starts with these two fields.
        unsafe {
            let o = &mut *raw.as_ptr();
            if o.version < 1 {
                return Err(EngineError::Internal("heif: libheif is too old".into()));
            }
            o.ignore_transformations = 1;
        }
        Ok(options)
    }
}

/// A decoded image.
struct Image<'a> {
    raw: NonNull<ffi::heif_image>,
    _data: PhantomData<&'a [u8]>,
}

impl Drop for Image<'_> {
    fn drop(&mut self) {
        // SAFETY: returned by heif_decode_image and released only here.
        unsafe { ffi::heif_image_release(self.raw.as_ptr()) }
    }
}

impl Image<'_> {
    fn size(&self) -> EngineResult<(u32, u32)> {
        // SAFETY: a live image; -1 (no such channel) is refused below.
        let (w, h) = unsafe {
            (
                ffi::heif_image_get_width(self.raw.as_ptr(), ffi::CHANNEL_INTERLEAVED),
                ffi::heif_image_get_height(self.raw.as_ptr(), ffi::CHANNEL_INTERLEAVED),
            )
        };
        match (u32::try_from(w), u32::try_from(h)) {
            (Ok(w), Ok(h)) if w > 0 && h > 0 => Ok((w, h)),
            _ => Err(decode_err("the decoded image has no interleaved plane")),
        }
    }

    fn bits(&self) -> u32 {
        let bits = unsafe {
            ffi::heif_image_get_bits_per_pixel_range(self.raw.as_ptr(), ffi::CHANNEL_INTERLEAVED)
        };
        u32::try_from(bits).unwrap_or(8)
    }

    /// The interleaved plane as rows of `row_bytes`, `stride` apart.
    fn rows(&self, row_bytes: usize, height: usize) -> EngineResult<(&[u8], usize)> {
        let mut stride: c_int = 0;
        // SAFETY: a live image and a valid out-pointer.
        let data = unsafe {
            ffi::heif_image_get_plane_readonly(
                self.raw.as_ptr(),
                ffi::CHANNEL_INTERLEAVED,
                &mut stride,
            )
        };
        let stride = usize::try_from(stride).unwrap_or(0);
        if data.is_null() || stride < row_bytes || height == 0 {
            return Err(decode_err("the decoded plane is missing or too narrow"));
        }
        let len = stride * (height - 1) + row_bytes;
        // SAFETY: libheif allocated `stride` bytes for each of `height` rows, and the
        // slice lives no longer than the image it borrows.
        Ok((unsafe { std::slice::from_raw_parts(data, len) }, stride))
    }
}

/// What the probe needs, read from the container alone.
pub struct Header {
    pub width: u32,
    pub height: u32,
    pub orientation: u8,
    pub bits: u8,
    /// Before the clean aperture: what the decoder allocates.
    pub decoded_pixels: u64,
}

fn container(data: &[u8]) -> EngineResult<Primary<'_>> {
    heif_meta::read(data).map_err(|e| decode_err(&e))
}

/// The size (after the clean aperture, before orientation) and the orientation; nothing
/// is decoded and libheif is not called.
pub fn header(data: &[u8]) -> EngineResult<Header> {
    let primary = container(data)?;
    let (width, height) = primary.stored_size();
    Ok(Header {
        width,
        height,
        orientation: primary.display_orientation(),
        bits: primary.bits,
        decoded_pixels: primary.decoded_pixels(),
    })
}

/// Whether an AVIF's primary image is one only libheif composes: a grid (or another
/// derived image), not a plain AV1 item.
pub fn decodes_avif(data: &[u8]) -> bool {
    heif_meta::read(data).is_ok_and(|p| p.item_type != *b"av01")
}

/// Decodes the primary image into at most `max_pixels` pixels, in sRGB, cropped to its
/// clean aperture and not yet oriented.
pub fn decode(data: &[u8], max_pixels: u64, deadline: &Deadline) -> EngineResult<Frame> {
    let primary = container(data)?;
    let (w, h) = (primary.width, primary.height);
    if primary.decoded_pixels() > max_pixels || u64::from(w.max(h)) > MAX_SIDE {
        return Err(EngineError::TooLarge(format!(
            "heif: {w}x{h} (coded as up to {} pixels) is over the limit of {max_pixels} \
             pixels or {MAX_SIDE} a side",
            primary.coded_pixels
        )));
    }
    deadline.check()?;
    let ctx = Context::read(data, MAX_SIDE.min(max_pixels))?;
    let handle = ctx.primary()?;
    let alpha = handle.has_alpha();
    let icc = handle.icc(data.len());
    let nclx = handle.nclx();
    let curve = nclx.and_then(|c| hdr::Curve::from_cicp(c.transfer));
    let wide = handle.luma_bits() > 8;
    let chroma = match (wide, alpha) {
        (false, false) => ffi::CHROMA_RGB,
        (false, true) => ffi::CHROMA_RGBA,
        (true, false) => ffi::CHROMA_RRGGBB_LE,
        (true, true) => ffi::CHROMA_RRGGBBAA_LE,
    };
    let image = handle.decode(chroma)?;
    deadline.check()?;
    if image.size()? != (w, h) {
        let (dw, dh) = image.size()?;
        return Err(decode_err(&format!(
            "the picture decodes to {dw}x{dh}, but the header says {w}x{h}"
        )));
    }
    let (layout, channels) = if alpha {
        (Layout::Rgba8, 4)
    } else {
        (Layout::Rgb8, 3)
    };
    let (width, height) = (w as usize, h as usize);
    let bytes_per_sample = if wide { 2 } else { 1 };
    let row_bytes = width * channels * bytes_per_sample;
    let (plane, stride) = image.rows(row_bytes, height)?;
    let mut samples16 = Vec::new();
    let mut samples8 = Vec::new();
    if wide {
        let bits = image.bits().clamp(9, 16);
        samples16.reserve(width * height * channels);
        for row in plane.chunks(stride).take(height) {
            samples16.extend(
                row[..row_bytes]
                    .chunks_exact(2)
                    .map(|b| hdr::widen(u16::from_le_bytes([b[0], b[1]]), bits)),
            );
        }
    } else {
        samples8.reserve(width * height * channels);
        for row in plane.chunks(stride).take(height) {
            samples8.extend_from_slice(&row[..row_bytes]);
        }
        if curve.is_some() {
            // An 8-bit HDR picture (rare) goes through the same tone mapping.
            samples16 = samples8.iter().map(|&v| u16::from(v) * 257).collect();
            samples8 = Vec::new();
        }
    }
    drop(image);
    let pixels = match (curve, nclx) {
        (Some(curve), Some(cicp)) => hdr::tone_map(&samples16, channels, curve, cicp.primaries),
        _ if !samples16.is_empty() => hdr::to_8bit(&samples16),
        _ => samples8,
    };
    let mut frame = Frame::new(w, h, layout, pixels);
    if curve.is_none() {
        frame = match (&icc, &nclx) {
            (Some(icc), _) => color::rgb_to_srgb(frame, icc),
            (None, Some(cicp)) => color::cicp_to_srgb(frame, cicp),
            (None, None) => frame,
        };
    }
    if alpha && handle.premultiplied() {
        frame.unpremultiply();
    }
    Ok(heif_meta::apply_crop(frame, primary.crop))
}
