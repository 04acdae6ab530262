//! Traditional database sessions: a session row looked up by primary key in PostgreSQL, over
//! loopback TCP with a prepared statement, the way a web framework's database session store
//! does it. The bench starts its own server (`initdb` and `pg_ctl` from the Debian
//! `postgresql` package, found on the PATH or under `/usr/lib/postgresql/*/bin`), or uses the one
//! in `LATCH_BENCH_POSTGRES` (a libpq connection string).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::Serialize;
use tokio_postgres::{Client, NoTls};

use crate::measure::{self, Budget, Stats};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// What the PostgreSQL section measured.
#[derive(Debug, Serialize)]
pub struct PgReport {
    /// `SELECT ... FROM sessions WHERE id = $1`, prepared, one round trip.
    pub lookup: Stats,
    /// From a `DELETE`'s commit to the first lookup that finds no row, microseconds
    /// (p50, p99) over `trials`.
    pub revoke_us: (f64, f64),
    /// From a role `UPDATE`'s commit to the first lookup (joined with the user) without the
    /// role, microseconds (p50, p99).
    pub demote_us: (f64, f64),
    /// Trials behind the two delays.
    pub trials: usize,
    /// Session rows in the table.
    pub rows: u64,
    /// The server's version string.
    pub version: String,
}

/// Runs the section; `Err` with a reason to print when no server can be started or reached.
pub async fn run(budget: Budget, quick: bool) -> Result<PgReport, Error> {
    let (client, _server) = connect().await?;
    let rows: u64 = if quick { 2_000 } else { 100_000 };
    setup(&client, rows).await?;
    let lookup_stmt = client
        .prepare(
            "SELECT user_id, secret_hash, expires_at, last_seen_at FROM sessions WHERE id = $1",
        )
        .await?;
    let id = format!("s{}", rows / 2);
    let lookup = measure::future(budget, || {
        let (client, stmt, id) = (&client, &lookup_stmt, &id);
        async move {
            client
                .query_opt(stmt, &[id])
                .await
                .map(|r| r.is_some())
                .unwrap_or(false)
        }
    })
    .await;
    let trials = if quick { 30 } else { 500 };
    let revoke_us = revocation(&client, trials).await?;
    let demote_us = demotion(&client, trials).await?;
    let version: String = client.query_one("SHOW server_version", &[]).await?.get(0);
    Ok(PgReport {
        lookup,
        revoke_us,
        demote_us,
        trials,
        rows,
        version,
    })
}

async fn setup(c: &Client, rows: u64) -> Result<(), Error> {
    c.batch_execute(
        "DROP TABLE IF EXISTS sessions; DROP TABLE IF EXISTS users;
         CREATE TABLE users (id text PRIMARY KEY, roles text[] NOT NULL DEFAULT '{}');
         CREATE TABLE sessions (
             id text PRIMARY KEY,
             user_id text NOT NULL REFERENCES users (id),
             secret_hash bytea NOT NULL,
             created_at timestamptz NOT NULL DEFAULT now(),
             last_seen_at timestamptz NOT NULL DEFAULT now(),
             expires_at timestamptz NOT NULL DEFAULT now() + interval '8 hours',
             user_agent text,
             ip inet);",
    )
    .await?;
    c.execute(
        "INSERT INTO users (id, roles) SELECT 'u' || g, '{member}' FROM generate_series(0, $1::bigint) g",
        &[&(rows as i64 / 2)],
    )
    .await?;
    c.execute(
        "INSERT INTO sessions (id, user_id, secret_hash, user_agent, ip)
         SELECT 's' || g, 'u' || (g / 2), sha256(g::text::bytea), 'bench/1.0', '192.0.2.1'
         FROM generate_series(0, $1::bigint - 1) g",
        &[&(rows as i64)],
    )
    .await?;
    c.batch_execute("ANALYZE").await?;
    Ok(())
}

