//! Decoded pixels: 8-bit sRGB, interleaved, RGB or RGBA (straight alpha).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Rgb8,
    Rgba8,
}

impl Layout {
    pub fn channels(self) -> usize {
        match self {
            Layout::Rgb8 => 3,
            Layout::Rgba8 => 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub data: Vec<u8>,
}

impl Frame {
    pub fn new(width: u32, height: u32, layout: Layout, data: Vec<u8>) -> Frame {
        debug_assert_eq!(
            data.len(),
            width as usize * height as usize * layout.channels()
        );
        Frame {
            width,
            height,
            layout,
            data,
        }
    }

    pub fn filled(width: u32, height: u32, layout: Layout, pixel: [u8; 4]) -> Frame {
        let c = layout.channels();
        let mut data = Vec::with_capacity(width as usize * height as usize * c);
        for _ in 0..width as usize * height as usize {
            data.extend_from_slice(&pixel[..c]);
        }
        Frame::new(width, height, layout, data)
    }

    pub fn has_alpha(&self) -> bool {
        self.layout == Layout::Rgba8
    }

    /// The pixel at (x, y) as RGBA.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let c = self.layout.channels();
        let i = (y as usize * self.width as usize + x as usize) * c;
        let p = &self.data[i..i + c];
        [p[0], p[1], p[2], if c == 4 { p[3] } else { 255 }]
    }

    /// Whether any pixel is not fully opaque.
    pub fn uses_alpha(&self) -> bool {
        self.has_alpha() && self.data.chunks_exact(4).any(|p| p[3] != 255)
    }

    pub fn to_rgba(self) -> Frame {
        match self.layout {
            Layout::Rgba8 => self,
            Layout::Rgb8 => {
                let mut data = Vec::with_capacity(self.data.len() / 3 * 4);
                for p in self.data.chunks_exact(3) {
                    data.extend_from_slice(&[p[0], p[1], p[2], 255]);
                }
                Frame::new(self.width, self.height, Layout::Rgba8, data)
            }
        }
    }

    /// Composites over an opaque background, for formats without alpha.
    pub fn flatten(self, background: [u8; 3]) -> Frame {
        match self.layout {
            Layout::Rgb8 => self,
            Layout::Rgba8 => {
                let mut data = Vec::with_capacity(self.data.len() / 4 * 3);
                for p in self.data.chunks_exact(4) {
                    let a = u32::from(p[3]);
                    for c in 0..3 {
                        let v = (u32::from(p[c]) * a + u32::from(background[c]) * (255 - a) + 127)
                            / 255;
                        data.push(v as u8);
                    }
                }
                Frame::new(self.width, self.height, Layout::Rgb8, data)
            }
        }
    }
}
