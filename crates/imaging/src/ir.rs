//! The dialect-neutral pipeline IR.
//!
//! Every URL dialect parses into these types and the engine consumes only these types.
//! Names describe the effect rather than any dialect's spelling; where a type mirrors an
//! OSS parameter, its doc says which one so that the OSS parser and the canonical form
//! can be checked against each other.

use crate::error::ProcessError;

/// What a request asks for: either a ready pipeline or a named per-bucket style that
/// the server must resolve first. Keeping the style out of [`Pipeline`] means the
/// engine cannot be handed an unresolved reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Process {
    Style(StyleName),
    Pipeline(Pipeline),
}

impl Process {
    /// Turns a style reference into the pipeline it names; `lookup` is the server's
    /// per-bucket style table.
    pub fn resolve<E>(
        self,
        lookup: impl FnOnce(&StyleName) -> Result<Pipeline, E>,
    ) -> Result<Pipeline, E> {
        match self {
            Process::Style(name) => lookup(&name),
            Process::Pipeline(pipeline) => Ok(pipeline),
        }
    }
}

/// A parsed process request, plus where to persist the result when the request came
/// through POST process_object with a `|sys/saveas` suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRequest {
    pub process: Process,
    pub save_as: Option<SaveAs>,
}

/// Destination of `sys/saveas`. `bucket` absent means the source object's bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveAs {
    pub key: String,
    pub bucket: Option<String>,
}

/// Name of a per-bucket style. Validated on construction so that it is always safe to
/// use as a lookup key and to echo back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StyleName(String);

impl StyleName {
    /// OSS's console limit on style names.
    pub const MAX_LEN: usize = 64;

    pub fn new(name: &str) -> Result<Self, ProcessError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if name.is_empty() || name.len() > Self::MAX_LEN || !name.chars().all(allowed) {
            return Err(ProcessError::InvalidStyleName {
                name: crate::error::excerpt(name),
            });
        }
        Ok(StyleName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Image operations in the order they run, and how to encode the result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pipeline {
    pub steps: Vec<Step>,
    pub output: OutputOptions,
}

impl Pipeline {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.output == OutputOptions::default()
    }

    /// Object keys of every watermark image this pipeline composites, nested marks
    /// included. The server reads them before rendering, since the engine does no I/O.
    pub fn mark_keys(&self) -> Vec<&str> {
        let mut keys = Vec::new();
        for step in &self.steps {
            if let Step::Watermark(mark) = step {
                let image = match &mark.content {
                    WatermarkContent::Image(image) => image,
                    WatermarkContent::TextAndImage { image, .. } => image,
                    WatermarkContent::Text(_) => continue,
                };
                keys.push(image.key.as_str());
                if let Some(nested) = &image.process {
                    keys.extend(nested.pipeline.mark_keys());
                }
            }
        }
        keys
    }
}

/// Encoding settings. These apply to the final image wherever they appear in a URL,
/// which is why they live beside the steps rather than among them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputOptions {
    /// `None` keeps the source format.
    pub format: Option<FormatChoice>,
    pub quality: Option<Quality>,
    /// Progressive JPEG (OSS `interlace,1`).
    pub progressive: bool,
    /// Which of a JPEG source's EXIF a JPEG output carries.
    pub metadata: KeptMetadata,
    /// Colour laid under transparent pixels before encoding; `None` keeps alpha where
    /// the format has it.
    pub background: Option<Rgb>,
}

/// EXIF carried into the output (Cloudflare's `metadata`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum KeptMetadata {
    /// Nothing: what every OSS pipeline gets.
    #[default]
    None,
    /// Only the copyright field.
    Copyright,
    /// All of it, with the orientation reset to upright.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatChoice {
    Fixed(Format),
    /// Pick the best format the client's `Accept` header allows; decided by the server.
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Avif,
    Gif,
    Bmp,
    Tiff,
    Heic,
}

