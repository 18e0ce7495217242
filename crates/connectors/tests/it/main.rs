//! Integration tests of the connectors: each platform's connector against its simulator,
//! started in-process on `127.0.0.1:0`, and the conformance of both to the vendor's OpenAPI
//! specs through Stoplight Prism proxies.

#![allow(clippy::unwrap_used)]

mod amazon;
mod amazon_prism;
mod backmarket;
mod bigcommerce;
mod cdiscount;
mod ebay;
mod magento;
mod mirakl;
mod opencart;
mod prestashop;
mod prism;
mod refurbed;
mod shopify;
mod support;
mod woocommerce;
