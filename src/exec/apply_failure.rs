//! What an apply tried and could not do, one value per failed action: the executor keeps
//! the error itself so a caller can tell a failed pull (whose repository then keeps every
//! image) from a failed retag or untag, and the reports print and serialise the same one
//! line they always did (`pull NAME: why`), so readers of the JSON report see no change.

use serde::{Serialize, Serializer};

use super::ExecError;
use crate::oci::Reference;
use crate::store::StoreError;

/// One failed action of an apply.
#[derive(Debug, thiserror::Error)]
pub enum ApplyFailure {
    /// Pulling a wanted image failed; nothing in its repository is removed this run.
    #[error("pull {target}: {error}")]
    Pull {
        /// The name without a digest, as the plan shows it.
        target: Reference,
        /// Why.
        error: ExecError,
    },
    /// Giving an image the name the policy wants failed.
    #[error("tag {target}: {error}")]
    Tag {
        /// The name that was to be added.
        target: Reference,
        /// Why.
        error: ExecError,
    },
    /// Dropping a name the policy no longer wants failed.
    #[error("untag {name}: {error}")]
    Untag {
        /// The name that was to go.
        name: Reference,
        /// Why.
        error: StoreError,
    },
}

impl ApplyFailure {
    /// The name the failed action was about.
    pub fn name(&self) -> &Reference {
        match self {
            Self::Pull { target, .. } | Self::Tag { target, .. } => target,
            Self::Untag { name, .. } => name,
        }
    }
}

/// The JSON report's readers get the line, as before this was a type.
impl Serialize for ApplyFailure {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON report keeps the one line per failure its readers parse.
    #[test]
    fn serialises_as_the_line_it_prints() {
        let f = ApplyFailure::Untag {
            name: "registry.local/app:1".parse().unwrap(),
            error: StoreError::io(
                "writing",
                "/store/index.json".to_string(),
                std::io::Error::other("disk full"),
            ),
        };
        let line = f.to_string();
        assert!(line.starts_with("untag registry.local/app:1: "), "{line}");
        assert_eq!(serde_json::to_value(&f).unwrap(), serde_json::json!(line));
        assert_eq!(f.name().to_string(), "registry.local/app:1");
    }
}
