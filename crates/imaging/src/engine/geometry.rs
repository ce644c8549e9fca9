//! OSS resize semantics turned into pixel sizes: which size to scale to, what to crop
//! or pad afterwards, and how much the source shrinks (for JPEG shrink-on-load).

use crate::ir::{Fit, Resize, ResizeTarget, Rgb};

/// What a resize step does to a `src_w` x `src_h` image.
#[derive(Debug, Clone, PartialEq)]
pub struct ResizePlan {
    /// Size of the scaled image (before any crop or pad).
    pub scaled_w: u32,
    pub scaled_h: u32,
    pub finish: Finish,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    None,
    /// Keep the centred `w` x `h` of the scaled image.
    CropCentre {
        w: u32,
        h: u32,
    },
    /// Centre the scaled image on a `w` x `h` canvas of `background`.
    Pad {
        w: u32,
        h: u32,
        background: Rgb,
    },
}

impl ResizePlan {
    pub fn output_size(&self) -> (u32, u32) {
        match self.finish {
            Finish::None => (self.scaled_w, self.scaled_h),
            Finish::CropCentre { w, h } | Finish::Pad { w, h, .. } => (w, h),
        }
    }

    /// How many times smaller than the source the scaled image is (the smaller of the
    /// two axes' factors), for choosing a decode-time shrink.
    pub fn shrink(&self, src_w: u32, src_h: u32) -> f64 {
        let sx = f64::from(src_w) / f64::from(self.scaled_w.max(1));
        let sy = f64::from(src_h) / f64::from(self.scaled_h.max(1));
        sx.min(sy)
    }
}

fn scaled(v: u32, factor: f64) -> u32 {
    ((f64::from(v) * factor).round() as u32).max(1)
}

/// `None` when the step leaves the image as it is (OSS's `limit_1` refusing to enlarge).
pub fn plan(src_w: u32, src_h: u32, r: &Resize) -> Option<ResizePlan> {
    let (sw, sh) = (f64::from(src_w), f64::from(src_h));
    let (tw, th) = match r.target {
        ResizeTarget::Percent(p) => {
            let f = f64::from(p) / 100.0;
            if f > 1.0 && !r.enlarge {
                return None;
            }
            return Some(ResizePlan {
                scaled_w: scaled(src_w, f),
                scaled_h: scaled(src_h, f),
                finish: Finish::None,
            });
        }
        ResizeTarget::Box { width, height } => (width, height),
        ResizeTarget::LongShort { long, short } => {
            if src_w >= src_h {
                (long, short)
            } else {
                (short, long)
            }
        }
    };
    let (factor, finish_size) = match (tw, th) {
        (None, None) => return None,
        (Some(w), None) => (f64::from(w) / sw, None),
        (None, Some(h)) => (f64::from(h) / sh, None),
        (Some(w), Some(h)) => {
            let fx = f64::from(w) / sw;
            let fy = f64::from(h) / sh;
            match r.fit {
                Fit::Contain => (fx.min(fy), None),
                Fit::Cover => (fx.max(fy), None),
                Fit::CoverCrop => (fx.max(fy), Some((w, h))),
                Fit::Pad { .. } => (fx.min(fy), Some((w, h))),
                Fit::Stretch => {
                    if !r.enlarge && (fx > 1.0 || fy > 1.0) {
                        return None;
                    }
                    return Some(ResizePlan {
                        scaled_w: w,
                        scaled_h: h,
                        finish: Finish::None,
                    });
                }
            }
        }
    };
    if factor > 1.0 && !r.enlarge {
        return None;
    }
    let (scaled_w, scaled_h) = (scaled(src_w, factor), scaled(src_h, factor));
    let finish = match (finish_size, r.fit) {
        (Some((w, h)), Fit::CoverCrop) => Finish::CropCentre {
            w: w.min(scaled_w),
            h: h.min(scaled_h),
        },
        (Some((w, h)), Fit::Pad { background }) => Finish::Pad { w, h, background },
        _ => Finish::None,
    };
    Some(ResizePlan {
        scaled_w,
        scaled_h,
        finish,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resize(fit: Fit, w: Option<u32>, h: Option<u32>, enlarge: bool) -> Resize {
        Resize {
            fit,
            target: ResizeTarget::Box {
                width: w,
                height: h,
            },
            enlarge,
        }
    }

    #[test]
    fn modes_give_oss_sizes() {
        let p = |fit, w, h| plan(400, 200, &resize(fit, w, h, false)).map(|p| p.output_size());
        assert_eq!(p(Fit::Contain, Some(100), Some(100)), Some((100, 50)));
        assert_eq!(p(Fit::Cover, Some(100), Some(100)), Some((200, 100)));
        assert_eq!(p(Fit::CoverCrop, Some(100), Some(100)), Some((100, 100)));
        assert_eq!(
            p(
                Fit::Pad {
                    background: Rgb::WHITE
                },
                Some(100),
                Some(100)
            ),
            Some((100, 100))
        );
        assert_eq!(p(Fit::Stretch, Some(100), Some(100)), Some((100, 100)));
        assert_eq!(p(Fit::Contain, Some(100), None), Some((100, 50)));
        assert_eq!(p(Fit::Contain, None, Some(20)), Some((40, 20)));
    }

    #[test]
    fn limit_keeps_small_images_unless_enlarging_is_allowed() {
        assert_eq!(
            plan(400, 200, &resize(Fit::Contain, Some(800), None, false)),
            None
        );
        let p = plan(400, 200, &resize(Fit::Contain, Some(800), None, true)).unwrap();
        assert_eq!(p.output_size(), (800, 400));
        let pct = Resize {
            fit: Fit::Contain,
            target: ResizeTarget::Percent(50),
            enlarge: false,
        };
        assert_eq!(plan(400, 200, &pct).unwrap().output_size(), (200, 100));
    }

    #[test]
    fn long_and_short_sides_follow_orientation() {
        let r = Resize {
            fit: Fit::Contain,
            target: ResizeTarget::LongShort {
                long: Some(100),
                short: None,
            },
            enlarge: false,
        };
        assert_eq!(plan(400, 200, &r).unwrap().output_size(), (100, 50));
        assert_eq!(plan(200, 400, &r).unwrap().output_size(), (50, 100));
    }
}
