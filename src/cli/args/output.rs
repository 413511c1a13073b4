//! `--format text|json`, shared by every command that reports what it did.

use clap::Args;

/// How a command that reports what it did prints it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Lines for a person, as docker prints them.
    #[default]
    Text,
    /// One JSON document on stdout; errors stay on stderr.
    Json,
}

/// `--format text|json`, shared by every command that reports what it did.
#[derive(Debug, Args)]
pub struct OutputArg {
    /// `json`: one JSON document on stdout (see the README's *JSON output*) instead of text.
    #[arg(long = "format", value_enum, default_value_t, value_name = "FORMAT")]
    pub format: OutputFormat,
}

impl OutputArg {
    /// Whether JSON was asked for.
    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }
}
