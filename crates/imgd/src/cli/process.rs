//! `imgd process IN OUT --ops ...`: the image engine on local files.
//!
//! The output file's extension is the format the user asked for, so it joins the
//! pipeline's own `format,`: it chooses the format when the ops name none, and an
//! extension that says otherwise is refused rather than leaving, say, JPEG bytes in a
//! `.png`. An extension that names no image format needs an explicit `format,`.

use crate::config::Config;
use anyhow::{Context, Result, bail};
use imaging::{Format, FormatChoice, Pipeline};
use std::path::Path;

/// The image format an output file name asks for, from its extension (any case). HEIC
/// cannot be written, so `.heic` names no format here.
fn format_of(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?;
    Format::from_name(ext).filter(|f| *f != Format::Heic)
}

/// Settles the pipeline's output format against the output file's name, and returns
/// the format the file must end up in (if the name says one).
fn settle_format(pipeline: &mut Pipeline, output: &Path) -> Result<Option<Format>> {
    let wanted = format_of(output);
    match (pipeline.output.format, wanted) {
        (Some(FormatChoice::Fixed(ops)), Some(ext)) if ops != ext => bail!(
            "{} asks for {} but the ops say format,{}; make them agree",
            output.display(),
            ext.name(),
            ops.name()
        ),
        // `auto` picks what the client accepts; here the file name is the client.
        (None | Some(FormatChoice::Auto), Some(ext)) => {
            pipeline.output.format = Some(FormatChoice::Fixed(ext));
        }
        (None, None) if !writes_json(pipeline) => bail!(
            "cannot tell an image format from the name {}: end it in .jpg, .png, .webp, \
             .avif, .gif, .bmp or .tiff, or add format,<name> to the ops",
            output.display()
        ),
        _ => {}
    }
    Ok(wanted)
}

/// `info` and `average-hue` answer JSON about the image instead of an image.
fn writes_json(pipeline: &Pipeline) -> bool {
    pipeline
        .steps
        .iter()
        .any(|s| matches!(s, imaging::Step::Info | imaging::Step::AverageHue))
}

pub(super) fn process(cfg: &Config, input: &Path, output: &Path, ops: &str) -> Result<()> {
    let mut pipeline = match imaging::oss::parse_process(ops)? {
        imaging::Process::Pipeline(p) => p,
        imaging::Process::Style(name) => bail!(
            "styles belong to buckets; `{}` cannot be used here",
            name.as_str()
        ),
    };
    let wanted = if writes_json(&pipeline) {
        if let Some(ext) = format_of(output) {
            bail!(
                "the ops write JSON, not {}: name the output .json",
                ext.name()
            );
        }
        None
    } else {
        settle_format(&mut pipeline, output)?
    };
    // Read only once the arguments are known to be usable.
    let source = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let limits = cfg.process_limits().engine;
    let rendered = imaging::engine::render(&source, &pipeline, None, &limits)
        .with_context(|| format!("processing {}", input.display()))?;
    let bytes = match rendered {
        imaging::engine::Rendered::Image {
            bytes,
            width,
            height,
            format,
        } => {
            // The engine honours a fixed format; checked anyway, since writing the wrong
            // bytes under the name is the failure this command exists to avoid.
            if let Some(want) = wanted
                && want != format
            {
                bail!(
                    "the engine produced {} for {}; nothing written",
                    format.mime_type(),
                    output.display()
                );
            }
            eprintln!("{}x{} {}", width, height, format.mime_type());
            bytes
        }
        imaging::engine::Rendered::Json(text) => text.into_bytes(),
    };
    std::fs::write(output, bytes).with_context(|| format!("writing {}", output.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(ops: &str) -> Pipeline {
        match imaging::oss::parse_process(ops).unwrap() {
            imaging::Process::Pipeline(p) => p,
            imaging::Process::Style(_) => panic!("a style"),
        }
    }

    #[test]
    fn the_extension_chooses_the_format_when_the_ops_do_not() {
        let mut p = pipeline("image/resize,w_10");
        let got = settle_format(&mut p, Path::new("out.PNG")).unwrap();
        assert_eq!(got, Some(Format::Png));
        assert_eq!(p.output.format, Some(FormatChoice::Fixed(Format::Png)));
        let mut p = pipeline("image/format,auto");
        settle_format(&mut p, Path::new("a/b.tif")).unwrap();
        assert_eq!(p.output.format, Some(FormatChoice::Fixed(Format::Tiff)));
    }

    #[test]
    fn a_contradicting_extension_is_refused() {
        let mut p = pipeline("image/format,webp");
        let err = settle_format(&mut p, Path::new("out.png")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "out.png asks for png but the ops say format,webp; make them agree"
        );
        let mut p = pipeline("image/format,jpg");
        assert!(settle_format(&mut p, Path::new("out.jpeg")).is_ok());
    }

    #[test]
    fn other_extensions_need_a_format() {
        let mut p = pipeline("image/resize,w_10");
        let err = settle_format(&mut p, Path::new("out.img")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot tell an image format from the name out.img")
        );
        let mut p = pipeline("image/resize,w_10/format,webp");
        assert_eq!(settle_format(&mut p, Path::new("out")).unwrap(), None);
        assert_eq!(p.output.format, Some(FormatChoice::Fixed(Format::Webp)));
    }
}
