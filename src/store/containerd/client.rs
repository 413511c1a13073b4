//! Reaching containerd: one gRPC channel over its unix socket for containerd's own services
//! and the CRI services it hosts, every request tagged with the namespace (and, while
//! content is being written, the lease that keeps it from the garbage collector).

use containerd_client::tonic::transport::Channel;
use containerd_client::tonic::{Code, Request, Status};

use crate::store::StoreError;

/// Where `--store containerd` looks when no address is given and `CONTAINERD_ADDRESS` is
/// unset (as `ctr` does).
pub const DEFAULT_ADDRESS: &str = "/run/containerd/containerd.sock";
/// The namespace the kubelet's images live in; `CONTAINERD_NAMESPACE` overrides it.
pub const DEFAULT_NAMESPACE: &str = "k8s.io";

/// The address `--store containerd` means: `$CONTAINERD_ADDRESS`, else the default socket.
pub fn default_address() -> String {
    env_or("CONTAINERD_ADDRESS", DEFAULT_ADDRESS)
}

/// The namespace when none is configured: `$CONTAINERD_NAMESPACE`, else `k8s.io`.
pub fn default_namespace() -> String {
    env_or("CONTAINERD_NAMESPACE", DEFAULT_NAMESPACE)
}

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// A channel and the namespace every call is made in.
#[derive(Clone)]
pub struct Conn {
    pub channel: Channel,
    pub address: String,
    pub namespace: String,
}

impl Conn {
    /// Connect to the socket at `address` (a path, or `unix://PATH`).
    pub async fn connect(address: &str, namespace: &str) -> Result<Self, StoreError> {
        let path = address
            .strip_prefix("unix://")
            .unwrap_or(address)
            .to_string();
        let unreachable = |reason: String| {
            StoreError::Daemon(format!("cannot reach containerd at {path}: {reason}"))
        };
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(unreachable(format!(
                    "{path} does not exist (is containerd running? point --store containerd:PATH or CONTAINERD_ADDRESS at its socket)"
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(unreachable(
                    "permission denied (run as root: containerd's socket is root's)".into(),
                ));
            }
            _ => {}
        }
        let channel = containerd_client::connect(&path)
            .await
            .map_err(|e| unreachable(chain(&e)))?;
        Ok(Self {
            channel,
            address: path,
            namespace: namespace.to_string(),
        })
    }

    /// `msg` as a request in this namespace.
    pub fn req<T>(&self, msg: T) -> Request<T> {
        let mut req = Request::new(msg);
        if let Ok(ns) = self.namespace.parse() {
            req.metadata_mut().insert("containerd-namespace", ns);
        }
        req
    }

    /// `msg` as a request in this namespace under `lease`: what it creates is kept until
    /// the lease goes, however long before an image refers to it.
    pub fn leased<T>(&self, msg: T, lease: &str) -> Request<T> {
        let mut req = self.req(msg);
        if let Ok(l) = lease.parse() {
            req.metadata_mut().insert("containerd-lease", l);
        }
        req
    }

    /// A failed call as a store error naming what was asked.
    pub fn error(&self, what: &str, status: Status) -> StoreError {
        match status.code() {
            Code::NotFound => StoreError::NoSuchImage(format!("{what}: {}", status.message())),
            Code::Unavailable => StoreError::Daemon(format!(
                "cannot reach containerd at {} ({what}): {}; check that containerd is running",
                self.address,
                status.message()
            )),
            Code::PermissionDenied => StoreError::Daemon(format!(
                "containerd at {} refused {what}: {} (run as root)",
                self.address,
                status.message()
            )),
            _ => StoreError::Daemon(format!(
                "containerd at {}: {what}: {}",
                self.address,
                status.message()
            )),
        }
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}
