//! Output helpers shared by the commands: docker-style sizes and ages, Go templates with
//! docker's `json`/`table` conventions, and tab-aligned tables.

use anyhow::{Context, Result};
use jiff::Timestamp;
use serde::Serialize;

/// Sizes as docker prints them: SI units, three significant digits (`7.4MB`, `187MB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{}{}", three_significant(value), UNITS[unit])
}

/// `%.3g` without exponent for the values `human_size` produces (below 1000).
fn three_significant(v: f64) -> String {
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    // Rounding can carry into a fourth digit (999.5 → "1000"); good enough for display.
    s
}

/// A command's `--format json` report: one pretty JSON document on stdout. A closed pipe
/// (`| head`) is not an error.
pub fn print_json(value: &serde_json::Value) -> Result<()> {
    use std::io::Write as _;
    let text = serde_json::to_string_pretty(value).context("rendering JSON")?;
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

/// How long ago, in docker's words (`2 days ago`, `About an hour ago`).
pub fn human_ago(then: Option<Timestamp>, now: Timestamp) -> String {
    let Some(then) = then else {
        return "N/A".to_string();
    };
    let secs = now.as_second().saturating_sub(then.as_second()).max(0);
    let mins = secs / 60;
    let hours = mins / 60;
    let days = hours / 24;
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let text = if secs < 1 {
        "Less than a second".to_string()
    } else if secs == 1 {
        "1 second".to_string()
    } else if secs < 60 {
        plural(secs, "second")
    } else if mins == 1 {
        "About a minute".to_string()
    } else if mins < 60 {
        plural(mins, "minute")
    } else if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        plural(hours, "hour")
    } else if days < 14 {
        plural(days, "day")
    } else if days < 60 {
        plural(days / 7, "week")
    } else if days < 730 {
        plural(days / 30, "month")
    } else {
        plural(days / 365, "year")
    };
    format!("{text} ago")
}

/// A parsed `--format`: docker's `json`, `table …` or a plain Go template.
pub enum Format {
    /// One JSON object per line.
    Json,
    /// A Go template, optionally rendered as an aligned table with a header.
    Template {
        /// The parsed template.
        template: gotmpl::Template,
        /// `table` prefix given.
        table: bool,
    },
}

impl Format {
    /// Parse `--format`; `None` means the command's default table.
    pub fn parse(spec: Option<&str>) -> Result<Option<Self>> {
        let Some(spec) = spec else { return Ok(None) };
        if spec == "json" || spec == "{{json .}}" {
            return Ok(Some(Self::Json));
        }
        let (src, table) = match spec.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
                (rest.trim_start(), true)
            }
            _ => (spec, false),
        };
        if table && src.is_empty() {
            return Ok(None);
        }
        let src = src.replace("\\t", "\t").replace("\\n", "\n");
        let template = template(&src)?;
        Ok(Some(Self::Template { template, table }))
    }

    /// Render rows; for a table, `header` is rendered through the same template first.
    pub fn render<T: Serialize>(&self, rows: &[T], header: Option<&T>) -> Result<String> {
        match self {
            Self::Json => {
                let mut out = String::new();
                for r in rows {
                    out.push_str(&serde_json::to_string(r)?);
                    out.push('\n');
                }
                Ok(out)
            }
            Self::Template { template, table } => {
                let mut lines = Vec::new();
                if let (true, Some(h)) = (*table, header) {
                    lines.push(execute(template, h)?);
                }
                for r in rows {
                    lines.push(execute(template, r)?);
                }
                if *table {
                    let cells: Vec<Vec<String>> = lines
                        .iter()
                        .map(|l| l.split('\t').map(str::to_string).collect())
                        .collect();
                    Ok(align(&cells))
                } else {
                    Ok(lines.iter().map(|l| format!("{l}\n")).collect())
                }
            }
        }
    }
}

