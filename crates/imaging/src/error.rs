//! Errors from parsing a process string.
//!
//! Every message names the action and the parameter at fault, because the server
//! returns it verbatim as the `Message` of an OSS-style `InvalidArgument` error and the
//! client has nothing else to go on.

use std::fmt;
use thiserror::Error;

/// Which part of an action was at fault: a `key_value` parameter, or the single bare
/// value of actions such as `rotate,90`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Named(&'static str),
    Bare,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Named(name) => write!(f, "parameter {name}"),
            Field::Bare => f.write_str("value"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProcessError {
    #[error("process string is empty")]
    Empty,
    /// A Cloudflare-style option (`/cdn-cgi/image/`, flexible variants) imgd does not know.
    #[error("unknown option {option:?}")]
    UnknownOption { option: String },
    #[error("option {option}: {message}, got {got:?}")]
    BadOption {
        option: String,
        got: String,
        message: &'static str,
    },
    #[error("process string is {len} bytes long, the limit is {max}")]
    TooLong { len: usize, max: usize },
    #[error("process string has {count} actions, the limit is {max}")]
    TooManyActions { count: usize, max: usize },
    #[error("unknown process type {found:?}, expected image or style")]
    UnknownProcessType { found: String },
    #[error("no actions after image/")]
    NoActions,
    #[error("empty action at position {position}")]
    EmptyAction { position: usize },
    #[error("unknown action {action:?}")]
    UnknownAction { action: String },
    #[error("{action}: unknown parameter {parameter:?}")]
    UnknownParameter {
        action: &'static str,
        parameter: String,
    },
    #[error("{action}: {field} given more than once")]
    DuplicateParameter { action: &'static str, field: Field },
    #[error("{action}: expected a parameter of the form key_value, got {got:?}")]
    NotKeyValue { action: &'static str, got: String },
    #[error("{action}: expected exactly one value, got {count}")]
    BareValueCount { action: &'static str, count: usize },
    #[error("{action}: takes no parameters")]
    UnexpectedParameters { action: &'static str },
    #[error("{action}: {field} must be between {min} and {max}, got {got}")]
    OutOfRange {
        action: &'static str,
        field: Field,
        min: i64,
        max: i64,
        got: String,
    },
    #[error("{action}: {field} has malformed value {got:?}, expected {expected}")]
    Malformed {
        action: &'static str,
        field: Field,
        got: String,
        expected: &'static str,
    },
    #[error("{action}: parameter {parameter} is required")]
    MissingParameter {
        action: &'static str,
        parameter: &'static str,
    },
    #[error("{action}: one of parameters {} is required", .parameters.join(", "))]
    MissingOneOf {
        action: &'static str,
        parameters: &'static [&'static str],
    },
    #[error("{action}: parameters {first} and {second} cannot be combined")]
    Conflict {
        action: &'static str,
        first: &'static str,
        second: &'static str,
    },
    #[error("{action}: action given more than once")]
    DuplicateAction { action: &'static str },
    #[error("watermark: parameter image: nested process: {0}")]
    NestedProcess(Box<ProcessError>),
    #[error("watermark: parameter image: a watermark image's process cannot use {what}")]
    NestedNotAllowed { what: &'static str },
    #[error("style: invalid style name {name:?}, expected 1-64 letters, digits, '-', '_' or '.'")]
    InvalidStyleName { name: String },
    #[error("style: expected style/<name>")]
    MalformedStyle,
    #[error("only one |sys/saveas suffix is allowed")]
    MultipleSaveAs,
    #[error("|sys/saveas is only accepted by POST process_object")]
    SaveAsNotAllowed,
    #[error("unknown action {action:?} after |, expected sys/saveas")]
    UnknownSysAction { action: String },
}

impl ProcessError {
    /// The action the error is about, for servers that report it in a separate field.
    pub fn action(&self) -> Option<&str> {
        match self {
            ProcessError::UnknownAction { action } | ProcessError::UnknownSysAction { action } => {
                Some(action)
            }
            ProcessError::UnknownParameter { action, .. }
            | ProcessError::DuplicateParameter { action, .. }
            | ProcessError::NotKeyValue { action, .. }
            | ProcessError::BareValueCount { action, .. }
            | ProcessError::UnexpectedParameters { action }
            | ProcessError::OutOfRange { action, .. }
            | ProcessError::Malformed { action, .. }
            | ProcessError::MissingParameter { action, .. }
            | ProcessError::MissingOneOf { action, .. }
            | ProcessError::Conflict { action, .. }
            | ProcessError::DuplicateAction { action } => Some(action),
            ProcessError::NestedProcess(_) | ProcessError::NestedNotAllowed { .. } => {
                Some("watermark")
            }
            ProcessError::InvalidStyleName { .. } | ProcessError::MalformedStyle => Some("style"),
            ProcessError::UnknownOption { option } | ProcessError::BadOption { option, .. } => {
                Some(option)
            }
            ProcessError::Empty
            | ProcessError::TooLong { .. }
            | ProcessError::TooManyActions { .. }
            | ProcessError::UnknownProcessType { .. }
            | ProcessError::NoActions
            | ProcessError::EmptyAction { .. }
            | ProcessError::MultipleSaveAs
            | ProcessError::SaveAsNotAllowed => None,
        }
    }

    /// The parameter the error is about; `None` for bare values and whole-action errors.
    pub fn parameter(&self) -> Option<&str> {
        match self {
            ProcessError::UnknownParameter { parameter, .. } => Some(parameter),
            ProcessError::DuplicateParameter { field, .. }
            | ProcessError::OutOfRange { field, .. }
            | ProcessError::Malformed { field, .. } => match field {
                Field::Named(name) => Some(name),
                Field::Bare => None,
            },
            ProcessError::MissingParameter { parameter, .. } => Some(parameter),
            ProcessError::NestedProcess(_) | ProcessError::NestedNotAllowed { .. } => Some("image"),
            _ => None,
        }
    }
}

/// Echoed user input is capped so that a hostile URL cannot blow up an error response
/// or a log line.
pub(crate) fn excerpt(input: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut chars = input.chars();
    let mut out: String = chars.by_ref().take(MAX_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}
