//! eBay notifications: `X-EBAY-SIGNATURE` verification with public keys fetched from the
//! Notification API (cached per `kid`), the endpoint challenge, and subscriptions.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use sha1::Digest as _;

use super::client::{Client, Family};
use super::{Ebay, PLATFORM, seg};
use crate::http::Call;
use crate::{ConnectorError, Result, WebhookCall, WebhookEvent};

/// Topics subscribed besides `MARKETPLACE_ACCOUNT_DELETION`, when getTopics lists them.
pub const WANTED_TOPICS: [&str; 6] = [
    "MARKETPLACE_ACCOUNT_DELETION",
    "ITEM_AVAILABILITY",
    "ITEM_PRICE_REVISION",
    "ITEM_OUT_OF_STOCK",
    "ITEM_SOLD",
    "ITEM_MARKED_SHIPPED",
];

/// Name of the destination marketsync creates.
const DESTINATION_NAME: &str = "marketsync";

/// The answer to eBay's endpoint challenge (`GET <endpoint>?challenge_code=…`): lowercase hex
/// SHA-256 of `challenge_code + verification_token + endpoint`, to be returned as
/// `{"challengeResponse": "<hex>"}` with `Content-Type: application/json`.
pub fn challenge_response(
    challenge_code: &str,
    verification_token: &str,
    endpoint: &str,
) -> String {
    let mut h = sha2::Sha256::new();
    sha2::Digest::update(&mut h, challenge_code.as_bytes());
    sha2::Digest::update(&mut h, verification_token.as_bytes());
    sha2::Digest::update(&mut h, endpoint.as_bytes());
    sha2::Digest::finalize(h)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Verifying keys by `kid`.
#[derive(Default)]
pub(crate) struct KeyCache(Mutex<HashMap<String, VerifyingKey>>);

impl KeyCache {
    fn get(&self, kid: &str) -> Option<VerifyingKey> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(kid)
            .copied()
    }

    fn put(&self, kid: &str, key: VerifyingKey) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(kid.to_string(), key);
    }
}

/// The decoded `X-EBAY-SIGNATURE` header.
#[derive(Debug, Deserialize)]
struct SignatureHeader {
    #[serde(default)]
    alg: String,
    kid: String,
    signature: String,
    #[serde(default)]
    digest: String,
}

/// getPublicKey's answer.
#[derive(Debug, Deserialize)]
struct PublicKey {
    #[serde(default)]
    algorithm: String,
    #[serde(default)]
    digest: String,
    key: String,
}

fn auth(msg: impl Into<String>) -> ConnectorError {
    ConnectorError::Auth(format!("webhook signature: {}", msg.into()))
}

/// A PEM public key (SubjectPublicKeyInfo, P-256) as a verifying key.
pub(crate) fn parse_pem(pem: &str) -> Result<VerifyingKey> {
    let b64: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    // eBay's key sometimes arrives on one line with the armour inline.
    let b64 = b64
        .replace("-----BEGIN PUBLIC KEY-----", "")
        .replace("-----END PUBLIC KEY-----", "");
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| ConnectorError::Malformed(format!("public key is not base64: {e}")))?;
    VerifyingKey::from_public_key_der(&der)
        .map_err(|e| ConnectorError::Malformed(format!("public key is not a P-256 key: {e}")))
}

async fn fetch_key(client: &Client, kid: &str) -> Result<VerifyingKey> {
    let url = format!("{}/public_key/{}", client.cfg.urls.notification, seg(kid));
    let key: PublicKey = client
        .send_app(Call::get(url))
        .await?
        .ok_or_else(|| ConnectorError::Malformed("empty public key".into()))?;
    if !key.algorithm.is_empty() && !key.algorithm.eq_ignore_ascii_case("ECDSA") {
        return Err(ConnectorError::Malformed(format!(
            "public key algorithm `{}` is not ECDSA",
            key.algorithm
        )));
    }
    if !key.digest.is_empty() && !key.digest.eq_ignore_ascii_case("SHA1") {
        return Err(ConnectorError::Malformed(format!(
            "public key digest `{}` is not SHA1",
            key.digest
        )));
    }
    parse_pem(&key.key)
}

/// The key of `kid`: cached, else fetched. `verify_webhook` is synchronous, so a fetch runs
/// on its own thread and runtime (once per key).
fn key_for(ebay: &Ebay, kid: &str) -> Result<VerifyingKey> {
    if let Some(k) = ebay.keys.get(kid) {
        return Ok(k);
    }
    let cfg = ebay.client.cfg.clone();
    let fetched = std::thread::scope(|s| {
        s.spawn(|| -> Result<VerifyingKey> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| ConnectorError::Transient(format!("runtime: {e}")))?;
            rt.block_on(async {
                let client = Client::new(cfg)?;
                fetch_key(&client, kid).await
            })
        })
        .join()
        .unwrap_or_else(|_| {
            Err(ConnectorError::Transient(
                "public key fetch panicked".into(),
            ))
        })
    })?;
    ebay.keys.put(kid, fetched);
    Ok(fetched)
}

