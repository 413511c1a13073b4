//! JSON parse errors worded without the input's bytes.
//!
//! serde_json quotes the offending value (`invalid type: string "…", expected …`) and serde
//! quotes unknown names (``unknown field `…` ``). A document read from a file, an archive or
//! a registry may hold anything, a secret included when the wrong file was given: messages
//! say what was expected and where, never what was found.

/// `e` as serde_json words it, with every quoted literal from the input left out.
pub fn json_error_text(e: &serde_json::Error) -> String {
    redact(&e.to_string())
}

fn redact(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    loop {
        // A string value: `string "…"` (serde_json escapes quotes inside it).
        let string_at = rest.find("string \"");
        // An unknown name: `` variant `…` ``, `` field `…` ``.
        let name_at = ["variant `", "field `"]
            .iter()
            .filter_map(|p| rest.find(p).map(|i| (i, p.len())))
            .min();
        let (start, skip, close) = match (string_at, name_at) {
            (Some(s), Some((n, len))) if n < s => (n, len, '`'),
            (Some(s), _) => (s, "string \"".len(), '"'),
            (None, Some((n, len))) => (n, len, '`'),
            (None, None) => break,
        };
        out.push_str(&rest[..start]);
        let body = &rest[start + skip..];
        let mut end = None;
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                c if c == close && !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        out.push_str(if close == '"' {
            "a string"
        } else {
            &rest[start..start + skip - 2]
        });
        match end {
            Some(i) => rest = &body[i + 1..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values and names from the document are left out; positions and expectations stay.
    #[test]
    fn quoted_input_is_left_out() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            a: u32,
        }
        let e = serde_json::from_str::<Vec<u32>>(r#"["top \" secret"]"#).unwrap_err();
        let text = json_error_text(&e);
        assert!(!text.contains("secret"), "{text}");
        assert!(
            text.contains("invalid type: a string, expected u32 at line 1"),
            "{text}"
        );
        let e = serde_json::from_str::<S>(r#"{"hunter2": 1}"#).unwrap_err();
        let text = json_error_text(&e);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.starts_with("unknown field, expected `a`"), "{text}");
        let e = serde_json::from_str::<S>("{").unwrap_err();
        assert_eq!(json_error_text(&e), e.to_string());
    }
}
