//! Deep and HDR sources to 8-bit sRGB, by one documented rule (also in ARCHITECTURE.md).
//!
//! SDR sources deeper than 8 bits (10-, 12- and 16-bit samples) are rounded to the
//! nearest 8-bit value ([`to_8bit`]), then colour-converted like any 8-bit source.
//!
//! PQ (CICP transfer 16, SMPTE ST 2084) and HLG (18, BT.2100) sources are tone-mapped
//! ([`tone_map`]), in f32:
//! 1. to linear light in nits: PQ by its EOTF (absolute, 0-10000 nits); HLG by the
//!    inverse OETF to scene light, then the BT.2100 OOTF for a nominal 1000-nit display
//!    with system gamma 1.2 (`Fd = 1000 * Ys^0.2 * E`, `Ys` the scene luminance);
//! 2. divided by SDR reference white, 203 nits (BT.2408), so diffuse white is 1.0;
//! 3. from the source primaries (BT.2020, Display P3; unspecified counts as BT.2020) to
//!    BT.709/sRGB's, by a 3x3 matrix in linear light; negative (out of gamut) values
//!    clipped to 0;
//! 4. a soft knee: up to 0.8 unchanged; above, with `t = (m - 0.8) / 0.2` for the
//!    brightest channel `m` and `T` the same for the format's peak (PQ: 10000 nits,
//!    HLG: the 1000-nit display), `m` becomes `0.8 + 0.2 * t * (1 + t / T²) / (1 + t)`
//!    (an extended Reinhard curve). It meets the identity with the same slope at 0.8,
//!    rises strictly and reaches 1.0 only at the peak, so nothing brighter than white
//!    clips; all three channels are scaled by the same factor, which keeps hue;
//! 5. sRGB-encoded to 8 bits.
//!
//! The transfer functions are tabulated once, 4097 entries each over the signal range,
//! read with linear interpolation (exact at 12 bits and below); sRGB encoding is a
//! 16384-entry table.

use std::sync::OnceLock;

/// SDR reference white in nits (BT.2408): where a tone-mapped 1.0 comes from.
pub const SDR_WHITE_NITS: f32 = 203.0;
/// The nominal peak of the display HLG's OOTF is taken for.
pub const HLG_PEAK_NITS: f32 = 1000.0;
/// BT.2100's system gamma at that peak.
pub const HLG_GAMMA: f32 = 1.2;
/// Linear values (1.0 = SDR white) at or below this pass the knee unchanged.
pub const KNEE: f32 = 0.8;
/// PQ's ceiling: the brightest value a PQ signal can carry.
pub const PQ_PEAK_NITS: f32 = 10000.0;

/// An HDR transfer function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    Pq,
    Hlg,
}

impl Curve {
    /// The brightest the curve reaches, relative to SDR white: where the knee ends.
    pub fn peak(self) -> f32 {
        match self {
            Curve::Pq => PQ_PEAK_NITS / SDR_WHITE_NITS,
            Curve::Hlg => HLG_PEAK_NITS / SDR_WHITE_NITS,
        }
    }

    /// The curve a CICP transfer characteristic names, when it is one tone-mapped here.
    pub fn from_cicp(transfer: u16) -> Option<Curve> {
        match transfer {
            16 => Some(Curve::Pq),
            18 => Some(Curve::Hlg),
            _ => None,
        }
    }
}

/// A `bits`-deep sample (8 to 16 bits) scaled to the full 16-bit range.
pub fn widen(v: u16, bits: u32) -> u16 {
    if bits >= 16 {
        return v;
    }
    let max = (1u32 << bits) - 1;
    ((u32::from(v).min(max) * 65535 + max / 2) / max) as u16
}

/// Full-range 16-bit samples rounded to 8 bits.
pub fn to_8bit(samples: &[u16]) -> Vec<u8> {
    samples
        .iter()
        .map(|&v| ((u32::from(v) * 255 + 32767) / 65535) as u8)
        .collect()
}

