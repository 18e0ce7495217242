//! The `marketsync` command line: runs the whole system locally (`up`), applies migrations,
//! manages tenants and API keys, runs the platform simulators, starts syncs and follows their
//! progress, and answers container health checks.
//!
//! The binary is a thin `main` over [`cmd::run`]; the pieces are public so they can be tested.

#![warn(missing_docs)]

pub mod api;
pub mod cli;
pub mod cmd;
pub mod sse;
pub mod supervisor;
