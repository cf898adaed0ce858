//! Storage engines. Each lives in its own module and is the only place that names its
//! database crate; everything above talks to the [`crate::store`] traits.

pub mod sqlite;

/// The engines this build can create.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EngineKind {
    /// SQLite, written as format v1 (`C1ZF\0` + zstd).
    #[default]
    Sqlite,
}

impl EngineKind {
    /// The engine's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Sqlite => sqlite::ENGINE,
        }
    }
}
