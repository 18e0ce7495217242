//! The BigCommerce simulator over HTTP: auth, pagination, rate limit, V2 quirks, admin API.

#![allow(clippy::unwrap_used)]

mod storm;

use std::net::SocketAddr;

use marketsync_simulators::bigcommerce::{self, RunningSimulator, SimConfig};
use marketsync_simulators::demo;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn start(config: SimConfig) -> (RunningSimulator, reqwest::Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let sim = bigcommerce::start(addr, config).await.unwrap();
    (sim, reqwest::Client::new())
}

fn authed(http: &reqwest::Client, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
    http.request(method, url)
        .header("X-Auth-Token", "bc-demo-token")
        .header("Accept", "application/json")
}

#[tokio::test]
async fn unauthorized_requests_get_bigcommerce_errors() {
    let (sim, http) = start(SimConfig::default()).await;
    let resp = http
        .get(format!("{}/catalog/products", sim.v3_url()))
        .header("X-Auth-Token", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    for h in [
        "x-rate-limit-requests-left",
        "x-rate-limit-requests-quota",
        "x-rate-limit-time-window-ms",
        "x-rate-limit-time-reset-ms",
    ] {
        assert!(resp.headers().contains_key(h), "{h}");
    }
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], 401);
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["errors"].is_object());
    // The wrong store hash is not a route.
    let resp = authed(
        &http,
        reqwest::Method::GET,
        format!("{}/stores/other/v3/catalog/products", sim.base_url()),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn products_paginate_and_include_sub_resources() {
    let (sim, http) = start(SimConfig {
        products: 12,
        ..SimConfig::default()
    })
    .await;
    let url = format!(
        "{}/catalog/products?limit=5&page=2&include=variants,images",
        sim.v3_url()
    );
    let body: Value = authed(&http, reqwest::Method::GET, url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let p = &body["meta"]["pagination"];
    assert_eq!(
        (p["total"].as_u64(), p["current_page"].as_u64()),
        (Some(12), Some(2))
    );
    assert_eq!(p["total_pages"], 3);
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 5);
    assert!(
        data.iter()
            .all(|d| d["variants"].is_array() && d["images"].is_array())
    );
    let plain: Value = authed(
        &http,
        reqwest::Method::GET,
        format!("{}/catalog/products?limit=1", sim.v3_url()),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(plain["data"][0].get("variants").is_none());
    // Whole prices are whole numbers in the JSON text.
    let text = authed(
        &http,
        reqwest::Method::GET,
        format!("{}/catalog/products?limit=250", sim.v3_url()),
    )
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(!text.contains("\"price\":10.0,"));
}

#[tokio::test]
async fn include_and_exclude_fields_shape_product_documents() {
    // The store keeps its documents rendered for one field list; others render on request.
    let (sim, http) = start(SimConfig {
        products: 6,
        document_fields: "name,sku".into(),
        ..SimConfig::default()
    })
    .await;
    let get = |query: &str| {
        let url = format!("{}/catalog/products?{query}", sim.v3_url());
        let req = authed(&http, reqwest::Method::GET, url);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let keys = |doc: &Value| -> Vec<String> {
        let mut k: Vec<String> = doc.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    for query in [
        "include_fields=sku,name&include=variants",
        "include_fields=name,sku&include=variants&sku=",
    ] {
        let query = query.trim_end_matches("&sku=");
        let body = get(query).await;
        for d in body["data"].as_array().unwrap() {
            // The id always, the fields asked for, and the included sub-resources.
            assert_eq!(keys(d), ["id", "name", "sku", "variants"], "{query}");
        }
    }
    // The same through a filtered read (rendered per request) and a single read.
    let first = get("limit=1").await["data"][0].clone();
    let sku = first["sku"].as_str().unwrap();
    let filtered = get(&format!("sku:in={sku}&include_fields=price,weight")).await;
    assert_eq!(keys(&filtered["data"][0]), ["id", "price", "weight"]);
    let one: Value = authed(
        &http,
        reqwest::Method::GET,
        format!(
            "{}/catalog/products/{}?include_fields=name",
            sim.v3_url(),
            first["id"]
        ),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(keys(&one["data"]), ["id", "name"]);
    // exclude_fields drops only the fields named, never the id.
    let body = get("exclude_fields=description,id&limit=2").await;
    for d in body["data"].as_array().unwrap() {
        assert!(d.get("description").is_none() && d.get("id").is_some());
        assert!(d.get("name").is_some() && d.get("date_modified").is_some());
    }
}

#[tokio::test]
async fn the_window_rate_limit_answers_429() {
    let (sim, http) = start(SimConfig {
        rate_limit_requests: 3,
        rate_limit_window_ms: 60_000,
        ..SimConfig::default()
    })
    .await;
    let url = format!("{}/inventory/locations", sim.v3_url());
    for left in [2, 1, 0] {
        let resp = authed(&http, reqwest::Method::GET, url.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()["x-rate-limit-requests-left"],
            left.to_string().as_str()
        );
        assert_eq!(resp.headers()["x-rate-limit-requests-quota"], "3");
    }
    let resp = authed(&http, reqwest::Method::GET, url)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let reset: u64 = resp.headers()["x-rate-limit-time-reset-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > 0 && reset <= 60_000);
    let stats: Value = http
        .get(format!("{}/stats", sim.admin_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["rate_limited"], 1);
    assert_eq!(stats["requests_total"], 4);
}

#[tokio::test]
async fn v2_orders_answer_204_when_empty_and_validate_shipments() {
    let (sim, http) = start(SimConfig {
        orders: 3,
        ..SimConfig::default()
    })
    .await;
    let resp = authed(
        &http,
        reqwest::Method::GET,
        format!("{}/orders?min_date_modified=2099-01-01", sim.v2_url()),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let orders: Value = authed(
        &http,
        reqwest::Method::GET,
        format!("{}/orders", sim.v2_url()),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(orders.as_array().unwrap().len(), 3);
    let id = &orders[0]["id"];
    let resp = authed(
        &http,
        reqwest::Method::POST,
        format!("{}/orders/{id}/shipments", sim.v2_url()),
    )
    .json(&json!({"tracking_number": "X"}))
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body[0]["status"], 400);
}

#[tokio::test]
async fn faults_and_token_revocation_at_run_time() {
    let (sim, http) = start(SimConfig::default()).await;
    let url = format!("{}/catalog/products?limit=1", sim.v3_url());
    let admin = |path: &str| format!("{}{path}", sim.admin_url());
    let r = http
        .post(admin("/faults"))
        .json(&json!({"kind": "status", "status": 500, "count": 1, "path_contains": "/catalog/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = authed(&http, reqwest::Method::GET, url.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let r = authed(&http, reqwest::Method::GET, url.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    http.post(admin("/faults"))
        .json(&json!({"kind": "malformed"}))
        .send()
        .await
        .unwrap();
    let text = authed(&http, reqwest::Method::GET, url.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err());
    let r = http
        .post(admin("/faults"))
        .json(&json!({"kind": "gremlins"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    http.post(admin("/revoke-token")).send().await.unwrap();
    let r = authed(&http, reqwest::Method::GET, url.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    http.post(admin("/restore-token")).send().await.unwrap();
    let r = authed(&http, reqwest::Method::GET, url)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn product_updates_are_validated_and_visible_in_admin() {
    let config = SimConfig {
        products: 6,
        ..SimConfig::default()
    };
    let sku = demo::catalog(config.seed, config.products)[0].sku.clone();
    let (sim, http) = start(config).await;
    let before: Value = http
        .get(format!("{}/products/{sku}", sim.admin_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = &before["id"];
    let url = format!("{}/catalog/products/{id}", sim.v3_url());
    let r = authed(&http, reqwest::Method::PUT, url.clone())
        .json(&json!({"weight": -1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = authed(&http, reqwest::Method::PUT, url)
        .json(&json!({"description": "<p>new</p>", "brand_name": "Fresh Brand"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let after: Value = http
        .get(format!("{}/products/{sku}", sim.admin_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after["description"], "<p>new</p>");
    assert_eq!(after["brand_name"], "Fresh Brand");
    assert_ne!(after["date_modified"], before["date_modified"]);
}

#[tokio::test]
async fn absolute_adjustments_respect_the_documented_batch_limit() {
    let (sim, http) = start(SimConfig {
        products: 4,
        ..SimConfig::default()
    })
    .await;
    let url = format!("{}/inventory/adjustments/absolute", sim.v3_url());
    let sku = demo::catalog(42, 4)
        .iter()
        .find_map(|p| p.variants.first().map(|v| v.sku.clone()))
        .unwrap();
    let too_many: Vec<Value> = (0..2001)
        .map(|_| json!({"location_id": 1, "sku": sku, "quantity": 1}))
        .collect();
    let r = authed(&http, reqwest::Method::PUT, url.clone())
        .json(&json!({"reason": "x", "items": too_many}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = authed(&http, reqwest::Method::PUT, url)
        .json(
            &json!({"reason": "count", "items": [{"location_id": 2, "sku": sku, "quantity": 42}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert!(body["transaction_id"].is_string());
    let items: Value = authed(
        &http,
        reqwest::Method::GET,
        format!("{}/inventory/items?sku:in={sku}", sim.v3_url()),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let west = items["data"][0]["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["location_code"] == "WH-WEST")
        .cloned()
        .unwrap();
    assert_eq!(west["total_inventory_onhand"], 42);
}

#[tokio::test]
async fn stop_closes_the_port() {
    let (sim, http) = start(SimConfig::default()).await;
    let url = sim.v3_url();
    sim.stop().await;
    assert!(
        http.get(format!("{url}/catalog/products"))
            .send()
            .await
            .is_err()
    );
}
