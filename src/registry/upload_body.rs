//! The body of an upload on its way out: checked against the size announced, watched for
//! progress (a stalled upload fails instead of hanging), and cut into PATCH chunks.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, stream};
use reqwest::Response;

use super::error::RegistryError;
use super::upload_url::strip_query;
use crate::oci::Digest;

/// How long a registry may take to answer once it has every byte of an upload (it may be
/// moving a large blob into place in remote storage).
const ANSWER_AFTER_BODY: Duration = Duration::from_secs(600);
/// How often a running upload checks its progress.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// A blob body: chunks of bytes, ending early with an error if the source fails.
pub type BlobBody = BoxStream<'static, Result<Bytes, RegistryError>>;

/// `body` checked on the way out: at most `size` bytes, and exactly `size` by its end. A
/// failure of the source is kept in `failure` (the HTTP stack only passes on its text), so
/// the upload reports the source's error rather than a broken connection.
pub(super) fn checked(
    body: BlobBody,
    digest: Digest,
    size: u64,
    failure: Arc<Mutex<Option<RegistryError>>>,
    progress: Progress,
) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    let state = (body, 0u64, false);
    stream::unfold(state, move |(mut body, seen, ended)| {
        let digest = digest.clone();
        let failure = failure.clone();
        let progress = progress.clone();
        async move {
            if ended {
                return None;
            }
            let fail = |e: RegistryError| {
                let text = e.to_string();
                *failure
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                Some((
                    Err(std::io::Error::other(text)),
                    (stream::empty().boxed(), seen, true),
                ))
            };
            match body.next().await {
                Some(Ok(chunk)) => {
                    let seen = seen + chunk.len() as u64;
                    if seen > size {
                        return fail(RegistryError::UploadSource {
                            digest,
                            reason: format!("the source has more than the {size} bytes announced"),
                        });
                    }
                    *progress
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) =
                        (Instant::now(), seen == size);
                    Some((Ok(chunk), (body, seen, false)))
                }
                Some(Err(e)) => fail(e),
                None if seen < size => fail(RegistryError::UploadSource {
                    digest,
                    reason: format!("the source ended after {seen} of {size} bytes"),
                }),
                None => None,
            }
        }
    })
    .boxed()
}

/// When the body of an upload last moved, and whether all of it was read.
pub(super) type Progress = Arc<Mutex<(Instant, bool)>>;

/// Run an upload request, failing it (retryably) when its body stops moving for the read
/// timeout, or the registry does not answer within [`ANSWER_AFTER_BODY`] of the last
/// byte. (The upload client has no read timeout of its own: reqwest's would also count
/// the whole time spent sending.)
pub(super) async fn watched(
    sent: impl Future<Output = Result<Response, RegistryError>>,
    progress: &Progress,
    registry: &str,
    url: &str,
) -> Result<Response, RegistryError> {
    tokio::pin!(sent);
    loop {
        tokio::select! {
            resp = &mut sent => return resp,
            _ = tokio::time::sleep(WATCH_EVERY) => {
                let (last, all_read) =
                    *progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let limit = if all_read { ANSWER_AFTER_BODY } else { super::limit::read_timeout() };
                if last.elapsed() > limit {
                    return Err(RegistryError::Unreachable {
                        registry: registry.to_string(),
                        url: strip_query(url),
                        reason: format!(
                            "timed out: the upload made no progress for {}s",
                            limit.as_secs()
                        ),
                    });
                }
            }
        }
    }
}

pub(super) fn take_failure(failure: &Mutex<Option<RegistryError>>) -> Option<RegistryError> {
    failure
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

/// The shared source of a chunked upload and a piece of a chunk it read too far.
pub(super) type Shared = Arc<
    tokio::sync::Mutex<(
        BoxStream<'static, Result<Bytes, std::io::Error>>,
        Option<Bytes>,
    )>,
>;

/// The next `n` bytes of `shared` as a stream of their own (one PATCH body).
pub(super) fn take(shared: Shared, n: u64) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    stream::unfold((shared, n), |(shared, left)| async move {
        if left == 0 {
            return None;
        }
        let mut guard = shared.lock().await;
        let next = match guard.1.take() {
            Some(b) => Some(Ok(b)),
            None => guard.0.next().await,
        };
        let mut chunk = match next {
            Some(Ok(c)) => c,
            Some(Err(e)) => return Some((Err(e), (shared.clone(), 0))),
            // The length check of `checked` reports a short source.
            None => return None,
        };
        if chunk.len() as u64 > left {
            guard.1 = Some(chunk.split_off(left as usize));
        }
        let len = chunk.len() as u64;
        drop(guard);
        Some((Ok(chunk), (shared, left - len)))
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    fn progress() -> Progress {
        Arc::new(Mutex::new((Instant::now(), false)))
    }

    fn body_of(parts: &[&'static [u8]]) -> BlobBody {
        let parts: Vec<_> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        stream::iter(parts).boxed()
    }

    #[tokio::test]
    async fn length_is_checked() {
        let d = Digest::of(b"abcdef");
        let failure = Arc::new(Mutex::new(None));
        let ok: Vec<Bytes> = checked(
            body_of(&[b"abc", b"def"]),
            d.clone(),
            6,
            failure.clone(),
            progress(),
        )
        .try_collect()
        .await
        .unwrap();
        assert_eq!(ok.concat(), b"abcdef");
        let short: Result<Vec<Bytes>, _> = checked(
            body_of(&[b"abc"]),
            d.clone(),
            6,
            failure.clone(),
            progress(),
        )
        .try_collect()
        .await;
        assert!(short.is_err());
        assert!(
            take_failure(&failure)
                .unwrap()
                .to_string()
                .contains("ended after 3 of 6")
        );
        let long: Result<Vec<Bytes>, _> =
            checked(body_of(&[b"abcdefg"]), d, 6, failure.clone(), progress())
                .try_collect()
                .await;
        assert!(long.is_err());
        assert!(
            take_failure(&failure)
                .unwrap()
                .to_string()
                .contains("more than the 6")
        );
    }

    #[tokio::test]
    async fn chunks_split_the_source_exactly() {
        let src = checked(
            body_of(&[b"abcde", b"fgh", b"ijklmnop"]),
            Digest::of(b""),
            16,
            Arc::new(Mutex::new(None)),
            progress(),
        );
        let shared: Shared = Arc::new(tokio::sync::Mutex::new((src, None)));
        let mut parts = Vec::new();
        for _ in 0..3 {
            let part: Vec<Bytes> = take(shared.clone(), 6).try_collect().await.unwrap();
            parts.push(part.concat());
        }
        assert_eq!(
            parts,
            vec![b"abcdef".to_vec(), b"ghijkl".to_vec(), b"mnop".to_vec()]
        );
    }
}
