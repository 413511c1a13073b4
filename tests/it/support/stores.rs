//! The store under test, whichever backend it is: the embedded layout, a Debian 12 dockerd
//! (20.10, classic image store) or a newer dockerd with the containerd image store. Tests
//! run `imagectl` against it and look at it through [`Under`]'s probe, which reads the
//! store the way an independent tool would (the layout's `index.json`, the docker CLI),
//! so one test body serves every backend.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::cli::{TestEnv, imagectl_with_home, store_refs};
use super::docker::Dockerd;

/// Which backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Embedded,
    DockerClassic,
    DockerContainerd,
}

/// A store of one kind, empty at first, with its own `HOME` and state directory.
pub struct Under {
    pub kind: Kind,
    pub env: TestEnv,
    pub dockerd: Option<Dockerd>,
}

impl Under {
    pub fn new(kind: Kind) -> Under {
        let dockerd = match kind {
            Kind::Embedded => None,
            Kind::DockerClassic => Some(Dockerd::start()),
            Kind::DockerContainerd => Some(Dockerd::builder().containerd_store().start()),
        };
        Under {
            kind,
            env: TestEnv::new(),
            dockerd,
        }
    }

    /// What `--store` says for this store.
    pub fn spec(&self) -> PathBuf {
        match &self.dockerd {
            Some(d) => PathBuf::from(format!("docker:{}", d.host())),
            None => self.env.store.clone(),
        }
    }

    /// `imagectl --store SPEC` with this store's `HOME` and state directory.
    pub fn imagectl(&self) -> assert_cmd::Command {
        let mut cmd = imagectl_with_home(&self.spec(), &self.env.home);
        cmd.env("IMAGECTL_STATE_DIR", self.env.root.path().join("state"));
        cmd
    }

    /// The same as a plain process, for tests that feed and kill it.
    pub fn process(&self) -> Command {
        let mut cmd = Command::new(super::cli::imagectl_bin());
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.env.home)
            .env("NO_COLOR", "1")
            .env("IMAGECTL_STATE_DIR", self.env.root.path().join("state"))
            .arg("--store")
            .arg(self.spec());
        cmd
    }

    /// Runs `imagectl ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.imagectl().args(args).output().unwrap()
    }

    /// Runs `imagectl ARGS`, asserting success; stdout and stderr.
    pub fn ok(&self, args: &[&str]) -> String {
        super::cli::succeeded(&self.run(args))
    }

    /// The daemon (docker kinds only).
    pub fn docker(&self) -> &Dockerd {
        self.dockerd.as_ref().expect("a docker store")
    }

    /// Probe: every name in the store, in docker's short form (`local/x:1`,
    /// `127.0.0.1:5000/demo/a:1.0`), sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = match &self.dockerd {
            None => {
                if !self.env.store.join("index.json").exists() {
                    return Vec::new();
                }
                store_refs(&self.env.store)
                    .into_iter()
                    .map(|n| {
                        let n = n.strip_prefix("docker.io/").unwrap_or(&n).to_string();
                        n.strip_prefix("library/").unwrap_or(&n).to_string()
                    })
                    .collect()
            }
            Some(d) => d
                .docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
                .lines()
                .filter(|l| !l.contains("<none>"))
                .map(String::from)
                .collect(),
        };
        names.sort();
        names.dedup();
        names
    }

    /// Probe: how many images the store holds, named or not.
    pub fn image_count(&self) -> usize {
        match &self.dockerd {
            None => {
                if !self.env.store.join("index.json").exists() {
                    return 0;
                }
                let index = super::cli::store_index(&self.env.store);
                let mut targets: Vec<String> = index["manifests"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["digest"].as_str().unwrap().to_string())
                    .collect();
                targets.sort();
                targets.dedup();
                targets.len()
            }
            Some(d) => d.docker_ok(&["images", "-q", "--no-trunc"]).lines().count(),
        }
    }

    pub fn is_docker(&self) -> bool {
        self.dockerd.is_some()
    }
}
