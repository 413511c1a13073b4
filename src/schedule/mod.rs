//! When `imagectl run` acts: the next tick from a cron line in a time zone, a per-host
//! offset that spreads a fleet over a window, and the backoff after failed runs. Pure: the
//! clock is passed in, nothing here reads files, sleeps or talks to the network.

mod cron;
mod spread;

pub use cron::{Schedule, ScheduleError};
pub use spread::{backoff, host_offset};
