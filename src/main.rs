//! The imagectl binary: everything happens in `imagectl::cli`.

fn main() -> std::process::ExitCode {
    imagectl::cli::main()
}
