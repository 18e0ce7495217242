//! `marketsync tenant …` and `marketsync key …`: tenants and API keys, straight in the gateway's
//! schema through [`marketsync_gateway::admin`] (the operator's way in before any key exists).

use std::process::ExitCode;

use anyhow::Context;
use marketsync_common::db;
use marketsync_gateway::admin;
use sqlx::PgPool;
use uuid::Uuid;

use crate::cli::Role;

/// A pool on the gateway schema of the database at `url`, migrated.
pub async fn gateway_pool(url: &str) -> anyhow::Result<PgPool> {
    let pool = db::connect(url, "gateway", 2)
        .await
        .context("cannot connect to PostgreSQL (DATABASE_URL)")?;
    db::migrate(&pool, &db::migrations::GATEWAY)
        .await
        .context("migrating schema gateway failed")?;
    Ok(pool)
}

/// Creates the tenant `name` (or finds it); its id.
pub async fn create_tenant(pool: &PgPool, name: &str) -> anyhow::Result<Uuid> {
    admin::create_tenant(pool, name)
        .await
        .with_context(|| format!("cannot create tenant {name:?}"))
}

/// Creates an API key; the key in clear text.
pub async fn create_key(
    pool: &PgPool,
    tenant: Uuid,
    role: &str,
    name: &str,
) -> anyhow::Result<String> {
    admin::create_api_key(pool, tenant, role, name)
        .await
        .context("cannot create the API key")
}

/// The id of a tenant given by id or by name.
pub async fn resolve_tenant(pool: &PgPool, tenant: &str) -> anyhow::Result<Uuid> {
    let tenants = admin::list_tenants(pool)
        .await
        .context("cannot list tenants")?;
    let wanted = tenant.trim();
    if let Ok(id) = Uuid::parse_str(wanted)
        && tenants.iter().any(|t| t.id == id)
    {
        return Ok(id);
    }
    tenants
        .iter()
        .find(|t| t.name == wanted)
        .map(|t| t.id)
        .with_context(|| {
            format!(
                "no tenant with id or name {wanted:?}; create it with `marketsync tenant create {wanted}`"
            )
        })
}

/// `tenant create`: prints the id.
pub async fn tenant_create(url: &str, name: &str) -> anyhow::Result<ExitCode> {
    let pool = gateway_pool(url).await?;
    let id = create_tenant(&pool, name).await?;
    pool.close().await;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

/// `tenant list`: one line per tenant, `id  name  created`.
pub async fn tenant_list(url: &str) -> anyhow::Result<ExitCode> {
    let pool = gateway_pool(url).await?;
    let tenants = admin::list_tenants(&pool)
        .await
        .context("cannot list tenants")?;
    pool.close().await;
    if tenants.is_empty() {
        eprintln!("no tenants yet; create one with `marketsync tenant create <name>`");
        return Ok(ExitCode::SUCCESS);
    }
    let width = tenants
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("{:<36}  {:<width$}  CREATED", "ID", "NAME");
    for t in tenants {
        println!(
            "{:<36}  {:<width$}  {}",
            t.id,
            t.name,
            t.created_at.format("%Y-%m-%d %H:%M:%SZ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `key create`: prints the key (shown only this once).
pub async fn key_create(
    url: &str,
    tenant: &str,
    role: Role,
    name: &str,
) -> anyhow::Result<ExitCode> {
    let pool = gateway_pool(url).await?;
    let tenant_id = resolve_tenant(&pool, tenant).await?;
    let key = create_key(&pool, tenant_id, role.as_str(), name).await?;
    pool.close().await;
    println!("{key}");
    eprintln!(
        "created {} key {name:?} for tenant {tenant_id}; store it now: it is not shown again",
        role.as_str()
    );
    Ok(ExitCode::SUCCESS)
}
