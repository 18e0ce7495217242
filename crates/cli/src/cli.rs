//! The command line: subcommands, flags and their help texts (clap derive).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The marketsync operator command line.
#[derive(Debug, Parser)]
#[command(
    name = "marketsync",
    version,
    about = "Run, administer and drive marketsync from the command line",
    long_about = "Run, administer and drive marketsync from the command line.\n\n\
        marketsync keeps a merchant's catalog, offers, stock and orders in step across \
        marketplaces, e-commerce platforms and back-office systems. This tool starts a complete \
        local installation (`up`), applies database migrations, manages tenants and API keys, \
        runs the platform simulators and starts syncs while showing their progress.",
    after_help = "Examples:\n  \
        marketsync up                                # everything locally, with demo data\n  \
        marketsync migrate                           # apply every service's migrations\n  \
        marketsync tenant create acme                # prints the tenant id\n  \
        marketsync key create --tenant acme --role operator\n  \
        marketsync sync <connection-id> --operations import_products\n  \
        marketsync health http://127.0.0.1:8080/readyz"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole system locally in the foreground, with simulators and demo data.
    #[command(long_about = "Run the whole system locally in the foreground.\n\n\
        Applies the migrations, starts the connector, monitor, knowledge and gateway services as \
        child processes (found next to this executable, else on PATH; their output goes to \
        <state-dir>/logs/<service>.log), starts the BigCommerce simulator in-process with demo \
        data, waits until every service is ready, creates the tenant \"demo\" with an admin API \
        key and a connection to the simulator, then prints the gateway URL and the API key.\n\n\
        Needs PostgreSQL (DATABASE_URL) and NATS with JetStream (NATS_URL); scripts/quickstart \
        starts both. Every MARKETSYNC_* variable you set is passed to the services. Without \
        MARKETSYNC_MASTER_KEY a development key is generated into <state-dir>/dev-master.key \
        and shared by all services.\n\n\
        Stops every service on Ctrl-C or SIGTERM; exits non-zero if a service dies.")]
    Up(UpArgs),

    /// Apply every service's database migrations.
    #[command(
        long_about = "Apply every service's database migrations (connector, monitor, \
        knowledge, gateway), each in its own schema, creating the database and the schemas when \
        missing. Safe to run repeatedly and concurrently with the services."
    )]
    Migrate(DbArgs),

    /// Create and list tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),

    /// Create API keys.
    #[command(subcommand)]
    Key(KeyCommand),

    /// Run the platform simulators in the foreground.
    #[command(
        long_about = "Run the platform simulators in the foreground, seeded with \
        deterministic demo data, and print their URLs and demo credentials. Point a \
        connection's base_url at a simulator's URL. Stops on Ctrl-C or SIGTERM."
    )]
    Simulators(SimulatorsArgs),

    /// Start a sync of a connection and follow its progress.
    #[command(
        long_about = "Start a sync of a connection through the gateway and follow its \
        progress live (the gateway's event stream; if it stays silent, by polling the sync).\n\n\
        Exits 0 when the sync completes and 1 when it fails, printing its counts or errors. \
        Shows a progress bar on a terminal and plain lines otherwise."
    )]
    Sync(SyncArgs),

    /// Read the stock ledger, a channel's consistency, and restore backup points.
    #[command(subcommand)]
    Stock(StockCommand),

    /// Exit 0 if a URL answers 2xx (for container health checks).
    #[command(
        long_about = "GET the URL and exit 0 if it answers with a 2xx status, 1 \
        otherwise (or after --timeout seconds). Meant for container health checks, e.g. \
        `marketsync health http://127.0.0.1:8080/readyz`."
    )]
    Health(HealthArgs),
}

/// Where the database is.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// PostgreSQL URL (the database is created when missing).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = marketsync_common::config::defaults::DATABASE_URL,
        hide_env_values = true
    )]
    pub database_url: String,
}

