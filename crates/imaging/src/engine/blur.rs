//! Gaussian blur and unsharp mask at a cost per pixel that does not grow with the radius.
//!
//! A direct Gaussian costs `2r+1` multiply-adds per sample and pass; at OSS's largest
//! radius on a 36-megapixel intermediate that was most of a minute. Here:
//!
//! - A small kernel (at most [`MAX_TAPS_RADIUS`] samples either side once cut at 3σ,
//!   where a Gaussian's weight is spent) is convolved directly, in 14-bit fixed point.
//! - A wider one becomes three successive box filters whose widths are chosen so their
//!   combined variance equals the requested kernel's (the kernel as cut at `radius`, so
//!   OSS's `r` still narrows the blur). Each box is a running sum: two additions and one
//!   multiply per sample whatever its width.
//!
//! Samples are 16-bit while filtering (8-bit values scaled by 257, colour premultiplied
//! by alpha so transparent pixels do not bleed their colour), so six passes round only
//! once, at the end. The horizontal passes run row by row into one 16-bit working
//! buffer; the vertical passes run over strips of [`STRIP_PIXELS`] columns, every column
//! of a strip at once, and write the 8-bit result back into the frame. Working memory is
//! therefore the frame plus two bytes per sample ([`working_bytes`]), which admission
//! control counts. The deadline is checked between row bands and strips, so a blur
//! stops within its render's time budget.

use super::EngineResult;
use super::frame::{Frame, Layout};

/// Kernels reaching at most this far are convolved directly.
const MAX_TAPS_RADIUS: u32 = 6;
/// Fixed-point precision of direct kernel weights.
const TAP_BITS: u32 = 14;
/// Columns per vertical strip: wide enough for long contiguous runs, small enough that a
/// strip's two scratch copies stay in cache for ordinary heights.
const STRIP_PIXELS: usize = 64;
/// Rows between deadline checks in the horizontal passes.
const ROWS_PER_CHECK: usize = 128;

/// The extra bytes [`blur`] allocates for a `width` x `height` frame of `channels`.
pub fn working_bytes(width: u32, height: u32, channels: usize) -> u64 {
    let samples = u64::from(width) * u64::from(height) * channels as u64;
    let strip = STRIP_PIXELS as u64 * u64::from(height) * channels as u64;
    2 * samples + 4 * strip + 8 * u64::from(width) * channels as u64
}

enum Kernel {
    /// Weights for offsets `-r..=r`, summing to `1 << TAP_BITS`.
    Taps(Vec<u32>),
    /// Radii of three box filters applied in turn.
    Boxes([usize; 3]),
}

impl Kernel {
    fn new(radius: u32, sigma: f64) -> Option<Kernel> {
        if radius == 0 || sigma <= 0.0 || !sigma.is_finite() {
            return None;
        }
        let reach = radius.min((3.0 * sigma).ceil() as u32).max(1);
        let weights = gaussian(reach.min(radius), sigma);
        if reach <= MAX_TAPS_RADIUS {
            return Some(Kernel::Taps(fixed_point(&weights)));
        }
        // The variance of the kernel as cut at `radius` (cutting narrows it).
        let full = gaussian(radius, sigma);
        let r = f64::from(radius);
        let variance: f64 = full
            .iter()
            .enumerate()
            .map(|(i, w)| (i as f64 - r).powi(2) * w)
            .sum();
        Some(Kernel::Boxes(box_radii(variance)))
    }
}

