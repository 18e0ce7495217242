//! Webhook deliveries as Shopify sends them: a JSON POST signed with `X-Shopify-Hmac-Sha256`
//! (base64 of the HMAC-SHA256 of the raw body keyed by the app's API secret), with
//! `X-Shopify-Topic`, `X-Shopify-Shop-Domain`, `X-Shopify-API-Version`, `X-Shopify-Webhook-Id`,
//! `X-Shopify-Event-Id` and `X-Shopify-Triggered-At`.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::store::{Event, topic_header};
use super::{API_VERSION, Delivery, SimConfig, relock};

/// The `X-Shopify-Hmac-Sha256` value of `body` for `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length: new_from_slice cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

fn uuid_like(n: u128) -> String {
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Sends `event` to `url` in the background and records the delivery. Without an HTTP
/// client (none could be built) the delivery is only recorded, with status 0.
pub(crate) fn deliver(
    http: Option<&reqwest::Client>,
    config: &SimConfig,
    log: Arc<Mutex<Vec<Delivery>>>,
    url: &str,
    event: &Event,
) {
    let body = event.payload.to_string().into_bytes();
    let now = Utc::now();
    let (index, webhook_id, event_id) = {
        let mut l = relock(&log);
        let index = l.len();
        let webhook_id = uuid_like(0x5107_1f00_0000_0000_0000_0000_0000_0000 | index as u128);
        let event_id = uuid_like(0xe7e7_0000_0000_0000_0000_0000_0000_0000 | u128::from(event.id));
        l.push(Delivery {
            url: url.to_string(),
            topic: topic_header(&event.topic),
            webhook_id: webhook_id.clone(),
            event_id: event_id.clone(),
            status: None,
        });
        (index, webhook_id, event_id)
    };
    let Some(http) = http else {
        if let Some(d) = relock(&log).get_mut(index) {
            d.status = Some(0);
        }
        return;
    };
    let request = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-shopify-hmac-sha256", sign(&config.api_secret, &body))
        .header("x-shopify-topic", topic_header(&event.topic))
        .header("x-shopify-shop-domain", config.shop_domain.clone())
        .header("x-shopify-api-version", API_VERSION)
        .header("x-shopify-webhook-id", webhook_id)
        .header("x-shopify-event-id", event_id)
        .header(
            "x-shopify-triggered-at",
            now.to_rfc3339_opts(SecondsFormat::Micros, true),
        )
        .body(body);
    tokio::spawn(async move {
        let status = request.send().await.map(|r| r.status().as_u16()).ok();
        if let Some(d) = relock(&log).get_mut(index) {
            d.status = Some(status.unwrap_or(0));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_shopify() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), base64.
        assert_eq!(
            sign("key", b"The quick brown fox jumps over the lazy dog"),
            "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="
        );
    }
}
