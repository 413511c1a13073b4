//! `imagectl save` and `imagectl load`: archives on files, stdin and stdout.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Seek, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::args::{ArchiveFormat, Cli, CompressArg, LoadArgs, SaveArgs};
use super::open_store;
use crate::archive::{self, ArchiveError, Compression, Format, SaveImage, SizeMode};
use crate::oci::{Digest, Platform, Reference};
use crate::store::{Inventory, LockMode, Resolved, resolve};

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
    if args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("refusing to write a binary archive to a terminal: give -o FILE or redirect stdout");
    }
    let platform = args
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()?;
    let store = open_store(cli)?;
    let output = args.output.clone();
    let queries = args.images.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        let _lock = store.lock(LockMode::Shared)?;
        let inventory = Inventory::load(&*store)?;
        // One archive entry per image, with every name asked for; unknown images fail
        // before anything is written.
        let mut images: Vec<SaveImage> = Vec::new();
        let mut by_target: BTreeMap<Digest, usize> = BTreeMap::new();
        for q in &queries {
            let (target, names) = match resolve(&inventory, q)? {
                Resolved::Name(image) => {
                    let names: Vec<Reference> = Reference::parse(q)
                        .ok()
                        .filter(|r| image.names.contains(r))
                        .into_iter()
                        .collect();
                    (image.target.clone(), names)
                }
                Resolved::Id(hits) => (hits[0].target.clone(), Vec::new()),
            };
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
        match output {
            Some(path) => {
                let dir = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."));
                let mut tmp = tempfile::Builder::new()
                    .prefix(".imagectl-save-")
                    .tempfile_in(dir)
                    .with_context(|| format!("creating {}", path.display()))?;
                // A file can be written again, so layer sizes may come from gzip trailers
                // (no counting pass); the rare wrong trailer means one more, exact, try.
                for sizes in [SizeMode::GzipTrailer, SizeMode::Exact] {
                    let file = tmp.as_file_mut();
                    file.set_len(0)
                        .and_then(|()| file.seek(std::io::SeekFrom::Start(0)).map(drop))
                        .with_context(|| format!("writing {}", path.display()))?;
                    let mut w = BufWriter::with_capacity(1 << 20, file);
                    match archive::save(
                        &*store,
                        &images,
                        format,
                        compression,
                        platform.as_ref(),
                        sizes,
                        &mut w,
                    ) {
                        Err(ArchiveError::TrailerSizeWrong { layer }) => {
                            tracing::info!(%layer, "gzip trailer size was wrong; saving again with exact sizes");
                            continue;
                        }
                        r => r?,
                    }
                    w.flush()
                        .with_context(|| format!("writing {}", path.display()))?;
                    break;
                }
                // A temporary file is private (0600); an archive is an ordinary file.
                use std::os::unix::fs::PermissionsExt;
                tmp.as_file()
                    .set_permissions(std::fs::Permissions::from_mode(0o644))
                    .with_context(|| format!("writing {}", path.display()))?;
                // Renamed into place only when complete, so no reader sees half an archive.
                // Not fsynced: like `docker save`, the archive's durability is the page
                // cache's (an fsync doubled the time of a 1 GiB save here).
                tmp.persist(&path)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            None => {
                let stdout = std::io::stdout();
                let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
                archive::save(
                    &*store,
                    &images,
                    format,
                    compression,
                    platform.as_ref(),
                    SizeMode::Exact,
                    &mut w,
                )?;
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
    let store = open_store(cli)?;
    let loaded = tokio::task::spawn_blocking(move || archive::load(&*store, input))
        .await
        .context("the load task failed")?
        .with_context(|| format!("loading {what}"))?;
    for l in &loaded {
        match (&l.name, &l.foreign) {
            (Some(n), _) => println!("Loaded image: {}", n.familiar()),
            (None, Some(f)) => println!("Loaded image: {f}"),
            (None, None) => println!("Loaded image ID: {}", l.id),
        }
    }
    Ok(ExitCode::SUCCESS)
}
