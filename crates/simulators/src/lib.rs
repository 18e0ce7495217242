//! Simulators of the platforms marketsync talks to.
//!
//! Each simulator is an in-process HTTP server that speaks one platform's documented protocol
//! (paths, auth, pagination, rate limits, error shapes), seeded with deterministic demo data
//! from [`demo`] and able to inject faults ([`faults`]) by configuration or at run time through
//! `/__admin/` endpoints. Tests start them on `127.0.0.1:0`; the CLI can start them for demos.

#![recursion_limit = "256"]

pub mod amazon;
pub mod backmarket;
pub mod bigcommerce;
pub mod cdiscount;
pub mod demo;
pub mod ebay;
pub mod faults;
pub mod magento;
pub mod mirakl;
pub mod opencart;
pub mod prestashop;
pub mod refurbed;
mod rng;
mod server;
pub mod shopify;
pub(crate) mod storm;
pub mod woocommerce;
