//! The imagectl binary: everything happens in `imagectl::cli`.

fn main() -> std::process::ExitCode {
    die_quietly_on_closed_stdout();
    imagectl::cli::main()
}

/// `imagectl images | head -1`: when the reader of stdout goes away, end as Unix tools do
/// (killed by SIGPIPE, no message) instead of printing a panic.
///
/// SIGPIPE itself stays ignored, as Rust starts programs: with its default disposition, a
/// registry closing a TLS connection while imagectl writes to it (a refused client
/// certificate) killed the whole process without a word. So only a failed write to stdout
/// (the panic `println!` raises on EPIPE) turns into the signal.
fn die_quietly_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        #[cfg(unix)]
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            // SAFETY: restoring SIGPIPE's default disposition and raising it ends the
            // process at once, exactly as a write to a closed pipe would.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::raise(libc::SIGPIPE);
            }
        }
        default(info);
    }));
}
