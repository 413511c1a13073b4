//! A fault-injecting HTTP/1.1 proxy in front of a real registry, for the failures a real
//! registry cannot produce: connection resets, truncated and corrupted bodies, stalls, rate
//! limits, 5xx bursts and servers that ignore `Range`.
//!
//! Every request is forwarded to the upstream registry with `Connection: close`, and every
//! answer to the client carries `Connection: close` too: one request per connection keeps the
//! byte accounting of a fault exact (the client's pool simply opens a new connection).
//!
//! ```ignore
//! let reg = Registry::start();
//! let proxy = FaultProxy::start(&reg.host());
//! proxy.add(Rule::new("GET", "/blobs/", Fault::ResetAfter(1000)).times(1));
//! // pull from proxy.host() ...
//! assert!(proxy.seen().iter().any(|r| r.range.as_deref() == Some("bytes=1000-")));
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What to do to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward, then reset the connection (TCP RST) after this many body bytes.
    ResetAfter(u64),
    /// Forward, then close the connection cleanly after this many body bytes although
    /// `Content-Length` promised more.
    Truncate(u64),
    /// Forward, flipping every bit of the body byte at this offset.
    Corrupt(u64),
    /// Answer 429 with `Retry-After: 1` and Docker Hub's `ratelimit-*` headers.
    TooManyRequests,
    /// Answer this status (e.g. 503) with an empty body.
    Status(u16),
    /// Forward, sending this many body bytes, then stall for the duration before going on.
    Stall(u64, Duration),
    /// Forward without the `Range` header, so the registry answers 200 with the whole blob.
    IgnoreRange,
    /// Forward, then rewrite a 206's `Content-Range` to start one byte later than it does.
    WrongContentRange,
    /// Answer this status with these headers and an empty body (e.g. a 401 with a
    /// `WWW-Authenticate` challenge, as when a registry refuses an expired token).
    Answer(u16, Vec<(String, String)>),
    /// Answer this status with this `Content-Type` and body, as a registry with a feature
    /// the real one lacks would (the OCI referrers API).
    Serve(u16, String, Vec<u8>),
    /// [`Fault::Serve`] with more headers (e.g. a referrers page's `Link` to the next).
    ServeWith(u16, String, Vec<u8>, Vec<(String, String)>),
    /// Forward, leaving this header out of the response (e.g. `Docker-Content-Digest`,
    /// which some registries do not send on HEAD).
    StripHeader(String),
    /// Reset the connection as soon as the request was read, before any response.
    Drop,
    /// Forward unchanged (to record a request, or to let some requests through untouched).
    None,
}

/// A fault for requests whose method and path match, applied to the first `times` of them.
#[derive(Debug, Clone)]
pub struct Rule {
    method: String,
    path_contains: String,
    fault: Fault,
    remaining: Option<usize>,
}

impl Rule {
    /// A rule applied to every request with `method` whose path contains `path_contains`.
    pub fn new(method: &str, path_contains: &str, fault: Fault) -> Rule {
        Rule {
            method: method.to_string(),
            path_contains: path_contains.to_string(),
            fault,
            remaining: None,
        }
    }

