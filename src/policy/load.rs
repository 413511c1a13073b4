//! Reading policy files from disk: one file, or every `*.yaml`/`*.yml` file of a directory
//! (not its subdirectories or hidden files), sorted by name. The only part of the policy
//! module that performs I/O. YAML is parsed with explicit limits so a hostile document
//! (billion laughs, deep nesting) fails fast with a clear error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_saphyr::{Error as YamlError, MessageFormatter, UserMessageFormatter};

use super::ctx::Ctx;
use super::error::{PolicyError, PolicyErrors, ROOT_KEY};
use super::keypath;
use super::merge;
use super::model::Policy;
use super::model::RegistrySpec;
use super::raw::{RawConfig, RawPolicy};
use super::registry_spec::registries;
use super::validate::{self, Fragment};

/// Largest policy file read; real policies are a few kilobytes.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Deepest nesting accepted; a policy needs about 5 levels.
const MAX_DEPTH: usize = 16;
/// Most aliases (`*name`) accepted in one file.
const MAX_ALIASES: usize = 1_000;
/// Most nodes replayed through aliases in one file: generous for `<<: *defaults`-style
/// reuse, far below what an exponential alias bomb needs.
const MAX_REPLAYED: usize = 10_000;

/// Loads, checks and (for a directory) merges a policy. Every problem found is returned,
/// each with file, line, column, key and a fix; a file with a YAML or type error
/// contributes that one error (parsing stops there), other files are still checked.
pub fn load(path: &Path) -> Result<Policy, PolicyErrors> {
    let mut errors = Vec::new();
    let files = match policy_files(path) {
        Ok(f) => f,
        Err(e) => return Err(PolicyErrors(vec![e])),
    };
    let mut fragments: Vec<Fragment> = Vec::new();
    for file in &files {
        match read(file) {
            Ok(raw) => {
                let mut ctx = Ctx {
                    file,
                    errors: Vec::new(),
                };
                fragments.push(validate::fragment(raw, &mut ctx));
                errors.extend(ctx.errors);
            }
            Err(e) => errors.push(e),
        }
    }
    let policy = merge::merge(fragments, &mut errors);
    if errors.is_empty() {
        Ok(policy)
    } else {
        errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        Err(PolicyErrors(errors))
    }
}

fn whole(file: &Path, message: String) -> PolicyError {
    PolicyError {
        file: file.to_path_buf(),
        line: 0,
        column: 0,
        key: ROOT_KEY.to_string(),
        message,
    }
}

/// The file itself, or a directory's policy files in name order.
fn policy_files(path: &Path) -> Result<Vec<PathBuf>, PolicyError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        whole(
            path,
            format!("cannot read the policy: {e}: pass -f PATH with a policy file or a directory of *.yaml files"),
        )
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path)
        .map_err(|e| whole(path, format!("cannot list the policy directory: {e}")))?;
    let mut any = false;
    let mut files = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| whole(path, format!("cannot list the policy directory: {e}")))?;
        any = true;
        let p = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        if yaml && !name.starts_with('.') && p.is_file() {
            files.push(p);
        }
    }
    if files.is_empty() {
        let what = if any {
            "the policy directory holds no *.yaml or *.yml files"
        } else {
            "the policy directory is empty"
        };
        return Err(whole(
            path,
            format!("{what}: put policy files (e.g. images.yaml starting with `version: 1`) in it"),
        ));
    }
    files.sort();
    Ok(files)
}

/// A registries configuration file (`--config`): its `registries:` map, checked exactly
/// like a policy's, with the same `FILE:LINE:COLUMN: KEY: message` errors. An empty file
/// configures nothing. A missing file is an error here: the caller decides whether a
/// missing default file is fine.
pub fn load_registries(file: &Path) -> Result<BTreeMap<String, RegistrySpec>, PolicyErrors> {
    let text = read_text(file, "registries config").map_err(|e| PolicyErrors(vec![e]))?;
    let raw = match parse::<RawConfig>(&text) {
        Ok(raw) => raw,
        Err(e) => return Err(PolicyErrors(vec![yaml_error(file, &text, &e)])),
    };
    let Some(raw) = raw else {
        return Ok(BTreeMap::new());
    };
    let mut ctx = Ctx {
        file,
        errors: Vec::new(),
    };
    let entries = registries(raw.registries.0, &mut ctx);
    if !ctx.errors.is_empty() {
        ctx.errors.sort_by_key(|e| (e.line, e.column));
        return Err(PolicyErrors(ctx.errors));
    }
    Ok(entries.into_iter().map(|l| l.value).collect())
}

/// A file's text, refusing huge and non-UTF-8 files; `what` names it in messages.
fn read_text(file: &Path, what: &str) -> Result<String, PolicyError> {
    let cannot = |e: std::io::Error| whole(file, format!("cannot read the {what} file: {e}"));
    let len = std::fs::metadata(file).map_err(cannot)?.len();
    if len > MAX_FILE_BYTES {
        return Err(whole(
            file,
            format!(
                "the file is {len} bytes, more than a {what} file may be ({MAX_FILE_BYTES}): is this the right file?"
            ),
        ));
    }
    let bytes = std::fs::read(file).map_err(cannot)?;
    String::from_utf8(bytes).map_err(|_| {
        whole(
            file,
            "the file is not UTF-8 text: save it as UTF-8".to_string(),
        )
    })
}