/// A normalised Gaussian over offsets `-radius..=radius`.
fn gaussian(radius: u32, sigma: f64) -> Vec<f64> {
    let r = i64::from(radius);
    let mut k: Vec<f64> = (-r..=r)
        .map(|i| (-((i * i) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f64 = k.iter().sum();
    for v in &mut k {
        *v /= sum;
    }
    k
}

/// Weights rounded to fixed point, the rounding error given to the centre tap so the
/// kernel keeps flat areas exactly flat.
fn fixed_point(weights: &[f64]) -> Vec<u32> {
    let one = 1u32 << TAP_BITS;
    let mut taps: Vec<u32> = weights
        .iter()
        .map(|w| (w * f64::from(one)).round() as u32)
        .collect();
    let sum: u32 = taps.iter().sum();
    let centre = taps.len() / 2;
    taps[centre] = (taps[centre] + one).saturating_sub(sum);
    taps
}

/// Three box radii whose summed variance is closest to `variance`. A box of width `w`
/// has variance `(w² - 1) / 12`; the widths are odd, `m` of them `wl` and the rest
/// `wl + 2`, with `m` solving for the target.
fn box_radii(variance: f64) -> [usize; 3] {
    let n = 3.0;
    let ideal = (12.0 * variance / n + 1.0).sqrt();
    let mut wl = ideal.floor().max(1.0);
    if wl % 2.0 == 0.0 {
        wl -= 1.0;
    }
    let m = ((12.0 * variance - n * wl * wl - 4.0 * n * wl - 3.0 * n) / (-4.0 * wl - 4.0))
        .round()
        .clamp(0.0, n) as usize;
    let narrow = (wl as usize - 1) / 2;
    std::array::from_fn(|i| if i < m { narrow } else { narrow + 1 })
}

/// Division by a box's width as a multiply by its reciprocal, in 32-bit fixed point.
#[derive(Clone, Copy)]
struct Divider {
    half: u64,
    reciprocal: u64,
}

impl Divider {
    fn new(width: usize) -> Divider {
        let w = width as u64;
        Divider {
            half: w / 2,
            reciprocal: (1u64 << 32).div_ceil(w),
        }
    }

    #[inline]
    fn divide(self, sum: u32) -> u16 {
        (((u64::from(sum) + self.half) * self.reciprocal) >> 32).min(65535) as u16
    }
}

/// Blurs `frame` with a Gaussian of `sigma` cut at `radius` pixels.
pub fn blur(
    frame: Frame,
    radius: u32,
    sigma: f64,
    check: &dyn Fn() -> EngineResult<()>,
) -> EngineResult<Frame> {
    match Kernel::new(radius, sigma) {
        None => Ok(frame),
        Some(kernel) => filter(frame, &kernel, check),
    }
}

/// OSS sharpen (50..=399, 100 suggested): an unsharp mask against a Gaussian of σ 1.
pub fn sharpen(
    frame: Frame,
    amount: u16,
    check: &dyn Fn() -> EngineResult<()>,
) -> EngineResult<Frame> {
    let blurred = blur(frame.clone(), 2, 1.0, check)?;
    // out = s + k (s - b), with k = amount / 100 in 8-bit fixed point.
    let k = (i32::from(amount) * 256 + 50) / 100;
    let c = frame.layout.channels();
    let mut out = frame;
    for (i, (v, b)) in out.data.iter_mut().zip(&blurred.data).enumerate() {
        if c == 4 && i % 4 == 3 {
            continue;
        }
        let s = i32::from(*v);
        let d = s - i32::from(*b);
        *v = (s + (k * d + if d >= 0 { 128 } else { -128 }) / 256).clamp(0, 255) as u8;
    }
    Ok(out)
}

fn filter(
    mut frame: Frame,
    kernel: &Kernel,
    check: &dyn Fn() -> EngineResult<()>,
) -> EngineResult<Frame> {
    let c = frame.layout.channels();
    let alpha = frame.layout == Layout::Rgba8;
    let (w, h) = (frame.width as usize, frame.height as usize);
    let row_len = w * c;
    if row_len == 0 || h == 0 {
        return Ok(frame);
    }
    let mut work = vec![0u16; row_len * h];
    let mut a = vec![0u16; row_len];
    let mut b = vec![0u16; row_len];
    for (y, (src, dst)) in frame
        .data
        .chunks_exact(row_len)
        .zip(work.chunks_exact_mut(row_len))
        .enumerate()
    {
        if y % ROWS_PER_CHECK == 0 {
            check()?;
        }
        widen(src, &mut a, alpha);
        match kernel {
            Kernel::Taps(taps) => horizontal_taps(&a, dst, c, taps),
            Kernel::Boxes(radii) => {
                horizontal_box(&a, &mut b, c, radii[0]);
                horizontal_box(&b, &mut a, c, radii[1]);
                horizontal_box(&a, dst, c, radii[2]);
            }
        }
    }
    drop((a, b));

    let mut strip_in: Vec<u16> = Vec::new();
    let mut strip_out: Vec<u16> = Vec::new();
    for x0 in (0..w).step_by(STRIP_PIXELS) {
        check()?;
        let lanes = (w - x0).min(STRIP_PIXELS) * c;
        let start = x0 * c;
        strip_in.clear();
        for row in work.chunks_exact(row_len) {
            strip_in.extend_from_slice(&row[start..start + lanes]);
        }
        strip_out.resize(strip_in.len(), 0);
        match kernel {
            Kernel::Taps(taps) => vertical_taps(&strip_in, &mut strip_out, lanes, taps),
            Kernel::Boxes(radii) => {
                vertical_box(&strip_in, &mut strip_out, lanes, radii[0]);
                vertical_box(&strip_out, &mut strip_in, lanes, radii[1]);
                vertical_box(&strip_in, &mut strip_out, lanes, radii[2]);
            }
        }
        for (row, filtered) in frame
            .data
            .chunks_exact_mut(row_len)
            .zip(strip_out.chunks_exact(lanes))
        {
            narrow(filtered, &mut row[start..start + lanes], alpha);
        }
    }
    Ok(frame)
}

/// 8-bit samples to 16-bit, colour premultiplied by alpha when there is one.
fn widen(src: &[u8], dst: &mut [u16], alpha: bool) {
    if alpha {
        for (s, d) in src.chunks_exact(4).zip(dst.chunks_exact_mut(4)) {
            let a = u32::from(s[3]);
            for i in 0..3 {
                d[i] = ((u32::from(s[i]) * a * 257 + 127) / 255) as u16;
            }
            d[3] = (a * 257) as u16;
        }
    } else {
        for (s, d) in src.iter().zip(dst.iter_mut()) {
            *d = u16::from(*s) * 257;
        }
    }
}

/// 16-bit samples (premultiplied when `alpha`) back to 8-bit straight values. `src` and
/// `dst` cover whole pixels.
fn narrow(src: &[u16], dst: &mut [u8], alpha: bool) {
    if alpha {
        for (s, d) in src.chunks_exact(4).zip(dst.chunks_exact_mut(4)) {
            let a = u32::from(s[3]);
            for i in 0..3 {
                // A fully transparent pixel has no colour left to recover.
                d[i] = (u32::from(s[i]) * 255 + a / 2)
                    .checked_div(a)
                    .map_or(0, |v| v.min(255) as u8);
            }
            d[3] = ((a + 128) / 257) as u8;
        }
    } else {
        for (s, d) in src.iter().zip(dst.iter_mut()) {
            *d = ((u32::from(*s) + 128) / 257) as u8;
        }
    }
}

/// One box pass along a row of interleaved pixels of `c` channels, edges repeated.
fn horizontal_box(src: &[u16], dst: &mut [u16], c: usize, radius: usize) {
    // The channel count as a constant lets each pixel's running sums live in registers
    // side by side: the sums are serial along the row, so interleaving the channels is
    // what keeps the core busy (one channel at a time was four times slower).
    match c {
        4 => horizontal_box_pixels::<4>(src, dst, radius),
        3 => horizontal_box_pixels::<3>(src, dst, radius),
        _ => {
            for ch in 0..c {
                horizontal_box_channel(src, dst, c, ch, radius);
            }
        }
    }
}

fn horizontal_box_pixels<const C: usize>(src: &[u16], dst: &mut [u16], radius: usize) {
    let w = src.len() / C;
    if w == 0 {
        return;
    }
    let divider = Divider::new(2 * radius + 1);
    let pixel = |x: usize| -> [u32; C] {
        let at = x.min(w - 1) * C;
        std::array::from_fn(|ch| u32::from(src[at + ch]))
    };
    // Offsets -radius..=radius around x = 0, the left ones clamped to the first pixel.
    let first = pixel(0);
    let mut sums: [u32; C] = std::array::from_fn(|ch| radius as u32 * first[ch]);
    for x in 0..=radius {
        let p = pixel(x);
        for ch in 0..C {
            sums[ch] += p[ch];
        }
    }
    for (x, out) in dst.chunks_exact_mut(C).enumerate() {
        let (entering, leaving) = (pixel(x + radius + 1), pixel(x.saturating_sub(radius)));
        for ch in 0..C {
            out[ch] = divider.divide(sums[ch]);
            sums[ch] = sums[ch] + entering[ch] - leaving[ch];
        }
    }
}

fn horizontal_box_channel(src: &[u16], dst: &mut [u16], c: usize, ch: usize, radius: usize) {
    let w = src.len() / c;
    let last = w - 1;
    let divider = Divider::new(2 * radius + 1);
    let at = |x: usize| u32::from(src[x.min(last) * c + ch]);
    let mut sum = radius as u32 * at(0) + (0..=radius).map(at).sum::<u32>();
    for x in 0..w {
        dst[x * c + ch] = divider.divide(sum);
        let leaving = at(x.saturating_sub(radius));
        sum = sum + at(x + radius + 1) - leaving;
    }
}

/// A direct convolution along a row, edges repeated.
fn horizontal_taps(src: &[u16], dst: &mut [u16], c: usize, taps: &[u32]) {
    let w = src.len() / c;
    let r = taps.len() / 2;
    let round = 1u32 << (TAP_BITS - 1);
    for x in 0..w {
        for ch in 0..c {
            let mut acc = 0u32;
            for (i, t) in taps.iter().enumerate() {
                let sx = (x + i).saturating_sub(r).min(w - 1);
                acc += t * u32::from(src[sx * c + ch]);
            }
            dst[x * c + ch] = ((acc + round) >> TAP_BITS).min(65535) as u16;
        }
    }
}

/// One box pass down every column of a strip (rows of `lanes` samples) at once.
fn vertical_box(src: &[u16], dst: &mut [u16], lanes: usize, radius: usize) {
    let h = src.len() / lanes;
    let last = h - 1;
    let divider = Divider::new(2 * radius + 1);
    let row = |y: usize| &src[y.min(last) * lanes..][..lanes];
    let mut sums: Vec<u32> = row(0)
        .iter()
        .map(|&v| radius as u32 * u32::from(v))
        .collect();
    for y in 0..=radius {
        for (s, &v) in sums.iter_mut().zip(row(y)) {
            *s += u32::from(v);
        }
    }
    for (y, out) in dst.chunks_exact_mut(lanes).enumerate() {
        for (o, &s) in out.iter_mut().zip(&sums) {
            *o = divider.divide(s);
        }
        let (entering, leaving) = (row(y + radius + 1), row(y.saturating_sub(radius)));
        for ((s, &e), &l) in sums.iter_mut().zip(entering).zip(leaving) {
            *s = *s + u32::from(e) - u32::from(l);
        }
    }
}

/// A direct convolution down every column of a strip at once.
fn vertical_taps(src: &[u16], dst: &mut [u16], lanes: usize, taps: &[u32]) {
    let h = src.len() / lanes;
    let r = taps.len() / 2;
    let round = 1u32 << (TAP_BITS - 1);
    let mut acc = vec![0u32; lanes];
    for (y, out) in dst.chunks_exact_mut(lanes).enumerate() {
        acc.fill(round);
        for (i, t) in taps.iter().enumerate() {
            let sy = (y + i).saturating_sub(r).min(h - 1);
            for (a, &v) in acc.iter_mut().zip(&src[sy * lanes..][..lanes]) {
                *a += t * u32::from(v);
            }
        }
        for (o, &a) in out.iter_mut().zip(&acc) {
            *o = (a >> TAP_BITS).min(65535) as u16;
        }
    }
}

#[cfg(test)]
#[path = "blur_tests.rs"]
mod tests;
