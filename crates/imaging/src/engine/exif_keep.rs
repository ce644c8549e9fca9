//! EXIF carried from a JPEG source into a JPEG output, for Cloudflare's `metadata=keep`
//! (everything, with the orientation reset since the pixels are already upright) and
//! `metadata=copyright` (only the copyright field, in a minimal EXIF block of its own).

use crate::ir::KeptMetadata;

/// The TIFF-structured EXIF block to write, if the policy keeps anything.
pub fn kept_exif(exif: &[u8], policy: KeptMetadata) -> Option<Vec<u8>> {
    match policy {
        KeptMetadata::None => None,
        KeptMetadata::All => {
            let mut copy = exif.to_vec();
            reset_orientation(&mut copy);
            Some(copy)
        }
        KeptMetadata::Copyright => {
            let parsed = exif::Reader::new().read_raw(exif.to_vec()).ok()?;
            let field = parsed.get_field(exif::Tag::Copyright, exif::In::PRIMARY)?;
            let exif::Value::Ascii(parts) = &field.value else {
                return None;
            };
            let text = parts.first()?;
            Some(copyright_only(text))
        }
    }
}

/// A little-endian TIFF with one IFD holding one ASCII entry: the copyright.
fn copyright_only(text: &[u8]) -> Vec<u8> {
    let mut value = text.to_vec();
    value.push(0);
    let mut out = Vec::with_capacity(26 + value.len());
    out.extend_from_slice(b"II*\0");
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&0x8298u16.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    if value.len() <= 4 {
        let mut inline = [0u8; 4];
        inline[..value.len()].copy_from_slice(&value);
        out.extend_from_slice(&inline);
        out.extend_from_slice(&0u32.to_le_bytes());
    } else {
        // Header (8) + count (2) + one entry (12) + next-IFD offset (4).
        out.extend_from_slice(&26u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&value);
    }
    out
}

/// Sets IFD0's Orientation (0x0112) to 1 in place, when present and well-formed.
fn reset_orientation(tiff: &mut [u8]) {
    let little = match tiff.get(0..2) {
        Some(b"II") => true,
        Some(b"MM") => false,
        _ => return,
    };
    let u16_at = |t: &[u8], i: usize| -> Option<u16> {
        let b: [u8; 2] = t.get(i..i + 2)?.try_into().ok()?;
        Some(if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    };
    let u32_at = |t: &[u8], i: usize| -> Option<u32> {
        let b: [u8; 4] = t.get(i..i + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let Some(ifd) = u32_at(tiff, 4).map(|o| o as usize) else {
        return;
    };
    let Some(count) = u16_at(tiff, ifd) else {
        return;
    };
    for n in 0..usize::from(count) {
        let entry = ifd + 2 + n * 12;
        if u16_at(tiff, entry) == Some(0x0112) && u16_at(tiff, entry + 2) == Some(3) {
            let one = if little {
                1u16.to_le_bytes()
            } else {
                1u16.to_be_bytes()
            };
            if let Some(slot) = tiff.get_mut(entry + 8..entry + 10) {
                slot.copy_from_slice(&one);
            }
            return;
        }
    }
}

/// Inserts an APP1 EXIF segment right after SOI (and a JFIF APP0, which must come first).
pub fn insert_app1(jpeg: Vec<u8>, tiff: &[u8]) -> Vec<u8> {
    let len = 2 + 6 + tiff.len();
    if len > usize::from(u16::MAX) || jpeg.get(0..2) != Some(&[0xFF, 0xD8]) {
        return jpeg;
    }
    let mut at = 2;
    if jpeg.get(2..4) == Some(&[0xFF, 0xE0])
        && let Some(b) = jpeg.get(4..6)
    {
        at = 4 + usize::from(u16::from_be_bytes([b[0], b[1]]));
    }
    if at > jpeg.len() {
        return jpeg;
    }
    let mut out = Vec::with_capacity(jpeg.len() + len + 2);
    out.extend_from_slice(&jpeg[..at]);
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(tiff);
    out.extend_from_slice(&jpeg[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copyright_blocks_parse_back() {
        let tiff = copyright_only(b"(c) someone");
        let parsed = exif::Reader::new().read_raw(tiff.clone()).unwrap();
        let f = parsed
            .get_field(exif::Tag::Copyright, exif::In::PRIMARY)
            .unwrap();
        assert_eq!(
            f.display_value().to_string().trim_matches('"'),
            "(c) someone"
        );
        assert_eq!(
            kept_exif(&tiff, KeptMetadata::Copyright),
            Some(tiff.clone())
        );
        assert_eq!(kept_exif(&tiff, KeptMetadata::None), None);
    }

    #[test]
    fn app1_goes_after_soi_and_jfif() {
        let jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 1, 2, 0xFF, 0xD9];
        let out = insert_app1(jpeg, b"II*\0");
        assert_eq!(&out[..8], &[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 1, 2]);
        assert_eq!(&out[8..10], &[0xFF, 0xE1]);
        assert_eq!(&out[12..18], b"Exif\0\0");
        assert_eq!(&out[out.len() - 2..], &[0xFF, 0xD9]);
    }
}