impl Format {
    /// The name `format,` spells this format with (OSS's, which is also the usual file
    /// extension).
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Avif => "avif",
            Format::Gif => "gif",
            Format::Bmp => "bmp",
            Format::Tiff => "tiff",
            Format::Heic => "heic",
        }
    }

    /// The format a `format,` value or a file extension names, in any case; `jpeg` and
    /// `tif` are accepted as the common alternative spellings.
    pub fn from_name(name: &str) -> Option<Format> {
        let name = name.to_ascii_lowercase();
        let all = [
            Format::Jpeg,
            Format::Png,
            Format::Webp,
            Format::Avif,
            Format::Gif,
            Format::Bmp,
            Format::Tiff,
            Format::Heic,
        ];
        match name.as_str() {
            "jpeg" => Some(Format::Jpeg),
            "tif" => Some(Format::Tiff),
            other => all.into_iter().find(|f| f.name() == other),
        }
    }

    pub fn mime_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Avif => "image/avif",
            Format::Gif => "image/gif",
            Format::Bmp => "image/bmp",
            Format::Tiff => "image/tiff",
            Format::Heic => "image/heic",
        }
    }
}

/// Encoder quality, 1-100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    /// OSS `q_`: a percentage of the source's own quality, so a low-quality source is
    /// not re-encoded at a higher quality than it had.
    Relative(u8),
    /// OSS `Q_`: the encoder setting itself.
    Absolute(u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Resize(Resize),
    Crop(Crop),
    IndexCrop(IndexCrop),
    /// Keep a centred circle of this radius; outside becomes transparent (or white for
    /// formats without alpha).
    Circle {
        radius: u32,
    },
    RoundedCorners {
        radius: u32,
    },
    /// Clockwise, 0-360.
    Rotate {
        degrees: u16,
    },
    /// Apply (true) or ignore (false) the EXIF orientation at this point.
    AutoOrient(bool),
    Blur {
        radius: u8,
        sigma: u8,
    },
    /// -100..=100.
    Brightness(i8),
    /// -100..=100.
    Contrast(i8),
    /// 50..=399; OSS suggests 100.
    Sharpen(u16),
    Watermark(Box<Watermark>),
    /// Report dimensions and metadata as JSON instead of returning an image.
    Info,
    /// Report the average colour as JSON instead of returning an image.
    AverageHue,
    /// Mirror the image: left-right (`horizontal`), top-bottom (`vertical`), or both.
    Flip {
        horizontal: bool,
        vertical: bool,
    },
    /// Multiply tone and colour (see [`Adjust`]).
    Adjust(Adjust),
    /// Cut edges off the image (see [`Trim`]).
    Trim(Trim),
    /// Cut a `width` × `height` box whose centre is as close to the focal point as the
    /// image allows (a box larger than the image is clipped to it).
    FocalCrop {
        width: u32,
        height: u32,
        focus: Focus,
    },
    /// Keep only the first frame of an animation.
    FirstFrame,
    /// Report the result's size and the source's facts as JSON (Cloudflare's
    /// `format=json` shape) instead of returning an image; runs after the other steps.
    Facts,
}

/// A point of the image as fractions of its width and height, in thousandths
/// (`500`, `500` is the centre).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Focus {
    pub x_milli: u16,
    pub y_milli: u16,
}

impl Focus {
    pub const CENTER: Focus = Focus {
        x_milli: 500,
        y_milli: 500,
    };
}

/// Tone and colour multipliers, in thousandths (`1000` leaves the image unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Adjust {
    /// Scales every channel: `500` halves, `2000` doubles.
    pub brightness_milli: u32,
    /// Scales the distance from mid-grey.
    pub contrast_milli: u32,
    /// `out = in^(1/gamma)`: above `1000` lightens, below darkens.
    pub gamma_milli: u32,
    /// Scales the distance from the pixel's luma: `0` is greyscale.
    pub saturation_milli: u32,
}

impl Adjust {
    pub const NONE: Adjust = Adjust {
        brightness_milli: 1000,
        contrast_milli: 1000,
        gamma_milli: 1000,
        saturation_milli: 1000,
    };
}

