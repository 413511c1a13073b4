//! Cron lines (croner) evaluated in a time zone (jiff), so daylight-saving changes move
//! ticks the way a system cron moves them.

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// A cron line that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The line does not parse.
    #[error(
        "{line:?} is not a cron schedule ({reason}): write 5 fields (minute hour day-of-month month day-of-week), e.g. \"0 */6 * * *\", or @hourly/@daily"
    )]
    Invalid {
        /// The line as given.
        line: String,
        /// croner's complaint.
        reason: String,
    },
    /// The line parses but never fires again (e.g. 30 February).
    #[error("the schedule {line:?} never fires after {after}: choose a date that exists")]
    Never {
        /// The line as given.
        line: String,
        /// The instant searched from.
        after: Timestamp,
    },
}

/// A parsed cron line.
#[derive(Clone, Debug)]
pub struct Schedule {
    line: String,
    cron: croner::Cron,
}

impl Schedule {
    /// Parse a 5-field line or a nickname (`@hourly`). With `seconds`, a leading sixth
    /// field of seconds is accepted too (`*/5 * * * * *`): command-line only, for short
    /// loops in tests and simulations; policies keep cron's 5 fields.
    pub fn parse(line: &str, seconds: bool) -> Result<Self, ScheduleError> {
        use croner::parser::{CronParser, Seconds, Year};
        let parser = CronParser::builder()
            .seconds(if seconds {
                Seconds::Optional
            } else {
                Seconds::Disallowed
            })
            .year(Year::Disallowed)
            .build();
        let cron = parser
            .parse(line.trim())
            .map_err(|e| ScheduleError::Invalid {
                line: line.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            line: line.trim().to_string(),
            cron,
        })
    }

    /// The line as written.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The first instant strictly after `after` that the line names, read in `tz`.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Result<Timestamp, ScheduleError> {
        let start = Zoned::new(after, tz.clone());
        self.cron
            .find_next_occurrence(&start, false)
            .map(|z| z.timestamp())
            .map_err(|_| ScheduleError::Never {
                line: self.line.clone(),
                after,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Every six hours lands on the next multiple of six in the zone, not in UTC.
    #[test]
    fn next_tick_in_a_time_zone() {
        let s = Schedule::parse("0 */6 * * *", false).unwrap();
        let paris = TimeZone::get("Europe/Paris").unwrap();
        // 2026-01-10 10:30 in Paris (UTC+1) is 09:30Z: the next tick is 12:00 Paris, 11:00Z.
        assert_eq!(
            s.next_after(ts("2026-01-10T09:30:00Z"), &paris).unwrap(),
            ts("2026-01-10T11:00:00Z")
        );
        assert_eq!(
            s.next_after(ts("2026-01-10T09:30:00Z"), &TimeZone::UTC)
                .unwrap(),
            ts("2026-01-10T12:00:00Z")
        );
    }

    /// A tick exactly at a firing instant schedules the following one, never itself.
    #[test]
    fn next_is_strictly_after() {
        let s = Schedule::parse("@hourly", false).unwrap();
        assert_eq!(
            s.next_after(ts("2026-01-10T09:00:00Z"), &TimeZone::UTC)
                .unwrap(),
            ts("2026-01-10T10:00:00Z")
        );
    }

    /// Seconds are a command-line extension only: a policy's 5-field rule refuses them.
    #[test]
    fn seconds_only_when_allowed() {
        assert!(Schedule::parse("*/5 * * * * *", false).is_err());
        let s = Schedule::parse("*/5 * * * * *", true).unwrap();
        assert_eq!(
            s.next_after(ts("2026-01-10T09:00:01Z"), &TimeZone::UTC)
                .unwrap(),
            ts("2026-01-10T09:00:05Z")
        );
        let e = Schedule::parse("61 * * * *", true).unwrap_err().to_string();
        assert!(e.contains("5 fields"), "{e}");
    }
}
