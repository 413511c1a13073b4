//! The state a plan produces, computed without a store: what the property tests replan
//! against to prove that applying a plan converges.

use jiff::Timestamp;

use super::model::{Action, Actual, ActualImage, ActualName, Plan};
use crate::oci::Reference;

fn unname(images: &mut [ActualImage], name: &Reference) {
    for img in images.iter_mut() {
        img.names.retain(|n| &n.name != name);
    }
}

/// Apply `plan` to `actual` as a successful executor would, at `now`. A pulled image's
/// target and ID are its pulled digest (the model needs identity, not content).
pub fn simulate(plan: &Plan, actual: &Actual, now: Timestamp) -> Actual {
    let mut images = actual.images.clone();
    let removing = plan.removal_limit.is_none();
    let mut unreferenced = actual.unreferenced_bytes;
    let mut leftovers = actual.leftover_bytes;
    for action in &plan.actions {
        match action {
            Action::Pull {
                name,
                digest,
                bytes,
                ..
            } => {
                unname(&mut images, name);
                let new = ActualName {
                    name: name.clone(),
                    source_digest: Some(digest.clone()),
                };
                match images.iter_mut().find(|i| &i.target == digest) {
                    Some(img) => img.names.push(new),
                    None => images.push(ActualImage {
                        target: digest.clone(),
                        id: digest.clone(),
                        names: vec![new],
                        foreign: false,
                        pulled_at: Some(now),
                        last_used: Some(now),
                        // What the pull downloads, as the budget counted it.
                        blobs: vec![(digest.clone(), bytes.unwrap_or(0))],
                        containers: Vec::new(),
                        pinned: None,
                    }),
                }
            }
            Action::Tag { source, target } => {
                unname(&mut images, target);
                if let Some(img) = images
                    .iter_mut()
                    .find(|i| i.names.iter().any(|n| &n.name == source))
                {
                    img.names.push(ActualName {
                        name: target.clone(),
                        source_digest: None,
                    });
                }
            }
            Action::Untag { name, .. } if removing => unname(&mut images, name),
            Action::Remove { target, names, .. } if removing => {
                images.retain(|i| {
                    !(&i.target == target && i.names.iter().all(|n| names.contains(&n.name)))
                });
            }
            Action::PruneBlobs { .. } if removing => (unreferenced, leftovers) = (0, 0),
            _ => {}
        }
    }
    // Replication is not simulated: the store's state is what the convergence tests check.
    Actual {
        images,
        unreferenced_bytes: unreferenced,
        leftover_bytes: leftovers,
        replicas: actual.replicas.clone(),
        pushed: actual.pushed.clone(),
        unreadable_ledgers: actual.unreadable_ledgers.clone(),
        referrers: actual.referrers.clone(),
    }
}
