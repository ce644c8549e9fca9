//! The parameter syntax every action shares: bare values (`rotate,90`) and `key_value`
//! lists (`resize,w_100,h_50`) checked against each action's known keys; the scalar
//! values inside them (decimal integers, `0`/`1` flags, `RRGGBB` colours, gravity
//! names); and the checks on text values once decoded (watermark text, font names,
//! object keys). What each value means to its action, and base64 decoding, are the
//! parser's, in `oss.rs`.

use super::decode_base64_text;
use crate::engine::watermark::fonts;
use crate::error::{Field, ProcessError, excerpt};
use crate::ir::{Gravity, Rgb};
use std::str::Split;

/// OSS limits watermark text to 64 characters before encoding.
const MAX_TEXT_CHARS: usize = 64;
/// S3/OSS object key limit in bytes.
const MAX_KEY_BYTES: usize = 1023;

pub(super) fn no_parameters(
    action: &'static str,
    mut tokens: Split<'_, char>,
) -> Result<(), ProcessError> {
    match tokens.next() {
        None => Ok(()),
        Some(_) => Err(ProcessError::UnexpectedParameters { action }),
    }
}

pub(super) fn bare_value<'a>(
    action: &'static str,
    mut tokens: Split<'a, char>,
) -> Result<&'a str, ProcessError> {
    match (tokens.next(), tokens.next()) {
        (Some(value), None) => Ok(value),
        (None, _) => Err(ProcessError::BareValueCount { action, count: 0 }),
        (Some(_), Some(_)) => Err(ProcessError::BareValueCount {
            action,
            count: 2 + tokens.count(),
        }),
    }
}

pub(super) fn bare_int<T: TryFrom<i64>>(
    action: &'static str,
    tokens: Split<'_, char>,
    min: i64,
    max: i64,
) -> Result<T, ProcessError> {
    let value = bare_value(action, tokens)?;
    parse_int(action, Field::Bare, value, min, max)
}

pub(super) fn bare_flag(
    action: &'static str,
    tokens: Split<'_, char>,
) -> Result<bool, ProcessError> {
    let value = bare_value(action, tokens)?;
    parse_flag(action, Field::Bare, value)
}

/// The `key_value` parameters of one action, checked against the action's known keys
/// up front so that unknown and repeated keys are reported before any value is looked at.
pub(super) struct Params<'a> {
    action: &'static str,
    entries: Vec<(&'static str, &'a str)>,
}

impl<'a> Params<'a> {
    pub(super) fn keyed(
        action: &'static str,
        tokens: Split<'a, char>,
        known: &[&'static str],
    ) -> Result<Self, ProcessError> {
        let mut entries: Vec<(&'static str, &'a str)> = Vec::new();
        for token in tokens {
            let (key, value) = token
                .split_once('_')
                .ok_or_else(|| ProcessError::NotKeyValue {
                    action,
                    got: excerpt(token),
                })?;
            let known_key = known.iter().copied().find(|candidate| *candidate == key);
            let Some(known_key) = known_key else {
                return Err(ProcessError::UnknownParameter {
                    action,
                    parameter: excerpt(key),
                });
            };
            if entries.iter().any(|(seen, _)| *seen == known_key) {
                return Err(ProcessError::DuplicateParameter {
                    action,
                    field: Field::Named(known_key),
                });
            }
            entries.push((known_key, value));
        }
        Ok(Params { action, entries })
    }

    pub(super) fn raw(&self, key: &str) -> Option<&'a str> {
        self.entries
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| *value)
    }

    fn named(&self, key: &str) -> Option<(Field, &'a str)> {
        self.entries
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(name, value)| (Field::Named(name), *value))
    }

    pub(super) fn int<T: TryFrom<i64>>(
        &self,
        key: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<T>, ProcessError> {
        self.named(key)
            .map(|(field, value)| parse_int(self.action, field, value, min, max))
            .transpose()
    }

    pub(super) fn required_int<T: TryFrom<i64>>(
        &self,
        key: &'static str,
        min: i64,
        max: i64,
    ) -> Result<T, ProcessError> {
        self.int(key, min, max)?
            .ok_or(ProcessError::MissingParameter {
                action: self.action,
                parameter: key,
            })
    }

    pub(super) fn flag(&self, key: &str) -> Result<Option<bool>, ProcessError> {
        self.named(key)
            .map(|(field, value)| parse_flag(self.action, field, value))
            .transpose()
    }

    pub(super) fn color(&self, key: &str) -> Result<Option<Rgb>, ProcessError> {
        self.named(key)
            .map(|(field, value)| parse_color(self.action, field, value))
            .transpose()
    }

    pub(super) fn gravity(&self, key: &str) -> Result<Option<Gravity>, ProcessError> {
        self.named(key)
            .map(|(field, value)| parse_gravity(self.action, field, value))
            .transpose()
    }

    pub(super) fn base64_text(&self, key: &str) -> Result<Option<String>, ProcessError> {
        self.named(key)
            .map(|(field, value)| decode_base64_text(self.action, field, value))
            .transpose()
    }
}

