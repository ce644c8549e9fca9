//! ixmage-style URLs: `/{token}/{alias}/{path}?{params}&key=...`. The token names the
//! account, the alias a bucket, and the query's processing options map onto the
//! pipeline IR:
//!
//! | ixmage parameter | meaning | IR |
//! |---|---|---|
//! | `width`, `w` | target width (1-16384) | resize box width |
//! | `height`, `h` | target height (1-16384) | resize box height |
//! | `fit` | `contain`/`inside` (default), `cover`/`outside`, `crop`, `fill`/`stretch`, `pad` | `Fit` |
//! | `format`, `fm` | `jpg`, `png`, `webp`, `avif`, `gif`, `auto` | output format |
//! | `quality`, `q` | 1-100 | absolute quality |
//! | `enlarge` | `1` allows upscaling | `Resize::enlarge` |
//! | `key` | the signature; not an option | — |

use crate::kernel::Query;
use imaging::{Fit, Format, FormatChoice, Pipeline, Quality, Resize, ResizeTarget, Rgb, Step};

pub struct IxmagePath {
    pub token: String,
    pub alias: String,
    pub key: String,
}

/// Splits the path after the route's prefix into token, alias and object key.
pub fn split_path(rest: &str) -> Option<IxmagePath> {
    let mut parts = rest.trim_start_matches('/').splitn(3, '/');
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    let token = decode(parts.next()?)?;
    let alias = decode(parts.next()?)?;
    let key = decode(parts.next()?)?;
    (!token.is_empty() && !alias.is_empty() && !key.is_empty()).then_some(IxmagePath {
        token,
        alias,
        key,
    })
}

/// The pipeline the query asks for. Unknown parameters are refused, so a typo does not
/// silently serve the original.
pub fn pipeline(query: &Query) -> Result<Pipeline, String> {
    let mut width = None;
    let mut height = None;
    let mut fit = Fit::Contain;
    let mut enlarge = false;
    let mut pipeline = Pipeline::default();
    for (name, value) in query.pairs() {
        let name = name.as_str();
        let side = |v: &str| -> Result<u32, String> {
            v.parse::<u32>()
                .ok()
                .filter(|n| (1..=16384).contains(n))
                .ok_or_else(|| format!("{name} must be a whole number from 1 to 16384, got {v:?}"))
        };
        match name {
            "key" => {}
            "width" | "w" => width = Some(side(value)?),
            "height" | "h" => height = Some(side(value)?),
            "fit" => {
                fit = match value.as_str() {
                    "contain" | "inside" | "scale-down" => Fit::Contain,
                    "cover" | "outside" => Fit::Cover,
                    "crop" => Fit::CoverCrop,
                    "fill" | "stretch" => Fit::Stretch,
                    "pad" => Fit::Pad {
                        background: Rgb {
                            r: 255,
                            g: 255,
                            b: 255,
                        },
                    },
                    other => {
                        return Err(format!(
                            "fit {other:?} is not one of contain, cover, crop, fill, pad"
                        ));
                    }
                }
            }
            "format" | "fm" => {
                pipeline.output.format = Some(match value.as_str() {
                    "jpg" | "jpeg" => FormatChoice::Fixed(Format::Jpeg),
                    "png" => FormatChoice::Fixed(Format::Png),
                    "webp" => FormatChoice::Fixed(Format::Webp),
                    "avif" => FormatChoice::Fixed(Format::Avif),
                    "gif" => FormatChoice::Fixed(Format::Gif),
                    "auto" => FormatChoice::Auto,
                    other => {
                        return Err(format!(
                            "format {other:?} is not one of jpg, png, webp, avif, gif, auto"
                        ));
                    }
                })
            }
            "quality" | "q" => {
                let q = value
                    .parse::<u8>()
                    .ok()
                    .filter(|q| (1..=100).contains(q))
                    .ok_or_else(|| format!("{name} must be from 1 to 100, got {value:?}"))?;
                pipeline.output.quality = Some(Quality::Absolute(q));
            }
            "enlarge" => enlarge = value == "1" || value == "true",
            other => return Err(format!("unknown parameter {other:?}")),
        }
    }
    if width.is_some() || height.is_some() {
        pipeline.steps.push(Step::Resize(Resize {
            fit,
            target: ResizeTarget::Box { width, height },
            enlarge,
        }));
    }
    Ok(pipeline)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(query: &str) -> Result<Pipeline, String> {
        super::pipeline(&Query::parse(Some(query)))
    }

    #[test]
    fn paths_and_parameters() {
        let p = split_path("/tok/photos/a/b%20c.jpg").expect("valid");
        assert_eq!(
            (p.token.as_str(), p.alias.as_str(), p.key.as_str()),
            ("tok", "photos", "a/b c.jpg")
        );
        assert!(split_path("/tok/photos").is_none());

        let pl = pipeline("width=90&height=60&fit=cover&format=webp&q=70&key=abc").expect("valid");
        assert_eq!(pl.output.format, Some(FormatChoice::Fixed(Format::Webp)));
        assert_eq!(pl.output.quality, Some(Quality::Absolute(70)));
        assert!(matches!(
            &pl.steps[..],
            [Step::Resize(Resize {
                fit: Fit::Cover,
                target: ResizeTarget::Box {
                    width: Some(90),
                    height: Some(60)
                },
                enlarge: false
            })]
        ));
        assert!(pipeline("").expect("empty").steps.is_empty());
        assert!(pipeline("width=0").is_err());
        assert!(pipeline("colour=red").is_err());
        assert!(pipeline("fit=sideways").is_err());
    }
}
