//! Signatures and attestations across an air gap: `save --format oci --referrers` writes an
//! image's referrers into the archive, `load` keeps them in a fresh store beside the image
//! (not as images: `images` hides them, `prune` keeps them, `rmi` of the image takes them),
//! and `push --referrers` sends them from the store to another registry, digests preserved.
//! The registries are real distribution registries (no referrers API: fallback tags).

use std::path::PathBuf;

use crate::support::cli::{skopeo_ok, succeeded as ok};
use crate::support::fixtures::{MediaFormat, multi_platform, push_index_http, sha256_digest};
use crate::support::signing::{Signed, fallback_tag, listed, release};
use crate::support::stores::{Kind, Under};
use crate::support::{Registry, TestEnv};

/// Release 1.0.0 of `team/app`, signed (see [`release`]).
fn release_1(reg: &Registry) -> Signed {
    release(reg, "1.0.0")
}

/// The SBOM payload `release` attaches to release 1.0.0.
const SBOM_PAYLOAD: &[u8] = b"sbom of 1.0.0 amd64";

/// `df --format json` of `env`'s store.
fn df(env: &TestEnv) -> serde_json::Value {
    serde_json::from_str(&ok(&env.run(&["df", "--format", "json"]))).unwrap()
}

/// `images -q` of `env`'s store, one ID a line.
fn image_ids(env: &TestEnv) -> Vec<String> {
    ok(&env.run(&["images", "-q"]))
        .lines()
        .map(str::to_string)
        .collect()
}

/// Signed release 1.0.0 of `team/app` in its own registry, pulled into a store and saved
/// with its referrers to `DIR/app.tar`.
struct SavedRelease {
    /// The source registry; a test that wants it gone drops it.
    src: Registry,
    signed: Signed,
    /// Holds the archive; tests write their other files here.
    dir: tempfile::TempDir,
    archive: PathBuf,
    /// The saved image's name.
    image: String,
}

fn saved_release() -> SavedRelease {
    let src = Registry::start();
    let signed = release_1(&src);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("app.tar");
    let image = format!("{}/team/app:1.0.0", src.host());
    let env = TestEnv::new();
    ok(&env.run(&["pull", "--all-platforms", &image]));
    ok(&env.save_referrers(&archive, &image));
    SavedRelease {
        src,
        signed,
        dir,
        archive,
        image,
    }
}

/// A signed image saved with `--referrers`, loaded into a fresh store with its source
/// registry gone, and pushed with `--referrers` arrives with every referrer (digests
/// preserved, listed in the target's fallback indexes, cosign's tag under its name); in
/// the store the referrers are no images, survive `prune`, count in `df`, and leave with
/// the image's `rmi`.
#[test]
fn referrers_cross_an_air_gap_in_an_oci_archive() {
    let SavedRelease {
        src,
        signed: s,
        dir,
        archive,
        image,
    } = saved_release();
    // An independent reader finds the image by name beside the nameless referrer entries.
    let raw = skopeo_ok(&[
        "inspect",
        "--raw",
        &format!("oci-archive:{}:{image}", archive.display()),
    ]);
    assert_eq!(sha256_digest(raw.trim_end().as_bytes()), s.index.digest);
    drop(src);

    let env = TestEnv::new();
    let loaded = ok(&env.run(&["load", "-i", archive.to_str().unwrap()]));
    assert!(loaded.contains("Loaded 3 referrers"), "{loaded}");
    assert_eq!(image_ids(&env).len(), 1, "the referrers are no images");
    let before = df(&env);
    assert_eq!(before["Images"], 1, "{before}");
    assert_eq!(before["Unreferenced"], 0, "{before}");
    assert!(before["ReferrersSize"].as_u64().unwrap() > 0, "{before}");
    ok(&env.run(&["prune", "-f"]));
    assert_eq!(
        df(&env)["TotalSize"],
        before["TotalSize"],
        "prune kept them"
    );
    // Saved again with the registry gone: from the store.
    let again = dir.path().join("again.tar");
    ok(&env.save_referrers(&again, &image));
    let third = TestEnv::new();
    let reloaded = ok(&third.run(&["load", "-i", again.to_str().unwrap()]));
    assert!(reloaded.contains("Loaded 3 referrers"), "{reloaded}");

    let dst = Registry::start();
    let target = format!("{}/mirror/app:1.0.0", dst.host());
    let pushed = ok(&env.run(&["push", "--referrers", &image, &target]));
    assert!(
        pushed.contains("Referrers: 5 held by the target"),
        "{pushed}"
    );
    let repo = "mirror/app";
    assert_eq!(
        dst.manifest_digest(repo, "1.0.0"),
        Some(s.index.digest.clone())
    );
    assert_eq!(
        dst.manifest_digest(repo, &s.signature),
        Some(s.signature.clone())
    );
    assert_eq!(dst.manifest_digest(repo, &s.sbom), Some(s.sbom.clone()));
    assert_eq!(
        dst.manifest_digest(repo, &s.cosign.0),
        Some(s.cosign.1.clone())
    );
    assert_eq!(
        listed(&dst, repo, &fallback_tag(&s.index.digest)),
        [s.signature.as_str()]
    );
    let amd64 = &s.index.image("linux/amd64").manifest_digest;
    assert_eq!(listed(&dst, repo, &fallback_tag(amd64)), [s.sbom.as_str()]);

    ok(&env.run(&["rmi", &image]));
    let after = df(&env);
    assert_eq!(
        after["TotalSize"], 0,
        "the referrers left with the image: {after}"
    );
    assert!(image_ids(&env).is_empty());
}

