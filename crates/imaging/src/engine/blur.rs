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
//! once, at the end. Every pass runs down columns, all lanes of a row at once, which the
//! compiler vectorises (built for AVX2 where the CPU has it): the horizontal passes
//! transpose bands of [`BAND_ROWS`] rows so that x becomes the column direction, and
//! write one 16-bit working buffer; the vertical passes run over strips of
//! [`STRIP_PIXELS`] columns and narrow the result back to 8 bits. A large frame's bands
//! and strips are shared out over up to [`MAX_WORKERS`] threads, as libvips spreads one
//! blur over the cores. Working memory is the frame plus three bytes per sample and a
//! few buffers per worker ([`working_bytes`]), which admission control counts. The deadline is checked between row bands and strips, so a
//! blur stops within its render's time budget.

use super::EngineResult;
use super::frame::{Frame, Layout};

/// Kernels reaching at most this far are convolved directly.
const MAX_TAPS_RADIUS: u32 = 6;
/// Fixed-point precision of direct kernel weights.
const TAP_BITS: u32 = 14;
/// Columns per vertical strip: 16 RGB pixels are 48 lanes, three AVX2 registers, and a
/// 3000-row strip's two scratch copies (288 KB each) stay within a 1 MB L2.
const STRIP_PIXELS: usize = 16;
/// Rows between deadline checks in the horizontal passes (a multiple of [`BAND_ROWS`]).
const ROWS_PER_CHECK: usize = 128;
/// Rows transposed together for the horizontal passes: 16 rows of 3 or 4 channels are
/// 48 or 64 lanes, whole AVX2 registers, and a 4000-pixel band stays within L2.
const BAND_ROWS: usize = 16;
/// Box radii are capped here so a sum of 16-bit samples over a box fits a u32.
const MAX_BOX_RADIUS: usize = 16_000;

/// The extra bytes [`blur`] allocates for a `width` x `height` frame of `channels`.
pub fn working_bytes(width: u32, height: u32, channels: usize) -> u64 {
    let samples = u64::from(width) * u64::from(height) * channels as u64;
    let strip = STRIP_PIXELS as u64 * u64::from(height) * channels as u64;
    let band = BAND_ROWS as u64 * u64::from(width) * channels as u64;
    // The 16-bit working copy, the workers' 8-bit column outputs, and each worker's two
    // three strip and three band buffers.
    3 * samples + MAX_WORKERS as u64 * (6 * strip + 6 * band)
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

/// Blurs `frame` with a Gaussian of `sigma` cut at `radius` pixels.
pub fn blur(frame: Frame, radius: u32, sigma: f64, check: &Check<'_>) -> EngineResult<Frame> {
    match Kernel::new(radius, sigma) {
        None => Ok(frame),
        Some(kernel) => {
            let workers = workers(frame.data.len());
            filter(frame, &kernel, check, workers)
        }
    }
}

/// OSS sharpen (50..=399, 100 suggested): an unsharp mask against a Gaussian of σ 1.
pub fn sharpen(frame: Frame, amount: u16, check: &Check<'_>) -> EngineResult<Frame> {
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
    check: &Check<'_>,
    workers: usize,
) -> EngineResult<Frame> {
    let c = frame.layout.channels();
    let alpha = frame.layout == Layout::Rgba8;
    let (w, h) = (frame.width as usize, frame.height as usize);
    let row_len = w * c;
    if row_len == 0 || h == 0 {
        return Ok(frame);
    }
    let workers = workers.max(1);

    // Horizontal passes into the 16-bit working buffer, the rows shared out in whole bands.
    let mut work = vec![0u16; row_len * h];
    let rows_each = h.div_ceil(workers).div_ceil(BAND_ROWS) * BAND_ROWS;
    let parts = frame
        .data
        .chunks(row_len * rows_each)
        .zip(work.chunks_mut(row_len * rows_each));
    in_parallel(parts, |(src, dst)| {
        horizontal_passes(src, dst, kernel, row_len, c, alpha, check)
    })?;

    // Vertical passes, the columns shared out in whole strips; each worker narrows its
    // columns into its own buffer, copied into the frame's rows afterwards.
    let strips = w.div_ceil(STRIP_PIXELS);
    let strips_each = strips.div_ceil(workers);
    let ranges = (0..strips).step_by(strips_each).map(|first| {
        let x0 = first * STRIP_PIXELS;
        x0..((first + strips_each) * STRIP_PIXELS).min(w)
    });
    let work = &work;
    let columns = in_parallel(ranges, |xs| {
        vertical_passes(work, xs.clone(), kernel, row_len, c, alpha, check).map(|out| (xs, out))
    })?;
    for (xs, out) in columns {
        let len = xs.len() * c;
        for (row, narrowed) in frame
            .data
            .chunks_exact_mut(row_len)
            .zip(out.chunks_exact(len))
        {
            row[xs.start * c..][..len].copy_from_slice(narrowed);
        }
    }
    Ok(frame)
}

/// The deadline check a render passes down; shared by the workers of one blur.
pub type Check<'a> = dyn Fn() -> EngineResult<()> + Sync + 'a;

/// Frames below this many samples are blurred on the calling thread alone: a thread's
/// start costs more than it would save.
const PARALLEL_SAMPLES: usize = 1 << 20;
/// Most threads one blur uses. Like libvips, a large blur spreads over the cores even
/// when it is the only job: a render pool of one job per core then oversubscribes only
/// while several large blurs overlap.
const MAX_WORKERS: usize = 4;

fn workers(samples: usize) -> usize {
    if samples < PARALLEL_SAMPLES {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WORKERS))
}

