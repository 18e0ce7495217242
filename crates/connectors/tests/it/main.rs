//! Integration tests of the connectors: each platform's connector against its simulator,
//! started in-process on `127.0.0.1:0`, and the conformance of both to the vendor's OpenAPI
//! specs through Stoplight Prism proxies.

#![allow(clippy::unwrap_used)]

mod amazon;
mod amazon_prism;
mod bigcommerce;
mod magento;
mod opencart;
mod prestashop;
mod prism;
mod shopify;
mod support;
mod woocommerce;
