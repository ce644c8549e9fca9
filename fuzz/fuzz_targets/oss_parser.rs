//! The `x-oss-process` parser on arbitrary text (bytes that are not UTF-8 are converted
//! lossily, as a server would see them after percent-decoding).
//!
//! Properties:
//! - `oss::parse` and `oss::parse_process` never panic;
//! - without a `|`, both parse the same way; `parse_process` never accepts a `|`;
//! - whatever parses has a canonical form that parses again to the same canonical form
//!   and to an equal IR. Three things canonical.rs does on purpose are allowed for:
//!   a no-op pipeline (`image/interlace,0`) has an empty canonical form, which is no
//!   process string; a watermark image's nested process is kept verbatim in
//!   `NestedProcess::source` but written in canonical form (and left out when it
//!   changes nothing); and writing defaults out can make the canonical form longer
//!   than `MAX_PROCESS_LEN`, which the parser then refuses.

#![no_main]

use imaging::oss::{self, MAX_PROCESS_LEN};
use imaging::{Pipeline, Process, ProcessRequest, Step, WatermarkContent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check(&text);
});

fn check(text: &str) {
    let request = oss::parse(text);
    let process = oss::parse_process(text);

    if text.contains('|') {
        assert!(process.is_err(), "parse_process accepted a '|': {text:?}");
    } else {
        let as_request = process.clone().map(|process| ProcessRequest {
            process,
            save_as: None,
        });
        assert_eq!(
            request, as_request,
            "parse and parse_process disagree on {text:?}"
        );
    }

    if let Ok(process) = &process {
        round_trip_process(text, process);
    }
    if let Ok(request) = &request {
        round_trip_request(text, request);
    }
}

fn round_trip_request(input: &str, request: &ProcessRequest) {
    if request.process.canonical().is_empty() {
        // Only a pipeline of no-ops has no canonical form.
        assert!(
            matches!(&request.process, Process::Pipeline(p) if p.is_empty()),
            "{input:?}: non-empty process with an empty canonical form"
        );
        return;
    }
    let canonical = request.canonical();
    if canonical.len() > MAX_PROCESS_LEN {
        return;
    }
    let again = oss::parse(&canonical)
        .unwrap_or_else(|e| panic!("{input:?} -> {canonical:?} does not parse: {e}"));
    assert_eq!(
        again.canonical(),
        canonical,
        "{input:?}: canonical form not stable"
    );
    assert_eq!(
        normalised_request(again),
        normalised_request(request.clone()),
        "{input:?} -> {canonical:?} parses to a different IR"
    );
}

fn round_trip_process(input: &str, process: &Process) {
    let canonical = process.canonical();
    if canonical.is_empty() {
        assert!(
            matches!(process, Process::Pipeline(p) if p.is_empty()),
            "{input:?}: non-empty process with an empty canonical form"
        );
        return;
    }
    if canonical.len() > MAX_PROCESS_LEN {
        return;
    }
    let again = oss::parse_process(&canonical)
        .unwrap_or_else(|e| panic!("{input:?} -> {canonical:?} does not parse: {e}"));
    assert_eq!(
        again.canonical(),
        canonical,
        "{input:?}: canonical form not stable"
    );
    assert_eq!(
        normalised_process(again),
        normalised_process(process.clone()),
        "{input:?} -> {canonical:?} parses to a different IR"
    );
}

fn normalised_request(mut request: ProcessRequest) -> ProcessRequest {
    request.process = normalised_process(request.process);
    request
}

fn normalised_process(process: Process) -> Process {
    match process {
        Process::Pipeline(pipeline) => Process::Pipeline(normalised_pipeline(pipeline)),
        style => style,
    }
}

/// What the canonical form keeps of a pipeline: nested processes by their canonical
/// spelling, and no nested process that changes nothing.
fn normalised_pipeline(mut pipeline: Pipeline) -> Pipeline {
    for step in &mut pipeline.steps {
        let Step::Watermark(mark) = step else {
            continue;
        };
        let image = match &mut mark.content {
            WatermarkContent::Image(image) => image,
            WatermarkContent::TextAndImage { image, .. } => image,
            WatermarkContent::Text(_) => continue,
        };
        if let Some(mut nested) = image.process.take() {
            nested.pipeline = normalised_pipeline(nested.pipeline);
            nested.source = nested.pipeline.canonical();
            if !nested.source.is_empty() {
                image.process = Some(nested);
            }
        }
    }
    pipeline
}
