//! What every listing shares: opening the file read-only, picking the sync once (rows and
//! their lookups then read the same one), and the negative answer (exit 1) when a filter
//! names something the sync does not have.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use c1z::store::DefaultSync;
use c1z::{C1zFile, Reader, ReaderExt, ResourceKey, SyncId, SyncSelector};

use crate::output::RowSink;

/// A file opened for reading and the sync a listing reads.
pub(crate) struct Target {
    pub(crate) file: C1zFile,
    /// `None`: the file has no sync to read (listings are empty).
    pub(crate) sync: Option<SyncId>,
}

impl Target {
    /// The selector every read of the listing uses.
    pub(crate) fn selector(&self) -> SyncSelector {
        self.sync
            .clone()
            .map_or(SyncSelector::Latest, SyncSelector::Id)
    }

    pub(crate) fn store(&self) -> &c1z::AnyStore {
        self.file.store()
    }
}

/// The Pebble block cache of a listing: its rows come from one scan (each block read
/// once) and its related objects from the lookups' own caches, which hold their JSON
/// (`c1z::listing::Lookups`). On a 1M-grant file 4 MiB measured as fast as 8 MiB and the
/// default 64 MiB, at 8 and 70 MB less peak RSS, leaving the memory to those caches.
const LISTING_BLOCK_CACHE: usize = 4 << 20;

/// Opens `path` read-only and picks the sync: `sync_id`, else baton's default for
/// listings (the latest finished full sync, else a recent unfinished one), else the most
/// recently started unfinished sync (as `stats` does; said on stderr when it is a terminal).
pub(crate) fn open(path: &Path, sync_id: Option<&str>) -> anyhow::Result<Target> {
    let file = crate::progress::opening(path, || {
        c1z::OpenOptions::new()
            .with_read_only(true)
            .with_pebble(c1z::PebbleOptions::new().with_block_cache(LISTING_BLOCK_CACHE))
            .open(path)
    })
    .with_context(|| format!("cannot open {}", path.display()))?;
    let store = file.store();
    let sync = if let Some(id) = sync_id {
        let id = SyncId::from(id);
        if store.sync_run(&id)?.is_none() {
            anyhow::bail!(
                "no sync {id} in {}; `c1z syncs {}` lists them",
                path.display(),
                path.display()
            );
        }
        Some(id)
    } else if let Some(id) = store.resolve_sync(None, DefaultSync::LatestFull)? {
        Some(id)
    } else {
        let run = store.latest_unfinished_sync(None, None)?;
        if let Some(run) = &run
            && std::io::stderr().is_terminal()
        {
            eprintln!(
                "c1z: no finished sync in {}; reading the most recent (unfinished) sync {}",
                path.display(),
                run.id
            );
        }
        run.map(|r| r.id)
    };
    Ok(Target { file, sync })
}

/// Something a filter names, checked when a listing comes out empty.
pub(crate) enum Named<'a> {
    Entitlement(&'a str),
    Resource(&'a ResourceKey),
    Principal(&'a ResourceKey),
    ResourceType(&'a str),
}

/// The message of the first of `named` the sync lacks, if any: the listing was empty
/// because the user asked for something that does not exist.
pub(crate) fn first_missing(
    target: &Target,
    path: &Path,
    named: &[Named<'_>],
) -> anyhow::Result<Option<String>> {
    let (store, sync) = (target.store(), target.selector());
    let file = path.display();
    let of = target
        .sync
        .as_ref()
        .map_or_else(|| file.to_string(), |s| format!("sync {s} of {file}"));
    for n in named {
        let msg = match n {
            Named::Entitlement(id) => store.entitlement(&sync, id)?.is_none().then(|| {
                format!("no entitlement {id} in {of}; `c1z entitlements {file}` lists them")
            }),
            Named::Resource(key) | Named::Principal(key) => {
                store.resource(&sync, key)?.is_none().then(|| {
                    let what = if matches!(n, Named::Principal(_)) {
                        "principal"
                    } else {
                        "resource"
                    };
                    format!(
                        "no {what} {key} in {of}; `c1z resources {file} -t {}` lists them",
                        key.resource_type
                    )
                })
            }
            Named::ResourceType(id) => store.resource_type(&sync, id)?.is_none().then(|| {
                format!("no resource type {id} in {of}; `c1z resource-types {file}` lists them")
            }),
        };
        if msg.is_some() {
            return Ok(msg);
        }
    }
    Ok(None)
}

/// Ends a listing: exit 1 with `missing`'s message if the listing is empty because a
/// filter names nothing (stdout stays empty), else the listing's end and exit 0.
pub(crate) fn finish(
    sink: Box<dyn RowSink>,
    target: &Target,
    path: &Path,
    named: &[Named<'_>],
) -> anyhow::Result<ExitCode> {
    if sink.is_empty()
        && let Some(msg) = first_missing(target, path, named)?
    {
        sink.abandon();
        eprintln!("c1z: {msg}");
        return Ok(ExitCode::from(1));
    }
    sink.finish()?;
    Ok(ExitCode::SUCCESS)
}
