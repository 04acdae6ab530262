//! `latch`: the server and its admin tool.
//!
//! # Layout
//! - `cli`: the command line (clap).
//! - `config`: defaults, TOML file, environment, flags.
//! - `serve`: `latch serve`.
//! - `keyfile`: the token key in the data dir.
//! - `signing`: the service-token signing keyring in the data dir.
//! - `admin`, `print`: admin commands on a data dir or a running server.
//! - `exit`: exit codes.

#![forbid(unsafe_code)]
// A binary has no public API: `pub` here means "used by a sibling module".
#![allow(unreachable_pub)]

mod admin;
mod cli;
mod config;
mod exit;
mod keyfile;
mod print;
mod serve;
mod signing;

use std::process::ExitCode;

use clap::Parser;
use latch_core::token::SessionId;
use latch_core::user::{UserId, UserStatus};

use crate::admin::Action;
use crate::cli::{ApiKeysCommand, Cli, Command, KeysCommand, SessionsCommand, UsersCommand};
use crate::exit::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The bench creates sessions by the million: audit lines would measure the terminal.
    init_logging(if matches!(cli.command, Command::Bench(_)) {
        "warn"
    } else {
        "info"
    });
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Failure::other(format!("cannot start the runtime: {e}")).exit(),
    };
    let r = rt.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await.map_err(|e| {
                let unavailable = e
                    .downcast_ref::<latch_store_redb::OpenError>()
                    .is_some_and(|o| matches!(o, latch_store_redb::OpenError::InUse(_)));
                if unavailable {
                    Failure::unavailable(format!("{e:#}"))
                } else {
                    Failure::other(e)
                }
            }),
            Command::Bench(args) => {
                let opts = latch_bench::BenchOptions {
                    quick: args.quick,
                    out: args.out.clone(),
                };
                match latch_bench::run(&opts).await {
                    Ok(md) => {
                        println!("{md}\nreport written to {}", args.out.display());
                        Ok(())
                    }
                    Err(e) => Err(Failure::other(e)),
                }
            }
            other => {
                let (action, target) = action(other)?;
                admin::run(action, target).await
            }
        }
    });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.exit(),
    }
}

fn user(s: &str) -> Result<UserId, Failure> {
    UserId::new(s).map_err(|e| Failure::usage(e.to_string()))
}

fn session(s: &str) -> Result<SessionId, Failure> {
    s.parse()
        .map_err(|e: latch_core::token::InvalidSessionId| Failure::usage(e.to_string()))
}

fn action(c: Command) -> Result<(Action, cli::Target), Failure> {
    Ok(match c {
        Command::Serve(_) | Command::Bench(_) => {
            return Err(Failure::usage("not an admin command"));
        }
        Command::Sessions(SessionsCommand::List { user_id, target }) => {
            (Action::ListSessions(user(&user_id)?), target)
        }
        Command::Sessions(SessionsCommand::Revoke { session_id, target }) => {
            (Action::RevokeSession(session(&session_id)?), target)
        }
        Command::Sessions(SessionsCommand::RevokeAll {
            user_id,
            except,
            target,
        }) => {
            let except = except.as_deref().map(session).transpose()?;
            (Action::RevokeAll(user(&user_id)?, except), target)
        }
        Command::Users(UsersCommand::Get { user_id, target }) => {
            (Action::GetUser(user(&user_id)?), target)
        }
        Command::Users(UsersCommand::Block { user_id, target }) => (
            Action::SetStatus(user(&user_id)?, UserStatus::Blocked),
            target,
        ),
        Command::Users(UsersCommand::Unblock { user_id, target }) => (
            Action::SetStatus(user(&user_id)?, UserStatus::Active),
            target,
        ),
        Command::Users(UsersCommand::SetRoles {
            user_id,
            roles,
            target,
        }) => (Action::SetRoles(user(&user_id)?, roles), target),
        Command::ApiKeys(ApiKeysCommand::Create { name, target }) => {
            (Action::CreateKey(name), target)
        }
        Command::ApiKeys(ApiKeysCommand::List { target }) => (Action::ListKeys, target),
        Command::ApiKeys(ApiKeysCommand::Revoke { key_id, target }) => {
            (Action::RevokeKey(key_id), target)
        }
        Command::Keys(KeysCommand::List { target }) => (Action::ListSigningKeys, target),
        Command::Keys(KeysCommand::Rotate {
            immediately,
            target,
        }) => (Action::RotateSigningKeys { immediately }, target),
    })
}

/// Logs go to stderr (stdout is for command output and the one-time key print). `LATCH_LOG`
/// sets the filter (default `info`, `warn` for `latch bench`), `LATCH_LOG_FORMAT=json` switches
/// to JSON lines.
fn init_logging(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("LATCH_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    use std::io::IsTerminal as _;
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if std::env::var("LATCH_LOG_FORMAT").is_ok_and(|v| v == "json") {
        b.json().init();
    } else {
        b.init();
    }
}
