//! A registry's refusal of a write, as an error: its status and the first entry of the
//! distribution error body (`{"errors":[{"code":…,"message":…}]}`).

use reqwest::Response;

use super::error::RegistryError;
use super::raw::read_capped;

/// Error bodies are small JSON documents; more is not read.
const ERROR_BODY_CAP: u64 = 64 << 10;

/// A non-success answer to a write as an error: 404/400/… carry a distribution error body
/// (`{"errors":[{"code":…,"message":…}]}`) whose first entry is quoted.
pub(crate) async fn refused(resp: Response, what: String) -> RegistryError {
    let status = resp.status().as_u16();
    let url = resp.url().to_string();
    let body = read_capped(resp, ERROR_BODY_CAP, &url)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let (code, message) = error_code(&body).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(&body);
        ("-".to_string(), text.chars().take(200).collect::<String>())
    });
    RegistryError::Refused {
        what,
        status,
        code,
        message: message.replace('\n', " "),
    }
}

/// The first `(code, message)` of a distribution error body.
pub(crate) fn error_code(body: &[u8]) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: String,
        #[serde(default)]
        message: String,
    }
    let b: Body = serde_json::from_slice(body).ok()?;
    let e = b.errors.into_iter().next()?;
    Some((e.code, e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let body = br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#;
        assert_eq!(
            error_code(body),
            Some((
                "DIGEST_INVALID".into(),
                "provided digest did not match uploaded content".into()
            ))
        );
        assert_eq!(error_code(b"<html>"), None);
    }
}
