//! Arbitrary bytes as a source image through `engine::render`, under tight limits.
//!
//! Properties:
//! - `render` returns, Ok or Err, within libFuzzer's `-timeout` and `-rss_limit_mb`;
//! - nothing panics. `render` catches panics and reports `EngineError::Internal`, but
//!   libfuzzer-sys's panic hook aborts before unwinding, so a decoder panic is
//!   recorded as a crash anyway; any other `Internal` (an engine invariant broken by
//!   the input) fails the target too;
//! - an image result has a non-empty body and a size inside the limits, resizes to
//!   `w_N` come out at most N wide, and the PNG written for `format,png` probes back
//!   with the size reported.

#![no_main]

use imaging::engine::sniff::{self, SourceFormat};
use imaging::engine::{EngineError, Limits, Rendered, render};
use imaging::{Pipeline, Process, oss};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use std::time::Duration;

const MAX_SOURCE_PIXELS: u64 = 4_000_000;

static LIMITS: LazyLock<Limits> = LazyLock::new(|| Limits {
    max_source_pixels: MAX_SOURCE_PIXELS,
    max_output_side: 4096,
    max_output_pixels: 4_000_000,
    max_frames: 8,
    max_animation_pixels: 16_000_000,
    time_budget: Some(Duration::from_secs(2)),
});

/// (process string, widest output it may produce, whether it writes PNG)
const PIPELINES: &[(&str, Option<u32>, bool)] = &[
    ("", None, false),
    ("image/resize,w_64", Some(64), false),
    ("image/resize,w_32/format,png", Some(32), true),
    ("image/info", None, false),
];

static PARSED: LazyLock<Vec<(Pipeline, Option<u32>, bool)>> = LazyLock::new(|| {
    PIPELINES
        .iter()
        .map(|&(ops, max_width, png)| {
            let pipeline = if ops.is_empty() {
                Pipeline::default()
            } else {
                match oss::parse_process(ops) {
                    Ok(Process::Pipeline(p)) => p,
                    other => panic!("{ops}: {other:?}"),
                }
            };
            (pipeline, max_width, png)
        })
        .collect()
});

fuzz_target!(|data: &[u8]| {
    for (pipeline, max_width, png) in PARSED.iter() {
        let result = render(data, pipeline, None, &LIMITS);
        match result {
            Err(EngineError::Internal(msg)) => {
                panic!("render({}) failed internally: {msg}", pipeline.canonical())
            }
            Err(_) | Ok(Rendered::Json(_)) => {}
            Ok(Rendered::Image {
                bytes,
                width,
                height,
                ..
            }) => {
                let what = pipeline.canonical();
                assert!(!bytes.is_empty(), "{what}: empty output");
                assert!(width > 0 && height > 0, "{what}: {width}x{height} output");
                assert!(
                    u64::from(width) * u64::from(height)
                        <= MAX_SOURCE_PIXELS.max(LIMITS.max_output_pixels),
                    "{what}: {width}x{height} output is over the limits"
                );
                if let Some(max_width) = max_width {
                    assert!(width <= *max_width, "{what}: {width} pixels wide");
                }
                if *png {
                    let probe = sniff::probe(&bytes)
                        .unwrap_or_else(|e| panic!("{what}: output does not probe: {e}"));
                    assert_eq!(probe.format, SourceFormat::Png, "{what}");
                    assert_eq!((probe.width, probe.height), (width, height), "{what}");
                }
            }
        }
    }
});
