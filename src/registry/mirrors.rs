//! Reading through mirrors: every read tries the registry's mirrors in order, then the
//! registry itself, moving on after any failure of a mirror (no connection, timeout, 5xx,
//! 404, 401/403, content that fails verification). A mirror that could not be connected to
//! is skipped for the rest of the run, so its timeout is paid once, not per request.
//! Mirrors need no trust: what they serve is verified by digest like the registry's own.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;

use super::RegistryClient;
use super::endpoint::Endpoint;
use super::error::RegistryError;
use crate::oci::Digest;

/// What this run learned about mirrors.
#[derive(Default)]
pub(crate) struct MirrorState {
    /// Mirrors (by URL) that failed to connect: skipped from then on.
    dead: Mutex<HashSet<String>>,
    /// Mirrors already warned about, so one broken mirror costs one warning line.
    warned: Mutex<HashSet<String>>,
    /// (mirror URL, blob) pairs whose bytes failed verification: that mirror is skipped
    /// for that blob.
    distrusted: Mutex<HashSet<(String, Digest)>>,
    /// The endpoint that last served a manifest, by the reference asked for.
    served: Mutex<HashMap<String, String>>,
}

impl MirrorState {
    pub(crate) fn is_dead(&self, e: &Endpoint) -> bool {
        e.mirror && lock(&self.dead).contains(&e.url())
    }

    fn is_distrusted(&self, e: &Endpoint, digest: &Digest) -> bool {
        e.mirror && lock(&self.distrusted).contains(&(e.url(), digest.clone()))
    }

    /// Note a mirror's failure: a warning the first time it fails for another reason than
    /// "not found", debug lines otherwise; a connection failure retires it for the run.
    fn failed(&self, e: &Endpoint, registry: &str, err: &RegistryError) {
        let url = e.url();
        if matches!(err, RegistryError::Unreachable { .. }) {
            lock(&self.dead).insert(url.clone());
        }
        if err.is_not_found() || !lock(&self.warned).insert(url.clone()) {
            tracing::debug!("mirror {url} of {registry} failed, trying the next: {err}");
        } else {
            tracing::warn!("mirror {url} of {registry} failed, trying the next endpoint: {err}");
        }
    }
}

impl RegistryClient {
    /// Run `op` against each endpoint for reading `registry` until one succeeds; the
    /// registry's own answer (success or error) is final. Returns the value and the
    /// endpoint that gave it.
    pub(crate) async fn read_any<T, F, Fut>(
        &self,
        registry: &str,
        skip_for: Option<&Digest>,
        mut op: F,
    ) -> Result<(T, Endpoint), RegistryError>
    where
        F: FnMut(Endpoint) -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        let state = &self.inner.mirrors;
        for e in self.endpoints_for_read(registry) {
            if !e.mirror {
                return op(e.clone()).await.map(|v| (v, e));
            }
            if skip_for.is_some_and(|d| state.is_distrusted(&e, d)) || state.is_dead(&e) {
                continue;
            }
            match op(e.clone()).await {
                Ok(v) => return Ok((v, e)),
                Err(err) => state.failed(&e, registry, &err),
            }
        }
        unreachable!("endpoints_for_read always ends with the registry itself")
    }

    /// Remember which endpoint served the manifest for `reference` (for `-v` output).
    pub(crate) fn note_served(&self, reference: &str, e: &Endpoint) {
        lock(&self.inner.mirrors.served).insert(reference.to_string(), e.label());
    }

    /// Which endpoint last served the manifest of `reference` (as written by
    /// `Reference::to_string`): `mirror http://…` or the registry's URL. Lets `pull -v`
    /// say where each image came from.
    pub fn served_from(&self, reference: &str) -> Option<String> {
        lock(&self.inner.mirrors.served).get(reference).cloned()
    }

    /// The bytes of `digest` from `mirror` (a [`super::BlobStream::mirror`]) failed
    /// verification: later attempts for that blob skip that mirror. Never store such bytes.
    pub fn distrust_mirror(&self, mirror: &str, digest: &Digest) {
        tracing::warn!(
            "mirror {mirror} served bytes for {digest} that do not match the digest: fetching it elsewhere"
        );
        lock(&self.inner.mirrors.distrusted).insert((mirror.to_string(), digest.clone()));
    }
}

/// Lock a std mutex, ignoring poisoning: the sets stay consistent (single inserts/reads).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
