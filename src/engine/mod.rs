//! Storage engines. Each lives in its own module and is the only place that names its
//! database crate; everything above talks to the [`crate::store`] traits.

pub mod pebble;
pub mod rocks;
pub mod sqlite;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::format::v1::{DecodeLimits, EncodeOptions};

/// What every engine's `open_file`/`create_file` takes besides its own options.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OpenContext<'a> {
    /// A private directory for the working copy, removed after the store closes.
    pub(crate) work_dir: &'a Path,
    /// Refuse every write.
    pub(crate) read_only: bool,
    /// Decode limits of the input file.
    pub(crate) limits: DecodeLimits,
    /// zstd settings of saves.
    pub(crate) encode: EncodeOptions,
}

/// What every engine tracks about writes: whether the store refuses them, and whether
/// anything changed since open or the last save (an unchanged store is never saved).
///
/// Changes are counted, not flagged: a save records the count it captured before writing,
/// so a write that lands while the save runs keeps the store dirty.
#[derive(Debug)]
pub struct WriteState {
    read_only: bool,
    /// Writes since open.
    generation: AtomicU64,
    /// The generation the last save captured (0: never saved).
    saved: AtomicU64,
}

impl WriteState {
    pub(crate) fn new(read_only: bool) -> Self {
        WriteState {
            read_only,
            generation: AtomicU64::new(0),
            saved: AtomicU64::new(0),
        }
    }

    /// Whether the store refuses writes.
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Whether anything was written since open or since the content the last save
    /// captured.
    #[must_use]
    pub fn is_dirty(&self) -> bool {
        self.generation.load(Ordering::Acquire) > self.saved.load(Ordering::Acquire)
    }

    /// The count of writes so far; capture it before saving and pass it to
    /// [`WriteState::mark_saved`] after.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Records that a save wrote everything up to `generation`; writes counted after it
    /// keep the store dirty.
    pub(crate) fn mark_saved(&self, generation: u64) {
        self.saved.fetch_max(generation, Ordering::AcqRel);
    }

    /// Fails with [`crate::Error::ReadOnly`] on a read-only store.
    pub(crate) fn check(&self, operation: &'static str) -> crate::Result<()> {
        if self.read_only {
            return Err(crate::Error::ReadOnly { operation });
        }
        Ok(())
    }

    /// Records a write (after it is applied, so a save that captured the count before it
    /// cannot miss it).
    pub(crate) fn touched(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// The engines this build can create.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EngineKind {
    /// SQLite, written as format v1 (`C1ZF\0` + zstd).
    #[default]
    Sqlite,
    /// RocksDB, written as format v3 (`C1Z3\0` + manifest + tar(+zstd) of a checkpoint).
    Rocks,
}

impl EngineKind {
    /// The engine's name as written in files.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Sqlite => sqlite::ENGINE,
            EngineKind::Rocks => rocks::ENGINE,
        }
    }
}

/// The order in which an engine lists rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListOrder {
    /// Insertion order (SQLite: row ids).
    Insertion,
    /// Key order (RocksDB: by identity; grants by entitlement, principal, id).
    Key,
}

impl EngineKind {
    /// The one documented behavioural difference between engines: list order.
    #[must_use]
    pub fn list_order(self) -> ListOrder {
        match self {
            EngineKind::Sqlite => ListOrder::Insertion,
            EngineKind::Rocks => ListOrder::Key,
        }
    }
}

impl std::str::FromStr for EngineKind {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "sqlite" => Ok(EngineKind::Sqlite),
            "rocksdb" | "rocks" => Ok(EngineKind::Rocks),
            _ => Err(crate::Error::InvalidArgument(format!(
                "unknown engine '{s}' (expected sqlite or rocksdb)"
            ))),
        }
    }
}
