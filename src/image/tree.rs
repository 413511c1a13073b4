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
