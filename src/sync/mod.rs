//! The sync-run lifecycle, written once over the store traits: start, resume, checkpoint
//! and finish a run, and write its objects through a [`SyncWriter`] handle.
//!
//! A run stays open until [`SyncWriter::finish`]; dropping the handle leaves it open and
//! resumable (its checkpoint token is the resumable state, as in baton).

mod cleanup;
pub(crate) mod stats;

pub use cleanup::{CleanupPolicy, cleanup, select_syncs_to_delete};
pub use stats::{CallStat, SyncStats, compute_stats, stats_for};

use crate::codec;
use crate::error::{Error, Result};
use crate::model::{Asset, GrantRecord, Record, SyncId, SyncRun, SyncType, wall};
use crate::pb::c1::connector::v2::{Entitlement, Grant, Resource, ResourceType};
use crate::store::{GrantUpsertMode, RESUME_WINDOW, ReaderExt, Writer};

/// Prepares a connector grant for [`GrantUpsertMode::Replace`]: every `GrantExpandable`
/// annotation is removed; the first one becomes the record's expansion (with
/// `needs_expansion`) if it names at least one non-blank entitlement id.
///
/// # Errors
/// [`Error::Decode`] if the annotation cannot be decoded.
pub fn grant_record(mut grant: Grant, discovered_at: chrono::NaiveDateTime) -> Result<GrantRecord> {
    let expansion = codec::take_expandable(&mut grant)?.filter(codec::is_usable_expansion);
    Ok(GrantRecord {
        needs_expansion: expansion.is_some(),
        expansion,
        grant,
        discovered_at,
    })
}

/// Prepares expander output for [`GrantUpsertMode::PreserveExpansion`]: any residual
/// `GrantExpandable` annotation is dropped and a new row gets no expansion.
#[must_use]
pub fn expanded_grant_record(
    mut grant: Grant,
    discovered_at: chrono::NaiveDateTime,
) -> GrantRecord {
    grant
        .annotations
        .retain(|a| !codec::any_is(a, codec::GRANT_EXPANDABLE));
    GrantRecord {
        grant,
        expansion: None,
        needs_expansion: false,
        discovered_at,
    }
}

/// An object handed to a [`SyncWriter`] put: owned (moved into the store's records, no
/// copy) or borrowed (cloned), so `put_resources(vec)` and `put_resources(&[r])` both work.
pub trait PutItem<T> {
    /// The owned object.
    fn into_item(self) -> T;
}

impl<T> PutItem<T> for T {
    fn into_item(self) -> T {
        self
    }
}

impl<T: Clone> PutItem<T> for &T {
    fn into_item(self) -> T {
        self.clone()
    }
}

/// Records of `items`, all discovered now (one timestamp per call, as baton's bulk path).
fn records_now<T>(items: impl IntoIterator<Item = impl PutItem<T>>) -> Vec<Record<T>> {
    let now = wall::now();
    items
        .into_iter()
        .map(|v| Record {
            value: v.into_item(),
            discovered_at: now,
        })
        .collect()
}

/// A handle on one sync run, through which its objects are written.
pub struct SyncWriter<'s, W: Writer + ?Sized> {
    store: &'s W,
    id: SyncId,
}

impl<W: Writer + ?Sized> std::fmt::Debug for SyncWriter<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncWriter")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<'s, W: Writer + ?Sized> SyncWriter<'s, W> {
    /// The run's id.
    #[must_use]
    pub fn id(&self) -> &SyncId {
        &self.id
    }

    /// The store written to.
    #[must_use]
    pub fn store(&self) -> &'s W {
        self.store
    }

    /// The run's current row.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the run was deleted meanwhile; engine errors.
    pub fn info(&self) -> Result<SyncRun> {
        self.store.require_sync_run(&self.id)
    }

    /// The checkpoint token ("current sync step"); `""` for a fresh run.
    ///
    /// # Errors
    /// As [`SyncWriter::info`].
    pub fn token(&self) -> Result<String> {
        Ok(self.info()?.sync_token)
    }

    /// Stores the resumable state of the syncer.
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; as [`SyncWriter::info`].
    pub fn checkpoint(&self, token: &str) -> Result<()> {
        let mut run = self.info()?;
        run.sync_token = token.to_owned();
        self.store.put_sync_run(&run)
    }

    /// Upserts resource types: owned objects are moved into the store's records, borrowed
    /// ones cloned ([`PutItem`]).
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; engine errors.
    pub fn put_resource_types(
        &self,
        items: impl IntoIterator<Item = impl PutItem<ResourceType>>,
    ) -> Result<()> {
        self.store.put_resource_types(&self.id, &records_now(items))
    }

    /// Upserts resources.
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; engine errors.
    pub fn put_resources(
        &self,
        items: impl IntoIterator<Item = impl PutItem<Resource>>,
    ) -> Result<()> {
        self.store.put_resources(&self.id, &records_now(items))
    }

    /// Upserts entitlements.
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; engine errors.
    pub fn put_entitlements(
        &self,
        items: impl IntoIterator<Item = impl PutItem<Entitlement>>,
    ) -> Result<()> {
        self.store.put_entitlements(&self.id, &records_now(items))
    }

    /// Upserts connector grants ([`GrantUpsertMode::Replace`]); `GrantExpandable`
    /// annotations become expansion edges.
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; [`Error::Decode`] for an undecodable annotation; engine errors.
    pub fn put_grants(&self, items: impl IntoIterator<Item = impl PutItem<Grant>>) -> Result<()> {
        let now = wall::now();
        let rows = items
            .into_iter()
            .map(|g| grant_record(g.into_item(), now))
            .collect::<Result<Vec<_>>>()?;
        self.store
            .put_grants(&self.id, &rows, GrantUpsertMode::Replace)
    }

    /// Upserts expander output ([`GrantUpsertMode::PreserveExpansion`]).
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; engine errors.
    pub fn put_expanded_grants(
        &self,
        items: impl IntoIterator<Item = impl PutItem<Grant>>,
    ) -> Result<()> {
        let now = wall::now();
        let rows: Vec<_> = items
            .into_iter()
            .map(|g| expanded_grant_record(g.into_item(), now))
            .collect();
        self.store
            .put_grants(&self.id, &rows, GrantUpsertMode::PreserveExpansion)
    }

    /// Deletes a grant of this run; returns whether it existed.
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; engine errors.
    pub fn delete_grant(&self, grant_id: &str) -> Result<bool> {
        self.store.delete_grant(&self.id, grant_id)
    }

    /// Stores an asset. Empty data is skipped and an empty content type is stored as
    /// `unknown`, as baton does.
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; engine errors.
    pub fn put_asset(&self, id: &str, content_type: &str, data: impl Into<Vec<u8>>) -> Result<()> {
        let data = data.into();
        if data.is_empty() {
            return Ok(());
        }
        let content_type = if content_type.is_empty() {
            "unknown"
        } else {
            content_type
        };
        self.store.put_asset(
            &self.id,
            &Asset {
                id: id.to_owned(),
                content_type: content_type.to_owned(),
                data,
                discovered_at: wall::now(),
            },
        )
    }

    /// Ends the run (a no-op on `ended_at` if it had ended already) and stores its stats.
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; engine errors.
    pub fn finish(self) -> Result<SyncRun> {
        let mut run = self.info()?;
        if run.ended_at.is_none() {
            run.ended_at = Some(wall::now());
        }
        let stats = compute_stats(self.store, &run)?;
        run.stats = Some(stats.to_json());
        self.store.put_sync_run(&run)?;
        Ok(run)
    }
}

