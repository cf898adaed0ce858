//! Every behaviour of the store, written once as a small generic case and stamped out for
//! each engine by `engines!`: `conformance::grants::sqlite::replace_sets_needs_expansion`.

/// Stamps each listed case into one test module per engine. A case is a
/// `fn(c1z::engine::EngineKind)`.
macro_rules! engines {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    super::$case(c1z::engine::EngineKind::Sqlite);
                }
            )*
        }
        /// SQLite on disk from the start (the path of databases over the memory limit).
        mod sqlite_disk {
            $(
                #[test]
                fn $case() {
                    crate::util::with_sqlite_memory_limit(0, || {
                        super::$case(c1z::engine::EngineKind::Sqlite)
                    });
                }
            )*
        }
        /// SQLite created in memory, moving to disk at the first write.
        mod sqlite_spill {
            $(
                #[test]
                fn $case() {
                    crate::util::with_sqlite_memory_limit(crate::conformance::SPILL_LIMIT, || {
                        super::$case(c1z::engine::EngineKind::Sqlite)
                    });
                }
            )*
        }
        mod rocks {
            $(
                #[test]
                fn $case() {
                    super::$case(c1z::engine::EngineKind::Rocks);
                }
            )*
        }
        /// RocksDB bulk writes as tiny sorted tables: every few calls build and ingest one.
        mod rocks_tables {
            $(
                #[test]
                fn $case() {
                    crate::util::with_rocks_bulk_buffer(crate::conformance::SPILL_LIMIT, || {
                        super::$case(c1z::engine::EngineKind::Rocks)
                    });
                }
            )*
        }
        /// RocksDB with no bulk buffer: every write goes through the memtable.
        mod rocks_memtable {
            $(
                #[test]
                fn $case() {
                    crate::util::with_rocks_bulk_buffer(0, || {
                        super::$case(c1z::engine::EngineKind::Rocks)
                    });
                }
            )*
        }
    };
}

/// A memory limit below the size of a new SQLite database (104 KiB of empty tables): each
/// case's database is created in memory and moves to disk at its first write.
/// (`memory::a_growing_database_moves_to_disk_and_keeps_every_row` moves one that holds
/// rows.)
pub const SPILL_LIMIT: u64 = 64 << 10;

/// Asserts a listing: exactly `want` in insertion order on engines that list in insertion
/// order, the same rows in any order on engines that list in key order.
fn assert_rows(engine: c1z::engine::EngineKind, got: &[String], want: &[&str]) {
    match engine.list_order() {
        c1z::engine::ListOrder::Insertion => assert_eq!(got, want),
        c1z::engine::ListOrder::Key => {
            let mut g = got.to_vec();
            g.sort();
            let mut w: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
            w.sort();
            assert_eq!(g, w);
        }
    }
}

mod expand;
mod grants;
mod objects;
mod pagination;
mod read_only;
mod save_reopen;
mod sync_run;
