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
    };
}

mod grants;
mod objects;
mod pagination;
mod read_only;
mod save_reopen;
mod sync_run;
