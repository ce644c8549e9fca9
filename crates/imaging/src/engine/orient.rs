//! EXIF orientation (1-8) and the right-angle rotations and flips it calls for.

use super::frame::Frame;

/// Mirrors left-right.
pub fn flip_horizontal(f: &Frame) -> Frame {
    let c = f.layout.channels();
    let (w, h) = (f.width as usize, f.height as usize);
    let mut data = vec![0u8; f.data.len()];
    for y in 0..h {
        for x in 0..w {
            let s = (y * w + x) * c;
            let d = (y * w + (w - 1 - x)) * c;
            data[d..d + c].copy_from_slice(&f.data[s..s + c]);
        }
    }
    Frame::new(f.width, f.height, f.layout, data)
}

pub fn flip_vertical(f: &Frame) -> Frame {
    let row = f.width as usize * f.layout.channels();
    let mut data = Vec::with_capacity(f.data.len());
    for r in f.data.chunks_exact(row).rev() {
        data.extend_from_slice(r);
    }
    Frame::new(f.width, f.height, f.layout, data)
}

/// Rotates clockwise by 90, 180 or 270 degrees.
pub fn rotate_right_angle(f: &Frame, degrees: u32) -> Frame {
    let c = f.layout.channels();
    let (w, h) = (f.width as usize, f.height as usize);
    match degrees % 360 {
        90 | 270 => {
            let mut data = vec![0u8; f.data.len()];
            // Output is h wide and w tall.
            for y in 0..h {
                for x in 0..w {
                    let (nx, ny) = if degrees % 360 == 90 {
                        (h - 1 - y, x)
                    } else {
                        (y, w - 1 - x)
                    };
                    let s = (y * w + x) * c;
                    let d = (ny * h + nx) * c;
                    data[d..d + c].copy_from_slice(&f.data[s..s + c]);
                }
            }
            Frame::new(f.height, f.width, f.layout, data)
        }
        180 => flip_vertical(&flip_horizontal(f)),
        _ => f.clone(),
    }
}

/// Applies EXIF orientation `o` so the frame looks as intended, upright.
pub fn apply_orientation(f: Frame, o: u8) -> Frame {
    match o {
        2 => flip_horizontal(&f),
        3 => rotate_right_angle(&f, 180),
        4 => flip_vertical(&f),
        5 => flip_horizontal(&rotate_right_angle(&f, 90)),
        6 => rotate_right_angle(&f, 90),
        7 => flip_horizontal(&rotate_right_angle(&f, 270)),
        8 => rotate_right_angle(&f, 270),
        _ => f,
    }
}

/// Whether orientation `o` swaps width and height.
pub fn swaps_axes(o: u8) -> bool {
    matches!(o, 5..=8)
}