/// Delete a session, then look it up until it is gone: with a database, the next read sees it.
async fn revocation(c: &Client, trials: usize) -> Result<(f64, f64), Error> {
    let lookup = c.prepare("SELECT 1 FROM sessions WHERE id = $1").await?;
    let mut lags = Vec::with_capacity(trials);
    for i in 0..trials {
        let id = format!("s{i}");
        c.execute("DELETE FROM sessions WHERE id = $1", &[&id])
            .await?;
        let start = Instant::now();
        while c.query_opt(&lookup, &[&id]).await?.is_some() {}
        lags.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(crate::sections::p50_p99(lags))
}

/// Remove a role, then look the session up with its user until the role is gone.
async fn demotion(c: &Client, trials: usize) -> Result<(f64, f64), Error> {
    let lookup = c
        .prepare("SELECT u.roles FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1")
        .await?;
    let mut lags = Vec::with_capacity(trials);
    for i in 0..trials {
        let (sid, uid) = (
            format!("s{}", trials * 2 + i * 2),
            format!("u{}", trials + i),
        );
        c.execute("UPDATE users SET roles = '{}' WHERE id = $1", &[&uid])
            .await?;
        let start = Instant::now();
        loop {
            let roles: Vec<String> = c.query_one(&lookup, &[&sid]).await?.get(0);
            if !roles.iter().any(|r| r == "member") {
                break;
            }
        }
        lags.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(crate::sections::p50_p99(lags))
}

/// A server the bench started; stopped on drop.
pub struct PgServer {
    bin: PathBuf,
    data: tempfile::TempDir,
    as_user: Option<String>,
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data.path().join("db");
        let _ = pg_cmd(&self.bin.join("pg_ctl"), self.as_user.as_deref())
            .arg("-D")
            .arg(&data)
            .args(["stop", "-m", "immediate", "-w"])
            .output();
    }
}

async fn connect() -> Result<(Client, Option<PgServer>), Error> {
    if let Ok(conn) = std::env::var("LATCH_BENCH_POSTGRES") {
        let (client, connection) = tokio_postgres::connect(&conn, NoTls).await?;
        tokio::spawn(connection);
        return Ok((client, None));
    }
    let (server, port) = tokio::task::spawn_blocking(start).await??;
    let conn = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
    let (client, connection) = tokio_postgres::connect(&conn, NoTls).await?;
    tokio::spawn(connection);
    Ok((client, Some(server)))
}

/// `initdb` and `pg_ctl start` in a temporary directory, on a free port. PostgreSQL refuses to
/// run as root; as root the server runs as the `postgres` user the Debian package creates.
fn start() -> Result<(PgServer, u16), Error> {
    let bin = pg_bin_dir().ok_or(
        "no PostgreSQL server binaries (initdb, pg_ctl): install the postgresql package, or set LATCH_BENCH_POSTGRES",
    )?;
    let as_user = is_root().then(|| "postgres".to_owned());
    let data = tempfile::tempdir()?;
    if let Some(u) = &as_user {
        let out = Command::new("chown")
            .args(["-R", &format!("{u}:{u}")])
            .arg(data.path())
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "cannot hand the data dir to the {u} user (is PostgreSQL installed?)"
            )
            .into());
        }
    }
    let db = data.path().join("db");
    let out = pg_cmd(&bin.join("initdb"), as_user.as_deref())
        .args(["-D"])
        .arg(&db)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ])
        .output()?;
    if !out.status.success() {
        return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let port = latch_test_redis::free_port();
    let opts = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -k {} -c shared_buffers=128MB",
        data.path().display()
    );
    let out = pg_cmd(&bin.join("pg_ctl"), as_user.as_deref())
        .arg("-D")
        .arg(&db)
        .args(["-o", &opts, "-l"])
        .arg(data.path().join("server.log"))
        .args(["-w", "start"])
        .output()?;
    let server = PgServer { bin, data, as_user };
    if !out.status.success() {
        return Err(format!(
            "pg_ctl start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok((server, port))
}

fn pg_cmd(program: &Path, as_user: Option<&str>) -> Command {
    match as_user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn pg_bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p).find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|d| d.join("initdb").is_file())
            .collect();
        dirs.sort();
        dirs.pop()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
