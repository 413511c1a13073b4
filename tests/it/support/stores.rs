//! The store under test, whichever backend it is: the embedded layout, a Debian 12 dockerd
//! (20.10, classic image store), a newer dockerd with the containerd image store, or
//! containerd itself (Debian 12's 1.6 and sid's 2.x, namespace k8s.io). Tests run
//! `imagectl` against it and look at it through [`Under`]'s probe, which reads the store the
//! way an independent tool would (the layout's `index.json`, the docker CLI, `ctr`), so one
//! test body serves every backend.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::cli::{TestEnv, imagectl_with_home, store_refs};
use super::containerd::{Containerd, Version};
use super::docker::Dockerd;

/// Which backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Embedded,
    DockerClassic,
    DockerContainerd,
    Containerd16,
    Containerd17,
    Containerd2,
}

/// A store of one kind, empty at first, with its own `HOME` and state directory.
pub struct Under {
    pub kind: Kind,
    pub env: TestEnv,
    pub dockerd: Option<Dockerd>,
    pub containerd: Option<Containerd>,
}

impl Under {
    pub fn new(kind: Kind) -> Under {
        let dockerd = match kind {
            Kind::DockerClassic => Some(Dockerd::start()),
            Kind::DockerContainerd => Some(Dockerd::builder().containerd_store().start()),
            _ => None,
        };
        let containerd = match kind {
            Kind::Containerd16 => Some(Containerd::start(Version::V16)),
            Kind::Containerd17 => Some(Containerd::start(Version::V17)),
            Kind::Containerd2 => Some(Containerd::start(Version::V2)),
            _ => None,
        };
        Under {
            kind,
            env: TestEnv::new(),
            dockerd,
            containerd,
        }
    }

    /// What `--store` says for this store.
    pub fn spec(&self) -> PathBuf {
        match (&self.dockerd, &self.containerd) {
            (Some(d), _) => PathBuf::from(format!("docker:{}", d.host())),
            (_, Some(c)) => PathBuf::from(c.store()),
            _ => self.env.store.clone(),
        }
    }

    /// `imagectl --store SPEC` with this store's `HOME` and state directory.
    pub fn imagectl(&self) -> assert_cmd::Command {
        let mut cmd = imagectl_with_home(&self.spec(), &self.env.home);
        cmd.env("IMAGECTL_STATE_DIR", self.env.root.path().join("state"));
        // The scenarios make and drop images within seconds: the kubelet's minimum age
        // (tested on its own in `containerd`) would keep them all.
        cmd.env("IMAGECTL_CONTAINERD_MIN_AGE", "0s");
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
            .env("IMAGECTL_CONTAINERD_MIN_AGE", "0s")
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

    /// The containerd (containerd kinds only).
    pub fn containerd(&self) -> &Containerd {
        self.containerd.as_ref().expect("a containerd store")
    }

    /// Probe: every name in the store, in docker's short form (`local/x:1`,
    /// `127.0.0.1:5000/demo/a:1.0`), sorted.
    pub fn names(&self) -> Vec<String> {
        if let Some(c) = &self.containerd {
            // Tag records only: CRI's `repo@digest` and `sha256:<config>` records are not names.
            let mut names: Vec<String> = c
                .records()
                .into_iter()
                .filter(|r| !r.contains('@') && !r.starts_with("sha256:"))
                .map(|n| {
                    let n = n.strip_prefix("docker.io/").unwrap_or(&n).to_string();
                    n.strip_prefix("library/").unwrap_or(&n).to_string()
                })
                .collect();
            names.sort();
            return names;
        }
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
        if let Some(c) = &self.containerd {
            let mut targets: Vec<String> = c
                .ctr_ok(&["images", "ls"])
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().nth(2).map(String::from))
                .collect();
            targets.sort();
            targets.dedup();
            return targets.len();
        }
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