/// Runs `job` on every part, the first on this thread and the rest on scoped threads,
/// and returns the results in order, or the first error.
fn in_parallel<P, R>(
    parts: impl Iterator<Item = P>,
    job: impl Fn(P) -> EngineResult<R> + Sync,
) -> EngineResult<Vec<R>>
where
    P: Send,
    R: Send,
{
    let mut parts = parts.collect::<Vec<P>>().into_iter();
    let Some(first) = parts.next() else {
        return Ok(Vec::new());
    };
    let job = &job;
    std::thread::scope(|scope| {
        let others: Vec<_> = parts.map(|p| scope.spawn(move || job(p))).collect();
        let mut results = vec![job(first)];
        for handle in others {
            // A panic in a worker is re-raised here, inside the render's catch_unwind.
            results.push(
                handle
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p)),
            );
        }
        results.into_iter().collect()
    })
}

/// The horizontal passes over whole rows `src` (8-bit) into `dst` (16-bit). Each band of
/// rows is transposed so that its pixels' channels, row after row, become the lanes of
/// one column pass; the running sums along x then advance for every row of the band at
/// once, in vector registers.
fn horizontal_passes(
    src: &[u8],
    dst: &mut [u16],
    kernel: &Kernel,
    row_len: usize,
    c: usize,
    alpha: bool,
    check: &Check<'_>,
) -> EngineResult<()> {
    let w = row_len / c;
    let mut band_t = vec![0u16; w * BAND_ROWS * c];
    let mut band_a = vec![0u16; w * BAND_ROWS * c];
    let mut band_b = vec![0u16; w * BAND_ROWS * c];
    for (band, (src, dst)) in src
        .chunks(row_len * BAND_ROWS)
        .zip(dst.chunks_mut(row_len * BAND_ROWS))
        .enumerate()
    {
        if (band * BAND_ROWS).is_multiple_of(ROWS_PER_CHECK) {
            check()?;
        }
        let lanes = (src.len() / row_len) * c;
        let transposed = &mut band_t[..w * lanes];
        gather_band(src, transposed, row_len, c, alpha);
        let (a, b) = (&mut band_a[..w * lanes], &mut band_b[..w * lanes]);
        let filtered = run_kernel(kernel, transposed, lanes, a, b, lanes);
        scatter_band(filtered, dst, row_len, c);
    }
    Ok(())
}

