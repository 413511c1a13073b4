//! Deleting a tag at the registry (the library's `delete_tag`): never another tag's
//! manifest, and a clear answer when the registry refuses deletes.

use super::*;

/// delete_tag removes a tag alone on its manifest, keeps one that shares its manifest with
/// another tag (distribution 2.8 cannot delete a tag alone), and knows an absent tag.
#[test]
fn delete_tag_never_takes_other_tags() {
    let reg = Registry::start();
    let alone = app_image("1.0", MediaFormat::Oci);
    let shared = app_image("2.0", MediaFormat::Oci);
    push_image_http(&reg, "demo/app", "alone", &alone);
    push_image_http(&reg, "demo/app", "a", &shared);
    push_image_http(&reg, "demo/app", "b", &shared);
    let c = client();
    let rt = runtime();
    let del = |tag: &str| {
        rt.block_on(c.delete_tag(&reference(&reg.reference(&format!("demo/app:{tag}")))))
            .unwrap()
    };
    assert_eq!(del("alone"), DeleteOutcome::Deleted);
    assert_eq!(reg.manifest_digest("demo/app", "alone"), None);
    assert_eq!(
        reg.manifest_digest("demo/app", &alone.manifest_digest),
        None
    );
    assert_eq!(
        del("a"),
        DeleteOutcome::KeptShared {
            tags: vec!["b".to_string()]
        }
    );
    let mut tags = reg.tags("demo/app");
    tags.sort();
    assert_eq!(tags, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(del("gone"), DeleteOutcome::AlreadyAbsent);
    // distribution 2.8 refused the tag form: the first DELETE names the tag and gets 400.
    assert!(
        reg.requests().iter().any(|r| r.method == "DELETE"
            && r.path.ends_with("/manifests/alone")
            && r.status == 400)
    );
}

/// A registry with deletes disabled: delete_tag fails with an error saying so, and the tag
/// stays.
#[test]
fn delete_tag_with_deletes_disabled() {
    let reg = Registry::builder().deletes_disabled().start();
    push_image_http(&reg, "demo/app", "1", &app_image("1.0", MediaFormat::Oci));
    let e = runtime()
        .block_on(client().delete_tag(&reference(&reg.reference("demo/app:1"))))
        .unwrap_err();
    assert!(
        e.to_string().contains("does not allow deleting")
            && e.to_string().contains("storage.delete.enabled"),
        "{e}"
    );
    assert!(reg.manifest_digest("demo/app", "1").is_some());
}
