//! What a HEIF container (HEIC, and AVIF, which is HEIF with AV1 inside) says about its
//! primary image, read from the boxes of ISO/IEC 23008-12 without decoding anything: the
//! item's type (a coded image, or a `grid` of tiles), the size a decoder will allocate
//! (`ispe`, or for a grid the output size in its payload, which is what libheif
//! allocates whatever `ispe` claims), the clean aperture (`clap`), the orientation that
//! `irot` and `imir` give, and the Exif item.
//!
//! libheif 1.15 has no call that reports `irot`/`imir`/`clap`, and imgd applies
//! orientation itself, once, after decoding (as for JPEG, so `auto-orient,0` and the
//! header-only size planning work the same way), so the properties are read here.
//! Every read is bounds-checked: a field past its box ends the parse with an error.

use super::frame::Frame;
use super::hevc;
use super::jpeg;
use super::orient::Turn;

/// The primary image, as the container describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Primary<'a> {
    /// `hvc1`, `av01`, `grid`, ...
    pub item_type: [u8; 4],
    /// What the decoder produces before any transform: the grid's output size for a
    /// grid, else `ispe`.
    pub width: u32,
    pub height: u32,
    /// The clean aperture, in decoded coordinates, when it names a proper sub-rectangle.
    pub crop: Option<Crop>,
    /// `irot` and `imir` composed, in their listed order, as an EXIF orientation (1-8).
    pub orientation: u8,
    /// Whether the item has `irot` or `imir` at all (then Exif orientation is ignored).
    pub transformed: bool,
    /// The Exif item's TIFF data (past its offset field), when there is one.
    pub exif: Option<&'a [u8]>,
    /// Bits per sample, from `pixi` or the codec configuration (of the first tile, for a
    /// grid); 16 when neither says, so that memory estimates err high.
    pub bits: u8,
    /// The largest picture any HEVC configuration in the file declares in its SPS (what
    /// libde265 allocates, whatever `ispe` says); 0 when there is none.
    pub coded_pixels: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Primary<'_> {
    /// The orientation to show the picture in: `irot`/`imir` when the item has either,
    /// else the Exif orientation tag (heif-enc 1.15, for one, copies a JPEG's Exif
    /// orientation into the Exif item and writes no `irot`). Never both: an iPhone photo
    /// carries the same quarter turn in `irot` and in Exif, and must turn once.
    pub fn display_orientation(&self) -> u8 {
        if self.transformed {
            self.orientation
        } else {
            self.exif.map_or(1, jpeg::exif_orientation)
        }
    }

    /// The most pixels decoding allocates for one picture: the decoded size, or a larger
    /// coded picture.
    pub fn decoded_pixels(&self) -> u64 {
        (u64::from(self.width) * u64::from(self.height)).max(self.coded_pixels)
    }

    /// The size after the clean aperture, before orientation.
    pub fn stored_size(&self) -> (u32, u32) {
        self.crop
            .map_or((self.width, self.height), |c| (c.width, c.height))
    }
}

/// The ISO BMFF boxes directly inside `data`, as (type, body). Stops at the first box
/// that does not fit.
pub fn boxes(mut data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        let mut r = Reader::new(data);
        let size32 = r.u32()?;
        let kind = r.fourcc()?;
        let (header, size) = match size32 {
            0 => (8, data.len()),
            1 => (16, usize::try_from(r.uint(8)?).ok()?),
            n => (8, usize::try_from(n).ok()?),
        };
        if size < header || size > data.len() {
            return None;
        }
        let body = &data[header..size];
        data = &data[size..];
        Some((kind, body))
    })
}

pub fn find_box<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).find(|(k, _)| k == kind).map(|(_, b)| b)
}

