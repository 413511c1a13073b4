//! Which key a source position belongs to (`images[2].semver`), for YAML errors that carry
//! only a line and column. Reads the text with the YAML parser's event stream, which never
//! expands aliases, so a hostile document costs one linear pass.

use serde_saphyr::granit_parser::{Event, Parser};

use super::error::ROOT_KEY;

enum Frame {
    Map {
        path: String,
        expecting_key: bool,
        key: String,
    },
    Seq {
        path: String,
        next: usize,
    },
}

/// The key path of the innermost node starting at or before `line`:`column` (1-based).
pub(crate) fn key_at(text: &str, line: usize, column: usize) -> String {
    let mut stack: Vec<Frame> = Vec::new();
    let mut best = String::new();
    for item in Parser::new_from_str(text) {
        let Ok((event, span)) = item else { break };
        let pos = (span.start.line(), span.start.col() + 1);
        if pos > (line, column) {
            break;
        }
        match event {
            Event::Scalar(..) | Event::Alias(..) | Event::UnresolvedAlias(..) => {
                let text_key = match &event {
                    Event::Scalar(v, ..) => v.to_string(),
                    _ => "*".to_string(),
                };
                best = node_path(&mut stack, Some(&text_key));
                complete(&mut stack);
            }
            Event::SequenceStart(..) => {
                let path = node_path(&mut stack, None);
                best = path.clone();
                stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingStart(..) => {
                let path = node_path(&mut stack, None);
                best = path.clone();
                stack.push(Frame::Map {
                    path,
                    expecting_key: true,
                    key: String::new(),
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
                complete(&mut stack);
            }
            _ => {}
        }
    }
    if best.is_empty() {
        ROOT_KEY.to_string()
    } else {
        best
    }
}

/// The path of a node starting now; a scalar in key position becomes the current key.
fn node_path(stack: &mut [Frame], scalar: Option<&str>) -> String {
    match stack.last_mut() {
        None => String::new(),
        Some(Frame::Seq { path, next }) => {
            let p = format!("{path}[{next}]");
            *next += 1;
            p
        }
        Some(Frame::Map {
            path,
            expecting_key,
            key,
        }) => {
            if *expecting_key {
                *key = scalar.unwrap_or("?").to_string();
            }
            join(path, key)
        }
    }
}

/// A node finished: in a mapping, keys and values alternate.
fn complete(stack: &mut [Frame]) {
    if let Some(Frame::Map { expecting_key, .. }) = stack.last_mut() {
        *expecting_key = !*expecting_key;
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::key_at;

    #[test]
    fn finds_keys() {
        let text = "version: 1\nimages:\n  - name: nginx\n    tags: [a, b]\n    foo: 1\nprune: {keep_within: x}\n";
        assert_eq!(key_at(text, 1, 1), "version");
        assert_eq!(key_at(text, 1, 10), "version");
        assert_eq!(key_at(text, 3, 5), "images[0].name");
        assert_eq!(key_at(text, 4, 15), "images[0].tags[1]");
        assert_eq!(key_at(text, 5, 5), "images[0].foo");
        assert_eq!(key_at(text, 6, 23), "prune.keep_within");
        assert_eq!(key_at("", 1, 1), "<root>");
    }
}
