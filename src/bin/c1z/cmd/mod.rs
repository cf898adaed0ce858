//! One module per subcommand; each opens through the library, calls one library function
//! and prints.

mod convert;
mod expand;
mod generate;
mod info;
mod stats;
mod verify;

use std::process::ExitCode;

use crate::args::{Args, Command};

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Info { file, json } => info::run(&file, json),
        Command::Stats {
            file,
            sync_id,
            json,
        } => stats::run(&file, sync_id.as_deref(), json),
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
            engine,
        } => {
            let spec = c1z::synth::SynthSpec {
                seed,
                users,
                groups,
                roles,
                apps,
                memberships_per_user: memberships,
                nested_groups: nested,
            };
            generate::run(&out, &spec, shape.as_deref(), &engine)
        }
        Command::Convert {
            input,
            output,
            engine,
            payload_encoding,
        } => convert::run(&input, &output, &engine, &payload_encoding),
        Command::Verify { file, json } => verify::run(&file, json),
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
