//! `WWW-Authenticate` challenges (RFC 7235) as registries send them on 401: which auth scheme
//! to use and, for bearer tokens, where to get one.

/// How a registry wants requests authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// Fetch a token from `realm` and send it as `Authorization: Bearer`.
    Bearer {
        /// Token endpoint URL.
        realm: String,
        /// The `service` parameter to pass to the token endpoint.
        service: Option<String>,
        /// The scope the registry asked for, if it said.
        scope: Option<String>,
        /// Why a token was refused (`insufficient_scope`, `invalid_token`), if it said.
        error: Option<String>,
    },
    /// Send the user's credentials with every request.
    Basic,
}

impl Challenge {
    /// Pick the challenge to answer from all `WWW-Authenticate` header values: Bearer if offered
    /// (it scopes access), else Basic. `Err` says why nothing usable was offered.
    pub(crate) fn from_headers<'a>(
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, String> {
        let mut basic = false;
        let mut seen = Vec::new();
        for value in values {
            for raw in parse(value) {
                if raw.scheme.eq_ignore_ascii_case("bearer") {
                    let get = |k: &str| {
                        raw.params
                            .iter()
                            .find(|(name, _)| name.eq_ignore_ascii_case(k))
                            .map(|(_, v)| v.clone())
                    };
                    let Some(realm) = get("realm").filter(|r| !r.is_empty()) else {
                        return Err("Bearer challenge without a realm".to_string());
                    };
                    return Ok(Self::Bearer {
                        realm,
                        service: get("service"),
                        scope: get("scope"),
                        error: get("error"),
                    });
                }
                if raw.scheme.eq_ignore_ascii_case("basic") {
                    basic = true;
                }
                seen.push(raw.scheme);
            }
        }
        if basic {
            Ok(Self::Basic)
        } else if seen.is_empty() {
            Err("no WWW-Authenticate header".to_string())
        } else {
            Err(format!("unsupported auth scheme(s) {}", seen.join(", ")))
        }
    }
}

/// One challenge as written: a scheme and its `name=value` parameters.
#[derive(Debug, PartialEq, Eq)]
struct RawChallenge {
    scheme: String,
    params: Vec<(String, String)>,
}

/// Split a header value into challenges. Quoted values may hold commas, `=` and escaped quotes;
/// a token after a comma that is not followed by `=` starts the next challenge.
fn parse(value: &str) -> Vec<RawChallenge> {
    let mut out: Vec<RawChallenge> = Vec::new();
    let mut s = Scanner {
        chars: value.chars().collect(),
        pos: 0,
    };
    loop {
        s.skip(|c| c == ',' || c.is_whitespace());
        if s.done() {
            break;
        }
        let word = s.token();
        if word.is_empty() {
            // Garbage we cannot tokenize: skip one character and resynchronise.
            s.pos += 1;
            continue;
        }
        s.skip(char::is_whitespace);
        if s.peek() == Some('=') && !out.is_empty() {
            // `name=value` continuing the current challenge.
            s.pos += 1;
            s.skip(char::is_whitespace);
            let v = if s.peek() == Some('"') {
                s.quoted()
            } else {
                s.token()
            };
            if let Some(last) = out.last_mut() {
                last.params.push((word, v));
            }
        } else {
            out.push(RawChallenge {
                scheme: word,
                params: Vec::new(),
            });
        }
    }
    out
}

struct Scanner {
    chars: Vec<char>,
    pos: usize,
}

impl Scanner {
    fn done(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip(&mut self, f: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
    }

    /// An RFC 7230 token (also accepting `/` and `:` so unquoted URLs and token68 survive).
    fn token(&mut self) -> String {
        let start = self.pos;
        self.skip(|c| !(c.is_whitespace() || c == ',' || c == '=' || c == '"'));
        self.chars[start..self.pos].iter().collect()
    }

    /// A quoted string starting at the opening quote, with `\` escapes undone.
    fn quoted(&mut self) -> String {
        let mut v = String::new();
        self.pos += 1;
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '"' => break,
                '\\' => {
                    if let Some(n) = self.peek() {
                        v.push(n);
                        self.pos += 1;
                    }
                }
                c => v.push(c),
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(realm: &str, service: Option<&str>, scope: Option<&str>) -> Challenge {
        Challenge::Bearer {
            realm: realm.into(),
            service: service.map(Into::into),
            scope: scope.map(Into::into),
            error: None,
        }
    }

    #[test]
    fn docker_hub_bearer() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#;
        assert_eq!(
            Challenge::from_headers([h]),
            Ok(bearer(
                "https://auth.docker.io/token",
                Some("registry.docker.io"),
                Some("repository:library/nginx:pull")
            ))
        );
    }

    #[test]
    fn commas_and_escapes_inside_quotes_and_spacing() {
        let h = r#"bearer  scope = "repository:a/b:pull,push" , realm="https://h/t?x=\"1\"",service=reg"#;
        assert_eq!(
            Challenge::from_headers([h]),
            Ok(bearer(
                r#"https://h/t?x="1""#,
                Some("reg"),
                Some("repository:a/b:pull,push")
            ))
        );
    }

    #[test]
    fn basic_and_multiple_challenges() {
        assert_eq!(
            Challenge::from_headers([r#"Basic realm="basic-realm""#]),
            Ok(Challenge::Basic)
        );
        assert_eq!(
            Challenge::from_headers([r#"Basic realm="a, b", Bearer realm="https://t""#]),
            Ok(bearer("https://t", None, None))
        );
        assert_eq!(
            Challenge::from_headers([
                "Basic realm=\"x\"",
                "Bearer realm=\"https://t\",service=\"s\""
            ]),
            Ok(bearer("https://t", Some("s"), None))
        );
        assert_eq!(Challenge::from_headers(["Basic"]), Ok(Challenge::Basic));
    }

    #[test]
    fn token_errors() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nope:pull",error="insufficient_scope""#;
        let Ok(Challenge::Bearer { error, .. }) = Challenge::from_headers([h]) else {
            panic!("not bearer");
        };
        assert_eq!(error.as_deref(), Some("insufficient_scope"));
    }

    #[test]
    fn unusable_challenges() {
        assert!(Challenge::from_headers([]).is_err());
        assert!(Challenge::from_headers([""]).is_err());
        assert!(Challenge::from_headers([r#"Bearer service="x""#]).is_err());
        let e = Challenge::from_headers([r#"Negotiate abc=="#]).unwrap_err();
        assert!(e.contains("Negotiate"), "{e}");
    }
}
