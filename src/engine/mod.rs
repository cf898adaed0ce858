//! Storage engines. Each lives in its own module and is the only place that names its
//! database crate; everything above talks to the [`crate::store`] traits.

pub mod rocks;
pub mod sqlite;

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
