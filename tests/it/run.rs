//! `imagectl run`, the periodic mode: each tick re-reads the policy and applies it, an
//! invalid policy keeps the last good one, signals stop or trigger runs safely, one daemon
//! per store, jitter spreads hosts, and the metrics and reports describe every run.

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::cli::imagectl_process;
use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::fixtures::{self, MediaFormat, app_image, push_image_http};
use crate::support::http;
use crate::support::prom;
use crate::support::registry::dead_port;
use crate::support::{Registry, TestEnv};

/// Every second: ticks come fast enough for a test.
const EVERY_SECOND: &str = "* * * * * *";
/// Once a year: only the first run (at start) and SIGHUP run.
const YEARLY: &str = "0 0 1 1 *";

/// A running `imagectl run`, killed if the test ends first.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(env: &TestEnv, policy: &Path, args: &[&str]) -> Daemon {
        let log = env.root.path().join(format!(
            "run-{}.log",
            fixtures::sha256_digest(format!("{:?}{args:?}", Instant::now()).as_bytes())
        ));
        let child = imagectl_process(&env.store, &env.home)
            .args(["run", "-f", policy.to_str().unwrap()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let end = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < end,
                "imagectl run did not exit within {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `cond` every 100 ms until it holds; fail with `what` and the daemon's log.
fn wait_for(what: &str, daemon: &Daemon, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < end,
            "timed out waiting for {what}:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The store's names; none before the store exists.
fn store_refs(store: &Path) -> Vec<String> {
    if store.join("index.json").exists() {
        crate::support::cli::store_refs(store)
    } else {
        Vec::new()
    }
}

fn policy_for(repo: &str, tag: &str) -> String {
    format!(
        "version: 1\nimages:\n  - name: {repo}\n    tags: [\"{tag}\"]\nprune:\n  unmanaged: remove\n"
    )
}

fn last_run(env: &TestEnv) -> Option<serde_json::Value> {
    let bytes = std::fs::read(env.store.join(".imagectl/last-run.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The port of the `/metrics` listener the daemon logged
/// (`serving /metrics and /healthz on http://127.0.0.1:PORT`).
fn metrics_port(log: &str) -> Option<u16> {
    let rest = log.split_once("/healthz on http://")?.1;
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect();
    addr.rsplit_once(':')?.1.parse().ok()
}

fn scrape(port: u16, openmetrics: bool) -> Vec<prom::Sample> {
    let host = format!("127.0.0.1:{port}");
    let accept = if openmetrics {
        "application/openmetrics-text; version=1.0.0"
    } else {
        "text/plain"
    };
    let resp = http::request(&host, "GET", "/metrics", &[("Accept", accept)], None, &[]).unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    prom::parse(&resp.text(), openmetrics)
}

fn two_versions() -> (Registry, String) {
    let reg = Registry::start();
    for v in ["1.0.0", "1.1.0"] {
        push_image_http(&reg, "demo/app", v, &app_image(v, MediaFormat::Oci));
    }
    let repo = reg.reference("demo/app");
    (reg, repo)
}

/// A tick applies a policy changed on disk: the daemon pulls what the new policy names,
/// removes what it no longer wants, and counts a new policy generation.
#[test]
fn tick_applies_a_policy_change_made_on_disk() {
    let (_reg, repo) = two_versions();
    let env = TestEnv::new();
    let policy = env.write_policy(&policy_for(&repo, "1.0.0"));
    let daemon = Daemon::start(&env, &policy, &["--schedule", EVERY_SECOND]);
    wait_for(
        "1.0.0 in the store",
        &daemon,
        Duration::from_secs(30),
        || store_refs(&env.store).contains(&format!("{repo}:1.0.0")),
    );

    env.write_policy(&policy_for(&repo, "1.1.0"));
    wait_for(
        "1.1.0 replacing 1.0.0",
        &daemon,
        Duration::from_secs(30),
        || store_refs(&env.store) == vec![format!("{repo}:1.1.0")],
    );
    wait_for(
        "a report of generation 2",
        &daemon,
        Duration::from_secs(10),
        || {
            last_run(&env)
                .is_some_and(|r| r["policy"]["generation"] == 2 && r["names"]["missing"] == 0)
        },
    );
    let log = daemon.log();
    assert!(log.contains("policy changed: now generation 2"), "{log}");
    assert!(log.contains(&format!("pull {repo}:1.1.0")), "{log}");
}

/// An invalid policy keeps the last good one running and says so in the log, the report and
/// the metrics (which parse with Prometheus' OpenMetrics and classic parsers, and whose
/// counters move run after run); a fixed policy clears the flag.
#[test]
fn invalid_policy_keeps_the_last_good_one_and_shows_in_metrics() {
    let (_reg, repo) = two_versions();
    let env = TestEnv::new();
    let policy = env.write_policy(&policy_for(&repo, "1.0.0"));
    let textfile = env.root.path().join("imagectl.prom");
    // Port 0: the daemon binds a free port itself and logs it (a port picked by the test
    // could be taken by another test before the daemon binds it).
    let daemon = Daemon::start(
        &env,
        &policy,
        &[
            "--schedule",
            EVERY_SECOND,
            "--metrics-listen",
            "127.0.0.1:0",
            "--metrics-file",
            textfile.to_str().unwrap(),
        ],
    );
    wait_for(
        "the metrics address in the log",
        &daemon,
        Duration::from_secs(30),
        || metrics_port(&daemon.log()).is_some(),
    );
    let port = metrics_port(&daemon.log()).unwrap();
    wait_for(
        "a first successful run",
        &daemon,
        Duration::from_secs(30),
        || last_run(&env).is_some_and(|r| r["result"] == "success"),
    );
    let first = scrape(port, true);
    assert_eq!(
        prom::value(&first, "imagectl_policy_load_failed", &[]),
        Some(0.0)
    );
    assert_eq!(
        prom::value(&first, "imagectl_policy_generation", &[]),
        Some(1.0)
    );
    let runs_before = prom::sum(&first, "imagectl_runs_total");
    assert!(runs_before >= 1.0);
    assert!(prom::value(&first, "imagectl_store_bytes", &[]).unwrap() > 0.0);

    // A syntax error and an unknown key: both refused, the store left as it is.
    env.write_policy("version: 1\nimages:\n  - name: [oops\nbogus: 1\n");
    wait_for(
        "the load failure in the metrics",
        &daemon,
        Duration::from_secs(30),
        || prom::value(&scrape(port, true), "imagectl_policy_load_failed", &[]) == Some(1.0),
    );
    wait_for(
        "a report saying the load failed",
        &daemon,
        Duration::from_secs(10),
        || {
            last_run(&env)
                .is_some_and(|r| r["policy"]["load_failed"] == true && r["result"] == "success")
        },
    );
    // Scraped once a run on the refused policy has finished (its report is written after
    // its counters move); the gauge flips when the tick starts, before the run counts.
    let during = scrape(port, true);
    assert!(prom::value(&during, "imagectl_policy_load_failures_total", &[]).unwrap() >= 1.0);
    assert_eq!(store_refs(&env.store), vec![format!("{repo}:1.0.0")]);
    assert!(
        daemon
            .log()
            .contains("keeping the last good policy (generation 1)"),
        "{}",
        daemon.log()
    );
    // Runs go on, and their counters move.
    let runs_during = prom::sum(&during, "imagectl_runs_total");
    assert!(runs_during > runs_before, "{runs_during} > {runs_before}");
    let requests = |s: &[prom::Sample]| prom::sum(s, "imagectl_registry_requests_total");
    assert!(requests(&during) > requests(&first));
    assert_eq!(
        prom::value(
            &during,
            "imagectl_actions_total",
            &[("kind", "pull"), ("outcome", "ok")]
        ),
        Some(1.0)
    );

    // The textfile parses with the classic parser node_exporter uses.
    let text = prom::parse(&std::fs::read_to_string(&textfile).unwrap(), false);
    assert!(prom::sum(&text, "imagectl_runs_total") >= 1.0);
    assert!(
        text.iter()
            .any(|s| s.name == "imagectl_runs_total" && s.kind == "counter")
    );

    env.write_policy(&policy_for(&repo, "1.1.0"));
    wait_for(
        "the fixed policy applied",
        &daemon,
        Duration::from_secs(30),
        || {
            let m = scrape(port, true);
            prom::value(&m, "imagectl_policy_load_failed", &[]) == Some(0.0)
                && prom::value(&m, "imagectl_policy_generation", &[]) == Some(2.0)
                && store_refs(&env.store) == vec![format!("{repo}:1.1.0")]
        },
    );
    let health = http::get(&format!("127.0.0.1:{port}"), "/healthz").unwrap();
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
}

/// SIGTERM in the middle of a pull ends the daemon with exit 0 promptly; the store passes
/// fsck, shows no part of the image, and a later run completes it.
#[test]
fn sigterm_mid_pull_leaves_a_clean_store() {
    let reg = Registry::start();
    let big = fixtures::big_image("data", 3, 2 << 20, 300);
    fixtures::push_image(&reg, &big, "demo/big:1", MediaFormat::Oci);
    let proxy = FaultProxy::start(&reg.host());
    proxy.add(Rule::new(
        "GET",
        "/blobs/",
        Fault::Stall(100_000, Duration::from_secs(30)),
    ));
    let repo = format!("{}/demo/big", proxy.host());
    let env = TestEnv::new();
    let policy = env.write_policy(&policy_for(&repo, "1"));
    let mut daemon = Daemon::start(&env, &policy, &["--schedule", YEARLY]);
    wait_for(
        "a stalled blob download",
        &daemon,
        Duration::from_secs(30),
        || proxy.max_stalled() > 0,
    );
    let sent = Instant::now();
    daemon.signal(libc::SIGTERM);
    // Well before the 30 s stall ends (so the run was abandoned, not waited out), with room
    // for a loaded machine.
    let status = daemon.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{}", daemon.log());
    assert!(sent.elapsed() < Duration::from_secs(20));
    assert!(
        daemon.log().contains("abandoning the current run"),
        "{}",
        daemon.log()
    );
    assert_eq!(store_refs(&env.store), Vec::<String>::new());
    env.imagectl().arg("fsck").assert().success();
    let report = last_run(&env).expect("a report of the interrupted run");
    assert_eq!(report["result"], "interrupted");

    proxy.clear();
    let out = env.run(&["run", "--once", "-f", policy.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(store_refs(&env.store), vec![format!("{repo}:1")]);
    env.imagectl().arg("fsck").assert().success();
}

/// SIGHUP re-reads the policy and runs at once, long before the next scheduled tick.
#[test]
fn sighup_triggers_a_run() {
    let (_reg, repo) = two_versions();
    let env = TestEnv::new();
    let policy = env.write_policy(&policy_for(&repo, "1.0.0"));
    let daemon = Daemon::start(&env, &policy, &["--schedule", YEARLY]);
    wait_for("the first run", &daemon, Duration::from_secs(30), || {
        last_run(&env).is_some_and(|r| r["result"] == "success")
    });
    env.write_policy(&policy_for(&repo, "1.1.0"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        store_refs(&env.store),
        vec![format!("{repo}:1.0.0")],
        "no tick before SIGHUP"
    );
    daemon.signal(libc::SIGHUP);
    wait_for(
        "the run SIGHUP asked for",
        &daemon,
        Duration::from_secs(30),
        || store_refs(&env.store) == vec![format!("{repo}:1.1.0")],
    );
    assert!(
        daemon
            .log()
            .contains("SIGHUP: re-reading the policy and running now")
    );
}

/// One daemon per store: a second one exits 1 naming the first one's pid.
#[test]
fn second_daemon_says_who_holds_the_store() {
    let (_reg, repo) = two_versions();
    let env = TestEnv::new();
    let policy = env.write_policy(&policy_for(&repo, "1.0.0"));
    let first = Daemon::start(&env, &policy, &["--schedule", YEARLY]);
    wait_for(
        "the first daemon's run",
        &first,
        Duration::from_secs(30),
        || last_run(&env).is_some(),
    );
    let out = env
        .imagectl()
        .args(["run", "-f", policy.to_str().unwrap(), "--schedule", YEARLY])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("pid {}", first.child.id()))
            && err.contains("already keeps the store"),
        "{err}"
    );
}

/// Jitter spreads hosts' first runs over the window, each host at an offset that survives a
/// restart; logs in JSON are one object per line.
#[test]
fn jitter_spreads_first_ticks_over_the_window() {
    let (_reg, repo) = two_versions();
    let window = 8.0;
    let envs: Vec<TestEnv> = (0..8).map(|_| TestEnv::new()).collect();
    let started = jiff::Timestamp::now();
    let daemons: Vec<Daemon> = envs
        .iter()
        .map(|env| {
            let policy = env.write_policy(&policy_for(&repo, "1.0.0"));
            Daemon::start(
                env,
                &policy,
                &[
                    "--schedule",
                    YEARLY,
                    "--jitter",
                    "8s",
                    "--log-format",
                    "json",
                ],
            )
        })
        .collect();
    let offset_of = |log: &str| -> f64 {
        log.lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
            })
            .find_map(|v| v["fields"]["offset_seconds"].as_f64())
            .expect("a start line with the offset")
    };
    let mut offsets = Vec::new();
    for (env, d) in envs.iter().zip(&daemons) {
        wait_for("every host's first run", d, Duration::from_secs(60), || {
            last_run(env).is_some()
        });
        let at: jiff::Timestamp = last_run(env).unwrap()["started"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let first = at.duration_since(started).as_secs_f64();
        let offset = offset_of(&d.log());
        // Each host waits its own offset before its first run (it started after `started`,
        // so no earlier; 10 ms for the report's rounding), and then runs (slack for
        // starting eight processes under load).
        assert!(
            (0.0..window).contains(&offset) && first >= offset - 0.01 && first < window + 5.0,
            "first run at {first} s with an offset of {offset} s"
        );
        offsets.push(offset);
    }
    // The offsets come from each store's (random temporary) path, uniform over the window:
    // the range of 8 falls under an eighth of it with probability 8w^7 - 7w^8 = 3.4e-6
    // (w = 1/8); the hosts' first runs follow them, as asserted above.
    offsets.sort_by(f64::total_cmp);
    let spread = offsets[offsets.len() - 1] - offsets[0];
    assert!(spread > window / 8.0, "offsets {offsets:?} s");

    let before = offset_of(&daemons[0].log());
    drop(daemons);
    let again = Daemon::start(
        &envs[0],
        &envs[0].root.path().join("policy.yaml"),
        &[
            "--schedule",
            YEARLY,
            "--jitter",
            "8s",
            "--log-format",
            "json",
        ],
    );
    wait_for(
        "the restarted daemon's start line",
        &again,
        Duration::from_secs(20),
        || again.log().contains("offset_seconds"),
    );
    assert_eq!(offset_of(&again.log()), before);
}

/// `apply --report --metrics-file`: the report lists each action with its outcome and
/// duration and the registry's request counts; the textfile parses; `status` reads the
/// daemon's last run.
#[test]
fn apply_writes_report_and_metrics_and_status_reads_the_last_run() {
    let (reg, repo) = two_versions();
    let env = TestEnv::new();
    let policy = env.write_policy(&policy_for(&repo, "1.0.0"));
    let report = env.root.path().join("report.json");
    let metrics = env.root.path().join("apply.prom");
    let out = env
        .imagectl()
        .args(["apply", "--yes", "-f", policy.to_str().unwrap()])
        .args([
            "--report",
            report.to_str().unwrap(),
            "--metrics-file",
            metrics.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["command"], "apply");
    assert_eq!(r["result"], "success");
    assert_eq!(r["actions"][0]["action"], "pull");
    assert_eq!(r["actions"][0]["outcome"], "ok");
    assert!(r["actions"][0]["seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(r["names"]["wanted"], 1);
    assert_eq!(r["names"]["present"], 1);
    let ok = r["registry_requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["registry"] == reg.host() && c["class"] == "2xx")
        .expect("2xx requests to the registry");
    assert!(ok["requests"].as_u64().unwrap() >= 3);
    let text = prom::parse(&std::fs::read_to_string(&metrics).unwrap(), false);
    assert_eq!(
        prom::value(
            &text,
            "imagectl_actions_total",
            &[("kind", "pull"), ("outcome", "ok")]
        ),
        Some(1.0)
    );
    assert_eq!(
        prom::value(&text, "imagectl_last_run_success", &[]),
        Some(1.0)
    );

    let out = env.imagectl().arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "no daemon ran yet");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run of `imagectl run` is recorded"));
    env.write_policy(&policy_for(&repo, "1.1.0"));
    env.imagectl()
        .args(["run", "--once", "-f", policy.to_str().unwrap()])
        .assert()
        .success();
    let out = env.imagectl().arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("success"), "{text}");
    assert!(text.contains("1 pulled"), "{text}");
    assert!(text.contains("1 removed"), "{text}");
    assert!(text.contains("Failed:    nothing"), "{text}");
    assert!(text.contains("1 wanted, 1 present, 0 missing"), "{text}");
}

/// A failing run (the registry is down) does not stop the loop: the daemon retries with
/// growing waits long before the next scheduled tick, and each failure is reported.
#[test]
fn failing_runs_back_off_and_the_loop_goes_on() {
    let env = TestEnv::new();
    let refusing = dead_port();
    let repo = format!("127.0.0.1:{}/demo/app", refusing.port());
    let policy = env.write_policy(&policy_for(&repo, "1.0.0"));
    let mut daemon = Daemon::start(
        &env,
        &policy,
        &[
            "--schedule",
            YEARLY,
            "--backoff",
            "1s",
            "--max-backoff",
            "2s",
        ],
    );
    let failures = |log: &str| log.matches("run finished: failure").count();
    wait_for(
        "three failed runs",
        &daemon,
        Duration::from_secs(30),
        || failures(&daemon.log()) >= 3,
    );
    let report = last_run(&env).unwrap();
    assert_eq!(report["result"], "failure");
    assert!(
        report["failures"][0].as_str().unwrap().contains(&repo),
        "{report}"
    );
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "the daemon stopped"
    );
    daemon.signal(libc::SIGTERM);
    assert!(daemon.wait_exit(Duration::from_secs(10)).success());
}
