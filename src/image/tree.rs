//! The one walker: from a top manifest down through the index entries an operation takes,
//! reading every manifest (and, when asked, every config) from one [`ImageSource`].

use bytes::Bytes;

use super::ImageSource;
use super::select::{NoPlatform, Selection, pick};
use crate::oci::{Descriptor, Digest, Manifest, ManifestError};

/// A manifest or index as a medium holds it.
#[derive(Clone, Debug)]
pub struct Node {
    /// How its parent (or the caller, for the top) names it.
    pub desc: Descriptor,
    /// The bytes, verified against `desc`.
    pub bytes: Bytes,
    /// The bytes parsed.
    pub manifest: Manifest,
    /// The config of an image manifest, when the walk read configs.
    pub config: Option<Bytes>,
}

impl Node {
    /// A node whose bytes were read by other means (a registry GET by tag), checked to
    /// parse under `desc`'s media type.
    pub fn parse(desc: Descriptor, bytes: Bytes) -> Result<Self, ManifestError> {
        let manifest = Manifest::parse(&bytes, Some(&desc.media_type))?;
        Ok(Self {
            desc,
            bytes,
            manifest,
            config: None,
        })
    }

    /// Read and parse the manifest `desc` names, as the top of a walk.
    pub async fn read<S: ImageSource>(
        source: &S,
        desc: &Descriptor,
    ) -> Result<Self, WalkError<S::Error>> {
        read_node(source, desc, None).await
    }

    /// The config descriptor of an image manifest.
    pub fn config_desc(&self) -> Option<&Descriptor> {
        match &self.manifest {
            Manifest::Image { config, .. } => Some(config),
            Manifest::Index { .. } => None,
        }
    }

    /// The layers of an image manifest (none for an index).
    pub fn layers(&self) -> &[Descriptor] {
        match &self.manifest {
            Manifest::Image { layers, .. } => layers,
            Manifest::Index { .. } => &[],
        }
    }
}

/// How to walk.
#[derive(Clone, Copy, Debug)]
pub struct Walk<'a> {
    /// Which entries of a top index to take.
    pub select: Selection<'a>,
    /// Read each image manifest's config into its node.
    pub configs: bool,
}

impl Walk<'_> {
    /// Every platform, manifests only.
    pub const WHOLE: Walk<'static> = Walk {
        select: Selection::All,
        configs: false,
    };
}

/// Which part of an image a read was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// A manifest or index.
    Manifest,
    /// An image config.
    Config,
}

/// Why a walk stopped (or, in a survey, what it walked past).
#[derive(Debug, thiserror::Error)]
pub enum WalkError<E> {
    /// The medium could not give a manifest or config.
    #[error("{error}")]
    Read {
        /// A manifest or a config.
        part: Part,
        /// What was read.
        desc: Descriptor,
        /// The manifest that names it (`None` for the top).
        named_by: Option<Digest>,
        /// The medium's own error.
        error: E,
    },
    /// Bytes that are not a manifest imagectl can use.
    #[error("manifest {}: {source}", .desc.digest)]
    Manifest {
        /// What was read.
        desc: Descriptor,
        /// The manifest that names it (`None` for the top).
        named_by: Option<Digest>,
        /// The parser's complaint.
        source: ManifestError,
    },
    /// An index entry that is itself an index, which no mainstream tool produces for an
    /// image and no operation but the survey takes.
    #[error("{index} is an index of indexes")]
    NestedIndex {
        /// The top index.
        index: Digest,
    },
    /// Platforms asked for that the index lacks.
    #[error(transparent)]
    Platform(NoPlatform),
}

/// An image being moved: its top manifest and the manifests below it that the operation
/// takes. Config and layer blobs are listed by [`ImageTree::blobs`], not read.
#[derive(Clone, Debug)]
pub struct ImageTree {
    /// The manifest or index the operation starts from.
    pub top: Node,
    /// Manifests below the top, in index order (a nested index, which only a survey
    /// takes, is followed by its own entries).
    pub children: Vec<Node>,
    /// Every entry of the top index was taken (always, for an image manifest).
    pub whole: bool,
}

impl ImageTree {
    /// Read the image `top` names from `source`.
    pub async fn read<S: ImageSource>(
        source: &S,
        top: &Descriptor,
        how: &Walk<'_>,
    ) -> Result<Self, WalkError<S::Error>> {
        let top = read_node(source, top, None).await?;
        Self::below(source, top, how).await
    }