/// One file's YAML shapes; an empty file (nothing but comments, or a null document) is an
/// error.
fn read(file: &Path) -> Result<RawPolicy, PolicyError> {
    let cannot = |e: std::io::Error| whole(file, format!("cannot read the policy file: {e}"));
    let len = std::fs::metadata(file).map_err(cannot)?.len();
    if len > MAX_FILE_BYTES {
        return Err(whole(
            file,
            format!(
                "the file is {len} bytes, more than a policy may be ({MAX_FILE_BYTES}): is this the right file?"
            ),
        ));
    }
    let bytes = std::fs::read(file).map_err(cannot)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        whole(
            file,
            "the file is not UTF-8 text: save it as UTF-8".to_string(),
        )
    })?;
    match parse(&text) {
        Ok(Some(raw)) => Ok(raw),
        Ok(None) => Err(PolicyError {
            file: file.to_path_buf(),
            line: 1,
            column: 1,
            key: ROOT_KEY.to_string(),
            message: "the policy file is empty: start it with `version: 1` and list images under `images:`".to_string(),
        }),
        Err(e) => Err(yaml_error(file, &text, &e)),
    }
}

/// Parses with the limits a policy needs: strict booleans, no unknown tags, duplicate keys
/// refused (the default), and budgets far below what a YAML bomb needs.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<Option<T>, YamlError> {
    let options = serde_saphyr::options! {
        with_snippet: false,
        strict_booleans: true,
        reject_unsupported_tags: true,
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            flow_nesting_limit: MAX_DEPTH,
            max_aliases: MAX_ALIASES,
            max_anchors: MAX_ALIASES,
            max_nodes: 200_000,
            max_events: 500_000,
            max_documents: 1,
            max_recorded_anchor_events: MAX_REPLAYED,
            max_total_scalar_bytes: 8 * 1024 * 1024,
            max_merge_keys: 1_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_REPLAYED,
            max_replay_stack_depth: MAX_DEPTH,
        },
    };
    serde_saphyr::from_str_with_options::<Option<T>>(text, options)
}

/// A parse error as a policy error: position, the key there, and a plain message.
fn yaml_error(file: &Path, text: &str, e: &YamlError) -> PolicyError {
    let (line, column) = e
        .location()
        .map(|l| {
            (
                usize::try_from(l.line()).unwrap_or(0),
                usize::try_from(l.column()).unwrap_or(0),
            )
        })
        .unwrap_or((0, 0));
    let key = if line > 0 {
        keypath::key_at(text, line, column)
    } else {
        ROOT_KEY.to_string()
    };
    PolicyError {
        file: file.to_path_buf(),
        line,
        column,
        key,
        message: message(e),
    }
}

/// Keys accepted only to be refused with a better message; not offered as suggestions.
const HIDDEN_KEYS: &[&str] = &["password", "docker"];

fn message(e: &YamlError) -> String {
    let inner = e.without_snippet();
    match inner {
        YamlError::AliasError { error, .. } => return message(error),
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => {
            if *field == "password" {
                return "inline secrets are not allowed: use password_env or password_file"
                    .to_string();
            }
            let valid: Vec<&str> = expected
                .iter()
                .copied()
                .filter(|k| !HIDDEN_KEYS.contains(k))
                .collect();
            return format!(
                "unknown key `{field}`: valid keys here are {}",
                valid.join(", ")
            );
        }
        YamlError::Budget { breach, .. } => {
            let what = format!("{breach:?}");
            let why = if what.contains("Alias") || what.contains("Anchor") {
                format!(
                    "its aliases expand to more than {MAX_REPLAYED} nodes or use more than {MAX_ALIASES} aliases, far more than a policy needs (a YAML alias bomb?)"
                )
            } else if what.contains("Documents") {
                "the file holds more than one YAML document (`---`): a policy file is one document; split it into files of a policy directory".to_string()
            } else if what.contains("Depth") {
                format!("it nests deeper than {MAX_DEPTH} levels; a policy needs about 5")
            } else {
                "it is far larger than a policy needs".to_string()
            };
            return format!("the document is refused: {why} [{what}]");
        }
        _ => {}
    }
    let text = UserMessageFormatter.format_message(inner).into_owned();
    let text = text.replace('\n', " ");
    let rewrites: &[(&str, &str)] = &[
        (
            "expected sequence start",
            "expected a list (write [] for an empty one)",
        ),
        (
            "expected mapping start",
            "expected a mapping (write {} for an empty one)",
        ),
        (
            "null is not allowed here",
            "a value is required here (null or an empty value is not allowed): write the value, or remove the key",
        ),
        ("expected string scalar", "expected a string"),
        ("invalid u32", "expected a whole number"),
        ("invalid u64", "expected a whole number"),
        ("invalid i64", "expected a whole number"),
    ];
    for (from, to) in rewrites {
        if text == *from {
            return (*to).to_string();
        }
    }
    if text.contains("too large or too complex") || text.contains("replay") {
        return format!(
            "{text}: aliases expand to more than {MAX_REPLAYED} nodes, far more than a policy needs (a YAML bomb?)"
        );
    }
    if text.starts_with("duplicate mapping key") {
        return format!("{text}: each key may appear once in a mapping");
    }
    if text.contains("recursion limit") {
        return format!(
            "{text}: the document nests deeper than a policy can (at most {MAX_DEPTH} levels)"
        );
    }
    text
}
