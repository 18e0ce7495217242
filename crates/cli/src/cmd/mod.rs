//! One module per subcommand; [`run`] dispatches.

pub mod admin;
pub mod health;
pub mod migrate;
pub mod simulators;
pub mod stock;
pub mod stores;
pub mod sync;
pub mod up;

use std::process::ExitCode;

use crate::cli::{Cli, Command, KeyCommand, TenantCommand};

/// Runs the parsed command line; the exit code on success, an error to print otherwise.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Up(args) => up::run(args).await,
        Command::Migrate(db) => migrate::run(&db.database_url).await,
        Command::Tenant(TenantCommand::Create { name, db }) => {
            admin::tenant_create(&db.database_url, &name).await
        }
        Command::Tenant(TenantCommand::List { db }) => admin::tenant_list(&db.database_url).await,
        Command::Key(KeyCommand::Create {
            tenant,
            role,
            name,
            db,
        }) => admin::key_create(&db.database_url, &tenant, role, &name).await,
        Command::Simulators(args) => simulators::run(args).await,
        Command::Sync(args) => sync::run(args).await,
        Command::Stock(cmd) => stock::run(cmd).await,
        Command::Health(args) => health::run(&args.url, args.timeout).await,
    }
}
