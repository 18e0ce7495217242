//! `marketsync migrate`: every service's migrations, each in its schema.

use std::process::ExitCode;

use anyhow::Context;
use marketsync_common::db;

/// Applies the migrations of every service to the database at `url`, printing each schema.
pub async fn run(url: &str) -> anyhow::Result<ExitCode> {
    for (schema, migrator) in db::migrations::all() {
        let pool = db::connect(url, schema, 2)
            .await
            .with_context(|| format!("cannot connect to PostgreSQL (schema {schema})"))?;
        db::migrate(&pool, migrator)
            .await
            .with_context(|| format!("migrating schema {schema} failed"))?;
        pool.close().await;
        println!(
            "{schema}: up to date ({} migrations)",
            migrator.iter().count()
        );
    }
    Ok(ExitCode::SUCCESS)
}
