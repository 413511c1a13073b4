//! Reading a finished command's output: one definition of the helpers every test file used
//! to write for itself.

use std::process::Output;

/// stdout, lossily decoded.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr, lossily decoded.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// stdout then stderr, whatever the exit code.
pub fn text(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// stdout of a command that must have succeeded (stderr is the failure message otherwise).
pub fn stdout_ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out)
}

/// stdout of a command that must have succeeded; the failure names it (`what`) and shows
/// both streams.
pub fn stdout_ok_as(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// Running a command to completion, whatever its exit code; panics only if it cannot start.
pub trait RunExt {
    /// The finished command's output.
    fn capture(&mut self) -> Output;
}

impl RunExt for assert_cmd::Command {
    fn capture(&mut self) -> Output {
        self.output().expect("start the command")
    }
}

impl RunExt for std::process::Command {
    fn capture(&mut self) -> Output {
        self.output().expect("start the command")
    }
}
