//! A Docker Engine that cannot be used: not running, a stale socket, a host imagectl does
//! not speak, an API too old. One line each that says what to do, exit 1.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;

use crate::support::TestEnv;
use crate::support::cli::imagectl_with_home;

fn fails_in_one_line(env: &TestEnv, store: &str, args: &[&str]) -> String {
    let out = imagectl_with_home(std::path::Path::new(store), &env.home)
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

/// No socket at all: says dockerd may not be running and how to point imagectl elsewhere.
#[test]
fn missing_socket() {
    let env = TestEnv::new();
    let sock = env.root.path().join("nothing.sock");
    let err = fails_in_one_line(
        &env,
        &format!("docker:unix://{}", sock.display()),
        &["images"],
    );
    assert!(err.contains("is dockerd running"), "{err}");
    assert!(err.contains("DOCKER_HOST"), "{err}");
}

/// A socket file nobody listens on (dockerd died): connection refused, is dockerd running.
#[test]
fn stale_socket() {
    let env = TestEnv::new();
    let sock = env.root.path().join("stale.sock");
    drop(UnixListener::bind(&sock).unwrap());
    let err = fails_in_one_line(
        &env,
        &format!("docker:unix://{}", sock.display()),
        &["images"],
    );
    assert!(err.contains("is dockerd running"), "{err}");
}

/// A host scheme imagectl does not speak is named with the ones it does.
#[test]
fn unsupported_host() {
    let env = TestEnv::new();
    let err = fails_in_one_line(&env, "docker:ssh://build@host", &["images"]);
    assert!(err.contains("unix:///PATH"), "{err}");
}

/// An Engine older than API 1.41 (Docker 20.10) is refused, naming both versions. The
/// server is hand-made: no Engine that old is packaged here.
#[test]
fn api_too_old() {
    let env = TestEnv::new();
    let sock = env.root.path().join("old.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let body = r#"{"Version":"19.03.15","ApiVersion":"1.40","MinAPIVersion":"1.12"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let err = fails_in_one_line(
        &env,
        &format!("docker:unix://{}", sock.display()),
        &["images"],
    );
    assert!(err.contains("1.40") && err.contains("1.41"), "{err}");
}
