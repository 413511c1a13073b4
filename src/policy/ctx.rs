//! Where policy problems are collected while one file is checked: every check reports into
//! a `Ctx` with the position and key of what it read, so that all problems of a file are
//! shown at once, and checked values keep the place they were written (`Located`) for the
//! messages of merging.

use std::path::Path;

use serde_saphyr::Location;

use super::error::PolicyError;
use super::model::Origin;

/// A value and where it was written.
#[derive(Clone, Debug)]
pub(crate) struct Located<T> {
    pub value: T,
    pub origin: Origin,
    pub key: String,
}

/// Collects the problems of one file.
pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub errors: Vec<PolicyError>,
}

/// A 1-based line and column (serde-saphyr's `Location` cannot be built outside it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

/// Anything with a source position.
pub(crate) trait At {
    fn pos(&self) -> Pos;
}

impl At for Pos {
    fn pos(&self) -> Pos {
        *self
    }
}

impl At for Location {
    fn pos(&self) -> Pos {
        Pos {
            line: usize::try_from(self.line()).unwrap_or(0),
            column: usize::try_from(self.column()).unwrap_or(0),
        }
    }
}

impl<T: At + ?Sized> At for &T {
    fn pos(&self) -> Pos {
        (**self).pos()
    }
}

impl Ctx<'_> {
    /// Where `at` is in this file.
    pub(crate) fn origin(&self, at: impl At) -> Origin {
        let p = at.pos();
        Origin {
            file: self.file.to_path_buf(),
            line: p.line,
            column: p.column,
        }
    }

    /// Records a problem at `at` under `key`.
    pub(crate) fn err(&mut self, at: impl At, key: &str, message: impl Into<String>) {
        let o = self.origin(at);
        self.errors.push(PolicyError {
            file: o.file,
            line: o.line,
            column: o.column,
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// `value` as written at `at` under `key`.
    pub(crate) fn located<T>(&self, value: T, at: impl At, key: &str) -> Located<T> {
        Located {
            value,
            origin: self.origin(at),
            key: key.to_string(),
        }
    }
}
