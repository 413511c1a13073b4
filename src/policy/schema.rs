//! The JSON Schema of the policy format, for editors' YAML language servers and CI linters.

use super::raw::RawPolicy;

/// The JSON Schema (draft 2020-12) describing policy files, generated from the same types
/// the loader reads, so the two cannot drift apart. Semantic rules (version ranges,
/// duplicate entries, cron syntax) are checked only by `imagectl validate`.
pub fn schema() -> serde_json::Value {
    let mut value =
        serde_json::to_value(schemars::schema_for!(RawPolicy)).unwrap_or(serde_json::Value::Null);
    strip_null_defaults(&mut value);
    if let Some(root) = value.as_object_mut() {
        root.insert("required".to_string(), serde_json::json!(["version"]));
    }
    value
}

/// Removes `"default": null`, which schemars writes for optional fields and which would
/// suggest null is a valid value (the loader refuses nulls).
fn strip_null_defaults(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            if map.get("default") == Some(&serde_json::Value::Null) {
                map.remove("default");
            }
            map.values_mut().for_each(strip_null_defaults);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_null_defaults),
        _ => {}
    }
}
