//! `marketsync`: the operator command line. See `marketsync --help`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = marketsync::cli::Cli::parse();
    marketsync_common::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(marketsync::cmd::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