/// `save --referrers` in the docker-archive format is refused before anything is written.
#[test]
fn referrers_need_the_oci_format() {
    let env = TestEnv::new();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("app.tar");
    let out = env
        .imagectl()
        .args(["save", "--referrers", "-o"])
        .arg(&archive)
        .arg("example.com/app:1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--referrers needs --format oci"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!archive.exists());
}

/// An archive whose SBOM payload was altered is refused, naming the blob, and the store
/// gets nothing: not the image, not the referrers, not a blob.
#[test]
fn a_tampered_referrer_blob_loads_nothing() {
    let SavedRelease {
        src: _src,
        dir,
        archive,
        ..
    } = saved_release();
    let payload = format!("blobs/sha256/{}", &sha256_digest(SBOM_PAYLOAD)[7..]);
    let tampered = dir.path().join("tampered.tar");
    let mut found = false;
    let mut out = tar::Builder::new(std::fs::File::create(&tampered).unwrap());
    let mut input = tar::Archive::new(std::fs::File::open(&archive).unwrap());
    for entry in input.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if path == payload {
            found = true;
            data[0] ^= 0x20;
        }
        out.append_data(&mut header, &path, &data[..]).unwrap();
    }
    out.into_inner().unwrap();
    assert!(found, "the archive holds the SBOM payload {payload}");

    let env = TestEnv::new();
    let res = env.run(&["load", "-i", tampered.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(!res.status.success());
    assert!(err.contains(&payload) && err.contains("digest"), "{err}");
    assert!(image_ids(&env).is_empty());
    assert_eq!(df(&env)["TotalSize"], 0);
}

/// `save --referrers` of an image whose store keeps no referrers and whose registry is
/// down fails in one line naming that registry, and writes no archive.
#[test]
fn an_unreachable_registry_fails_the_save_in_one_line() {
    let src = Registry::start();
    release_1(&src);
    let host = src.host();
    let image = format!("{host}/team/app:1.0.0");
    let env = TestEnv::new();
    ok(&env.run(&["pull", "--all-platforms", &image]));
    drop(src);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("app.tar");
    let out = env.save_referrers(&archive, &image);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&format!("from {host}")), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!archive.exists());
}

/// A load into a Docker Engine keeps the image and says in one warning line that the
/// archive's referrers were not kept, and why.
#[test]
fn a_docker_engine_keeps_the_image_and_warns_about_its_referrers() {
    keeps_the_image_and_warns_about_its_referrers(Kind::DockerClassic);
}

