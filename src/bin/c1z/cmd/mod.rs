//! One module per subcommand; each opens through the library, calls one library function
//! and prints.

mod access;
mod apply;
mod assets;
mod bench;
mod cleanup;
mod compact;
mod compare;
mod convert;
mod diff;
mod digest;
mod entitlements;
mod expand;
mod export_sync;
mod generate;
mod grants;
mod info;
mod list;
mod principals;
mod resource_types;
mod resources;
mod rollback;
mod serve;
mod stats;
mod syncs;
mod verify;
mod who_can_access;

use std::process::ExitCode;

use crate::args::{Args, AssetCommand, Command};

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Info { file, json } => info::run(&file, json),
        Command::Stats {
            file,
            sync_id,
            output,
            json,
            recount,
            recalculate,
        } => {
            let format = (output.as_deref() == Some("json")).then_some(crate::args::Format::Json);
            let counting = if recalculate {
                stats::Counting::Recalculate
            } else if recount {
                stats::Counting::Recount
            } else {
                stats::Counting::Stored
            };
            stats::run(&file, sync_id.as_deref(), format, json, counting)
        }
        Command::ResourceTypes { list } => resource_types::run(&list),
        Command::Resources {
            list,
            resource_type,
            parent,
        } => resources::run(&list, resource_type.as_deref(), parent.as_ref()),
        Command::Entitlements {
            list,
            resource_type,
            resource,
        } => entitlements::run(&list, resource_type.as_deref(), resource.as_ref()),
        Command::Grants {
            list,
            entitlement,
            resource,
            resource_type,
            principal,
        } => grants::run(
            &list,
            &grants::Filters {
                entitlement,
                resource,
                resource_type,
                principal,
            },
        ),
        Command::Principals { list, entitlement } => principals::run(&list, &entitlement),
        Command::Access { list, principal } => access::run(&list, &principal),
        Command::WhoCanAccess {
            list,
            resource,
            entitlement,
        } => who_can_access::run(&list, &resource, entitlement.as_deref()),
        Command::Compare {
            list,
            entitlement_a,
            entitlement_b,
            other_file,
            other_sync_id,
            only,
            summary,
        } => compare::run(
            &list,
            &compare::Comparison {
                entitlement_a: &entitlement_a,
                entitlement_b: &entitlement_b,
                other_file: other_file.as_deref(),
                other_sync_id: other_sync_id.as_deref(),
                only,
                summary,
            },
        ),
        Command::Diff {
            old,
            new,
            old_sync,
            new_sync,
            details,
            output,
            engine,
            top,
        } => diff::run(&diff::DiffArgs {
            old: &old,
            new: &new,
            old_sync: old_sync.as_deref(),
            new_sync: new_sync.as_deref(),
            details,
            output: output.as_deref(),
            engine: &engine,
            top,
        }),
        Command::Apply {
            base,
            diff,
            output,
            base_sync,
            upserts_sync,
            engine,
        } => apply::run(&apply::ApplyArgs {
            base: &base,
            diff: &diff,
            output: &output,
            base_sync: base_sync.as_deref(),
            upserts_sync: upserts_sync.as_deref(),
            engine: &engine,
        }),
        Command::ExportSync {
            file,
            sync_id,
            output,
            engine,
        } => export_sync::run(&file, &sync_id, &output, engine.as_deref()),
        Command::Compact {
            output,
            inputs,
            no_expand,
            incremental,
            engine,
        } => compact::run(&output, &inputs, !no_expand, incremental, &engine),
        Command::RollbackExpansion {
            file,
            output,
            sync_id,
            preserve_suspect_grants,
            dry_run,
            json,
            engine,
        } => rollback::run(&rollback::RollbackArgs {
            input: &file,
            output: output.as_deref(),
            sync_id: sync_id.as_deref(),
            preserve_suspect: preserve_suspect_grants,
            dry_run,
            json,
            engine: engine.as_deref(),
        }),
        Command::Digest {
            file,
            sync_id,
            entitlement,
            entitlements,
            json,
        } => digest::run(
            &file,
            sync_id.as_deref(),
            entitlement.as_deref(),
            entitlements,
            json,
        ),
        Command::Cleanup {
            file,
            keep,
            no_compact,
            dry_run,
        } => cleanup::run(&file, keep, !no_compact, dry_run),
        Command::Syncs { file, output } => syncs::run(&file, output),
        Command::Assets { list } => assets::list(&list),
        Command::Asset {
            command:
                AssetCommand::Get {
                    file,
                    id,
                    output,
                    sync_id,
                },
        } => assets::get(&file, &id, output.as_deref(), sync_id.as_deref()),
        Command::Generate {
            out,
            seed,
            users,
            groups,
            roles,
            apps,
            memberships,
            nested,
            shape,
            resource_types,
            resources,
            entitlements,
            principals,
            grants,
            expandable_fraction,
            engine,
        } => {
            // clap requires the five counts together, so one present means all are.
            let what = match (resource_types, resources, entitlements, principals, grants) {
                (
                    Some(resource_types),
                    Some(resources),
                    Some(entitlements),
                    Some(principals),
                    Some(grants),
                ) => generate::What::Fixture(c1z::synth::FixtureSpec {
                    seed,
                    resource_types,
                    resources,
                    entitlements,
                    principals,
                    grants,
                    expandable_fraction: expandable_fraction.unwrap_or(0.0),
                }),
                _ => match shape {
                    Some(name) => generate::What::Shape(name, seed),
                    None => generate::What::Organisation(c1z::synth::SynthSpec {
                        seed,
                        users,
                        groups,
                        roles,
                        apps,
                        memberships_per_user: memberships,
                        nested_groups: nested,
                    }),
                },
            };
            generate::run(&out, what, &engine)
        }
        Command::Convert {
            input,
            output,
            engine,
            payload_encoding,
        } => convert::run(&input, &output, &engine, &payload_encoding),
        Command::Verify {
            file,
            json,
            deep,
            sync_id,
        } => verify::run(&file, json, deep.then_some(sync_id.as_deref())),
        Command::Serve {
            file,
            listen,
            allow_remote,
        } => serve::run(&file, listen, allow_remote),
        Command::Bench {
            file,
            sync_id,
            json,
        } => bench::run(&file, sync_id.as_deref(), json),
        Command::Expand {
            input,
            output,
            in_place,
            sync_id,
            engine,
            json,
        } => expand::run(
            &input,
            output.as_deref(),
            in_place,
            sync_id.as_deref(),
            engine.as_deref(),
            json,
        ),
    }
}
