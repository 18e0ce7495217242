//! Webhook delivery as WooCommerce does it: a JSON POST of the resource (exactly as the REST
//! API renders it) to every active webhook of the topic, with the `X-WC-Webhook-*` headers and
//! `X-WC-Webhook-Signature` = base64(HMAC-SHA256(raw body, webhook secret)). Deliveries run in
//! the background (WooCommerce queues them) over plain HTTP/1.1; only `http://` delivery URLs
//! are reachable from the simulator.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Shared, relock};

/// One delivery attempt, as `GET /__admin/webhooks/deliveries` lists it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Delivery {
    pub webhook_id: i64,
    pub delivery_id: String,
    pub topic: String,
    pub delivery_url: String,
    pub resource_id: i64,
    /// HTTP status of the receiver, 0 when it could not be reached.
    pub response_code: u16,
}

/// base64(HMAC-SHA256(body, secret)), WooCommerce's `X-WC-Webhook-Signature`.
pub(crate) fn signature(body: &[u8], secret: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

static DELIVERIES: AtomicU64 = AtomicU64::new(1);

/// A delivery id: a hash of the webhook id, the time and a counter (WooCommerce: `wp_hash`).
fn delivery_id(webhook: i64) -> String {
    let n = DELIVERIES.fetch_add(1, Ordering::Relaxed);
    let seed = format!(
        "{webhook}{}{n}",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    );
    let digest = Sha256::digest(seed.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// What changed: `("product", "updated", id)`; the payload is rendered now, delivered later.
pub(crate) fn fire(sim: &Shared, resource: &str, event: &str, id: i64) {
    let topic = format!("{resource}.{event}");
    let targets: Vec<(i64, String, String)> = sim
        .store()
        .webhooks
        .iter()
        .filter(|w| w.status == "active" && w.topic == topic)
        .map(|w| (w.id, w.delivery_url.clone(), w.secret.clone()))
        .collect();
    if targets.is_empty() {
        return;
    }
    let payload = match (resource, event) {
        (_, "deleted") => Some(serde_json::json!({"id": id})),
        ("product", _) => {
            let store = sim.store();
            let base = sim.base();
            match (store.product_index(id), store.variation_index(id)) {
                (Some(pi), _) => Some(store.product_json(&store.products[pi], &base, &sim.site)),
                (None, Some((pi, vi))) => {
                    let p = &store.products[pi];
                    Some(store.variation_as_product_json(p, &p.variations[vi], &base, &sim.site))
                }
                _ => None,
            }
        }
        ("order", _) => {
            let store = sim.store();
            store
                .orders
                .iter()
                .find(|o| o.id == id)
                .map(|o| store.order_json(o, &sim.base()))
        }
        _ => None,
    };
    let Some(payload) = payload else {
        return;
    };
    let body = serde_json::to_vec(&payload).unwrap_or_default();
    for (webhook_id, url, secret) in targets {
        let sim = sim.clone();
        let body = body.clone();
        let topic = topic.clone();
        let resource = resource.to_string();
        let event = event.to_string();
        tokio::spawn(async move {
            let delivery = delivery_id(webhook_id);
            let headers = vec![
                ("Content-Type", "application/json".to_string()),
                (
                    "User-Agent",
                    format!(
                        "WooCommerce/{} Hookshot (WordPress/6.4.3)",
                        super::WC_VERSION
                    ),
                ),
                ("X-WC-Webhook-Source", format!("{}/", sim.site)),
                ("X-WC-Webhook-Topic", topic.clone()),
                ("X-WC-Webhook-Resource", resource),
                ("X-WC-Webhook-Event", event),
                ("X-WC-Webhook-Signature", signature(&body, &secret)),
                ("X-WC-Webhook-ID", webhook_id.to_string()),
                ("X-WC-Webhook-Delivery-ID", delivery.clone()),
            ];
            let code = post(&url, &headers, &body).await.unwrap_or(0);
            if code == 0 {
                tracing::info!(webhook_id, "webhook delivery failed: receiver unreachable");
            }
            relock(&sim.stats).webhook_deliveries += 1;
            relock(&sim.deliveries).push(Delivery {
                webhook_id,
                delivery_id: delivery,
                topic,
                delivery_url: url,
                resource_id: id,
                response_code: code,
            });
        });
    }
}

/// The ping WooCommerce sends to a new webhook's URL: `webhook_id=<id>`, unsigned.
pub(crate) fn ping(url: String, webhook_id: i64) {
    tokio::spawn(async move {
        let headers = vec![
            (
                "Content-Type",
                "application/x-www-form-urlencoded".to_string(),
            ),
            (
                "User-Agent",
                format!(
                    "WooCommerce/{} Hookshot (WordPress/6.4.3)",
                    super::WC_VERSION
                ),
            ),
        ];
        let _ = post(
            &url,
            &headers,
            format!("webhook_id={webhook_id}").as_bytes(),
        )
        .await;
    });
}

/// A minimal HTTP/1.1 POST to an `http://` URL; returns the response status.
async fn post(url: &str, headers: &[(&str, String)], body: &[u8]) -> Option<u16> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let io = async {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.ok()?;
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.ok()?;
        stream.write_all(body).await.ok()?;
        stream.flush().await.ok()?;
        let mut buf = vec![0u8; 1024];
        let mut read = 0;
        while read < 12 {
            let n = stream.read(&mut buf[read..]).await.ok()?;
            if n == 0 {
                break;
            }
            read += n;
        }
        let line = String::from_utf8_lossy(&buf[..read]).to_string();
        line.split_whitespace().nth(1)?.parse::<u16>().ok()
    };
    // WooCommerce waits a minute; the simulator gives up sooner.
    tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .ok()?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_base64_hmac_sha256() {
        // RFC 4231 test case 2.
        let sig = signature(b"what do ya want for nothing?", "Jefe");
        assert_eq!(sig, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
    }
}
