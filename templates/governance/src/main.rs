//! `cargo run -p governance -- --memory` serves the agent;
//! `cargo run -p governance -- --data-dir data review list` shows the escalations waiting for
//! a person, and `review approve|reject` decides one, on the same store as the running agent.

use std::io::Write;

use clap::{Parser, Subcommand};
use governance::review::{self, Decision, Review};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An AdCP governance agent: the buyer's spend authority.
#[derive(Parser)]
#[command(name = "governance", version)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The escalations a person decides (the store is the agent's: `--data-dir` or
    /// `--database-url`, before `review`).
    Review {
        #[command(subcommand)]
        action: Action,
    },
}

#[derive(Subcommand)]
enum Action {
    /// The escalations waiting for a person, oldest first.
    List {
        /// Decided ones too.
        #[arg(long)]
        all: bool,
    },
    /// Approves an escalation; the buyer's next check naming it is decided on the plan's other
    /// limits, with these conditions.
    Approve {
        /// The escalation (`esc_...`).
        id: String,
        /// Who approves.
        #[arg(long)]
        reviewer: String,
        /// A condition the action must meet, as `FIELD=REQUIREMENT` (repeatable).
        #[arg(long = "condition", value_parser = condition)]
        conditions: Vec<(String, String)>,
    },
    /// Rejects an escalation.
    Reject {
        /// The escalation (`esc_...`).
        id: String,
        /// Who rejects.
        #[arg(long)]
        reviewer: String,
        /// Why, for the buyer.
        #[arg(long)]
        reason: String,
    },
}

fn condition(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((f, r)) if !f.trim().is_empty() && !r.trim().is_empty() => {
            Ok((f.trim().to_owned(), r.trim().to_owned()))
        }
        _ => Err("a condition is FIELD=REQUIREMENT".into()),
    }
}

fn show(out: &mut impl Write, q: &review::Queued) -> std::io::Result<()> {
    let e = &q.escalation;
    let amount = e.amount.map_or("-".to_owned(), |a| a.to_string());
    let state = match &e.review {
        Review::Pending => "pending".to_owned(),
        Review::Approved { reviewer, at, .. } => format!("approved by {reviewer} at {at}"),
        Review::Rejected { reviewer, at, .. } => format!("rejected by {reviewer} at {at}"),
    };
    writeln!(
        out,
        "{}\tplan {}\tamount {amount}\t{}\t{state}\t{}",
        e.escalation_id,
        e.plan_id,
        e.at,
        e.reasons.join("; ")
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let Some(Command::Review { action }) = cli.command else {
        let config = cli.adcp.config(governance::config(true))?;
        governance::agent(config, cli.adcp.stores().await?)
            .bind(cli.adcp.bind)
            .run()
            .await?;
        return Ok(());
    };
    let stores = cli.adcp.stores().await?;
    let store = stores.state.as_ref();
    let mut out = std::io::stdout().lock();
    match action {
        Action::List { all } => {
            for q in review::queue(store, all).await? {
                show(&mut out, &q)?;
            }
        }
        Action::Approve {
            id,
            reviewer,
            conditions,
        } => {
            let e = review::decide(store, &id, &reviewer, Decision::Approve(conditions)).await?;
            writeln!(out, "{} approved for plan {}", e.escalation_id, e.plan_id)?;
        }
        Action::Reject {
            id,
            reviewer,
            reason,
        } => {
            let e = review::decide(store, &id, &reviewer, Decision::Reject(reason)).await?;
            writeln!(out, "{} rejected for plan {}", e.escalation_id, e.plan_id)?;
        }
    }
    Ok(())
}
