//! `imagectl validate` and `imagectl schema`: reading policy files and printing their schema.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::args::Cli;
use crate::policy;

/// Checks a policy file or directory: one summary line on success, every problem as its
/// own `error:` line on stderr (exit 1) otherwise, so CI shows them all in one run.
pub(super) fn validate(_cli: &Cli, file: &Path) -> Result<ExitCode> {
    match policy::load(file) {
        Ok(p) => {
            let line = format!(
                "{}: ok ({} images, {} registries)",
                file.display(),
                p.images.len(),
                p.registries.len()
            );
            print_stdout(&line)
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("error: {e}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Prints the policy format's JSON Schema, for `# yaml-language-server: $schema=…`.
pub(super) fn schema() -> Result<ExitCode> {
    let text = serde_json::to_string_pretty(&policy::schema()).context("rendering the schema")?;
    print_stdout(&text)
}

/// Writes a line to stdout; a closed pipe (`imagectl schema | head`) is not an error.
fn print_stdout(text: &str) -> Result<ExitCode> {
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(ExitCode::SUCCESS),
    }
}