/// The vertical passes over columns `xs` of the 16-bit `work`, strip by strip, each
/// strip copied out first so every pass reads contiguous rows (reading the first in
/// place, a row's width apart, measured slower). Returns those columns narrowed to 8
/// bits, row after row.
fn vertical_passes(
    work: &[u16],
    xs: std::ops::Range<usize>,
    kernel: &Kernel,
    row_len: usize,
    c: usize,
    alpha: bool,
    check: &Check<'_>,
) -> EngineResult<Vec<u8>> {
    let h = work.len() / row_len;
    let width = xs.len() * c;
    let mut out = vec![0u8; width * h];
    let (mut strip, mut strip_a, mut strip_b) = (Vec::new(), Vec::new(), Vec::new());
    for x0 in xs.clone().step_by(STRIP_PIXELS) {
        check()?;
        let lanes = (xs.end - x0).min(STRIP_PIXELS) * c;
        let start = x0 * c;
        strip.clear();
        for row in work.chunks_exact(row_len) {
            strip.extend_from_slice(&row[start..start + lanes]);
        }
        strip_a.resize(h * lanes, 0);
        strip_b.resize(h * lanes, 0);
        let (a, b) = (&mut strip_a[..h * lanes], &mut strip_b[..h * lanes]);
        let filtered = run_kernel(kernel, &strip, lanes, a, b, lanes);
        let at = start - xs.start * c;
        for (row, filtered) in out
            .chunks_exact_mut(width)
            .zip(filtered.chunks_exact(lanes))
        {
            narrow(filtered, &mut row[at..at + lanes], alpha);
        }
    }
    Ok(out)
}

/// Applies `kernel` down the columns of `src` (`h` rows of `lanes` samples, each
/// `stride` samples after the last), using `a` and `b` (`h` x `lanes` each) for the
/// passes; returns whichever holds the result.
fn run_kernel<'a>(
    kernel: &Kernel,
    src: &[u16],
    stride: usize,
    a: &'a mut [u16],
    b: &'a mut [u16],
    lanes: usize,
) -> &'a [u16] {
    match kernel {
        Kernel::Taps(taps) => {
            column_taps(src, stride, a, lanes, taps);
            a
        }
        Kernel::Boxes(radii) => {
            column_box(src, stride, a, lanes, radii[0]);
            column_box(a, lanes, b, lanes, radii[1]);
            column_box(b, lanes, a, lanes, radii[2]);
            a
        }
    }
}

/// Rows of 8-bit pixels (`row_len` samples each) into the transposed band layout: for
/// each x, every row's `c` samples in turn, widened to 16 bits (colour premultiplied by
/// alpha when there is one).
fn gather_band(src: &[u8], dst: &mut [u16], row_len: usize, c: usize, alpha: bool) {
    // Frames are RGB or RGBA.
    if c == 4 {
        gather_pixels::<4>(src, dst, row_len, alpha)
    } else {
        gather_pixels::<3>(src, dst, row_len, false)
    }
}

// The channel count as a constant turns each pixel's move into a few register moves
// rather than a call to memmove.
fn gather_pixels<const C: usize>(src: &[u8], dst: &mut [u16], row_len: usize, alpha: bool) {
    let lanes = (src.len() / row_len) * C;
    for (r, row) in src.chunks_exact(row_len).enumerate() {
        let lane = r * C;
        for (px, out) in row.chunks_exact(C).zip(dst.chunks_exact_mut(lanes)) {
            widen(px, &mut out[lane..lane + C], alpha);
        }
    }
}

/// The transposed band layout back into rows of 16-bit samples.
fn scatter_band(src: &[u16], dst: &mut [u16], row_len: usize, c: usize) {
    if c == 4 {
        scatter_pixels::<4>(src, dst, row_len)
    } else {
        scatter_pixels::<3>(src, dst, row_len)
    }
}