/// A load into containerd (2.x, namespace k8s.io) keeps the image and says in one warning
/// line that the archive's referrers were not kept, and why.
#[test]
fn containerd_keeps_the_image_and_warns_about_its_referrers() {
    keeps_the_image_and_warns_about_its_referrers(Kind::Containerd2);
}

fn keeps_the_image_and_warns_about_its_referrers(kind: Kind) {
    let SavedRelease {
        src: _src,
        dir: _dir,
        archive,
        image,
        ..
    } = saved_release();
    let under = Under::new(kind);
    let out = under.run(&["load", "-i", archive.to_str().unwrap()]);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("referrers")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].starts_with("warning: the archive's 3 referrers")
            && warnings[0].contains("were not kept"),
        "{err}"
    );
    assert_eq!(under.names(), [image]);
}

/// `save --referrers` of an image nobody signed writes the image, says on stderr that its
/// registry lists no referrers, and the archive loads without any.
#[test]
fn an_unsigned_image_is_saved_with_a_note() {
    let src = Registry::start();
    let index = multi_platform("2.0.0", MediaFormat::Oci);
    push_index_http(&src, "team/plain", "2.0.0", &index);
    let image = format!("{}/team/plain:2.0.0", src.host());
    let env = TestEnv::new();
    ok(&env.run(&["pull", "--all-platforms", &image]));
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("plain.tar");
    let out = env.save_referrers(&archive, &image);
    let err = ok(&out);
    assert!(err.contains("lists no referrers of"), "{err}");
    let fresh = TestEnv::new();
    let loaded = ok(&fresh.run(&["load", "-i", archive.to_str().unwrap()]));
    assert!(!loaded.contains("referrers"), "{loaded}");
    assert_eq!(image_ids(&fresh), [index.digest[7..19].to_string()]);
}

/// A referrer in the archive whose `subject` has a sha512 digest (a descriptor the spec
/// allows, naming nothing a store holds) is left out with a warning, as `save
/// --referrers` leaves it out; the image and its other referrers load.
#[test]
fn a_referrer_of_a_sha512_subject_is_left_out_of_a_load() {
    let SavedRelease { dir, archive, .. } = saved_release();
    let payload: &[u8] = b"a signature of a sha512 manifest";
    let config: &[u8] = b"{}";
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.signature.v1+json",
        "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256_digest(config), "size": 2 },
        "layers": [{ "mediaType": "application/vnd.example.signature.v1+json", "digest": sha256_digest(payload), "size": payload.len() }],
        "subject": { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha512:{}", "ab".repeat(64)), "size": 7 },
    }))
    .unwrap();
    let blob = |b: &[u8]| format!("blobs/sha256/{}", &sha256_digest(b)[7..]);
    let extended = dir.path().join("extended.tar");
    let mut out = tar::Builder::new(std::fs::File::create(&extended).unwrap());
    let mut input = tar::Archive::new(std::fs::File::open(&archive).unwrap());
    let mut present = Vec::new();
    for entry in input.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if path == "index.json" {
            let mut index: serde_json::Value = serde_json::from_slice(&data).unwrap();
            index["manifests"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": sha256_digest(&manifest),
                    "size": manifest.len(),
                }));
            data = serde_json::to_vec(&index).unwrap();
            header.set_size(data.len() as u64);
            header.set_cksum();
        }
        present.push(path.clone());
        out.append_data(&mut header, &path, &data[..]).unwrap();
    }
    for b in [config, payload, &manifest[..]] {
        if present.contains(&blob(b)) {
            continue;
        }
        let mut header = tar::Header::new_ustar();
        header.set_size(b.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        out.append_data(&mut header, blob(b), b).unwrap();
    }
    out.into_inner().unwrap();

    let env = TestEnv::new();
    let loaded = ok(&env.run(&["load", "-i", extended.to_str().unwrap()]));
    assert!(loaded.contains("Loaded 3 referrers"), "{loaded}");
    assert!(
        loaded.contains("1 referrers in the archive refer to nothing"),
        "{loaded}"
    );
    assert_eq!(image_ids(&env).len(), 1, "{loaded}");
}
