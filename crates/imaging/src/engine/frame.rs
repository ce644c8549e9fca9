//! Decoded pixels: 8-bit sRGB, interleaved, RGB or RGBA (straight alpha). A [`Frame`] is
//! one raster; an [`Image`] is what a decoder hands over: one frame for a still picture,
//! or an animation's fully composited frames with their delays and loop count.

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

    /// Turns premultiplied colour (as some AVIF and HEIF files store it) into the
    /// straight alpha every step expects.
    pub fn unpremultiply(&mut self) {
        if !self.has_alpha() {
            return;
        }
        for p in self.data.chunks_exact_mut(4) {
            let a = u32::from(p[3]);
            if a != 0 && a != 255 {
                for c in &mut p[..3] {
                    *c = ((u32::from(*c) * 255 + a / 2) / a).min(255) as u8;
                }
            }
        }
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

/// A decoded picture: one [`Frame`] for a still image, or every frame of an animation,
/// each already composited onto the full canvas (disposal and blending applied), so every
/// frame has the canvas's size and can be processed and encoded on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub frames: Vec<Frame>,
    /// How long each frame shows, in milliseconds; as long as `frames`.
    pub delays_ms: Vec<u32>,
    /// How many times the animation plays; 0 is forever.
    pub loop_count: u32,
}

impl Image {
    pub fn still(frame: Frame) -> Image {
        Image {
            frames: vec![frame],
            delays_ms: vec![0],
            loop_count: 0,
        }
    }

    pub fn is_animated(&self) -> bool {
        self.frames.len() > 1
    }

    /// The first frame (what still formats show). An image always has one.
    pub fn first(&self) -> &Frame {
        &self.frames[0]
    }

    /// Keeps only the first frame.
    pub fn into_first(mut self) -> Frame {
        self.frames.swap_remove(0)
    }

    /// Whether any pixel of any frame is not fully opaque.
    pub fn uses_alpha(&self) -> bool {
        self.frames.iter().any(Frame::uses_alpha)
    }

    /// Drops an alpha channel no pixel uses, so the steps work on 3 channels.
    pub fn drop_unused_alpha(mut self) -> Image {
        if self.frames.iter().all(|f| f.has_alpha()) && !self.uses_alpha() {
            self.frames = self
                .frames
                .into_iter()
                .map(|f| f.flatten([255, 255, 255]))
                .collect();
        }
        self
    }

    /// Applies `f` to every frame in turn, calling `between` (the deadline check) before
    /// each one.
    pub fn try_map<E>(
        self,
        mut between: impl FnMut() -> Result<(), E>,
        mut f: impl FnMut(Frame) -> Result<Frame, E>,
    ) -> Result<Image, E> {
        let mut frames = Vec::with_capacity(self.frames.len());
        for frame in self.frames {
            between()?;
            frames.push(f(frame)?);
        }
        Ok(Image { frames, ..self })
    }
}
