//! `imagectl validate` and `imagectl schema`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};

use super::args::Cli;

pub(super) fn validate(_cli: &Cli, file: &Path) -> Result<ExitCode> {
    bail!(
        "policy validation of {} is not available in this build",
        file.display()
    )
}

pub(super) fn schema() -> Result<ExitCode> {
    bail!("the policy schema is not available in this build")
}
