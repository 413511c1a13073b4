//! Test support shared by every integration test module: a real registry on a free
//! loopback port, deterministic fixture images, and the `imagectl` command.
#![allow(dead_code)]

pub mod cli;
pub mod containerd;
pub mod docker;
pub mod faults;
pub mod fixtures;
pub mod http;
pub mod output;
pub mod probe;
pub mod prom;
pub mod registry;
pub mod scenario;
pub mod signing;
pub mod stores;
pub mod tls;
pub mod token;
pub mod tools;

#[allow(unused_imports)]
pub use cli::{TestEnv, imagectl};
#[allow(unused_imports)]
pub use fixtures::{FixtureImage, FixtureIndex, MediaFormat};
#[allow(unused_imports)]
pub use output::RunExt;
#[allow(unused_imports)]
pub use probe::StoreProbe;
pub use registry::Registry;
#[allow(unused_imports)]
pub use scenario::Scenario;