    /// Read what is below a top manifest the caller already holds.
    pub async fn below<S: ImageSource>(
        source: &S,
        top: Node,
        how: &Walk<'_>,
    ) -> Result<Self, WalkError<S::Error>> {
        let picked: Vec<Descriptor> = pick(&top.manifest, &how.select)
            .map_err(WalkError::Platform)?
            .into_iter()
            .cloned()
            .collect();
        let whole = match &top.manifest {
            Manifest::Index { manifests, .. } => picked.len() == manifests.len(),
            Manifest::Image { .. } => true,
        };
        let mut children = Vec::with_capacity(picked.len());
        for d in &picked {
            let node = read_node(source, d, Some(&top.desc.digest)).await?;
            if matches!(node.manifest, Manifest::Index { .. }) {
                return Err(WalkError::NestedIndex {
                    index: top.desc.digest.clone(),
                });
            }
            children.push(node);
        }
        let mut tree = Self {
            top,
            children,
            whole,
        };
        if how.configs {
            for node in tree.images_mut() {
                let Some(desc) = node.config_desc().cloned() else {
                    continue;
                };
                let bytes = source
                    .config(&desc)
                    .await
                    .map_err(|error| WalkError::Read {
                        part: Part::Config,
                        desc,
                        named_by: Some(node.desc.digest.clone()),
                        error,
                    })?;
                node.config = Some(bytes);
            }
        }
        Ok(tree)
    }

    /// Every manifest under `top`, indexes of indexes included, walking past what is
    /// damaged ([`ImageSource::is_damage`], unparsable manifests) and recording it in
    /// `damage`: what a store's inventory needs, which must count every blob an image
    /// still has. `None` when the top itself is damaged. Fails only when the medium does.
    pub async fn survey<S: ImageSource>(
        source: &S,
        top: &Descriptor,
        damage: &mut Vec<WalkError<S::Error>>,
    ) -> Result<Option<Self>, S::Error> {
        let mut keep = |e: WalkError<S::Error>| match e {
            WalkError::Read { error, .. } if !S::is_damage(&error) => Err(error),
            e => {
                damage.push(e);
                Ok(())
            }
        };
        let top = match read_node(source, top, None).await {
            Ok(n) => n,
            Err(e) => return keep(e).map(|()| None),
        };
        let mut children = Vec::new();
        // Depth first, in index order: (descriptor, the index naming it).
        let mut pending: Vec<(Descriptor, Digest)> = Vec::new();
        let push_entries = |pending: &mut Vec<(Descriptor, Digest)>, node: &Node| {
            if let Manifest::Index { manifests, .. } = &node.manifest {
                for m in manifests.iter().rev() {
                    pending.push((m.clone(), node.desc.digest.clone()));
                }
            }
        };
        push_entries(&mut pending, &top);
        while let Some((desc, parent)) = pending.pop() {
            match read_node(source, &desc, Some(&parent)).await {
                Ok(node) => {
                    push_entries(&mut pending, &node);
                    children.push(node);
                }
                Err(e) => keep(e)?,
            }
        }
        Ok(Some(Self {
            top,
            children,
            whole: true,
        }))
    }

    /// The image manifests: the top, or the index's entries.
    pub fn images(&self) -> impl Iterator<Item = &Node> {
        std::iter::once(&self.top)
            .chain(&self.children)
            .filter(|n| matches!(n.manifest, Manifest::Image { .. }))
    }

    fn images_mut(&mut self) -> impl Iterator<Item = &mut Node> {
        std::iter::once(&mut self.top)
            .chain(&mut self.children)
            .filter(|n| matches!(n.manifest, Manifest::Image { .. }))
    }

    /// Every config and layer the images need, each once, in manifest order.
    pub fn blobs(&self) -> Vec<Descriptor> {
        let mut seen = std::collections::HashSet::new();
        self.images()
            .flat_map(|n| n.manifest.blobs())
            .filter(|b| seen.insert(b.digest.clone()))
            .cloned()
            .collect()
    }

    /// Whether the top is an index.
    pub fn is_index(&self) -> bool {
        matches!(self.top.manifest, Manifest::Index { .. })
    }
}

