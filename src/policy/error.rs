//! Policy errors: each names the file, line, column and key, and says what to do.

use std::fmt;
use std::path::PathBuf;

/// One problem in a policy. `Display` is `FILE:LINE:COLUMN: KEY: MESSAGE`, the shape editors
/// and CI annotations jump to; when there is no position (a missing file, an empty
/// directory) line and column are 0 and omitted: `FILE: KEY: MESSAGE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// The file (or directory) the problem is in.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem has no position.
    pub line: usize,
    /// 1-based column; 0 when the problem has no position.
    pub column: usize,
    /// The key path, e.g. `images[2].semver`; `<root>` for the document as a whole.
    pub key: String,
    /// What is wrong and what to do about it. Never contains a secret.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(f, ": {}: {}", self.key, self.message)
    }
}

impl std::error::Error for PolicyError {}

/// Every problem found in a policy, in file and position order, so one run of
/// `imagectl validate` shows them all. `Display` prints one per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

/// The key printed for problems with the document as a whole.
pub(crate) const ROOT_KEY: &str = "<root>";