/// Tone-maps interleaved full-range 16-bit RGB (`channels` 3) or RGBA (4, alpha passed
/// through, rounded) in `curve` with the CICP `primaries` to 8-bit sRGB.
pub fn tone_map(samples: &[u16], channels: usize, curve: Curve, primaries: u16) -> Vec<u8> {
    let signal = match curve {
        Curve::Pq => tables().pq.as_slice(),
        Curve::Hlg => tables().hlg.as_slice(),
    };
    let srgb = tables().srgb.as_slice();
    let to_709 = to_bt709(primaries);
    // HLG's OOTF weighs the scene luminance in the source's own primaries.
    let source = rgb_to_xyz(primaries_xy(primaries));
    let luma = source[1];
    let hlg_scale = HLG_PEAK_NITS / SDR_WHITE_NITS;
    let peak = curve.peak();
    let mut out = Vec::with_capacity(samples.len());
    for px in samples.chunks_exact(channels) {
        let mut rgb = [
            lookup(signal, px[0]),
            lookup(signal, px[1]),
            lookup(signal, px[2]),
        ];
        if curve == Curve::Hlg {
            let ys = luma[0] * rgb[0] + luma[1] * rgb[1] + luma[2] * rgb[2];
            let gain = if ys > 0.0 {
                hlg_scale * ys.powf(HLG_GAMMA - 1.0)
            } else {
                0.0
            };
            rgb = rgb.map(|c| c * gain);
        }
        let mut lin = mul(&to_709, rgb).map(|c| c.max(0.0));
        let m = lin[0].max(lin[1]).max(lin[2]);
        if m > KNEE {
            let scale = knee(m, peak) / m;
            lin = lin.map(|c| c * scale);
        }
        for c in lin {
            let i = (c * (SRGB_STEPS as f32)).round() as usize;
            out.push(srgb[i.min(SRGB_STEPS)]);
        }
        if channels == 4 {
            out.push(((u32::from(px[3]) * 255 + 32767) / 65535) as u8);
        }
    }
    out
}

/// The soft knee on a linear value (1.0 = SDR white), ending at `peak`.
pub fn knee(x: f32, peak: f32) -> f32 {
    if x <= KNEE {
        return x;
    }
    let room = 1.0 - KNEE;
    let t = (x - KNEE) / room;
    let top = ((peak - KNEE) / room).max(1.0);
    let f = t * (1.0 + t / (top * top)) / (1.0 + t);
    KNEE + room * f.min(1.0)
}

/// The PQ EOTF: a signal in [0, 1] to nits.
pub fn pq_to_nits(e: f32) -> f32 {
    let (m1, m2) = (2610.0 / 16384.0, 2523.0 / 4096.0 * 128.0);
    let (c1, c2, c3) = (
        3424.0 / 4096.0,
        2413.0 / 4096.0 * 32.0,
        2392.0 / 4096.0 * 32.0,
    );
    let p = e.clamp(0.0, 1.0).powf(1.0 / m2);
    10000.0 * ((p - c1).max(0.0) / (c2 - c3 * p)).powf(1.0 / m1)
}

/// HLG's inverse OETF: a signal in [0, 1] to relative scene light in [0, 1].
pub fn hlg_to_scene(e: f32) -> f32 {
    let a: f32 = 0.178_832_77;
    let b = 1.0 - 4.0 * a;
    let c = 0.5 - a * (4.0 * a).ln();
    let e = e.clamp(0.0, 1.0);
    if e <= 0.5 {
        e * e / 3.0
    } else {
        (((e - c) / a).exp() + b) / 12.0
    }
}

const SIGNAL_STEPS: usize = 4096;
const SRGB_STEPS: usize = 16384;

struct Tables {
    /// PQ signal to linear light relative to SDR white.
    pq: Vec<f32>,
    /// HLG signal to scene light.
    hlg: Vec<f32>,
    /// Linear [0, 1] to 8-bit sRGB.
    srgb: Vec<u8>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let signal = |f: &dyn Fn(f32) -> f32| -> Vec<f32> {
            (0..=SIGNAL_STEPS)
                .map(|i| f(i as f32 / SIGNAL_STEPS as f32))
                .collect()
        };
        let srgb = (0..=SRGB_STEPS)
            .map(|i| {
                let c = i as f32 / SRGB_STEPS as f32;
                let v = if c <= 0.003_130_8 {
                    12.92 * c
                } else {
                    1.055 * c.powf(1.0 / 2.4) - 0.055
                };
                (v * 255.0).round().clamp(0.0, 255.0) as u8
            })
            .collect();
        Tables {
            pq: signal(&|e| pq_to_nits(e) / SDR_WHITE_NITS),
            hlg: signal(&hlg_to_scene),
            srgb,
        }
    })
}

/// A full-range 16-bit signal through a 4097-entry table, interpolated.
fn lookup(table: &[f32], v: u16) -> f32 {
    let x = f32::from(v) * (SIGNAL_STEPS as f32 / 65535.0);
    let i = (x as usize).min(SIGNAL_STEPS - 1);
    let t = x - i as f32;
    table[i] + (table[i + 1] - table[i]) * t
}

type Mat3 = [[f32; 3]; 3];

/// CIE xy of red, green, blue and white for a CICP primaries code. Unspecified (and
/// anything unknown) counts as BT.2020, the primaries HDR is mastered in; DCI-P3 (11)
/// is taken with D65 white, as Display P3.
fn primaries_xy(code: u16) -> [[f32; 2]; 4] {
    const D65: [f32; 2] = [0.3127, 0.3290];
    match code {
        1 => [[0.64, 0.33], [0.30, 0.60], [0.15, 0.06], D65],
        11 | 12 => [[0.680, 0.320], [0.265, 0.690], [0.150, 0.060], D65],
        _ => [[0.708, 0.292], [0.170, 0.797], [0.131, 0.046], D65],
    }
}

