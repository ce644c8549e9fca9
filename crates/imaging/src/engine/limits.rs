//! What one render may cost, shared by the decoders ([`super::decode`]) and the pipeline
//! runner: the size bounds checked before anything is allocated, and the time budget
//! checked between steps and frames.

use super::{EngineError, EngineResult};
use std::time::{Duration, Instant};

/// When a render must stop. Checked between steps and frames, so a single step may
/// overrun it by its own duration; steps are bounded by the size limits.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    pub fn starting_now(budget: Option<Duration>) -> Deadline {
        Deadline(budget.map(|b| Instant::now() + b))
    }

    pub fn check(&self) -> EngineResult<()> {
        match self.0 {
            Some(at) if Instant::now() > at => Err(EngineError::OverBudget),
            _ => Ok(()),
        }
    }
}

/// Bounds on what one render may cost.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest source, in pixels (width × height from the header).
    pub max_source_pixels: u64,
    /// Largest side of any intermediate or output image.
    pub max_output_side: u32,
    /// Largest intermediate or output image, in pixels.
    pub max_output_pixels: u64,
    /// Animated sources with more frames than this are refused.
    pub max_frames: u32,
    /// Largest animation, in pixels summed over its frames (source, intermediates and
    /// output alike): frames × width × height.
    pub max_animation_pixels: u64,
    /// Wall-clock budget for one render, checked between steps and frames.
    pub time_budget: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_source_pixels: 64_000_000,
            max_output_side: 16_384,
            max_output_pixels: 64_000_000,
            max_frames: 100,
            max_animation_pixels: 256_000_000,
            time_budget: Some(Duration::from_secs(20)),
        }
    }
}
