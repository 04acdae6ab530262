//! The command line, as clap sees it. Help texts teach: each says what the command does, what
//! it needs, and where its inputs come from.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Latch: sessions that are revoked at once, everywhere, and validated faster than a JWT.
///
/// Start the server with `latch serve`, then create sessions for your users over HTTP
/// (`POST /v1/sessions`) and validate them on every request (`POST /v1/sessions/validate`).
/// The admin commands work on a data dir (server stopped) or on a running server (`--server`).
#[derive(Debug, Parser)]
#[command(name = "latch", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server on the embedded store (no Redis needed).
    ///
    /// API keys come from LATCH_API_KEYS (comma-separated, each at least 32 characters), from
    /// the config file, or from keys created with `latch api-keys create`. With none at all,
    /// the first start creates one, keeps only its hash, and prints it once.
    Serve(ServeArgs),
    /// List or revoke sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Show, block or unblock users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Create, list or revoke API keys.
    #[command(name = "api-keys", subcommand)]
    ApiKeys(ApiKeysCommand),
    /// List or rotate this node's service-token signing keys.
    ///
    /// Each node signs service tokens with Ed25519 keys of its own, kept in its data dir
    /// (signing-keys.json, mode 0600), and publishes their public halves through the store so
    /// every node's /.well-known/jwks.json lists them all. Keys also rotate by themselves
    /// (service_tokens.rotate_every_s, 30 days by default).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Measure Latch against JWTs, database sessions and Redis sessions; write a report.
    ///
    /// One process, one run: JWT verification (HS256, EdDSA, RS256), a PostgreSQL session row
    /// by primary key, a Redis session read the usual way, and Latch warm, on a miss and over
    /// HTTP; how long a revoked session or a removed role keeps working with each; service
    /// tokens and durable creates. Writes report.md, report.json, latency.svg and
    /// freshness.svg. Starts its own redis-server and PostgreSQL (from the Debian packages;
    /// LATCH_REDIS_SERVER picks a redis-server binary, LATCH_BENCH_POSTGRES a connection string
    /// to an existing PostgreSQL instead). Build with `--release` for meaningful numbers; see
    /// docs/benchmarks.md.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Run every case briefly (well under a minute) instead of a few seconds each.
    #[arg(long)]
    pub quick: bool,
    /// Directory for report.md, report.json and the SVG charts.
    #[arg(long, value_name = "DIR", default_value = "bench-report")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:7600]
    #[arg(long, env = "LATCH_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Directory for the database and the token key [default: ./latch-data]
    #[arg(long, env = "LATCH_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where sessions live: `embedded` (the data dir), `redis://HOST:PORT`, `valkey://HOST:PORT`
    /// or `redis-cluster://HOST:PORT[,HOST:PORT...]` [default: embedded]
    #[arg(long, env = "LATCH_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// A TOML config file (see docs/configuration.md); flags and environment override it.
    #[arg(long, env = "LATCH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Where an admin command acts.
#[derive(Debug, Args)]
pub struct Target {
    /// Act on this data dir directly (the server must be stopped) [default: ./latch-data]
    #[arg(long, env = "LATCH_DATA_DIR", value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Act through a running server's HTTP API instead, e.g. http://127.0.0.1:7600; the API key
    /// comes from LATCH_API_KEY.
    #[arg(
        long,
        env = "LATCH_SERVER",
        value_name = "URL",
        global = true,
        conflicts_with = "data_dir"
    )]
    pub server: Option<String>,
    /// Print JSON, as the HTTP API answers.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List a user's live sessions with their devices.
    List {
        /// The user id.
        user_id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Revoke one session by id (see `latch sessions list`).
    Revoke {
        /// The session id: 36 hex digits.
        session_id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Revoke every session of a user ("log out everywhere").
    RevokeAll {
        /// The user id.
        user_id: String,
        /// Keep this session.
        #[arg(long, value_name = "SESSION_ID")]
        except: Option<String>,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Show a user's roles, status and attributes.
    Get {
        /// The user id.
        user_id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Block a user: every session is revoked at once and no new one can be created.
    Block {
        /// The user id.
        user_id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Unblock a user: new sessions may be created (revoked ones stay revoked).
    Unblock {
        /// The user id.
        user_id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Replace a user's roles; the change shows on the next validation.
    SetRoles {
        /// The user id.
        user_id: String,
        /// The roles (none to clear).
        roles: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys and their schedule (never the private keys).
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Rotate the signing key without breaking any token.
    ///
    /// The new key is published at once and signs after the publish-ahead time (10 minutes by
    /// default, service_tokens.publish_ahead_s), so verifiers fetch it before they see it; the
    /// old key stays published until every token it signed has expired.
    Rotate {
        /// For a key that may have leaked: sign with the new key now and withdraw every other
        /// key from the key set at once (tokens they signed stop verifying as soon as
        /// verifiers refetch the key set).
        #[arg(long)]
        immediately: bool,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
    /// Create an API key and print it once (only its hash is kept).
    Create {
        /// Who will use the key, e.g. "billing-service".
        #[arg(long)]
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// List API keys (ids and names; keys themselves are never shown again).
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Revoke an API key by id.
    Revoke {
        /// The key's id (see `latch api-keys list`).
        key_id: String,
        #[command(flatten)]
        target: Target,
    },
}
