//! `imagectl save` and `imagectl load`: archives on files, stdin and stdout.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Seek, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use super::args::{ArchiveFormat, Cli, CompressArg, LoadArgs, SaveArgs};
use super::format::print_json;
use super::open_store;
use crate::archive::{self, ArchiveError, Compression, Format, SaveImage, SaveOptions, SizeMode};
use crate::oci::{Descriptor, Digest, Platform, Reference};
use crate::store::{InventoryImage, LockMode, Resolved, resolve};

pub(super) async fn save(cli: &Cli, args: &SaveArgs) -> Result<ExitCode> {
    let format = match args.format {
        ArchiveFormat::Docker => Format::Docker,
        ArchiveFormat::Oci => Format::Oci,
    };
    let compression = match args.compress {
        Some(CompressArg::None) => Compression::None,
        Some(CompressArg::Gzip) => Compression::Gzip,
        Some(CompressArg::Zstd) => Compression::Zstd,
        Some(CompressArg::Xz) => Compression::Xz,
        Some(CompressArg::Bzip2) => Compression::Bzip2,
        None => args
            .output
            .as_ref()
            .and_then(|p| Compression::from_file_name(&p.to_string_lossy()))
            .unwrap_or_default(),
    };
    if args.referrers && format != Format::Oci {
        bail!(
            "--referrers needs --format oci: a docker-archive has no place for referrers (signatures, attestations, SBOMs)"
        );
    }
    if args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("refusing to write a binary archive to a terminal: give -o FILE or redirect stdout");
    }
    let platform = args
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()?;
    let store = open_store(cli).await?;
    let output = args.output.clone();
    let queries = args.images.clone();
    let _lock = store.lock(LockMode::Shared).await?;
    let inventory = store.inventory().await?;
    // Unknown images fail before anything is exported or written.
    let mut chosen: Vec<(&str, &InventoryImage, Vec<Reference>)> = Vec::new();
    for q in &queries {
        chosen.push(match resolve(&inventory, q)? {
            Resolved::Name(image) => {
                let names: Vec<Reference> = Reference::parse(q)
                    .ok()
                    .filter(|r| image.names.contains(r))
                    .into_iter()
                    .collect();
                (q, image, names)
            }
            Resolved::Id(hits) => (q, hits[0], Vec::new()),
        });
    }
    let wanted: Vec<&InventoryImage> = chosen.iter().map(|(_, i, _)| *i).collect();
    // Where each image's referrers are, when the store keeps none: the registry of the
    // name it was asked by (or its only name).
    let chosen_names: Vec<(String, &InventoryImage, Option<Reference>)> = chosen
        .iter()
        .map(|(q, i, names)| {
            let name = names.first().or_else(|| i.names.first()).cloned();
            (q.to_string(), *i, name)
        })
        .collect();
    let export = store
        .export(&wanted, Arc::new(archive::Codec))
        .await
        .with_context(|| format!("exporting from {}", store.location()))?;
    let mut picked: Vec<(String, Descriptor, Vec<Reference>)> = Vec::new();
    for (q, image, names) in chosen {
        let staged = export
            .staged(image)
            .with_context(|| format!("{q}: the export from {} lacks it", store.location()))?;
        picked.push((q.to_string(), staged.target, names));
    }
    let content = export.content();
    let referrers = if args.referrers {
        let images: Vec<super::save_referrers::Saved> = chosen_names
            .iter()
            .zip(&picked)
            .map(|((q, i, n), (_, target, _))| super::save_referrers::Saved {
                query: q,
                image: i,
                target,
                name: n.as_ref(),
            })
            .collect();
        let platform = platform.as_ref();
        super::save_referrers::gather(cli, &inventory, &images, platform, content.clone()).await?
    } else {
        Vec::new()
    };
    tokio::task::spawn_blocking(move || -> Result<()> {
        let _export = export;
        // One archive entry per image, with every name asked for.
        let mut images: Vec<SaveImage> = Vec::new();
        let mut by_target: BTreeMap<Digest, usize> = BTreeMap::new();
        for (q, target, names) in picked {
            let q = &q;
            match by_target.get(&target.digest) {
                Some(&i) => {
                    for n in names {
                        if !images[i].names.contains(&n) {
                            images[i].names.push(n);
                        }
                    }
                }
                None => {
                    by_target.insert(target.digest.clone(), images.len());
                    images.push(SaveImage {
                        query: q.clone(),
                        names,
                        target,
                    });
                }
            }
        }
        let opts = SaveOptions {
            format,
            compression,
            platform: platform.as_ref(),
            sizes: SizeMode::Exact,
            referrers: &referrers,
        };
        match output {
            Some(path) => {
                let written = |e| anyhow::Error::new(e).context(format!("writing {}", path.display()));
                let mut out = archive::OutputFile::create(&path).map_err(written)?;
                // A file can be written again, so layer sizes may come from gzip trailers
                // (no counting pass); the rare wrong trailer means one more, exact, try.
                for sizes in [SizeMode::GzipTrailer, SizeMode::Exact] {
                    let file = out.file_mut();
                    file.set_len(0)
                        .and_then(|()| file.seek(std::io::SeekFrom::Start(0)).map(drop))
                        .map_err(written)?;
                    let opts = SaveOptions { sizes, ..opts };
                    match archive::save_file(&*content, &images, &opts, file) {
                        Err(ArchiveError::TrailerSizeWrong { layer }) => {
                            tracing::info!(%layer, "gzip trailer size was wrong; saving again with exact sizes");
                            continue;
                        }
                        r => r?,
                    }
                    break;
                }
                out.persist().map_err(written)?;
            }
            None => {
                let stdout = std::io::stdout();
                let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
                archive::save(&*content, &images, &opts, &mut w)?;
                w.flush().context("writing the archive to stdout")?;
            }
        }
        Ok(())
    })
    .await
    .context("the save task failed")??;
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn load(cli: &Cli, args: &LoadArgs) -> Result<ExitCode> {
    let (input, what): (Box<dyn Read + Send>, String) = match &args.input {
        Some(p) => (
            Box::new(File::open(p).with_context(|| format!("opening {}", p.display()))?),
            p.display().to_string(),
        ),
        None => {
            if std::io::stdin().is_terminal() {
                bail!("no archive on stdin: give -i FILE or pipe one in");
            }
            (Box::new(std::io::stdin()), "stdin".to_string())
        }
    };
    let store = open_store(cli).await?;
    // Into the store's import: on a daemon, every check runs on the staging copy before
    // a byte reaches the daemon.
    let import = store.import(Arc::new(archive::Codec)).await?;
    let content = import.content();
    let report = tokio::task::spawn_blocking(move || archive::load(&*content, input))
        .await
        .context("the load task failed")?
        .with_context(|| format!("loading {what}"))?;
    let loaded = report.images;
    import
        .commit(&[])
        .await
        .with_context(|| format!("loading {what} into {}", store.location()))?;
    let kept = super::save_referrers::loaded(&*store, report.referrers);
    if args.output.json() {
        let images: Vec<_> = loaded
            .iter()
            .map(|l| {
                serde_json::json!({
                    "name": l.name.as_ref().map(|n| n.to_string()).or_else(|| l.foreign.clone()),
                    "id": l.id.to_string(),
                })
            })
            .collect();
        print_json(&serde_json::json!({ "loaded": images, "referrers": kept }))?;
        return Ok(ExitCode::SUCCESS);
    }
    for l in &loaded {
        match (&l.name, &l.foreign) {
            (Some(n), _) => println!("Loaded image: {}", n.familiar()),
            (None, Some(f)) => println!("Loaded image: {f}"),
            (None, None) => println!("Loaded image ID: {}", l.id),
        }
    }
    if kept > 0 && !args.quiet {
        println!("Loaded {kept} referrers (signatures, attestations, SBOMs)");
    }
    Ok(ExitCode::SUCCESS)
}