pub(super) fn malformed(
    action: &'static str,
    field: Field,
    got: &str,
    expected: &'static str,
) -> ProcessError {
    ProcessError::Malformed {
        action,
        field,
        got: excerpt(got),
        expected,
    }
}

/// Decimal only: no `+`, no spaces, no hex, so that one number has few spellings.
/// Leading zeros are tolerated and disappear in the canonical form.
fn parse_int<T: TryFrom<i64>>(
    action: &'static str,
    field: Field,
    raw: &str,
    min: i64,
    max: i64,
) -> Result<T, ProcessError> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(action, field, raw, "an integer"));
    }
    let out_of_range = || ProcessError::OutOfRange {
        action,
        field,
        min,
        max,
        got: excerpt(raw),
    };
    // Anything that overflows i64 is out of every range this dialect has.
    let value: i64 = raw.parse().map_err(|_| out_of_range())?;
    if value < min || value > max {
        return Err(out_of_range());
    }
    T::try_from(value).map_err(|_| out_of_range())
}

fn parse_flag(action: &'static str, field: Field, raw: &str) -> Result<bool, ProcessError> {
    match raw {
        "0" => Ok(false),
        "1" => Ok(true),
        other => Err(malformed(action, field, other, "0 or 1")),
    }
}

fn parse_color(action: &'static str, field: Field, raw: &str) -> Result<Rgb, ProcessError> {
    let invalid = || malformed(action, field, raw, "six hex digits RRGGBB");
    if raw.len() != 6 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let channel = |range: std::ops::Range<usize>| {
        raw.get(range)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .ok_or_else(invalid)
    };
    Ok(Rgb {
        r: channel(0..2)?,
        g: channel(2..4)?,
        b: channel(4..6)?,
    })
}

fn parse_gravity(action: &'static str, field: Field, raw: &str) -> Result<Gravity, ProcessError> {
    Ok(match raw {
        "nw" => Gravity::NorthWest,
        "north" => Gravity::North,
        "ne" => Gravity::NorthEast,
        "west" => Gravity::West,
        "center" => Gravity::Center,
        "east" => Gravity::East,
        "sw" => Gravity::SouthWest,
        "south" => Gravity::South,
        "se" => Gravity::SouthEast,
        other => {
            return Err(malformed(
                action,
                field,
                other,
                "one of nw, north, ne, west, center, east, sw, south, se",
            ));
        }
    })
}

/// Gravity's OSS spelling, shared with the canonical form.
pub(crate) fn gravity_name(gravity: Gravity) -> &'static str {
    match gravity {
        Gravity::NorthWest => "nw",
        Gravity::North => "north",
        Gravity::NorthEast => "ne",
        Gravity::West => "west",
        Gravity::Center => "center",
        Gravity::East => "east",
        Gravity::SouthWest => "sw",
        Gravity::South => "south",
        Gravity::SouthEast => "se",
    }
}

pub(super) fn check_text(text: &str) -> Result<(), ProcessError> {
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(ProcessError::OutOfRange {
            action: "watermark",
            field: Field::Named("text"),
            min: 1,
            max: MAX_TEXT_CHARS as i64,
            got: format!("{chars} characters"),
        });
    }
    // Empty or control-character text cannot be rendered; OSS rejects line breaks too.
    if text.is_empty() || text.chars().any(char::is_control) {
        return Err(malformed(
            "watermark",
            Field::Named("text"),
            text,
            "non-empty text without control characters",
        ));
    }
    Ok(())
}

/// Only names the engine can draw with pass, so an unknown font fails before any work.
/// A known font whose file is not installed still passes: the engine falls back.
pub(super) fn check_font(font: &str) -> Result<(), ProcessError> {
    if fonts::face_for(font).is_some() {
        return Ok(());
    }
    Err(malformed(
        "watermark",
        Field::Named("type"),
        font,
        fonts::accepted_names(),
    ))
}

pub(super) fn check_key(action: &'static str, field: Field, key: &str) -> Result<(), ProcessError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(malformed(
            action,
            field,
            key,
            "an object key of 1-1023 bytes",
        ));
    }
    Ok(())
}