/// Reads the primary item's description.
pub fn read(data: &[u8]) -> Result<Primary<'_>, String> {
    let meta = find_box(data, b"meta").ok_or("no meta box")?;
    // `meta` is a full box: version and flags come before its children.
    let meta = meta.get(4..).ok_or("meta box cut short")?;
    let primary = {
        let mut r = Reader::full(find_box(meta, b"pitm").ok_or("no primary item")?)?;
        r.id()?
    };
    let items = item_types(meta)?;
    let item_type = items
        .iter()
        .find(|(id, _)| *id == primary)
        .map(|(_, t)| *t)
        .ok_or("the primary item is not listed")?;
    let locations = locations(meta)?;
    let idat = find_box(meta, b"idat");
    let item_data = |id: u32| -> Option<&[u8]> {
        let (method, extents) = locations
            .iter()
            .find(|(i, ..)| *i == id)
            .map(|(_, m, e)| (m, e))?;
        let source = match method {
            0 => data,
            1 => idat?,
            _ => return None,
        };
        // Only one extent is read: what is needed here (a grid payload, an Exif block) is
        // written as one by every writer seen.
        let &(offset, length) = extents.first()?;
        let start = usize::try_from(offset).ok()?;
        let rest = source.get(start..)?;
        if length == 0 {
            return Some(rest);
        }
        rest.get(..usize::try_from(length).ok()?)
    };
    let properties = properties_of(meta, primary)?;

    let mut width_height = None;
    for (kind, body) in &properties {
        if kind == b"ispe" {
            let mut r = Reader::full(body)?;
            width_height = Some((
                r.u32().ok_or("ispe cut short")?,
                r.u32().ok_or("ispe cut short")?,
            ));
        }
    }
    let (mut width, mut height) = width_height.ok_or("the primary image has no ispe")?;
    if item_type == *b"grid" {
        let payload = item_data(primary).ok_or("the grid's payload is missing")?;
        (width, height) = grid_size(payload).ok_or("the grid's payload is cut short")?;
    }

    let mut turn = Turn::default();
    let mut crop = None;
    let mut transformed = false;
    for (kind, body) in &properties {
        match kind {
            b"irot" => {
                transformed = true;
                let angle = body.first().ok_or("irot cut short")? & 3;
                // `irot` turns anticlockwise; `Turn` counts clockwise quarter turns.
                turn = turn.then_rotate((4 - angle) % 4);
            }
            b"imir" => {
                transformed = true;
                // ISO/IEC 23008-12:2022: axis 0 exchanges top and bottom, 1 left and
                // right (libheif agrees).
                turn = match body.first().ok_or("imir cut short")? & 1 {
                    0 => turn.then_flip_vertical(),
                    _ => turn.then_flip_horizontal(),
                };
            }
            // MIAF requires the crop to come before the rotation and the mirror; one
            // listed after them is ignored rather than re-mapped.
            b"clap" if !transformed => crop = clean_aperture(body, width, height),
            _ => {}
        }
    }

    let exif = referring(meta, b"cdsc", primary)
        .into_iter()
        .find(|id| items.iter().any(|(i, t)| i == id && t == b"Exif"))
        .and_then(item_data)
        .and_then(tiff_of_exif);
    let mut bits = sample_bits(&properties);
    if item_type == *b"grid" && bits.is_none() {
        let first_tile = references(meta, b"dimg", primary).into_iter().next();
        if let Some(tile) = first_tile {
            bits = sample_bits(&properties_of(meta, tile)?);
        }
    }
    Ok(Primary {
        item_type,
        width,
        height,
        crop,
        orientation: turn.exif(),
        transformed,
        exif,
        bits: bits.unwrap_or(16),
        coded_pixels: all_properties(meta)?
            .iter()
            .filter(|(kind, _)| kind == b"hvcC")
            .filter_map(|(_, body)| hevc::sps_size(body))
            .map(|(w, h)| u64::from(w) * u64::from(h))
            .max()
            .unwrap_or(0),
    })
}

