//! The coded picture size an HEVC decoder configuration (`hvcC`, ISO/IEC 14496-15) declares
//! in its sequence parameter set (ITU-T H.265 7.3.2.2). libde265 allocates whatever the
//! SPS says, whatever the HEIF `ispe` claims, so the engine holds this size to the pixel
//! limit too, before libheif decodes anything.

/// The luma width and height of the first SPS in `hvcc` (the property's body).
pub fn sps_size(hvcc: &[u8]) -> Option<(u32, u32)> {
    // 22 bytes of fixed fields, then the arrays of parameter-set NAL units.
    let mut at = 22;
    let arrays = *hvcc.get(at)?;
    at += 1;
    for _ in 0..arrays {
        let nal_type = hvcc.get(at)? & 0x3f;
        let count = u16::from_be_bytes([*hvcc.get(at + 1)?, *hvcc.get(at + 2)?]);
        at += 3;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([*hvcc.get(at)?, *hvcc.get(at + 1)?]));
            let nal = hvcc.get(at + 2..at + 2 + len)?;
            at += 2 + len;
            // NAL unit type 33: a sequence parameter set.
            if nal_type == 33 {
                return parse_sps(nal);
            }
        }
    }
    None
}

fn parse_sps(nal: &[u8]) -> Option<(u32, u32)> {
    // Past the 2-byte NAL header, without the emulation-prevention bytes (00 00 03).
    let mut rbsp = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal.get(2..)? {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        rbsp.push(b);
    }
    let mut r = Bits { data: &rbsp, at: 0 };
    r.skip(4)?; // sps_video_parameter_set_id
    let sub_layers = r.bits(3)? as usize; // sps_max_sub_layers_minus1
    r.skip(1)?; // sps_temporal_id_nesting_flag
    // profile_tier_level: the general profile (88 bits) and level (8 bits), then which
    // sub-layers carry their own, then those.
    r.skip(96)?;
    let mut present = Vec::with_capacity(sub_layers);
    for _ in 0..sub_layers {
        present.push((r.bits(1)? == 1, r.bits(1)? == 1));
    }
    if sub_layers > 0 {
        r.skip(2 * (8 - sub_layers))?;
    }
    for (profile, level) in present {
        r.skip(if profile { 88 } else { 0 } + if level { 8 } else { 0 })?;
    }
    r.ue()?; // sps_seq_parameter_set_id
    if r.ue()? == 3 {
        r.skip(1)?; // separate_colour_plane_flag
    }
    Some((r.ue()?, r.ue()?))
}

/// An MSB-first bit reader.
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn bits(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.at / 8)?;
            v = v << 1 | u32::from(byte >> (7 - self.at % 8) & 1);
            self.at += 1;
        }
        Some(v)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.at += n;
        (self.at <= self.data.len() * 8).then_some(())
    }

    /// An unsigned Exp-Golomb value; `None` past 32 bits (no size field is that long).
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bits(1)? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_values() {
        // 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3, 0001000 -> 7.
        let data = [0b1010_0110, 0b0100_0001, 0b0000_0000];
        let mut r = Bits { data: &data, at: 0 };
        let got: Vec<u32> = (0..5).map(|_| r.ue().unwrap()).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 7]);
        assert_eq!(
            Bits {
                data: &[0; 8],
                at: 0
            }
            .ue(),
            None
        );
    }

    #[test]
    fn a_truncated_configuration_has_no_size() {
        assert_eq!(sps_size(&[1; 10]), None);
        let mut hvcc = vec![0u8; 22];
        hvcc.extend_from_slice(&[1, 33, 0, 1, 0, 40]); // one SPS of 40 bytes, absent
        assert_eq!(sps_size(&hvcc), None);
    }
}
