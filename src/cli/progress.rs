//! Pull progress: a bar per blob on a terminal, one line per finished blob otherwise,
//! nothing with `-q`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::format::human_size;
use crate::exec::PullObserver;
use crate::oci::Digest;

/// How pull reports progress.
pub enum Progress {
    /// Nothing.
    Quiet,
    /// Lines on stderr.
    Lines(Mutex<HashMap<Digest, u64>>),
    /// Bars on the terminal.
    Bars {
        /// All bars.
        multi: MultiProgress,
        /// Bar per blob in flight.
        bars: Mutex<HashMap<Digest, ProgressBar>>,
    },
}

impl Progress {
    /// Bars when stderr is a terminal, lines otherwise.
    pub fn new(quiet: bool) -> Self {
        if quiet {
            Self::Quiet
        } else if std::io::stderr().is_terminal() {
            Self::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: Mutex::new(HashMap::new()),
            }
        } else {
            Self::Lines(Mutex::new(HashMap::new()))
        }
    }

    /// Print a line without tearing the bars.
    pub fn println(&self, line: &str) {
        match self {
            Self::Bars { multi, .. } => {
                let _ = multi.println(line);
            }
            _ => println!("{line}"),
        }
    }
}

impl PullObserver for Progress {
    fn blob_started(&self, digest: &Digest, size: u64) {
        match self {
            Self::Quiet => {}
            Self::Lines(sizes) => {
                sizes.lock().unwrap().insert(digest.clone(), size);
            }
            Self::Bars { multi, bars } => {
                let bar = multi.add(ProgressBar::new(size));
                // Sizes in docker's SI units, as `images`, `history` and `df` print them
                // (indicatif's own keys are binary, or SI with another rounding).
                let style = ProgressStyle::with_template("{prefix}: {bar:30} {done}/{size} {rate}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .with_key(
                        "done",
                        |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                            let _ = w.write_str(&human_size(s.pos()));
                        },
                    )
                    .with_key(
                        "size",
                        |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                            let _ = w.write_str(&human_size(s.len().unwrap_or(0)));
                        },
                    )
                    .with_key(
                        "rate",
                        |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                            let _ = write!(w, "{}/s", human_size(s.per_sec() as u64));
                        },
                    );
                bar.set_style(style);
                bar.set_prefix(digest.short().to_string());
                bars.lock().unwrap().insert(digest.clone(), bar);
            }
        }
    }

    fn blob_progress(&self, digest: &Digest, bytes: u64) {
        if let Self::Bars { bars, .. } = self
            && let Some(bar) = bars.lock().unwrap().get(digest)
        {
            bar.inc(bytes);
        }
    }

    fn blob_restarted(&self, digest: &Digest) {
        if let Self::Bars { bars, .. } = self
            && let Some(bar) = bars.lock().unwrap().get(digest)
        {
            bar.set_position(0);
        }
    }

    fn blob_finished(&self, digest: &Digest, error: Option<&str>) {
        match self {
            Self::Quiet => {}
            Self::Lines(sizes) => {
                let size = sizes.lock().unwrap().remove(digest).unwrap_or(0);
                // A failure is reported once, on the image that needed the blob.
                if error.is_none() {
                    eprintln!("{}: Pull complete ({})", digest.short(), human_size(size));
                }
            }
            Self::Bars { bars, .. } => {
                if let Some(bar) = bars.lock().unwrap().remove(digest) {
                    match error {
                        None => bar.finish_with_message("done"),
                        Some(_) => bar.abandon(),
                    }
                    bar.finish_and_clear();
                }
            }
        }
    }
}
