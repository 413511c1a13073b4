//! Policies: the YAML files that say which images a host keeps. Reads policy files (the
//! only I/O, in `load`); everything else here is pure: the model, validation, tag selection.
//!
//! # Loading
//!
//! [`load`] takes a file or a directory. A directory's `*.yaml`/`*.yml` files (not hidden
//! ones, not subdirectories) are read in name order and merged: `images` and `registries`
//! add up; `store`, `defaults`, `prune` and `schedule` may be set in one file only
//! (identical copies in several files are accepted, different ones are an error naming
//! both places); a repository is declared by one entry across all files (digest pins of it
//! may sit beside that entry). Every problem is reported at once as `FILE:LINE:COLUMN: KEY:
//! MESSAGE`; a YAML syntax or type error stops the reading of that file only.
//!
//! YAML is strict: unknown keys, nulls, duplicate keys, YAML 1.1 booleans (`yes`),
//! unknown tags and multiple documents are errors, and parsing is bounded (depth 16,
//! 1,000 aliases, 10,000 alias-replayed nodes, 4 MiB) so an alias bomb fails at once.
//!
//! # Tag selection
//!
//! An entry wants its explicit `tags` plus the tags its selector picks from the
//! registry's tag list ([`select_tags`]; explicit tags first, in the order written, even if
//! the registry does not list them, then the selector's picks best first, no repeats).
//!
//! A selector exists when an entry has any of `match`, `semver` or `keep`; `by` alone is an
//! error, and so is `keep: 0`. Its candidates are the available tags that
//!
//! - match `match` as a whole tag (the pattern is anchored: `1\.2` does not pick `1.25`);
//! - if `semver` is set, parse as versions ([`parse_version`]: `v1.2.3`, `1.2` = 1.2.0,
//!   `1` = 1.0.0, `1.25-alpine` = 1.25.0 with pre-release `alpine`) that satisfy the range,
//!   with the `semver` crate's rules (a pre-release satisfies a range only if the range
//!   names a pre-release of the same version, e.g. `>=1.3.0-rc.0`);
//! - with `by: semver` (the default): parse as versions at all, and, when neither
//!   `semver` nor `match` is given, are not pre-releases (so `keep: 3` alone means the three
//!   newest releases; a `match` such as `'^\d+\.\d+-alpine$'` opts in to flavour tags).
//!
//! Candidates are ordered newest first: `by: semver` by version (equal versions by tag,
//! reverse lexicographic), `by: created` by the image's creation time (tags whose time is
//! unknown last), `by: name` reverse lexicographic (for date-stamped tags). `keep: N` keeps
//! the first N; without `keep` every candidate is wanted. A digest pin wants no tags.

mod ctx;
mod error;
mod image_spec;
mod keypath;
mod load;
mod merge;
mod model;
mod platform_list;
mod raw;
mod registry_spec;
mod schema;
mod select;
mod store_spec;
mod validate;
mod values;
mod version;

pub use error::{PolicyError, PolicyErrors};
pub use load::{load, load_registries};
pub use model::{
    DEFAULT_MAX_REMOVALS, Defaults, ImageSpec, Order, Origin, Policy, PruneSpec, RegistrySpec,
    ReplicateSpec, Selector, StoreSpec, Unmanaged,
};
pub use schema::schema;
pub use select::select_tags;
pub(crate) use values::parse_duration;
pub use version::parse_version;