/// Read and parse one manifest.
async fn read_node<S: ImageSource>(
    source: &S,
    desc: &Descriptor,
    named_by: Option<&Digest>,
) -> Result<Node, WalkError<S::Error>> {
    let bytes = source
        .manifest(desc)
        .await
        .map_err(|error| WalkError::Read {
            part: Part::Manifest,
            desc: desc.clone(),
            named_by: named_by.cloned(),
            error,
        })?;
    Node::parse(desc.clone(), bytes).map_err(|source| WalkError::Manifest {
        desc: desc.clone(),
        named_by: named_by.cloned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::image::{local, stored_form};
    use crate::oci::{Platform, media};

    /// Content by digest; absent digests fail as damage.
    #[derive(Default)]
    struct Memory(HashMap<Digest, Bytes>);

    #[derive(Debug, PartialEq)]
    enum Gone {
        Absent(Digest),
        Broken,
    }

    impl Memory {
        fn put(&mut self, media_type: &str, json: String) -> Descriptor {
            let bytes = Bytes::from(json);
            let digest = Digest::of(&bytes);
            self.0.insert(digest.clone(), bytes.clone());
            Descriptor {
                media_type: media_type.into(),
                digest,
                size: bytes.len() as u64,
                platform: None,
            }
        }

        fn get(&self, d: &Descriptor) -> Result<Bytes, Gone> {
            if d.media_type == "broken" {
                return Err(Gone::Broken);
            }
            self.0
                .get(&d.digest)
                .cloned()
                .ok_or(Gone::Absent(d.digest.clone()))
        }

        /// An image manifest with its own config (`name`) and one layer.
        fn image(&mut self, name: &str, layer: &str) -> Descriptor {
            let cfg = self.put(media::OCI_CONFIG, format!(r#"{{"name":"{name}"}}"#));
            let layer = Digest::of(layer.as_bytes());
            self.put(
                media::OCI_MANIFEST,
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":{}}},"layers":[{{"mediaType":"{}","digest":"{layer}","size":1}}]}}"#,
                    media::OCI_MANIFEST,
                    media::OCI_CONFIG,
                    cfg.digest,
                    cfg.size,
                    media::OCI_LAYER_GZIP
                ),
            )
        }

        fn index(&mut self, entries: &[(&Descriptor, &str)]) -> Descriptor {
            let list: Vec<String> = entries
                .iter()
                .map(|(d, arch)| {
                    format!(
                        r#"{{"mediaType":"{}","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"{arch}"}}}}"#,
                        d.media_type, d.digest, d.size
                    )
                })
                .collect();
            self.put(
                media::OCI_INDEX,
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{}]}}"#,
                    media::OCI_INDEX,
                    list.join(",")
                ),
            )
        }
    }

    impl ImageSource for Memory {
        type Error = Gone;
        async fn manifest(&self, d: &Descriptor) -> Result<Bytes, Gone> {
            self.get(d)
        }
        async fn config(&self, d: &Descriptor) -> Result<Bytes, Gone> {
            self.get(d)
        }
        async fn blob_size(&self, d: &Descriptor) -> Result<Option<u64>, Gone> {
            Ok(self.0.get(&d.digest).map(|b| b.len() as u64))
        }
        fn is_damage(e: &Gone) -> bool {
            matches!(e, Gone::Absent(_))
        }
    }

    /// A platform selection walks only those entries, reads their configs when asked, and
    /// lists each blob once; the stored form of a partial index is a new index of them.
    #[test]
    fn selection_walks_only_what_it_takes() {
        let mut m = Memory::default();
        let amd = m.image("amd", "shared");
        let arm = m.image("arm", "shared");
        let index = m.index(&[(&amd, "amd64"), (&arm, "arm64")]);
        let want = [Platform::new("linux", "arm64", None)];
        let walk = Walk {
            select: Selection::Each(&want),
            configs: true,
        };
        let tree = local(ImageTree::read(&m, &index, &walk)).unwrap();
        assert!(!tree.whole);
        assert_eq!(tree.children.len(), 1);
        assert_eq!(tree.children[0].desc.digest, arm.digest);
        assert!(tree.children[0].config.is_some());
        assert_eq!(tree.blobs().len(), 2);
        let stored = stored_form(&tree, true).unwrap();
        assert_ne!(stored.target.digest, index.digest);
        assert_eq!(stored.documents.len(), 2);
        let single = stored_form(&tree, false).unwrap();
        assert_eq!(single.target.digest, arm.digest);

        let whole = local(ImageTree::read(&m, &index, &Walk::WHOLE)).unwrap();
        assert!(whole.whole);
        assert_eq!(
            stored_form(&whole, true).unwrap().target.digest,
            index.digest
        );
        // Both images share one layer: three blobs, not four.
        assert_eq!(whole.blobs().len(), 3);
    }

    /// A survey walks past an absent entry (recording it) and into an index of indexes,
    /// but stops on a failure of the medium itself; a strict walk refuses both.
    #[test]
    fn survey_records_damage_and_stops_only_on_the_medium() {
        let mut m = Memory::default();
        let a = m.image("a", "a");
        let gone = Descriptor {
            digest: Digest::of(b"not stored"),
            ..a.clone()
        };
        let inner = m.index(&[(&a, "amd64")]);
        let top = m.index(&[(&inner, "amd64"), (&gone, "arm64")]);
        let mut damage = Vec::new();
        let tree = local(ImageTree::survey(&m, &top, &mut damage))
            .unwrap()
            .unwrap();
        assert_eq!(tree.children.len(), 2, "the inner index and its image");
        assert_eq!(tree.images().count(), 1);
        assert!(matches!(
            damage.as_slice(),
            [WalkError::Read { error: Gone::Absent(d), .. }] if *d == gone.digest
        ));
        assert!(matches!(
            local(ImageTree::read(&m, &top, &Walk::WHOLE)),
            Err(WalkError::NestedIndex { .. })
        ));
        let broken = Descriptor {
            media_type: "broken".into(),
            ..a
        };
        let top = m.index(&[(&broken, "amd64")]);
        assert_eq!(
            local(ImageTree::survey(&m, &top, &mut Vec::new())).unwrap_err(),
            Gone::Broken
        );
    }
}
