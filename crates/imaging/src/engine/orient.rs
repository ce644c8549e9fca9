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

/// A right-angle orientation: first `quarter_turns` clockwise, then a left-right flip if
/// `flipped`. Every combination of rotations and mirrors reduces to one of these eight,
/// so a sequence of them (HEIF's `irot` and `imir`) composes into one EXIF orientation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Turn {
    quarter_turns: u8,
    flipped: bool,
}

impl Turn {
    pub fn then_rotate(self, clockwise: u8) -> Turn {
        // Rotating a flipped image clockwise equals flipping one rotated anticlockwise.
        let quarter_turns = if self.flipped {
            (self.quarter_turns + 4 - clockwise % 4) % 4
        } else {
            (self.quarter_turns + clockwise) % 4
        };
        Turn {
            quarter_turns,
            ..self
        }
    }

    pub fn then_flip_horizontal(self) -> Turn {
        Turn {
            flipped: !self.flipped,
            ..self
        }
    }

    /// A top-bottom flip is a half turn then a left-right flip.
    pub fn then_flip_vertical(self) -> Turn {
        self.then_rotate(2).then_flip_horizontal()
    }

    /// The EXIF orientation that performs this (as [`apply_orientation`] reads it).
    pub fn exif(self) -> u8 {
        match (self.quarter_turns, self.flipped) {
            (0, false) => 1,
            (0, true) => 2,
            (2, false) => 3,
            (2, true) => 4,
            (1, true) => 5,
            (1, false) => 6,
            (3, true) => 7,
            _ => 8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_compose_to_the_exif_orientations() {
        let t = Turn::default();
        assert_eq!(t.exif(), 1);
        assert_eq!(t.then_flip_horizontal().exif(), 2);
        assert_eq!(t.then_rotate(2).exif(), 3);
        assert_eq!(t.then_flip_vertical().exif(), 4);
        assert_eq!(t.then_rotate(1).exif(), 6);
        assert_eq!(t.then_rotate(3).exif(), 8);
        // Transpose: a quarter turn clockwise then a left-right flip.
        assert_eq!(t.then_rotate(1).then_flip_horizontal().exif(), 5);
        assert_eq!(t.then_rotate(3).then_flip_horizontal().exif(), 7);
        // Flipping then turning clockwise is turning anticlockwise then flipping.
        assert_eq!(t.then_flip_horizontal().then_rotate(1).exif(), 7);
        assert_eq!(t.then_flip_vertical().then_flip_vertical().exif(), 1);
    }

    #[test]
    fn composed_turns_match_the_operations_done_one_by_one() {
        use crate::engine::frame::Layout;
        // A 3x2 picture whose every pixel differs, so any wrong turn shows.
        let start = Frame::new(3, 2, Layout::Rgb8, (0..18).collect());
        // Every sequence of up to three operations: turn 1-3 quarters, flip, flip top-bottom.
        for code in 0..125u32 {
            let (mut frame, mut turn) = (start.clone(), Turn::default());
            for step in [code % 5, code / 5 % 5, code / 25] {
                (frame, turn) = match step {
                    1..=3 => (
                        rotate_right_angle(&frame, 90 * step),
                        turn.then_rotate(step as u8),
                    ),
                    4 => (flip_horizontal(&frame), turn.then_flip_horizontal()),
                    _ => (flip_vertical(&frame), turn.then_flip_vertical()),
                };
            }
            assert_eq!(
                apply_orientation(start.clone(), turn.exif()),
                frame,
                "sequence {code}"
            );
        }
    }
}
