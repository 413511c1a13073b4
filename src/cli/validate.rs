//! `imagectl validate` and `imagectl schema`: reading policy files and printing their schema.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::args::ValidateFormat;
use super::format::print_json;
use crate::policy;

/// Checks a policy file or directory: one summary line on success, every problem as its
/// own `error:` line on stderr (exit 1) otherwise, so CI shows them all in one run.
pub(super) fn validate(file: &Path, format: ValidateFormat) -> Result<ExitCode> {
    let outcome = policy::load(file);
    let json = format == ValidateFormat::Json;
    if format == ValidateFormat::Github {
        return Ok(match &outcome {
            Ok(_) => ExitCode::SUCCESS,
            Err(errors) => {
                let text: String = errors.0.iter().map(github_annotation).collect();
                print_stdout(text.trim_end())?;
                ExitCode::FAILURE
            }
        });
    }
    if json {
        let (ok, images, registries, errors) = match &outcome {
            Ok(p) => (true, p.images.len(), p.registries.len(), &[][..]),
            Err(errors) => (false, 0, 0, &errors.0[..]),
        };
        print_json(&serde_json::json!({
            "file": file,
            "ok": ok,
            "images": images,
            "registries": registries,
            "errors": errors.iter().map(error_json).collect::<Vec<_>>(),
        }))?;
    }
    match outcome {
        Ok(p) if !json => {
            let line = format!(
                "{}: ok ({} images, {} registries)",
                file.display(),
                p.images.len(),
                p.registries.len()
            );
            print_stdout(&line)
        }
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("error: {e}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A policy problem for `--format json`: where (line and column 0 when it has no
/// position), which key, and what to do.
pub(super) fn error_json(e: &policy::PolicyError) -> serde_json::Value {
    serde_json::json!({
        "file": e.file,
        "line": e.line,
        "column": e.column,
        "key": e.key,
        "message": e.message,
    })
}

/// A policy problem as a GitHub Actions workflow command, which GitHub shows on the
/// file's line in the pull request. Values are escaped as the runner's `escapeData` and
/// `escapeProperty` do (`%`, CR, LF; in properties also `:` and `,`).
pub(super) fn github_annotation(e: &policy::PolicyError) -> String {
    let data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let property = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    let mut props = format!("file={}", property(&e.file.display().to_string()));
    if e.line > 0 {
        props.push_str(&format!(",line={},col={}", e.line, e.column));
    }
    props.push_str(&format!(
        ",title={}",
        property(&format!("imagectl: {}", e.key))
    ));
    format!("::error {props}::{}\n", data(&e.message))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Newlines and `%` in a message and `:`/`,` in a path are escaped as the runner
    /// expects, so one problem stays one annotation on the right file.
    #[test]
    fn github_annotation_escapes_as_the_runner_does() {
        let e = policy::PolicyError {
            file: "pol:a,b.yaml".into(),
            line: 3,
            column: 7,
            key: "images[0].keep".into(),
            message: "100% wrong\nsecond line".into(),
        };
        assert_eq!(
            github_annotation(&e),
            "::error file=pol%3Aa%2Cb.yaml,line=3,col=7,title=imagectl%3A images[0].keep::100%25 wrong%0Asecond line\n"
        );
        let whole = policy::PolicyError { line: 0, ..e };
        assert!(github_annotation(&whole).starts_with("::error file=pol%3Aa%2Cb.yaml,title="));
    }
}