/// `marketsync up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Address the gateway listens on.
    #[arg(long, env = "MARKETSYNC_GATEWAY_ADDR", default_value = marketsync_common::config::defaults::GATEWAY_ADDR)]
    pub gateway_addr: SocketAddr,

    /// Do not start the simulators nor create the demo connections.
    #[arg(long)]
    pub no_simulators: bool,

    /// Ports of the simulators on 127.0.0.1 (the demo connections point at them).
    #[command(flatten)]
    pub ports: SimPorts,

    /// Number of demo products in the simulated stores (default: the simulators' own, 60).
    #[arg(long, value_name = "N")]
    pub demo_products: Option<usize>,

    /// Directory of the local state: logs, the dev master key, the demo API key.
    #[arg(
        long,
        value_name = "DIR",
        env = "MARKETSYNC_STATE_DIR",
        default_value = ".marketsync"
    )]
    pub state_dir: PathBuf,

    /// Seconds to wait for each service to become ready.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub ready_timeout: u64,

    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
}

/// `marketsync tenant …`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (or find the existing one of that name) and print its id.
    Create {
        /// Name of the tenant, unique.
        name: String,
        /// The database.
        #[command(flatten)]
        db: DbArgs,
    },
    /// List the tenants: id, name, creation time.
    List {
        /// The database.
        #[command(flatten)]
        db: DbArgs,
    },
}

/// Role of an API key (DESIGN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Own tenant: read and decide on issues.
    Merchant,
    /// Own tenant: configure connections and rules.
    Operator,
    /// Every tenant, and knowledge-base editing.
    Admin,
}

impl Role {
    /// The role's name as the gateway stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Merchant => "merchant",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

/// `marketsync key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key and print it (it is shown only this once).
    Create {
        /// Tenant of the key: its id or its name.
        #[arg(long, value_name = "UUID|NAME")]
        tenant: String,
        /// What the key may do.
        #[arg(long, value_enum)]
        role: Role,
        /// A name to recognise the key by in listings and the audit log.
        #[arg(long, default_value = "cli")]
        name: String,
        /// The database.
        #[command(flatten)]
        db: DbArgs,
    },
}

/// `marketsync simulators`.
#[derive(Debug, Args)]
pub struct SimulatorsArgs {
    /// Address the simulators listen on (0.0.0.0 in containers).
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: IpAddr,

    /// Ports of the simulators (0 picks a free one).
    #[command(flatten)]
    pub ports: SimPorts,

    /// Number of demo products per simulated store (default 60).
    #[arg(long, value_name = "N")]
    pub products: Option<usize>,

    /// Seed of the demo data: the same seed gives the same data (default 42).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
}

/// A sync operation (DESIGN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Operation {
    /// Import products from the platform.
    #[value(name = "import_products")]
    ImportProducts,
    /// Import stock levels from the platform.
    #[value(name = "import_inventory")]
    ImportInventory,
    /// Push stock levels to the platform.
    #[value(name = "export_inventory")]
    ExportInventory,
    /// Import orders from the platform.
    #[value(name = "import_orders")]
    ImportOrders,
    /// Push order updates (shipments) to the platform.
    #[value(name = "export_orders")]
    ExportOrders,
}

impl Operation {
    /// The operation's name in the REST API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImportProducts => "import_products",
            Self::ImportInventory => "import_inventory",
            Self::ExportInventory => "export_inventory",
            Self::ImportOrders => "import_orders",
            Self::ExportOrders => "export_orders",
        }
    }
}

/// How to reach the gateway.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The gateway's base URL.
    #[arg(
        long,
        env = "MARKETSYNC_API_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub api_url: String,

    /// API key (Bearer); `marketsync up` stores the demo key in .marketsync/demo-api-key.
    #[arg(long, env = "MARKETSYNC_API_KEY", hide_env_values = true)]
    pub api_key: String,
}