    /// Apply only to the first `n` matching requests.
    pub fn times(mut self, n: usize) -> Rule {
        self.remaining = Some(n);
        self
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The client's `Range` header, if any.
    pub range: Option<String>,
    /// The fault applied to it.
    pub fault: Fault,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    seen: Vec<Seen>,
    stalls: Arc<Stalls>,
}

/// The proxy; it stops accepting when dropped.
pub struct FaultProxy {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

/// Requests currently inside a [`Fault::Stall`], and the most there were at once: a client
/// holds its side of such a request open, so this counts the client's concurrency exactly.
#[derive(Default)]
struct Stalls {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl FaultProxy {
    /// Listen on a free loopback port, forwarding to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = FaultProxy {
            port,
            state: Arc::default(),
            stop: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
        };
        let (state, stop, upstream) = (
            proxy.state.clone(),
            proxy.stop.clone(),
            upstream.to_string(),
        );
        let (in_flight, max) = (proxy.in_flight.clone(), proxy.max_in_flight.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (state, upstream) = (state.clone(), upstream.clone());
                let (in_flight, max) = (in_flight.clone(), max.clone());
                thread::spawn(move || {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    let _ = serve(conn, &upstream, &state);
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        proxy
    }

    /// `127.0.0.1:PORT`, to use as a registry host.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Add a rule; the first rule that matches (and has uses left) wins.
    pub fn add(&self, rule: Rule) {
        self.state.lock().unwrap().rules.push(rule);
    }

    /// Remove every rule: the proxy forwards faithfully from now on.
    pub fn clear(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    /// Every request seen so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Requests seen with `method` whose path contains `path_contains`.
    pub fn seen_matching(&self, method: &str, path_contains: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == method && s.path.contains(path_contains))
            .collect()
    }

    /// The most connections that were open at once.
    pub fn max_concurrent(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// The most requests that were stalled (see [`Fault::Stall`]) at the same time.
    pub fn max_stalled(&self) -> usize {
        self.state.lock().unwrap().stalls.max.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A parsed request or response head: the first line and the header lines.
struct Head {
    first: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn read(r: &mut impl BufRead) -> std::io::Result<Head> {
        let mut first = String::new();
        r.read_line(&mut first)?;
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                break;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        Ok(Head {
            first: first.trim_end().to_string(),
            headers,
        })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn remove(&mut self, name: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    fn set(&mut self, name: &str, value: &str) {
        self.remove(name);
        self.headers.push((name.to_string(), value.to_string()));
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.first);
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

fn serve(client: TcpStream, upstream: &str, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut req = Head::read(&mut reader)?;
    let mut parts = req.first.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let len: usize = req
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;

    let stalls = state.lock().unwrap().stalls.clone();
    let fault = {
        let mut st = state.lock().unwrap();
        let rule = st.rules.iter_mut().find(|r| {
            r.method == method && path.contains(&r.path_contains) && r.remaining != Some(0)
        });
        let fault = match rule {
            Some(r) => {
                if let Some(n) = &mut r.remaining {
                    *n -= 1;
                }
                r.fault.clone()
            }
            None => Fault::None,
        };
        st.seen.push(Seen {
            method: method.clone(),
            path: path.clone(),
            range: req.get("range").map(String::from),
            fault: fault.clone(),
        });
        fault
    };
    let mut client = client;
    let extra = match &fault {
        Fault::ServeWith(_, _, _, headers) => headers.clone(),
        _ => Vec::new(),
    };
    match fault {
        Fault::TooManyRequests => {
            return answer(
                &mut client,
                "429 Too Many Requests",
                &[
                    ("Retry-After", "1"),
                    ("ratelimit-limit", "100;w=21600"),
                    ("ratelimit-remaining", "0;w=21600"),
                ],
            );
        }
        Fault::Drop => {
            reset(&client);
            return Ok(());
        }
        Fault::Status(code) => return answer(&mut client, &format!("{code} Fault"), &[]),
        Fault::Answer(code, headers) => {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            return answer(&mut client, &format!("{code} Fault"), &headers);
        }
        Fault::Serve(code, content_type, body) | Fault::ServeWith(code, content_type, body, _) => {
            let mut head = format!(
                "HTTP/1.1 {code} Served\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in &extra {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            client.write_all(head.as_bytes())?;
            client.write_all(&body)?;
            return client.flush();
        }
        Fault::IgnoreRange => req.remove("range"),
        _ => {}
    }

    req.set("Connection", "close");
    req.set("Host", upstream);
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(&req.bytes())?;
    up.write_all(&body)?;
    let mut up_reader = BufReader::new(up);
    let mut resp = Head::read(&mut up_reader)?;
    resp.set("Connection", "close");
    if let Fault::StripHeader(name) = &fault {
        resp.remove(name);
    }
    if fault == Fault::WrongContentRange
        && let Some(cr) = resp.get("content-range").map(String::from)
        && let Some(rest) = cr.strip_prefix("bytes ")
        && let Some((start, tail)) = rest.split_once('-')
        && let Ok(start) = start.parse::<u64>()
    {
        resp.set("Content-Range", &format!("bytes {}-{tail}", start + 1));
    }
    client.write_all(&resp.bytes())?;

    let mut sent = 0u64;
    let mut buf = [0u8; 16 * 1024];
    let mut stalled = false;
    loop {
        let n = up_reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk_start = sent;
        // Stop exactly at a fault's offset so the client sees precisely that many bytes.
        let cut = match &fault {
            Fault::ResetAfter(k) | Fault::Truncate(k) => Some(*k),
            Fault::Stall(k, _) if !stalled => Some(*k),
            _ => None,
        };
        if let Some(k) = cut
            && chunk_start + n as u64 >= k
        {
            let keep = (k - chunk_start) as usize;
            client.write_all(&buf[..keep])?;
            client.flush()?;
            match &fault {
                Fault::ResetAfter(_) => {
                    reset(&client);
                    return Ok(());
                }
                Fault::Truncate(_) => {
                    client.shutdown(Shutdown::Both)?;
                    return Ok(());
                }
                Fault::Stall(_, d) => {
                    let now = stalls.now.fetch_add(1, Ordering::SeqCst) + 1;
                    stalls.max.fetch_max(now, Ordering::SeqCst);
                    thread::sleep(*d);
                    stalls.now.fetch_sub(1, Ordering::SeqCst);
                    stalled = true;
                    client.write_all(&buf[keep..n])?;
                    sent += n as u64;
                    continue;
                }
                _ => unreachable!(),
            }
        }
        if let Fault::Corrupt(off) = fault
            && (chunk_start..chunk_start + n as u64).contains(&off)
        {
            buf[(off - chunk_start) as usize] ^= 0xff;
        }
        client.write_all(&buf[..n])?;
        sent += n as u64;
    }
    client.flush()
}

/// Answer a request without asking the upstream.
fn answer(client: &mut TcpStream, status: &str, headers: &[(&str, &str)]) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    client.write_all(out.as_bytes())?;
    client.flush()
}

/// Close with a TCP RST instead of a FIN (SO_LINGER with a zero timeout).
fn reset(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    // Dropping every handle closes the socket; the clone in the caller's reader is dropped
    // on return as well.
}