/// Bits per sample from `pixi` (its first channel), or else from an `hvcC` or `av1C`
/// configuration.
fn sample_bits(properties: &[Property<'_>]) -> Option<u8> {
    let find = |kind: &[u8; 4]| properties.iter().find(|(k, _)| k == kind).map(|(_, b)| *b);
    if let Some(pixi) = find(b"pixi") {
        // A full box: the channel count, then each channel's depth.
        return pixi.get(5).copied().filter(|&b| b > 0);
    }
    if let Some(hvcc) = find(b"hvcC") {
        // HEVCDecoderConfigurationRecord: bitDepthLumaMinus8 in the low bits of byte 17.
        return hvcc.get(17).map(|b| (b & 7) + 8);
    }
    // AV1CodecConfigurationRecord: high_bitdepth and twelve_bit in byte 2.
    let av1c = *find(b"av1C")?.get(2)?;
    Some(match (av1c & 0x40 != 0, av1c & 0x20 != 0) {
        (false, _) => 8,
        (true, false) => 10,
        (true, true) => 12,
    })
}

/// (item id, item type) of every `infe` entry.
fn item_types(meta: &[u8]) -> Result<Vec<(u32, [u8; 4])>, String> {
    let iinf = find_box(meta, b"iinf").ok_or("no iinf box")?;
    let version = *iinf.first().ok_or("iinf cut short")?;
    let entries = iinf
        .get(if version == 0 { 6 } else { 8 }..)
        .ok_or("iinf cut short")?;
    let mut items = Vec::new();
    for (kind, body) in boxes(entries) {
        if kind != *b"infe" {
            continue;
        }
        let version = *body.first().ok_or("infe cut short")?;
        // Versions 0 and 1 (no item type) describe files older than HEIF itself.
        if version < 2 {
            continue;
        }
        let mut r = Reader::new(body.get(4..).ok_or("infe cut short")?);
        let id = if version == 2 {
            r.u16().map(u32::from)
        } else {
            r.u32()
        };
        let id = id.ok_or("infe cut short")?;
        r.skip(2).ok_or("infe cut short")?; // item_protection_index
        items.push((id, r.fourcc().ok_or("infe cut short")?));
    }
    Ok(items)
}

type Extents = Vec<(u64, u64)>;

/// An item property box: its type and body.
type Property<'a> = ([u8; 4], &'a [u8]);

/// (item id, construction method, extents as (offset, length) with the base added).
fn locations(meta: &[u8]) -> Result<Vec<(u32, u8, Extents)>, String> {
    let short = || "iloc cut short".to_string();
    let mut r = Reader::full(find_box(meta, b"iloc").ok_or("no iloc box")?)?;
    let version = r.version;
    let sizes = r.u8().ok_or_else(short)?;
    let (offset_size, length_size) = (usize::from(sizes >> 4), usize::from(sizes & 15));
    let sizes = r.u8().ok_or_else(short)?;
    let base_size = usize::from(sizes >> 4);
    let index_size = if version >= 1 {
        usize::from(sizes & 15)
    } else {
        0
    };
    let count = if version < 2 {
        r.u16().map(u32::from)
    } else {
        r.u32()
    };
    let mut out = Vec::new();
    for _ in 0..count.ok_or_else(short)? {
        let id = if version < 2 {
            r.u16().map(u32::from)
        } else {
            r.u32()
        };
        let id = id.ok_or_else(short)?;
        let method = if version >= 1 {
            (r.u16().ok_or_else(short)? & 15) as u8
        } else {
            0
        };
        r.skip(2).ok_or_else(short)?; // data_reference_index
        let base = r.uint(base_size).ok_or_else(short)?;
        let extents = r.u16().ok_or_else(short)?;
        let mut list = Vec::new();
        for _ in 0..extents {
            r.uint(index_size).ok_or_else(short)?;
            let offset = r.uint(offset_size).ok_or_else(short)?;
            let length = r.uint(length_size).ok_or_else(short)?;
            list.push((base.checked_add(offset).ok_or_else(short)?, length));
        }
        out.push((id, method, list));
    }
    Ok(out)
}