/// Checks `X-EBAY-SIGNATURE` and reads the notification.
pub(crate) fn verify(ebay: &Ebay, call: &WebhookCall) -> Result<WebhookEvent> {
    let header = call
        .header("x-ebay-signature")
        .ok_or_else(|| auth("missing X-EBAY-SIGNATURE header"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .map_err(|_| auth("X-EBAY-SIGNATURE is not base64"))?;
    let sig: SignatureHeader =
        serde_json::from_slice(&decoded).map_err(|_| auth("X-EBAY-SIGNATURE is not JSON"))?;
    if !sig.alg.is_empty() && !sig.alg.eq_ignore_ascii_case("ECDSA") {
        return Err(auth(format!("unsupported algorithm `{}`", sig.alg)));
    }
    if !sig.digest.is_empty() && !sig.digest.eq_ignore_ascii_case("SHA1") {
        return Err(auth(format!("unsupported digest `{}`", sig.digest)));
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(sig.signature.trim())
        .map_err(|_| auth("signature is not base64"))?;
    let signature = Signature::from_der(&der).map_err(|_| auth("signature is not DER ECDSA"))?;
    let key = match key_for(ebay, &sig.kid) {
        Ok(k) => k,
        Err(ConnectorError::NotFound(_)) => return Err(auth("unknown key id")),
        Err(e) => return Err(e),
    };
    let digest = sha1::Sha1::digest(&call.body);
    key.verify_prehash(&digest, &signature)
        .map_err(|_| auth("signature does not match the body"))?;
    event(&call.body)
}

/// What a verified notification says.
fn event(body: &[u8]) -> Result<WebhookEvent> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ConnectorError::Malformed(format!("notification body: {e}")))?;
    let topic = v
        .pointer("/metadata/topic")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let n = v.get("notification").cloned().unwrap_or(Value::Null);
    let id = n
        .get("notificationId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if id.is_empty() {
        return Err(ConnectorError::Malformed(
            "notification without notificationId".into(),
        ));
    }
    let data = n.get("data").cloned().unwrap_or(Value::Null);
    let strings = |keys: &[&str]| -> Vec<String> {
        keys.iter()
            .filter_map(|k| data.get(*k))
            .filter_map(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect()
    };
    let kind =
        if topic.starts_with("ITEM_") && !topic.contains("SOLD") && !topic.contains("SHIPPED") {
            "products"
        } else if topic.contains("ORDER") || topic.contains("SOLD") || topic.contains("SHIPPED") {
            "orders"
        } else {
            "ping"
        };
    let (external_ids, skus) = match kind {
        "orders" => (strings(&["orderId"]), strings(&["sku"])),
        "products" => (strings(&["offerId", "itemId"]), strings(&["sku"])),
        _ => (Vec::new(), Vec::new()),
    };
    let sent_at = n
        .get("publishDate")
        .or_else(|| n.get("eventDate"))
        .and_then(Value::as_str)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    Ok(WebhookEvent {
        id,
        topic,
        kind: kind.into(),
        external_ids,
        skus,
        sent_at,
        orders: Vec::new(),
    })
}

/// Creates (or finds) the destination of `url` and subscribes it to the wanted topics eBay
/// offers.
pub(crate) async fn register(ebay: &Ebay, url: &str) -> Result<Vec<String>> {
    let client = &ebay.client;
    let token = client.cfg.verification_token.clone().ok_or_else(|| {
        ConnectorError::Config(format!(
            "{PLATFORM} webhooks need the `verification_token` credential (the endpoint challenge)"
        ))
    })?;
    let base = client.cfg.urls.notification.clone();
    let find_destination = || async {
        let list: Value = client
            .send(Family::Notification, || {
                Call::get(format!("{base}/destination")).query("limit", 100)
            })
            .await?
            .unwrap_or(Value::Null);
        Ok::<_, ConnectorError>(
            list.get("destinations")
                .and_then(Value::as_array)
                .and_then(|d| {
                    d.iter().find(|x| {
                        x.pointer("/deliveryConfig/endpoint")
                            .and_then(Value::as_str)
                            == Some(url)
                    })
                })
                .and_then(|x| x.get("destinationId").and_then(Value::as_str))
                .map(str::to_string),
        )
    };
    let destination = match find_destination().await? {
        Some(id) => id,
        None => {
            let call = Call::new(Method::POST, format!("{base}/destination")).json(&json!({
                "name": DESTINATION_NAME,
                "status": "ENABLED",
                "deliveryConfig": {"endpoint": url, "verificationToken": token},
            }))?;
            client
                .send::<Value>(Family::Notification, || call.clone())
                .await?;
            find_destination().await?.ok_or_else(|| {
                ConnectorError::Malformed("the created destination is not listed".into())
            })?
        }
    };
    let topics: Value = client
        .send(Family::Notification, || {
            Call::get(format!("{base}/topic")).query("limit", 100)
        })
        .await?
        .unwrap_or(Value::Null);
    let offered: HashMap<String, String> = topics
        .get("topics")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|x| {
                    let id = x.get("topicId")?.as_str()?.to_string();
                    let version = x
                        .pointer("/supportedPayloads/0/schemaVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("1.0")
                        .to_string();
                    Some((id, version))
                })
                .collect()
        })
        .unwrap_or_default();
    let existing: Value = client
        .send(Family::Notification, || {
            Call::get(format!("{base}/subscription")).query("limit", 100)
        })
        .await?
        .unwrap_or(Value::Null);
    let subscribed: Vec<String> = existing
        .get("subscriptions")
        .and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .filter(|x| x.get("destinationId").and_then(Value::as_str) == Some(&destination))
                .filter_map(|x| x.get("topicId").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for topic in WANTED_TOPICS {
        let Some(version) = offered.get(topic) else {
            continue;
        };
        if !subscribed.iter().any(|s| s == topic) {
            let call = Call::new(Method::POST, format!("{base}/subscription")).json(&json!({
                "topicId": topic,
                "status": "ENABLED",
                "destinationId": destination,
                "payload": {"format": "JSON", "schemaVersion": version, "deliveryProtocol": "HTTPS"},
            }))?;
            client
                .send::<Value>(Family::Notification, || call.clone())
                .await?;
        }
        out.push(topic.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_is_sha256_hex_of_the_three() {
        // sha256("abc") with the parts split anywhere.
        assert_eq!(
            challenge_response("a", "b", "c"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
