//! `imagectl plan` and `imagectl apply`.

use std::process::ExitCode;

use anyhow::{Result, bail};

use super::args::{ApplyArgs, Cli, PlanArgs};

pub(super) async fn plan(_cli: &Cli, args: &PlanArgs) -> Result<ExitCode> {
    bail!(
        "planning {} is not available in this build",
        args.file.display()
    )
}

pub(super) async fn apply(_cli: &Cli, args: &ApplyArgs) -> Result<ExitCode> {
    bail!(
        "applying {} is not available in this build",
        args.file.display()
    )
}
