//! PostgreSQL: one database, one schema per service, the pool's `search_path` set to it so each
//! service's migrations and queries stay in its own schema.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

/// Connects to `url`, creating the database and `schema` when missing, with every connection's
/// `search_path` set to `schema`.
pub async fn connect(url: &str, schema: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let opts = PgConnectOptions::from_str(url)
        .map_err(|e| anyhow::anyhow!("DATABASE_URL is invalid: {e}"))?;
    ensure_database(&opts).await?;
    ensure_schema(&opts, schema).await?;
    let opts = opts
        .options([("search_path", schema)])
        // Named per service in pg_stat_activity (and in the benchmark's CPU accounting).
        .application_name(&format!("marketsync-{schema}"))
        .log_statements(tracing::log::LevelFilter::Trace);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await?;
    Ok(pool)
}

/// Runs a service's migrations (idempotent; safe with several replicas: sqlx takes a lock).
pub async fn migrate(pool: &PgPool, migrator: &Migrator) -> anyhow::Result<()> {
    migrator.run(pool).await?;
    Ok(())
}

async fn ensure_database(opts: &PgConnectOptions) -> anyhow::Result<()> {
    match opts.connect().await {
        Ok(c) => {
            let _ = c.close().await;
            Ok(())
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
            let name = opts
                .get_database()
                .ok_or_else(|| anyhow::anyhow!("DATABASE_URL names no database"))?
                .to_string();
            let mut admin = opts.clone().database("postgres").connect().await?;
            let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
            match sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
            {
                Ok(_) => tracing::info!(database = %name, "created database"),
                // duplicate_database or unique_violation: another replica won the race
                Err(sqlx::Error::Database(e))
                    if matches!(e.code().as_deref(), Some("42P04") | Some("23505")) => {}
                Err(e) => return Err(e.into()),
            }
            let _ = admin.close().await;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

async fn ensure_schema(opts: &PgConnectOptions, schema: &str) -> anyhow::Result<()> {
    let mut conn = opts.connect().await?;
    let sql = format!(
        "CREATE SCHEMA IF NOT EXISTS \"{}\"",
        schema.replace('"', "\"\"")
    );
    match sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
    {
        Ok(_) => {}
        Err(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("42P06") | Some("23505")) => {}
        Err(e) => return Err(e.into()),
    }
    let _ = conn.close().await;
    Ok(())
}

/// The migrations of each service, embedded at build time from `migrations/<service>/`.
pub mod migrations {
    use sqlx::migrate::Migrator;

    /// connector schema.
    pub static CONNECTOR: Migrator = sqlx::migrate!("../../migrations/connector");
    /// monitor schema.
    pub static MONITOR: Migrator = sqlx::migrate!("../../migrations/monitor");
    /// knowledge schema.
    pub static KNOWLEDGE: Migrator = sqlx::migrate!("../../migrations/knowledge");
    /// gateway schema.
    pub static GATEWAY: Migrator = sqlx::migrate!("../../migrations/gateway");

    /// (schema, migrator) of every service.
    pub fn all() -> [(&'static str, &'static Migrator); 4] {
        [
            ("connector", &CONNECTOR),
            ("monitor", &MONITOR),
            ("knowledge", &KNOWLEDGE),
            ("gateway", &GATEWAY),
        ]
    }
}
