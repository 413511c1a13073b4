//! `imagectl df`, `imagectl prune` and `imagectl fsck`.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use jiff::Timestamp;

use super::args::Cli;
use super::format::{Format, align, human_ago, human_size, print_json};
use super::open_store;
use crate::exec::{fsck as run_fsck, prune as run_prune, prune_candidates};
use crate::report::disk_usage;

fn percent(part: u64, whole: u64) -> String {
    format!("{}%", (part * 100).checked_div(whole).unwrap_or(0))
}

pub(super) async fn df(cli: &Cli, verbose: bool, format: Option<&str>) -> Result<ExitCode> {
    let format = Format::parse(format)?;
    let store = open_store(cli).await?;
    let inventory = store.inventory().await?;
    let mut usage = disk_usage(&inventory, &store.content_sizes(&inventory).await?);
    usage.image_fs_used = store.image_fs_used().await;
    usage.leftovers = store.leftovers().await?;
    usage.reclaimable += usage.leftovers;
    if let Some(Format::Json) = format {
        println!("{}", serde_json::to_string_pretty(&usage)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(f) = format {
        print!("{}", f.render(std::slice::from_ref(&usage), None)?);
        return Ok(ExitCode::SUCCESS);
    }
    let summary = vec![
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
            .map(String::from)
            .to_vec(),
        vec![
            "Images".into(),
            usage.images.to_string(),
            usage.active.to_string(),
            human_size(usage.total_size),
            format!(
                "{} ({})",
                human_size(usage.reclaimable),
                percent(usage.reclaimable, usage.total_size)
            ),
        ],
    ];
    if !verbose {
        print!("{}", align(&summary));
        if usage.leftovers > 0 {
            println!(
                "\nLeftovers of interrupted writes: {} (reclaimable; the next pull, load or apply removes them)",
                human_size(usage.leftovers)
            );
        }
        if let Some(used) = usage.image_fs_used {
            println!("\nUnpacked layers (snapshotter): {}", human_size(used));
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!("Images space usage:\n");
    let now = Timestamp::now();
    let created: std::collections::HashMap<String, Option<Timestamp>> = inventory
        .images
        .iter()
        .map(|i| (i.id.short().to_string(), i.created))
        .collect();
    let mut table = vec![
        [
            "REPOSITORY",
            "TAG",
            "IMAGE ID",
            "CREATED",
            "SIZE",
            "SHARED SIZE",
            "UNIQUE SIZE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for u in &usage.per_image {
        table.push(vec![
            u.repository.clone(),
            u.tag.clone(),
            u.id.clone(),
            human_ago(created.get(&u.id).copied().flatten(), now),
            human_size(u.size),
            human_size(u.shared_size),
            human_size(u.unique_size),
        ]);
    }
    print!("{}", align(&table));
    println!(
        "\nTotal: {} in {} images; {} reclaimable ({} in blobs no image uses)",
        human_size(usage.total_size),
        usage.images,
        human_size(usage.reclaimable),
        human_size(usage.unreferenced)
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn prune(cli: &Cli, all: bool, force: bool, json: bool) -> Result<ExitCode> {
    let store = open_store(cli).await?;
    if !force {
        let inventory = store.inventory().await?;
        let n = prune_candidates(&inventory, all).len();
        let what = if all && inventory.containers_known {
            "all images without at least one container associated to them"
        } else if all {
            "all images (every image in this store)"
        } else {
            "all dangling images"
        };
        eprint!(
            "WARNING! This will remove {what} ({n} now) and every blob no remaining image uses from {}.\nAre you sure you want to continue? [y/N] ",
            store.location()
        );
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        // End of input (no terminal, nothing piped) reads as "no".
        std::io::stdin().lock().read_line(&mut answer).ok();
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            eprintln!();
            bail!("prune cancelled: nothing was removed (pass -f to prune without asking)");
        }
    }
    let report = run_prune(&*store, all).await?;
    if json {
        // The Engine API's answer to POST /images/prune, plus the images kept in use.
        let deleted: Vec<_> = report
            .images
            .iter()
            .flat_map(|(id, names)| {
                names
                    .iter()
                    .map(|n| serde_json::json!({ "Untagged": n }))
                    .chain([serde_json::json!({ "Deleted": id })])
            })
            .collect();
        print_json(&serde_json::json!({
            "ImagesDeleted": deleted,
            "SpaceReclaimed": report.reclaimed,
            "InUse": report.in_use,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if !report.images.is_empty() {
        println!("Deleted Images:");
        for (id, names) in &report.images {
            for n in names {
                println!("untagged: {n}");
            }
            println!("deleted: {id}");
        }
        println!();
    }
    if report.in_use > 0 {
        eprintln!(
            "kept {} images that containers use (remove the containers first)",
            report.in_use
        );
    }
    println!("Total reclaimed space: {}", human_size(report.reclaimed));
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn fsck(cli: &Cli, json: bool) -> Result<ExitCode> {
    let store = open_store(cli).await?;
    let Some(content) = store.content() else {
        let instead = match store.backend() {
            crate::store::Backend::Containerd => {
                "containerd verifies its own content as it writes it (use `imagectl images` and `ctr content ls`)"
            }
            _ => {
                "the Engine verifies its own layers (use `imagectl images` and `docker image inspect`)"
            }
        };
        bail!(
            "fsck checks blobs, and {} at {} keeps none imagectl can read: {instead}",
            store.backend().describe(),
            store.location()
        );
    };
    let report = tokio::task::spawn_blocking(move || run_fsck(&*content))
        .await
        .context("the fsck task failed")??;
    if json {
        print_json(&serde_json::json!({
            "store": store.location(),
            "blobs": report.blobs,
            "bytes": report.bytes,
            "images": report.images,
            "referrers": report.referrers,
            "problems": report.problems,
        }))?;
        if report.problems.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!(
            "error: {} problems in {} (pull or load damaged images again; `imagectl prune` removes unreferenced blobs)",
            report.problems.len(),
            store.location()
        );
        return Ok(ExitCode::FAILURE);
    }
    for p in &report.problems {
        println!("{p}");
    }
    let referrers = match report.referrers {
        0 => String::new(),
        n => format!(" and {n} referrers"),
    };
    let summary = format!(
        "checked {} blobs ({}) and {} images{referrers} in {}",
        report.blobs,
        human_size(report.bytes),
        report.images,
        store.location()
    );
    if report.problems.is_empty() {
        println!("{summary}: no problems");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: {summary}: {} problems (pull or load damaged images again; `imagectl prune` removes unreferenced blobs)",
            report.problems.len()
        );
        Ok(ExitCode::FAILURE)
    }
}