/// The item's properties, in the order `ipma` lists them, as (type, body).
fn properties_of(meta: &[u8], item: u32) -> Result<Vec<Property<'_>>, String> {
    let all = all_properties(meta)?;
    let iprp = find_box(meta, b"iprp").ok_or("no iprp box")?;
    let mut out = Vec::new();
    // A file may split associations over several ipma boxes.
    for (kind, body) in boxes(iprp) {
        if kind != *b"ipma" {
            continue;
        }
        let short = || "ipma cut short".to_string();
        let mut r = Reader::full(body)?;
        let wide_index = r.flags & 1 != 0;
        for _ in 0..r.u32().ok_or_else(short)? {
            let id = if r.version < 1 {
                r.u16().map(u32::from)
            } else {
                r.u32()
            };
            let id = id.ok_or_else(short)?;
            for _ in 0..r.u8().ok_or_else(short)? {
                // The top bit marks the property essential; the rest is a 1-based index.
                let index = if wide_index {
                    usize::from(r.u16().ok_or_else(short)? & 0x7fff)
                } else {
                    usize::from(r.u8().ok_or_else(short)? & 0x7f)
                };
                if id == item && index > 0 {
                    out.push(*all.get(index - 1).ok_or("ipma names a missing property")?);
                }
            }
        }
    }
    Ok(out)
}

/// Every property in `ipco`, as (type, body), in order (`ipma` indexes from 1).
fn all_properties(meta: &[u8]) -> Result<Vec<Property<'_>>, String> {
    let iprp = find_box(meta, b"iprp").ok_or("no iprp box")?;
    Ok(boxes(find_box(iprp, b"ipco").ok_or("no ipco box")?).collect())
}

/// The output size from an `ImageGrid` payload.
fn grid_size(payload: &[u8]) -> Option<(u32, u32)> {
    let mut r = Reader::new(payload);
    r.u8()?; // version
    let flags = r.u8()?;
    r.skip(2)?; // rows and columns, less one each
    if flags & 1 == 0 {
        Some((u32::from(r.u16()?), u32::from(r.u16()?)))
    } else {
        Some((r.u32()?, r.u32()?))
    }
}

/// The clean aperture as a rectangle of the `width` x `height` image, when it is a proper
/// one; an unreadable or out-of-bounds `clap` is ignored.
fn clean_aperture(body: &[u8], width: u32, height: u32) -> Option<Crop> {
    let mut r = Reader::new(body);
    let mut fraction = |signed: bool| -> Option<f64> {
        let n = r.u32()?;
        let d = r.u32()?;
        let n = if signed {
            f64::from(n as i32)
        } else {
            f64::from(n)
        };
        (d != 0).then(|| n / f64::from(d))
    };
    let (cw, ch) = (fraction(false)?, fraction(false)?);
    let (dx, dy) = (fraction(true)?, fraction(true)?);
    // The aperture's centre is offset from the image's centre, (size - 1) / 2.
    let left = (dx + (f64::from(width) - 1.0) / 2.0 - (cw - 1.0) / 2.0).round();
    let top = (dy + (f64::from(height) - 1.0) / 2.0 - (ch - 1.0) / 2.0).round();
    let (cw, ch) = (cw.round(), ch.round());
    let fits = left >= 0.0
        && top >= 0.0
        && cw >= 1.0
        && ch >= 1.0
        && left + cw <= f64::from(width)
        && top + ch <= f64::from(height);
    let whole = cw == f64::from(width) && ch == f64::from(height);
    (fits && !whole).then_some(Crop {
        x: left as u32,
        y: top as u32,
        width: cw as u32,
        height: ch as u32,
    })
}

/// The items an `iref` reference of type `kind` leads to from `from`.
fn references(meta: &[u8], kind: &[u8; 4], from: u32) -> Vec<u32> {
    reference_lists(meta, kind)
        .into_iter()
        .find(|(f, _)| *f == from)
        .map_or_else(Vec::new, |(_, to)| to)
}

/// The items with an `iref` reference of type `kind` to `to`.
fn referring(meta: &[u8], kind: &[u8; 4], to: u32) -> Vec<u32> {
    reference_lists(meta, kind)
        .into_iter()
        .filter(|(_, list)| list.contains(&to))
        .map(|(from, _)| from)
        .collect()
}

