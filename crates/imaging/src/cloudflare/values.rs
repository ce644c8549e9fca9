//! Values of the options that have a syntax of their own: colours, gravity, trim edges.

use super::{bad, number};
use crate::error::ProcessError;
use crate::ir::{Focus, Rgb, Trim};

pub(super) fn colour(option: &str, v: &str) -> Result<Rgb, ProcessError> {
    let expected = "expected #rgb, #rrggbb, rgb(r,g,b) or a colour name";
    let text = v.trim().to_ascii_lowercase();
    let text = text
        .strip_prefix("%23")
        .map(|h| format!("#{h}"))
        .unwrap_or(text);
    if let Some(hex) = text.strip_prefix('#') {
        let digits: Vec<u8> = hex
            .chars()
            .map(|c| c.to_digit(16).map(|d| d as u8))
            .collect::<Option<_>>()
            .ok_or_else(|| bad(option, v, expected))?;
        return match digits.as_slice() {
            [r, g, b] | [r, g, b, _] => Ok(Rgb {
                r: r * 17,
                g: g * 17,
                b: b * 17,
            }),
            [r1, r2, g1, g2, b1, b2] | [r1, r2, g1, g2, b1, b2, _, _] => Ok(Rgb {
                r: r1 * 16 + r2,
                g: g1 * 16 + g2,
                b: b1 * 16 + b2,
            }),
            _ => Err(bad(option, v, expected)),
        };
    }
    if let Some(inner) = text
        .strip_prefix("rgba(")
        .or_else(|| text.strip_prefix("rgb("))
        .and_then(|t| t.strip_suffix(')'))
    {
        let channels: Vec<u8> = inner
            .split(',')
            .take(3)
            .map(|c| c.trim().parse::<u8>().ok())
            .collect::<Option<_>>()
            .ok_or_else(|| bad(option, v, expected))?;
        return match channels.as_slice() {
            [r, g, b] => Ok(Rgb {
                r: *r,
                g: *g,
                b: *b,
            }),
            _ => Err(bad(option, v, expected)),
        };
    }
    let named = match text.as_str() {
        "white" => (255, 255, 255),
        "black" => (0, 0, 0),
        "red" => (255, 0, 0),
        "green" => (0, 128, 0),
        "lime" => (0, 255, 0),
        "blue" => (0, 0, 255),
        "yellow" => (255, 255, 0),
        "gray" | "grey" => (128, 128, 128),
        "silver" => (192, 192, 192),
        "orange" => (255, 165, 0),
        "purple" => (128, 0, 128),
        // Formats with alpha pad with the colour anyway; white is what a page shows.
        "transparent" => (255, 255, 255),
        _ => return Err(bad(option, v, expected)),
    };
    Ok(Rgb {
        r: named.0,
        g: named.1,
        b: named.2,
    })
}

pub(super) fn gravity(option: &str, v: &str) -> Result<Focus, ProcessError> {
    let side = |x: u16, y: u16| Focus {
        x_milli: x,
        y_milli: y,
    };
    Ok(match v {
        // No saliency detection: `auto` keeps the centre.
        "auto" | "center" | "centre" => Focus::CENTER,
        "left" => side(0, 500),
        "right" => side(1000, 500),
        "top" => side(500, 0),
        "bottom" => side(500, 1000),
        other => {
            let expected =
                "expected auto, left, right, top, bottom or XxY with X and Y from 0 to 1";
            let (x, y) = other
                .split_once('x')
                .ok_or_else(|| bad(option, v, expected))?;
            let x = number(option, x, 0.0, 1.0, expected)?;
            let y = number(option, y, 0.0, 1.0, expected)?;
            side((x * 1000.0).round() as u16, (y * 1000.0).round() as u16)
        }
    })
}

pub(super) fn trim_edges(option: &str, v: &str) -> Result<Trim, ProcessError> {
    if v == "border" {
        return Ok(Trim::Border);
    }
    let expected = "expected top;right;bottom;left in pixels, or border";
    let px: Vec<u32> = v
        .split(';')
        .map(|p| p.trim().parse::<u32>().ok().filter(|n| *n <= 100_000))
        .collect::<Option<_>>()
        .ok_or_else(|| bad(option, v, expected))?;
    match px.as_slice() {
        [top, right, bottom, left] => Ok(Trim::Edges {
            top: *top,
            right: *right,
            bottom: *bottom,
            left: *left,
        }),
        _ => Err(bad(option, v, expected)),
    }
}
