//! `adcp-codegen`: generate, check or list the AdCP task catalogue from a schema tree.
//!
//! ```text
//! adcp-codegen generate --schemas schemas/3.0 --out src/wire.rs
//! adcp-codegen check    --schemas schemas/3.0     # non-zero when a schema cannot be generated faithfully
//! adcp-codegen list     --schemas schemas/3.0     # the task catalogue
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use adcp_codegen::{Generator, Settings};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "adcp-codegen",
    version,
    about = "AdCP JSON schemas -> strict Rust wire types"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the generated Rust to a file.
    Generate {
        /// The schema tree (the directory holding `core/`, `media-buy/`, ...).
        #[arg(long)]
        schemas: PathBuf,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// Path of the support module the generated code targets.
        #[arg(long, default_value = "::adcp_runtime::wire::__support")]
        support_path: String,
    },
    /// Check that every schema can be generated faithfully; exit non-zero otherwise.
    Check {
        /// The schema tree.
        #[arg(long)]
        schemas: PathBuf,
    },
    /// Print the task catalogue.
    List {
        /// The schema tree.
        #[arg(long)]
        schemas: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (schemas, support) = match &cli.command {
        Command::Generate {
            schemas,
            support_path,
            ..
        } => (schemas, support_path.clone()),
        Command::Check { schemas } | Command::List { schemas } => {
            (schemas, "::adcp_runtime::wire::__support".to_owned())
        }
    };
    let started = Instant::now();
    let out = match Generator::new(Settings::default().with_support_path(support))
        .schemas_dir(schemas)
        .generate()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let elapsed = started.elapsed();
    match cli.command {
        Command::Generate { out: path, .. } => {
            if let Err(e) = out.write_to(&path) {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
            println!(
                "wrote {} ({} types, {} lines) from AdCP {} in {:.2?}",
                path.display(),
                out.stats.types(),
                out.stats.lines,
                out.version,
                elapsed
            );
        }
        Command::Check { .. } => {
            let s = &out.stats;
            println!(
                "ok: AdCP {}: {} files -> {} types ({} structs, {} unions, {} string enums, {} integer enums, {} constants, {} aliases), {} tasks, {} lines, {:.2?}",
                out.version,
                s.files,
                s.types(),
                s.structs,
                s.unions,
                s.string_enums,
                s.int_enums,
                s.consts,
                s.aliases,
                out.catalog.tasks.len(),
                s.lines,
                elapsed
            );
            for skipped in &out.catalog.skipped {
                println!("note: task skipped: {skipped}");
            }
        }
        Command::List { .. } => {
            for t in &out.catalog.tasks {
                let arms: Vec<&str> = t.async_arms.iter().map(|a| a.status.as_str()).collect();
                println!(
                    "{:<30} {:<24} {:<9} {} -> {}{}",
                    t.name,
                    t.protocol,
                    if t.mutating { "mutating" } else { "read" },
                    t.request_type,
                    t.response_type,
                    if arms.is_empty() {
                        String::new()
                    } else {
                        format!(" [async: {}]", arms.join(", "))
                    }
                );
            }
        }
    }
    ExitCode::SUCCESS
}