/// A Go template with docker's helper functions (`json`, `join`, `lower`, `upper`,
/// `title`, `split`, `truncate`, `pad`).
pub fn template(src: &str) -> Result<gotmpl::Template> {
    use gotmpl::Value;
    let s = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    // docker's templates fail on a field the data lacks (`map has no entry for key`);
    // printing `<no value>` would hide a typo in a script's format.
    gotmpl::Template::new("format")
        .missing_key(gotmpl::MissingKey::Error)
        .func("json", |args: &[Value]| {
            let v = args.first().map(to_json).unwrap_or(serde_json::Value::Null);
            Ok(Value::from(serde_json::to_string(&v).unwrap_or_default()))
        })
        .func("join", move |args: &[Value]| {
            let sep = args.get(1).map(s).unwrap_or_default();
            let items: Vec<String> = match args.first() {
                Some(Value::List(items)) => items.iter().map(s).collect(),
                Some(v) => vec![s(v)],
                None => vec![],
            };
            Ok(Value::from(items.join(&sep)))
        })
        .func("lower", move |args: &[Value]| {
            Ok(Value::from(
                args.first().map(s).unwrap_or_default().to_lowercase(),
            ))
        })
        .func("upper", move |args: &[Value]| {
            Ok(Value::from(
                args.first().map(s).unwrap_or_default().to_uppercase(),
            ))
        })
        .func("title", move |args: &[Value]| {
            let t = args.first().map(s).unwrap_or_default();
            let mut c = t.chars();
            Ok(Value::from(match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }))
        })
        .func("split", move |args: &[Value]| {
            let t = args.first().map(s).unwrap_or_default();
            let sep = args.get(1).map(s).unwrap_or_default();
            Ok(Value::List(
                t.split(sep.as_str())
                    .map(|p| Value::from(p.to_string()))
                    .collect(),
            ))
        })
        .func("truncate", move |args: &[Value]| {
            let t = args.first().map(s).unwrap_or_default();
            let n = args.get(1).and_then(|v| v.as_int()).unwrap_or(0).max(0) as usize;
            Ok(Value::from(t.chars().take(n).collect::<String>()))
        })
        .func("pad", move |args: &[Value]| {
            let t = args.first().map(s).unwrap_or_default();
            let l = args.get(1).and_then(|v| v.as_int()).unwrap_or(0).max(0) as usize;
            let r = args.get(2).and_then(|v| v.as_int()).unwrap_or(0).max(0) as usize;
            Ok(Value::from(format!(
                "{}{t}{}",
                " ".repeat(l),
                " ".repeat(r)
            )))
        })
        .parse(src)
        .with_context(|| format!("invalid --format template {src:?}"))
}

/// Render `data` (any serde value) through `template`.
pub fn execute<T: Serialize + ?Sized>(template: &gotmpl::Template, data: &T) -> Result<String> {
    let value = gotmpl::to_value(data).context("preparing template data")?;
    template
        .execute_to_string(&value)
        .context("--format template failed")
}

fn to_json(v: &gotmpl::Value) -> serde_json::Value {
    use gotmpl::Value;
    match v {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Uint(u) => (*u).into(),
        Value::Float(f) => (*f).into(),
        Value::String(s) => s.to_string().into(),
        Value::List(items) => items.iter().map(to_json).collect(),
        Value::Map(m) => m
            .iter()
            .map(|(k, v)| (k.to_string(), to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other.to_string().into(),
    }
}

/// Left-aligned columns separated by three spaces, like docker's tabwriter output.
pub fn align(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Shorten `s` to `n` characters with an ellipsis, as docker truncates long cells.
pub fn ellipsis(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1234), "1.23kB");
        assert_eq!(human_size(7_400_000), "7.4MB");
        assert_eq!(human_size(187_430_000), "187MB");
        assert_eq!(human_size(1_000_000_000), "1GB");
    }

    #[test]
    fn ages_like_docker() {
        let now: Timestamp = "2026-11-28T12:00:00Z".parse().unwrap();
        let ago = |s: i64| {
            human_ago(
                Some(now.checked_sub(jiff::SignedDuration::from_secs(s)).unwrap()),
                now,
            )
        };
        assert_eq!(ago(30), "30 seconds ago");
        assert_eq!(ago(90), "About a minute ago");
        assert_eq!(ago(3700), "About an hour ago");
        assert_eq!(ago(5 * 3600), "5 hours ago");
        assert_eq!(ago(3 * 86400), "3 days ago");
        assert_eq!(ago(21 * 86400), "3 weeks ago");
        assert_eq!(ago(400 * 86400), "13 months ago");
        assert_eq!(ago(800 * 86400), "2 years ago");
        assert_eq!(human_ago(None, now), "N/A");
    }

    #[test]
    fn templates_and_tables() {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Row {
            repository: String,
            tag: String,
        }
        let rows = [Row {
            repository: "nginx".into(),
            tag: "1.25".into(),
        }];
        let f = Format::parse(Some("{{.Repository}}:{{.Tag}}"))
            .unwrap()
            .unwrap();
        assert_eq!(f.render(&rows, None).unwrap(), "nginx:1.25\n");
        let f = Format::parse(Some("table {{.Repository}}\\t{{.Tag}}"))
            .unwrap()
            .unwrap();
        let header = Row {
            repository: "REPOSITORY".into(),
            tag: "TAG".into(),
        };
        assert_eq!(
            f.render(&rows, Some(&header)).unwrap(),
            "REPOSITORY   TAG\nnginx        1.25\n"
        );
        let f = Format::parse(Some("{{json .}}")).unwrap().unwrap();
        assert_eq!(
            f.render(&rows, None).unwrap(),
            "{\"Repository\":\"nginx\",\"Tag\":\"1.25\"}\n"
        );
        let f = Format::parse(Some("{{json .Tag}} {{upper .Repository}}"))
            .unwrap()
            .unwrap();
        assert_eq!(f.render(&rows, None).unwrap(), "\"1.25\" NGINX\n");
        assert!(Format::parse(Some("{{.Repository")).is_err());
    }
}
