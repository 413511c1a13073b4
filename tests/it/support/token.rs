//! A hand-made token server (the `realm` of a `Bearer` challenge) for a real registry with
//! `auth: token:`: it checks Basic credentials and issues RS256 JWTs signed with a
//! self-signed certificate (made and used through `openssl`) that the registry trusts as
//! its `rootcertbundle`. No registry package ships a token server, hence this one.
//!
//! ```ignore
//! let ts = TokenServer::start("alice", "pw");
//! let reg = Registry::builder().extra_yaml(&ts.registry_yaml()).start();
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use super::http::base64_encode;

/// The `service` the registry names in its challenge (the tokens' audience).
pub const SERVICE: &str = "imagectl-it-registry";
/// The tokens' issuer, which the registry checks.
const ISSUER: &str = "imagectl-it-token-server";

/// One token request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The `scope` query parameters, in order.
    pub scopes: Vec<String>,
    /// The user of the Basic credentials sent, if any.
    pub user: Option<String>,
    /// The HTTP status answered (200 or 401).
    pub status: u16,
    /// The token issued (200 only).
    pub token: Option<String>,
}

struct Shared {
    user: String,
    pass: String,
    key: PathBuf,
    cert_der_b64: String,
    requests: Mutex<Vec<TokenRequest>>,
    seq: AtomicU64,
    /// Seconds a token is valid for (`exp` and `expires_in`).
    lifetime: AtomicU64,
}

/// The server; it stops accepting when dropped.
pub struct TokenServer {
    port: u16,
    dir: tempfile::TempDir,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
}

impl TokenServer {
    /// Listen on a free loopback port, granting tokens to `user`/`pass` only.
    pub fn start(user: &str, pass: &str) -> TokenServer {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        let ok = crate::support::tools::tool("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=imagectl-it-token-signer", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .expect("run openssl");
        assert!(ok.success(), "openssl req failed");
        let der = crate::support::tools::tool("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .expect("run openssl");
        assert!(der.status.success());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            user: user.to_string(),
            pass: pass.to_string(),
            key,
            cert_der_b64: base64_encode(&der.stdout),
            requests: Mutex::default(),
            seq: AtomicU64::new(0),
            lifetime: AtomicU64::new(300),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (shared.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let s = s.clone();
                    thread::spawn(move || {
                        let _ = serve(conn, &s);
                    });
                }
            }
        });
        TokenServer {
            port,
            dir,
            shared,
            stop,
        }
    }

    /// The `auth: token:` section for the registry's config.
    pub fn registry_yaml(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            self.port,
            self.dir.path().join("cert.pem").display()
        )
    }

    /// Issue tokens valid for `secs` from now on (300 by default).
    pub fn set_lifetime(&self, secs: u64) {
        self.shared.lifetime.store(secs, Ordering::SeqCst);
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Every token issued so far.
    pub fn tokens(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter_map(|r| r.token)
            .collect()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(conn: TcpStream, s: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let mut auth = None;
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "authorization" => auth = Some(v.trim().to_string()),
                "content-length" => len = v.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let target = first.split(' ').nth(1).unwrap_or_default();
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let scopes: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .collect();
    let expected = format!(
        "Basic {}",
        base64_encode(format!("{}:{}", s.user, s.pass).as_bytes())
    );
    let user = auth.as_deref().and_then(basic_user);
    let mut conn = conn;
    if auth.as_deref() != Some(expected.as_str()) {
        s.requests.lock().unwrap().push(TokenRequest {
            scopes,
            user,
            status: 401,
            token: None,
        });
        let msg = b"{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}";
        write!(
            conn,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            msg.len()
        )?;
        return conn.write_all(msg);
    }
    let token = jwt(s, &scopes);
    s.requests.lock().unwrap().push(TokenRequest {
        scopes,
        user,
        status: 200,
        token: Some(token.clone()),
    });
    let lifetime = s.lifetime.load(Ordering::SeqCst);
    let body = serde_json::json!({ "token": token, "expires_in": lifetime }).to_string();
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn basic_user(header: &str) -> Option<String> {
    use base64::Engine;
    let b64 = header.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    Some(text.split_once(':')?.0.to_string())
}

/// An RS256 JWT granting every action asked for in `scopes` (`repository:NAME:ACTIONS`).
fn jwt(s: &Shared, scopes: &[String]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|scope| {
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(serde_json::json!({
                "type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()
            }))
        })
        .collect();
    let header = serde_json::json!({ "typ": "JWT", "alg": "RS256", "x5c": [s.cert_der_b64] });
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": s.user, "aud": SERVICE,
        // The registry accepts a token until 60 s past `exp` (distribution's clock-skew
        // leeway), so `exp` is set that much earlier: the token dies after `lifetime`.
        "exp": (now + s.lifetime.load(Ordering::SeqCst)).saturating_sub(60),
        "nbf": now - 10, "iat": now - 10,
        "jti": format!("jti-{}", s.seq.fetch_add(1, Ordering::SeqCst)),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let sig = sign(&s.key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(&sig))
}

fn sign(key: &Path, data: &[u8]) -> Vec<u8> {
    let mut child = crate::support::tools::tool("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run openssl");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl dgst -sign failed");
    out.stdout
}

fn b64url(data: &[u8]) -> String {
    base64_encode(data)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}