/// Which edges to cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trim {
    /// These many pixels from each side.
    Edges {
        top: u32,
        right: u32,
        bottom: u32,
        left: u32,
    },
    /// The border of the top-left pixel's colour (within a small tolerance), whatever
    /// its width.
    Border,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resize {
    pub fit: Fit,
    pub target: ResizeTarget,
    /// OSS `limit_0`. When false, a target larger than the source leaves it as is.
    pub enlarge: bool,
}

/// How the source's aspect ratio meets the target box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Largest size that fits inside the box (OSS `m_lfit`).
    Contain,
    /// Smallest size that covers the box (OSS `m_mfit`).
    Cover,
    /// Cover, then crop the centre to exactly the box (OSS `m_fill`).
    CoverCrop,
    /// Contain, then pad to exactly the box (OSS `m_pad`).
    Pad { background: Rgb },
    /// Exactly the box, ignoring aspect ratio (OSS `m_fixed`).
    Stretch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeTarget {
    /// At least one side is set; a missing side follows the aspect ratio.
    Box {
        width: Option<u32>,
        height: Option<u32>,
    },
    /// OSS `l_`/`s_`: sides named by their source-to-target ratio, not by orientation.
    LongShort {
        long: Option<u32>,
        short: Option<u32>,
    },
    /// Scale both sides by this percentage (1-1000).
    Percent(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    /// Corner or edge that `x`/`y` are measured from.
    pub origin: Gravity,
    pub x: u32,
    pub y: u32,
    /// `None` extends to the image edge.
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// Cut the image into equal slices along one axis and keep one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexCrop {
    pub axis: Axis,
    /// Slice length in pixels along `axis`.
    pub slice: u32,
    /// Zero-based; past the last slice the image is returned unchanged (OSS behaviour).
    pub index: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Slices side by side, each `slice` pixels wide (OSS `x_`).
    Horizontal,
    /// Slices stacked, each `slice` pixels tall (OSS `y_`).
    Vertical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gravity {
    NorthWest,
    North,
    NorthEast,
    West,
    Center,
    East,
    SouthWest,
    South,
    SouthEast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Rgb {
    pub const WHITE: Rgb = Rgb {
        r: 0xFF,
        g: 0xFF,
        b: 0xFF,
    };
    pub const BLACK: Rgb = Rgb { r: 0, g: 0, b: 0 };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    pub content: WatermarkContent,
    pub gravity: Gravity,
    /// Margins from the edge named by `gravity`, 0-4096.
    pub x: u32,
    pub y: u32,
    /// Vertical shift for west/center/east gravity, -1000..=1000.
    pub voffset: i32,
    /// 0 (invisible) to 100 (opaque). OSS documents `t_` as "transparency", yet its
    /// default `t_100` is fully opaque, so the field is named for what it does.
    pub opacity: u8,
    /// Repeat the mark over the whole image.
    pub tile: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatermarkContent {
    Text(TextMark),
    Image(ImageMark),
    TextAndImage {
        text: TextMark,
        image: ImageMark,
        layout: MixedLayout,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMark {
    pub text: String,
    pub font: String,
    pub color: Rgb,
    /// Pixels, 1-1000.
    pub size: u32,
    /// Shadow opacity, 0 (none) to 100.
    pub shadow: u8,
    /// Clockwise, 0-360.
    pub rotate: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageMark {
    /// Object key in the same bucket as the image being processed.
    pub key: String,
    /// Processing applied to the mark image before it is composited.
    pub process: Option<NestedProcess>,
    /// Scale the mark to this percentage of the main image, 1-100.
    pub scale_percent: Option<u8>,
}

/// A watermark image's own process string, kept verbatim for logs and error messages
/// alongside its parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NestedProcess {
    pub source: String,
    pub pipeline: Pipeline,
}

/// How text and image sit relative to each other when a mark has both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MixedLayout {
    pub order: MarkOrder,
    pub align: MarkAlign,
    /// Gap between image and text in pixels, 0-1000.
    pub interval: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkOrder {
    ImageFirst,
    TextFirst,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkAlign {
    Top,
    Center,
    Bottom,
}
