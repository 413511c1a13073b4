//! The imagectl binary: everything happens in `imagectl::cli`.

fn main() -> std::process::ExitCode {
    // Die quietly on a closed pipe (`imagectl images | head -1`), as Unix tools do, instead
    // of panicking on the next println. Rust starts programs with SIGPIPE ignored.
    // SAFETY: restoring a signal's default disposition at startup, before any thread exists.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    imagectl::cli::main()
}