/// Every (from, [to]) of the `iref` references of type `kind`; an unreadable `iref`
/// yields none.
fn reference_lists(meta: &[u8], kind: &[u8; 4]) -> Vec<(u32, Vec<u32>)> {
    let Some(Ok(mut r)) = find_box(meta, b"iref").map(Reader::full) else {
        return Vec::new();
    };
    let version = r.version;
    let mut out = Vec::new();
    for (k, body) in boxes(r.rest()) {
        if k != *kind {
            continue;
        }
        let mut r = Reader::new(body);
        let mut id = || {
            if version == 0 {
                r.u16().map(u32::from)
            } else {
                r.u32()
            }
        };
        let Some(from) = id() else {
            continue;
        };
        let Some(count) = r.u16() else {
            continue;
        };
        let to: Option<Vec<u32>> = (0..count)
            .map(|_| {
                if version == 0 {
                    r.u16().map(u32::from)
                } else {
                    r.u32()
                }
            })
            .collect();
        if let Some(to) = to {
            out.push((from, to));
        }
    }
    out
}

/// The TIFF data of an Exif item: a 4-byte offset to the TIFF header comes first (some
/// writers also keep JPEG's `Exif\0\0` prefix).
fn tiff_of_exif(item: &[u8]) -> Option<&[u8]> {
    let offset = usize::try_from(Reader::new(item).u32()?).ok()?;
    let tiff = item.get(4usize.checked_add(offset)?..)?;
    Some(tiff.strip_prefix(b"Exif\0\0").unwrap_or(tiff))
}

/// Crops `frame` to the clean aperture.
pub fn apply_crop(frame: Frame, crop: Option<Crop>) -> Frame {
    let Some(c) = crop else {
        return frame;
    };
    if c.x + c.width > frame.width || c.y + c.height > frame.height {
        return frame;
    }
    let ch = frame.layout.channels();
    let row = frame.width as usize * ch;
    let mut data = Vec::with_capacity(c.width as usize * c.height as usize * ch);
    for y in c.y as usize..(c.y + c.height) as usize {
        let start = y * row + c.x as usize * ch;
        data.extend_from_slice(&frame.data[start..start + c.width as usize * ch]);
    }
    Frame::new(c.width, c.height, frame.layout, data)
}

/// Big-endian fields off a byte slice; `None` past its end.
struct Reader<'a> {
    data: &'a [u8],
    version: u8,
    flags: u32,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Reader<'a> {
        Reader {
            data,
            version: 0,
            flags: 0,
        }
    }

    /// A full box's body: version and flags first.
    fn full(body: &'a [u8]) -> Result<Reader<'a>, String> {
        let mut r = Reader::new(body);
        let head = r.u32().ok_or("a full box is cut short")?;
        r.version = (head >> 24) as u8;
        r.flags = head & 0x00ff_ffff;
        Ok(r)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.data.get(..n)?, self.data.get(n..)?);
        self.data = rest;
        Some(head)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    /// An unsigned field of 0 to 8 bytes (iloc's sizes are 0, 4 or 8).
    fn uint(&mut self, n: usize) -> Option<u64> {
        if n > 8 {
            return None;
        }
        Some(
            self.take(n)?
                .iter()
                .fold(0u64, |v, &b| v << 8 | u64::from(b)),
        )
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.uint(2).map(|v| v as u16)
    }

    fn u32(&mut self) -> Option<u32> {
        self.uint(4).map(|v| v as u32)
    }

    fn fourcc(&mut self) -> Option<[u8; 4]> {
        self.take(4).map(|b| [b[0], b[1], b[2], b[3]])
    }

    /// An item id: 16 bits in version 0 boxes, 32 after.
    fn id(&mut self) -> Result<u32, String> {
        let id = if self.version == 0 {
            self.u16().map(u32::from)
        } else {
            self.u32()
        };
        id.ok_or_else(|| "an item id is cut short".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_centred_clap_crops_the_middle() {
        let mut body = Vec::new();
        for v in [100u32, 1, 50, 1, 0, 1, 0, 1] {
            body.extend_from_slice(&v.to_be_bytes());
        }
        let c = clean_aperture(&body, 120, 60).unwrap();
        assert_eq!((c.x, c.y, c.width, c.height), (10, 5, 100, 50));
        // Larger than the image: ignored.
        body[..4].copy_from_slice(&200u32.to_be_bytes());
        assert_eq!(clean_aperture(&body, 120, 60), None);
    }
}