fn scatter_pixels<const C: usize>(src: &[u16], dst: &mut [u16], row_len: usize) {
    let lanes = (dst.len() / row_len) * C;
    for (r, row) in dst.chunks_exact_mut(row_len).enumerate() {
        let lane = r * C;
        for (px, column) in row.chunks_exact_mut(C).zip(src.chunks_exact(lanes)) {
            px.copy_from_slice(&column[lane..lane + C]);
        }
    }
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

/// Runs `$body` compiled for AVX2 when the CPU has it: the column passes are written so
/// the compiler vectorises them across lanes, and the portable x86-64 baseline (SSE2)
/// lacks the 32-bit multiply and wide registers that make that pay.
macro_rules! with_avx2 {
    ($name:ident, $avx2:ident, ($($arg:ident: $ty:ty),*), $body:ident) => {
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked just above; the function's body
                // is safe code compiled with that feature enabled.
                return unsafe { $avx2($($arg),*) };
            }
            $body($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn $avx2($($arg: $ty),*) {
            $body($($arg),*)
        }
    };
}

with_avx2!(column_box, column_box_avx2, (src: &[u16], stride: usize, dst: &mut [u16], lanes: usize, radius: usize), column_box_portable);
with_avx2!(column_taps, column_taps_avx2, (src: &[u16], stride: usize, dst: &mut [u16], lanes: usize, taps: &[u32]), column_taps_portable);

/// `x` (in `0.0..=65535.0`) rounded to the nearest integer. Adding 2^23 leaves the
/// rounded value in the float's low mantissa bits: plain arithmetic that vectorises,
/// where `as` conversions must saturate and handle NaN one lane at a time.
#[inline(always)]
fn round_to_u16(x: f32) -> u16 {
    ((x + 8_388_608.0).to_bits() & 0x7f_ffff) as u16
}

/// One box pass down every column (lane) of `src` at once, edges repeated. Sums are
/// exact integers; the division by the box's width is a float multiply, within one
/// 16-bit level (1/257 of an 8-bit one) and exact on flat areas.
#[inline(always)]
fn column_box_portable(src: &[u16], stride: usize, dst: &mut [u16], lanes: usize, radius: usize) {
    let h = dst.len() / lanes;
    if h == 0 {
        return;
    }
    let last = h - 1;
    let row = |y: usize| &src[y.min(last) * stride..][..lanes];
    if radius == 0 {
        for (y, out) in dst.chunks_exact_mut(lanes).enumerate() {
            out.copy_from_slice(row(y));
        }
        return;
    }
    // Keeps 65535 x width inside a u32.
    let radius = radius.min(MAX_BOX_RADIUS);
    let scale = 1.0 / (2 * radius + 1) as f32;
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
            *o = round_to_u16(s as i32 as f32 * scale);
        }
        let (entering, leaving) = (row(y + radius + 1), row(y.saturating_sub(radius)));
        for ((s, &e), &l) in sums.iter_mut().zip(entering).zip(leaving) {
            *s = *s + u32::from(e) - u32::from(l);
        }
    }
}

/// A direct convolution down every column (lane) of `src` at once, edges repeated.
#[inline(always)]
fn column_taps_portable(src: &[u16], stride: usize, dst: &mut [u16], lanes: usize, taps: &[u32]) {
    let h = dst.len() / lanes;
    let r = taps.len() / 2;
    let round = 1u32 << (TAP_BITS - 1);
    let mut acc = vec![0u32; lanes];
    for (y, out) in dst.chunks_exact_mut(lanes).enumerate() {
        acc.fill(round);
        for (i, t) in taps.iter().enumerate() {
            let sy = (y + i).saturating_sub(r).min(h - 1);
            for (a, &v) in acc.iter_mut().zip(&src[sy * stride..][..lanes]) {
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
