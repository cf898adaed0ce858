//! [`GrantBulkLoad`]: the capability to write many grants fast (what grant expansion
//! does), taken from [`crate::Writer::bulk_grants`] and ended by
//! [`GrantBulkLoad::finish`] or drop.

use crate::error::Result;
use crate::model::SyncId;
use crate::store::{DerivedGrant, EncodedGrant, GrantUpsertMode, Writer, decode_encoded_grants};

/// A bulk grant load on a store: grants written in their stored encoding, which the engine
/// may buffer, index late and hold back from reads until published.
///
/// # Contract
/// - **Writes.** [`GrantBulkLoad::put_encoded_grants`] and
///   [`GrantBulkLoad::put_derived_grants`] upsert with the
///   [`GrantUpsertMode::PreserveExpansion`] rule: an existing grant with the same id keeps
///   its `expansion`, `needs_expansion` and `discovered_at`; a new one has no expansion and
///   the row's `discovered_at`. Each call is atomic, as [`Writer::put_grants`] is.
/// - **Visibility.** Grants written through the load may stay invisible to every read of
///   the store (gets, lists, counts; on every thread) until [`GrantBulkLoad::publish`],
///   [`GrantBulkLoad::finish`], the load's drop, a save of the file, or a store write that
///   may touch one of them (`put_grants` or `delete_grant` of the same sync, deleting the
///   sync run, `compact`), which publishes first. Published grants are visible to every
///   read, through every filter. Every other write of the store is visible at once, as
///   always.
/// - **Indexes.** While the load lives, reads stay correct but the engine may answer
///   filters other than by id, by entitlement and `needs_expansion` more slowly (SQLite
///   drops three grant indexes and rebuilds them at the end).
/// - **One at a time.** A store has at most one live load; asking for a second is an
///   [`crate::Error::InvalidArgument`].
/// - **End.** [`GrantBulkLoad::finish`] publishes everything and completes every index,
///   reporting errors; dropping the load does the same and discards them. Saving a file
///   while a load lives saves every grant written through it and ends the load (later
///   calls on it work as ordinary writes).
#[must_use = "a bulk load holds back its grants until it is published or finished"]
pub struct GrantBulkLoad<'a> {
    ops: Box<dyn BulkGrantOps + 'a>,
    ended: bool,
}

impl std::fmt::Debug for GrantBulkLoad<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantBulkLoad")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl<'a> GrantBulkLoad<'a> {
    /// A load run by an engine's own implementation.
    pub(crate) fn new(ops: Box<dyn BulkGrantOps + 'a>) -> Self {
        GrantBulkLoad { ops, ended: false }
    }

    /// The load of a store with no fast path: ordinary [`Writer::put_grants`] calls,
    /// visible at once.
    pub(crate) fn generic<W: Writer + ?Sized>(store: &'a W) -> Self {
        Self::new(Box::new(Generic(store)))
    }

    /// Writes grants given in their stored encoding (see the contract).
    ///
    /// # Errors
    /// [`crate::Error::Decode`] for data that is not a grant; as [`Writer::put_grants`].
    pub fn put_encoded_grants(&self, sync: &SyncId, rows: &[EncodedGrant]) -> Result<()> {
        self.ops.put_encoded_grants(sync, rows)
    }

    /// Writes grants made by expansion, from the parts they share: as
    /// [`GrantBulkLoad::put_encoded_grants`] with each grant's [`DerivedGrant::to_encoded`].
    /// An engine may store them without repeating what they share (RocksDB keeps one copy
    /// of each entitlement).
    ///
    /// # Errors
    /// As [`GrantBulkLoad::put_encoded_grants`].
    pub fn put_derived_grants(&self, sync: &SyncId, rows: &[DerivedGrant]) -> Result<()> {
        self.ops.put_derived_grants(sync, rows)
    }

    /// Makes every grant written so far visible to reads.
    ///
    /// # Errors
    /// Engine errors.
    pub fn publish(&self) -> Result<()> {
        self.ops.publish()
    }

    /// Ends the load: publishes everything and completes every index.
    ///
    /// # Errors
    /// Engine errors (the store's indexes may then be incomplete until the next save).
    pub fn finish(mut self) -> Result<()> {
        self.ended = true;
        self.ops.end()
    }
}

impl Drop for GrantBulkLoad<'_> {
    fn drop(&mut self) {
        if !self.ended {
            // `finish` reports errors; a drop (an early return, a panic) cannot.
            let _ = self.ops.end();
        }
    }
}

/// What an engine implements to offer a fast [`GrantBulkLoad`].
pub(crate) trait BulkGrantOps: Send + Sync {
    fn put_encoded_grants(&self, sync: &SyncId, rows: &[EncodedGrant]) -> Result<()>;

    fn put_derived_grants(&self, sync: &SyncId, rows: &[DerivedGrant]) -> Result<()> {
        let encoded: Vec<EncodedGrant> = rows.iter().map(DerivedGrant::to_encoded).collect();
        self.put_encoded_grants(sync, &encoded)
    }

    fn publish(&self) -> Result<()> {
        Ok(())
    }

    fn end(&self) -> Result<()> {
        Ok(())
    }
}

/// The load of any store: decodes and calls [`Writer::put_grants`].
struct Generic<'a, W: ?Sized>(&'a W);

impl<W: Writer + ?Sized> BulkGrantOps for Generic<'_, W> {
    fn put_encoded_grants(&self, sync: &SyncId, rows: &[EncodedGrant]) -> Result<()> {
        self.0.put_grants(
            sync,
            &decode_encoded_grants(rows)?,
            GrantUpsertMode::PreserveExpansion,
        )
    }
}