/// Linear RGB to XYZ (Y of white = 1) for the given primaries.
fn rgb_to_xyz(p: [[f32; 2]; 4]) -> Mat3 {
    let xyz = |[x, y]: [f32; 2]| [x / y, 1.0, (1.0 - x - y) / y];
    let (r, g, b, w) = (xyz(p[0]), xyz(p[1]), xyz(p[2]), xyz(p[3]));
    let m = [[r[0], g[0], b[0]], [r[1], g[1], b[1]], [r[2], g[2], b[2]]];
    // Scale each primary so that R = G = B = 1 is the white point.
    let s = mul(&invert(&m), w);
    m.map(|row| [row[0] * s[0], row[1] * s[1], row[2] * s[2]])
}

/// The linear-light matrix from `primaries` to BT.709's.
fn to_bt709(primaries: u16) -> Mat3 {
    let src = rgb_to_xyz(primaries_xy(primaries));
    let dst = invert(&rgb_to_xyz(primaries_xy(1)));
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| dst[i][k] * src[k][j]).sum();
        }
    }
    m
}

fn mul(m: &Mat3, v: [f32; 3]) -> [f32; 3] {
    m.map(|row| row[0] * v[0] + row[1] * v[1] + row[2] * v[2])
}

fn invert(m: &Mat3) -> Mat3 {
    let [[a, b, c], [d, e, f], [g, h, i]] = *m;
    let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    [
        [
            (e * i - f * h) / det,
            (c * h - b * i) / det,
            (b * f - c * e) / det,
        ],
        [
            (f * g - d * i) / det,
            (a * i - c * g) / det,
            (c * d - a * f) / det,
        ],
        [
            (d * h - e * g) / det,
            (b * g - a * h) / det,
            (a * e - b * d) / det,
        ],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pq_and_hlg_put_sdr_white_at_203_nits() {
        // ST 2084: 203 nits is signal 0.5806.
        assert!((pq_to_nits(0.580_69) - 203.0).abs() < 0.5);
        assert_eq!(pq_to_nits(0.0), 0.0);
        assert!((pq_to_nits(1.0) - 10000.0).abs() < 1.0);
        // BT.2408: HLG 75% grey on a 1000-nit display is 203 nits.
        let e = hlg_to_scene(0.75);
        let nits = HLG_PEAK_NITS * e.powf(HLG_GAMMA);
        assert!((nits - 203.0).abs() < 1.0, "{nits}");
    }

    #[test]
    fn the_knee_is_smooth_monotonic_and_ends_at_the_peak() {
        let peak = Curve::Pq.peak();
        assert_eq!(knee(0.5, peak), 0.5);
        assert_eq!(knee(KNEE, peak), KNEE);
        let just_above = knee(KNEE + 1e-3, peak);
        assert!(
            (just_above - (KNEE + 1e-3)).abs() < 1e-5,
            "slope 1 at the knee"
        );
        let mut last = 0.0;
        for i in 1..2000 {
            let y = knee(i as f32 * 0.0246, peak);
            assert!(y > last && y < 1.0, "{i}: {y}");
            last = y;
        }
        assert!((knee(peak, peak) - 1.0).abs() < 1e-6);
        assert!((knee(Curve::Hlg.peak(), Curve::Hlg.peak()) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn primaries_matrices_keep_white() {
        for code in [1, 9, 12] {
            let w = mul(&to_bt709(code), [1.0, 1.0, 1.0]);
            assert!(w.iter().all(|c| (c - 1.0).abs() < 1e-4), "{code}: {w:?}");
        }
        let luma = rgb_to_xyz(primaries_xy(9))[1];
        assert!((luma[0] - 0.2627).abs() < 1e-3 && (luma[1] - 0.6780).abs() < 1e-3);
    }

    #[test]
    fn widening_and_rounding_are_exact_at_the_ends() {
        assert_eq!(widen(1023, 10), 65535);
        assert_eq!(widen(0, 10), 0);
        assert_eq!(widen(512, 10), 32800);
        assert_eq!(to_8bit(&[0, 65535, 32896]), vec![0, 255, 128]);
    }

    #[test]
    fn a_pq_grey_ramp_maps_monotonically() {
        let ramp: Vec<u16> = (0..=65535u32)
            .step_by(64)
            .flat_map(|v| [v as u16; 3])
            .collect();
        let out = tone_map(&ramp, 3, Curve::Pq, 9);
        assert!(
            out.windows(3)
                .step_by(3)
                .all(|w| w[0] == w[1] && w[1] == w[2])
        );
        let grey: Vec<u8> = out.iter().step_by(3).copied().collect();
        assert!(grey.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(grey[0], 0);
        assert_eq!(*grey.last().unwrap(), 255, "the PQ ceiling reaches white");
    }
}