/// Sync-run lifecycle for every [`Writer`]; implemented for all writers.
///
/// Do not implement this trait yourself.
pub trait WriterExt: Writer {
    /// Starts a new run. `full` and `resources_only` runs take no parent; the partial and
    /// diff types accept one.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a parent on a `full`/`resources_only` run;
    /// [`Error::ReadOnly`]; engine errors.
    fn start_sync(&self, ty: SyncType, parent: Option<&SyncId>) -> Result<SyncWriter<'_, Self>> {
        if parent.is_some() && !ty.allows_parent() {
            return Err(Error::InvalidArgument(format!(
                "a {ty} sync cannot have a parent sync"
            )));
        }
        let run = SyncRun {
            parent_sync_id: parent.cloned(),
            ..SyncRun::open(SyncId::generate(), ty)
        };
        self.put_sync_run(&run)?;
        Ok(SyncWriter {
            store: self,
            id: run.id,
        })
    }

    /// Resumes an unfinished run: the one named by `id`, or else the latest unfinished run
    /// of type `ty` (`None` = any type) started within the last 7 days.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is nothing to resume; [`Error::InvalidSyncState`] if the
    /// named run has ended or has another type.
    fn resume_sync(
        &self,
        ty: Option<SyncType>,
        id: Option<&SyncId>,
    ) -> Result<SyncWriter<'_, Self>> {
        let run = match id {
            Some(id) => {
                let run = self.require_sync_run(id)?;
                if let Some(t) = ty
                    && run.kind() != Some(t)
                {
                    return Err(Error::sync_state(
                        id.as_str(),
                        format!("cannot resume a {} sync as {t}", run.sync_type),
                    ));
                }
                if run.is_finished() {
                    return Err(Error::sync_state(
                        id.as_str(),
                        "cannot resume sync that has already ended",
                    ));
                }
                run
            }
            None => self
                .latest_unfinished_sync(ty, Some(RESUME_WINDOW))?
                .ok_or_else(|| {
                    Error::not_found("unfinished sync run", ty.map_or("any", SyncType::as_str))
                })?,
        };
        Ok(SyncWriter {
            store: self,
            id: run.id,
        })
    }

    /// Resumes like [`WriterExt::resume_sync`], or starts a new run of type `ty` when no
    /// `id` was given and nothing is resumable. Returns the handle and whether it is new.
    ///
    /// # Errors
    /// [`Error::NotFound`] if `id` names no run; as [`WriterExt::resume_sync`].
    fn start_or_resume_sync(
        &self,
        ty: SyncType,
        id: Option<&SyncId>,
    ) -> Result<(SyncWriter<'_, Self>, bool)> {
        match self.resume_sync(Some(ty), id) {
            Ok(w) => Ok((w, false)),
            Err(e) if e.is_not_found() && id.is_none() => Ok((self.start_sync(ty, None)?, true)),
            Err(e) => Err(e),
        }
    }

    /// A handle on an existing run, whatever its type or state (baton's `SetCurrentSync`);
    /// used to add to a finished run, e.g. to write expansion output.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such run.
    fn sync_writer(&self, id: &SyncId) -> Result<SyncWriter<'_, Self>> {
        let run = self.require_sync_run(id)?;
        Ok(SyncWriter {
            store: self,
            id: run.id,
        })
    }
}

impl<W: Writer + ?Sized> WriterExt for W {}
