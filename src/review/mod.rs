//! Review of a policy change before it merges: what it does to the wanted set and the
//! settings (`imagectl diff`), what it does on hosts that reported their state, and the
//! renderings a pull-request comment needs. Pure: expansions and plans are passed in.

mod diff;
mod markdown;
mod settings;
mod text;

pub use diff::{
    Added, Changed, DiffFailure, Fate, HostCheck, InUse, PolicyDiff, Removed, RepositoryDiff,
    SettingChange, Side, Summary, diff_policies, host_warnings,
};
pub use markdown::{diff_markdown, plan_markdown};
pub use text::render_diff_text;

#[cfg(test)]
mod tests;