/// `marketsync sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Id of the connection (a name works too: it is looked up).
    #[arg(value_name = "CONNECTION")]
    pub connection: String,

    /// Operations to run, comma-separated; the connection's defaults when omitted.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "OP,...")]
    pub operations: Vec<Operation>,

    /// Ignore the incremental cursors: sync everything.
    #[arg(long)]
    pub full: bool,

    /// Only these skus (repeat the flag for several).
    #[arg(long = "sku", value_name = "SKU")]
    pub skus: Vec<String>,

    /// Only records changed since this time (RFC 3339, e.g. 2024-05-01T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only records changed until this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Seconds of silence on the event stream before polling the sync's status instead.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub poll_after: u64,

    /// The gateway.
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `marketsync stock …` (through the gateway).
#[derive(Debug, Subcommand)]
pub enum StockCommand {
    /// A sku's ledger rows, its latest entries and what each channel shows.
    Show {
        /// The sku.
        sku: String,
        /// The gateway.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// A connection's data consistency score and its differences.
    Consistency {
        /// Id or name of the connection.
        connection: String,
        /// The gateway.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// A connection's backup points (saved before each forced full export).
    Backups {
        /// Id or name of the connection.
        connection: String,
        /// The gateway.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Put a backup point's quantities and prices back on its channel.
    Restore {
        /// Id of the backup point (`marketsync stock backups <connection>` lists them).
        backup: String,
        /// The gateway.
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// `marketsync health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// URL to GET, e.g. http://127.0.0.1:8080/readyz.
    pub url: String,

    /// Seconds before giving up.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub timeout: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sync_flags() {
        let cli = Cli::try_parse_from([
            "marketsync",
            "sync",
            "c1",
            "--operations",
            "import_products,import_orders",
            "--sku",
            "A",
            "--sku",
            "B",
            "--full",
            "--api-key",
            "k",
        ])
        .expect("parse");
        let Command::Sync(s) = cli.command else {
            panic!("not sync")
        };
        assert_eq!(
            s.operations,
            vec![Operation::ImportProducts, Operation::ImportOrders]
        );
        assert_eq!(s.skus, vec!["A", "B"]);
        assert!(s.full);
    }
}

/// The port of each platform simulator.
#[derive(Debug, Clone, Args)]
pub struct SimPorts {
    /// Port of the BigCommerce simulator.
    #[arg(long, value_name = "PORT", default_value_t = 8801)]
    pub bigcommerce_port: u16,
    /// Port of the Shopify simulator.
    #[arg(long, value_name = "PORT", default_value_t = 8802)]
    pub shopify_port: u16,
    /// Port of the WooCommerce simulator.
    #[arg(long, value_name = "PORT", default_value_t = 8803)]
    pub woocommerce_port: u16,
    /// Port of the Magento simulator.
    #[arg(long, value_name = "PORT", default_value_t = 8804)]
    pub magento_port: u16,
    /// Port of the PrestaShop simulator.
    #[arg(long, value_name = "PORT", default_value_t = 8805)]
    pub prestashop_port: u16,
    /// Port of the OpenCart simulator.
    #[arg(long, value_name = "PORT", default_value_t = 8806)]
    pub opencart_port: u16,
    /// Port of the Amazon SP-API simulator.
    #[arg(long, value_name = "PORT", default_value_t = 8807)]
    pub amazon_port: u16,
    /// Port of the eBay simulator.
    #[arg(long, value_name = "PORT", default_value_t = 8808)]
    pub ebay_port: u16,
    /// Port of the Mirakl simulator.
    #[arg(long, value_name = "PORT", default_value_t = 8809)]
    pub mirakl_port: u16,
    /// Port of the CDiscount simulator.
    #[arg(long, value_name = "PORT", default_value_t = 8810)]
    pub cdiscount_port: u16,
    /// Port of the Back Market simulator.
    #[arg(long, value_name = "PORT", default_value_t = 8811)]
    pub backmarket_port: u16,
    /// Port of the Refurbed simulator.
    #[arg(long, value_name = "PORT", default_value_t = 8812)]
    pub refurbed_port: u16,
}

impl SimPorts {
    /// (platform, port) of every simulator.
    pub fn all(&self) -> Vec<(&'static str, u16)> {
        vec![
            ("bigcommerce", self.bigcommerce_port),
            ("shopify", self.shopify_port),
            ("woocommerce", self.woocommerce_port),
            ("magento", self.magento_port),
            ("prestashop", self.prestashop_port),
            ("opencart", self.opencart_port),
            ("amazon", self.amazon_port),
            ("ebay", self.ebay_port),
            ("mirakl", self.mirakl_port),
            ("cdiscount", self.cdiscount_port),
            ("backmarket", self.backmarket_port),
            ("refurbed", self.refurbed_port),
        ]
    }
}
