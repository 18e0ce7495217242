//! The LLM provider against a local fake LLM server (axum on 127.0.0.1:0) speaking the
//! OpenAI chat-completions, Azure OpenAI and Anthropic Messages shapes: it records every
//! request and answers as scripted, or as a model would (JSON suggestions built from the
//! prompt it received).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use marketsync_common::health::Metrics;
use marketsync_monitor_service::ai::config::AiConfig;
use marketsync_monitor_service::ai::llm::{LlmClient, LlmError};
use marketsync_monitor_service::ai::scrub::Scrubber;
use marketsync_monitor_service::ai::{Ai, Pending};
use marketsync_monitor_service::engine::{self, Model};
use marketsync_proto::v1::{Money, Product, Suggestion, Variant};
use serde_json::{Value, json};
use uuid::Uuid;

const KEY: &str = "sk-test-SECRET-0123456789";

/// How the fake answers one request.
#[derive(Clone, Debug)]
enum Reply {
    /// An error status with a body and an optional `Retry-After`.
    Status(u16, &'static str, Option<&'static str>),
    /// No answer for this long.
    Hang(Duration),
    /// 200 with this raw body.
    Raw(&'static str),
    /// 200 in the API's shape, with this assistant text.
    Text(&'static str),
    /// 200 in the API's shape, with suggestions for the task the prompt asks.
    Model,
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
struct Recorded {
    path: String,
    query: String,
    headers: HashMap<String, String>,
    body: String,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
}

struct FakeLlm {
    base: String,
    shared: Arc<Shared>,
}

impl FakeLlm {
    /// Serves on a free port; replies follow `script`, then [`Reply::Model`].
    async fn start(script: Vec<Reply>) -> Self {
        let shared = Arc::new(Shared::default());
        shared.script.lock().expect("lock").extend(script);
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self { base, shared }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("lock").clone()
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let recorded = Recorded {
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body.clone(),
    };
    shared.requests.lock().expect("lock").push(recorded);
    let reply = shared
        .script
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or(Reply::Model);
    let anthropic = uri.path() == "/v1/messages";
    let json_response = |status: u16, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .expect("response")
    };
    let shaped = |text: String| {
        let v = if anthropic {
            json!({"id": "msg_1", "type": "message", "role": "assistant",
                   "content": [{"type": "text", "text": text}],
                   "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}})
        } else {
            json!({"id": "chatcmpl-1", "object": "chat.completion",
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": text}}]})
        };
        json_response(200, v.to_string())
    };
    match reply {
        Reply::Status(status, body, retry_after) => {
            let mut r = Response::builder()
                .status(StatusCode::from_u16(status).expect("status"))
                .header("content-type", "application/json");
            if let Some(after) = retry_after {
                r = r.header("retry-after", after);
            }
            r.body(Body::from(body)).expect("response")
        }
        Reply::Hang(d) => {
            tokio::time::sleep(d).await;
            json_response(500, "{}".into())
        }
        Reply::Raw(raw) => json_response(200, raw.into()),
        Reply::Text(text) => shaped(text.into()),
        Reply::Model => shaped(model_answer(&body, anthropic).to_string()),
    }
}

/// What a cooperative model answers: suggestions for the task in the prompt, with a few
/// invalid ones mixed in.
fn model_answer(body: &str, anthropic: bool) -> Value {
    let req: Value = serde_json::from_str(body).expect("request body is JSON");
    let user = if anthropic {
        &req["messages"][0]["content"]
    } else {
        &req["messages"][1]["content"]
    };
    let prompt: Value =
        serde_json::from_str(user.as_str().expect("user content")).expect("prompt is JSON");
    let title = prompt["product"]["title"].as_str().unwrap_or("");
    match prompt["task"].as_str().unwrap_or("") {
        "missing_description" => json!({"suggestions": [
            {"value": format!("{title}: a warm, soft layer for every day."), "confidence": 0.97,
             "explanation": "written from the title and attributes"}
        ]}),
        "missing_brand" => json!({"suggestions": [
            {"value": "Aurora", "confidence": 0.93, "explanation": "the title starts with it"},
            {"value": "Borealis", "confidence": 0.6, "explanation": "a guess"},
            {"value": "[name]", "confidence": 0.99, "explanation": "echoed a placeholder"},
            {"value": 5, "confidence": 0.9},
        ]}),
        "missing_category" => {
            let candidates: Vec<&str> = prompt["candidates"]
                .as_array()
                .expect("candidates")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let pick = candidates
                .iter()
                .find(|c| c.contains("Hoodies"))
                .expect("a hoodie category offered");
            json!({"suggestions": [
                {"value": pick, "confidence": 0.9, "explanation": "a hoodie"},
                {"value": "Not/A/Candidate", "confidence": 0.99, "explanation": "made up"},
            ]})
        }
        _ => json!({"suggestions": []}),
    }
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

/// An OpenAI-compatible provider at `base`, with `extra` variables.
fn config(provider: &str, base: &str, extra: &[(&str, &str)]) -> AiConfig {
    let mut pairs = vec![
        ("MARKETSYNC_AI_PROVIDER", provider),
        ("MARKETSYNC_AI_BASE_URL", base),
        ("MARKETSYNC_AI_API_KEY", KEY),
        ("MARKETSYNC_AI_MODEL", "gpt-4o-mini"),
        ("MARKETSYNC_AI_TIMEOUT_MS", "2000"),
    ];
    pairs.extend_from_slice(extra);
    AiConfig::load_with(&env(&pairs)).expect("config")
}

fn providers(config: AiConfig) -> (Ai, Metrics) {
    marketsync_common::install_crypto_provider();
    let metrics = Metrics::new("monitor");
    let ai = Ai::new(config, &metrics)
        .expect("providers")
        .with_scrubber(Scrubber::new().with_names(["Marie Curie"]));
    (ai, metrics)
}

fn product(sku: &str, title: &str) -> Product {
    Product {
        sku: sku.into(),
        title: title.into(),
        description: "<p>Warm.</p>".into(),
        brand: "Aurora".into(),
        categories: vec!["Men/Tops/Hoodies".into()],
        weight: Some(0.6),
        raw_price: "49.90".into(),
        price: Some(Money {
            amount: "49.90".into(),
            currency: "EUR".into(),
        }),
        ..Default::default()
    }
}

/// A tenant's catalog, learned by the built-in engine and the AI providers.
fn catalog(ai: &Ai, tenant: Uuid) -> Model {
    let mut m = Model::default();
    let mut others = vec![
        product("C-1", "Aurora Merino Hoodie Classic"),
        product("C-2", "Aurora Fleece Jacket"),
        product("C-3", "Aurora Wrap Dress"),
        product("C-4", "Wooden Train Set"),
    ];
    others[1].categories = vec!["Men/Outerwear".into()];
    others[2].categories = vec!["Women/Dresses".into()];
    others[3].categories = vec!["Kids/Toys".into()];
    others[3].brand = "Woodland".into();
    for p in &others {
        m.learn(p);
        ai.learn(tenant, p);
    }
    m.refresh_medians();
    m
}

/// Every personal datum planted in [`batch`].
const PII: &[&str] = &[
    "+33 6 12 34 56 78",
    "6 12 34 56 78",
    "jean.dupont",
    "example.fr",
    "ops@shop.example",
    "3760123456789",
    "John Smith",
    "Smith",
    "john.smith",
    "(555) 123-4567",
    "123-4567",
    "12 rue de la Paix",
    "rue de la Paix",
    "75002",
    "221B Baker Street",
    "Baker Street",
    "100012345",
    "Marie Curie",
    "Curie",
    "SKU-P0",
    "SKU-P1",
];

/// Two products whose fields carry personal data: one without a description (its attributes
/// and options hold the data), one without brand and category (its description does).
fn batch() -> Vec<Product> {
    let mut p0 = product("SKU-P0", "Aurora Merino Hoodie");
    p0.description.clear();
    p0.gtin = "3760123456789".into();
    p0.attributes = HashMap::from([
        ("material".to_string(), "merino wool".to_string()),
        (
            "care".to_string(),
            "Questions? Call +33 6 12 34 56 78 or mail jean.dupont@example.fr".to_string(),
        ),
        ("seller_email".to_string(), "ops@shop.example".to_string()),
        ("gtin".to_string(), "3760123456789".to_string()),
    ]);
    p0.variants = vec![Variant {
        options: HashMap::from([("size".to_string(), "M".to_string())]),
        ..Default::default()
    }];
    let mut p1 = product("SKU-P1", "Aurora Fleece Hoodie");
    p1.brand.clear();
    p1.categories.clear();
    p1.description = "<p>Cosy fleece hoodie. Contact John Smith at john.smith@example.com or \
        (555) 123-4567. Returns: 12 rue de la Paix, 75002 Paris or 221B Baker Street, London. \
        Re order #100012345. Loved by Marie Curie.</p>"
        .into();
    vec![p0, p1]
}

/// The findings of `products` with the built-in engine's suggestions, as the monitor's
/// record handler builds them.
fn pending(model: &Model, products: &[Product], max: usize) -> Vec<Pending> {
    let mut out = Vec::new();
    for (i, p) in products.iter().enumerate() {
        for f in engine::validate_on(p, "shopify").0 {
            let suggestions = model.suggest(p, &f, max);
            out.push(Pending {
                product: i,
                finding: f,
                suggestions,
            });
        }
    }
    out
}

fn find<'a>(pending: &'a [Pending], issue_type: &str) -> &'a [Suggestion] {
    &pending
        .iter()
        .find(|x| x.finding.issue_type == issue_type)
        .unwrap_or_else(|| panic!("no {issue_type} finding"))
        .suggestions
}

fn assert_ranked(s: &[Suggestion], max: usize) {
    assert!(!s.is_empty() && s.len() <= max, "{s:?}");
    assert!(
        s.windows(2).all(|w| w[0].confidence >= w[1].confidence),
        "not ranked: {s:?}"
    );
}

/// Sends the batch through `provider` at the fake, checks that no personal datum left and
/// that the suggestions came back merged; returns the fake's requests.
async fn suggestions_without_personal_data(provider: &str) -> Vec<Recorded> {
    let fake = FakeLlm::start(vec![]).await;
    let (ai, metrics) = providers(config(provider, &fake.base, &[]));
    let tenant = Uuid::now_v7();
    let model = catalog(&ai, tenant);
    let products = batch();
    let before = pending(&model, &products, 3);
    assert_eq!(
        before
            .iter()
            .map(|x| x.finding.issue_type)
            .collect::<Vec<_>>(),
        ["missing_description", "missing_brand", "missing_category"]
    );
    let after = ai.refine(tenant, &products, before.clone()).await;

    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "one request per finding");
    for r in &requests {
        for pii in PII {
            assert!(
                !r.body.contains(pii),
                "{provider}: `{pii}` reached the LLM in {}",
                r.body
            );
        }
        assert!(!r.body.contains(KEY), "the API key is in a body");
        assert!(
            r.body.contains("Aurora Merino Hoodie") || r.body.contains("Aurora Fleece Hoodie"),
            "the product title is missing: {}",
            r.body
        );
    }
    let all: String = requests.iter().map(|r| r.body.as_str()).collect();
    assert!(all.contains("Aurora Merino Hoodie") && all.contains("Aurora Fleece Hoodie"));
    assert!(all.contains("merino wool"), "allowed attributes are sent");
    assert!(
        all.contains("Cosy fleece hoodie"),
        "the scrubbed description is sent"
    );
    assert!(all.contains("[email]") && all.contains("[phone]") && all.contains("[address]"));
    assert!(
        all.contains("Kids/Toys"),
        "the tenant's categories are offered"
    );

    // The description: the LLM's (clamped to 0.95) ranks above the built-in one.
    let d = find(&after, "missing_description");
    assert_ranked(d, 3);
    assert_eq!(d[0].strategy, "llm:missing_description");
    assert_eq!(d[0].confidence, 0.95);
    assert!(d[0].value.starts_with("Aurora Merino Hoodie: a warm"));
    assert!(d.iter().any(|s| s.strategy == "generate_description"));
    // The brand: both say Aurora (the built-in strategy stays, with the higher confidence);
    // the placeholder and the non-text value are dropped.
    let b = find(&after, "missing_brand");
    assert_ranked(b, 3);
    let got: Vec<(&str, &str)> = b
        .iter()
        .map(|s| (s.strategy.as_str(), s.value.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("extract_brand", "Aurora"),
            ("llm:missing_brand", "Borealis")
        ]
    );
    assert_eq!(b[0].confidence, 0.93);
    // The category: one of the tenant's, never the invented one.
    let c = find(&after, "missing_category");
    assert_ranked(c, 3);
    assert_eq!(c[0].value, "Men/Tops/Hoodies");
    assert!(c.iter().all(|s| s.value != "Not/A/Candidate"));
    // The LLM agreed with the built-in engine's first guess: its strategy stays, with the
    // LLM's higher confidence.
    assert_eq!(c[0].confidence, 0.9);
    assert!(
        c[0].explanation.contains("a language model agrees"),
        "{c:?}"
    );
    assert!(find(&before, "missing_category")[0].confidence < 0.9);

    assert!(
        metrics.encode().contains(&format!(
            "ai_llm_calls_total{{provider=\"{provider}\",outcome=\"ok\"}} 3"
        )),
        "{}",
        metrics.encode()
    );
    requests
}

#[tokio::test]
async fn openai_compatible_suggestions_merge_and_no_personal_data_leaves() {
    let requests = suggestions_without_personal_data("openai").await;
    for r in &requests {
        assert_eq!(r.path, "/v1/chat/completions");
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some(format!("Bearer {KEY}").as_str())
        );
        let body: Value = serde_json::from_str(&r.body).expect("json");
        assert_eq!(body["model"], "gpt-4o-mini");
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["response_format"]["type"], "json_object");
        // The key travels in the auth header only.
        let elsewhere = r
            .headers
            .iter()
            .filter(|(k, _)| k.as_str() != "authorization")
            .any(|(_, v)| v.contains(KEY));
        assert!(!elsewhere && !r.query.contains(KEY) && !r.path.contains(KEY));
    }
}

#[tokio::test]
async fn anthropic_suggestions_merge_and_no_personal_data_leaves() {
    let requests = suggestions_without_personal_data("anthropic").await;
    for r in &requests {
        assert_eq!(r.path, "/v1/messages");
        assert_eq!(r.headers.get("x-api-key").map(String::as_str), Some(KEY));
        assert_eq!(
            r.headers.get("anthropic-version").map(String::as_str),
            Some("2023-06-01")
        );
        assert!(!r.headers.contains_key("authorization"));
        let body: Value = serde_json::from_str(&r.body).expect("json");
        assert_eq!(body["model"], "gpt-4o-mini");
        assert_eq!(body["max_tokens"], 1024);
        assert!(body["system"].as_str().is_some_and(|s| s.contains("JSON")));
        assert_eq!(body["messages"][0]["role"], "user");
        let elsewhere = r
            .headers
            .iter()
            .filter(|(k, _)| k.as_str() != "x-api-key")
            .any(|(_, v)| v.contains(KEY));
        assert!(!elsewhere);
    }
}

#[tokio::test]
async fn azure_routes_by_deployment_with_an_api_key_header() {
    let fake = FakeLlm::start(vec![]).await;
    let (ai, _) = providers(config(
        "azure",
        &fake.base,
        &[("MARKETSYNC_AI_AZURE_DEPLOYMENT", "gpt4o-prod")],
    ));
    let tenant = Uuid::now_v7();
    let model = catalog(&ai, tenant);
    let products = batch();
    let after = ai
        .refine(tenant, &products, pending(&model, &products, 3))
        .await;
    assert_eq!(
        find(&after, "missing_description")[0].strategy,
        "llm:missing_description"
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(r.path, "/openai/deployments/gpt4o-prod/chat/completions");
        assert_eq!(r.query, "api-version=2024-10-21");
        assert_eq!(r.headers.get("api-key").map(String::as_str), Some(KEY));
        assert!(!r.headers.contains_key("authorization"));
        let body: Value = serde_json::from_str(&r.body).expect("json");
        assert!(body.get("model").is_none(), "Azure routes by deployment");
    }
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retried() {
    let fake = FakeLlm::start(vec![
        Reply::Status(500, r#"{"error":{"message":"boom"}}"#, None),
        Reply::Status(429, r#"{"error":{"message":"slow down"}}"#, Some("0")),
        Reply::Text(r#"{"suggestions":[{"value":"Aurora","confidence":0.9}]}"#),
    ])
    .await;
    let (ai, _) = providers(config("openai", &fake.base, &[]));
    let tenant = Uuid::now_v7();
    let model = catalog(&ai, tenant);
    let mut products = batch();
    products.remove(0);
    products[0].categories = vec!["Men/Tops/Hoodies".into()];
    let after = ai
        .refine(tenant, &products, pending(&model, &products, 3))
        .await;
    assert_eq!(fake.requests().len(), 3, "two retries then the answer");
    let b = find(&after, "missing_brand");
    assert_eq!((b[0].value.as_str(), b[0].confidence), ("Aurora", 0.9));
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let fake = FakeLlm::start(vec![Reply::Status(429, "{}", Some("1"))]).await;
    let (ai, _) = providers(config("openai", &fake.base, &[]));
    let llm = LlmClient::new(ai.config().llm.clone().expect("llm")).expect("client");
    let started = Instant::now();
    let text = llm
        .complete("system", r#"{"task":"missing_brand"}"#)
        .await
        .expect("answer after the wait");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(text.contains("suggestions"));
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn client_errors_are_final_and_never_show_the_key() {
    let fake = FakeLlm::start(vec![
        Reply::Status(
            401,
            r#"{"error":{"message":"Incorrect API key provided: sk-test-SECRET-0123456789"}}"#,
            None,
        ),
        Reply::Status(400, r#"{"error":{"message":"bad request"}}"#, None),
    ])
    .await;
    let (ai, _) = providers(config("openai", &fake.base, &[]));
    let llm = LlmClient::new(ai.config().llm.clone().expect("llm")).expect("client");
    let e = llm.complete("s", "u").await.expect_err("401");
    let text = e.to_string();
    assert!(matches!(e, LlmError::Status { status: 401, .. }), "{e:?}");
    assert!(
        !text.contains(KEY) && !format!("{e:?}").contains(KEY),
        "{text}"
    );
    assert!(text.contains("[redacted]"), "{text}");
    let e = llm.complete("s", "u").await.expect_err("400");
    assert!(matches!(e, LlmError::Status { status: 400, .. }), "{e:?}");
    assert_eq!(fake.requests().len(), 2, "no retry after a 4xx");
    assert!(!format!("{:?}", ai.config()).contains(KEY));
    assert!(!format!("{llm:?}").contains(KEY));

    // Nobody listening: a transport error, retried, without the key.
    let gone = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let (ai, _) = providers(config("openai", &gone, &[("MARKETSYNC_AI_RETRIES", "1")]));
    let llm = LlmClient::new(ai.config().llm.clone().expect("llm")).expect("client");
    let e = llm.complete("s", "u").await.expect_err("refused");
    assert!(matches!(e, LlmError::Transport(_)), "{e:?}");
    assert!(!e.to_string().contains(KEY));
}

/// The batch's suggestions equal the built-in engine's, and the fallback was counted.
async fn falls_back(script: Vec<Reply>, extra: &[(&str, &str)], fallbacks: usize) -> Duration {
    let fake = FakeLlm::start(script).await;
    let (ai, metrics) = providers(config("openai", &fake.base, extra));
    let tenant = Uuid::now_v7();
    let model = catalog(&ai, tenant);
    let mut products = batch();
    products.truncate(1);
    let before = pending(&model, &products, 3);
    let started = Instant::now();
    let after = ai.refine(tenant, &products, before.clone()).await;
    let took = started.elapsed();
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.suggestions, a.suggestions, "built-in suggestions kept");
    }
    assert!(!after[0].suggestions.is_empty());
    let m = metrics.encode();
    assert!(
        m.contains(&format!(
            "ai_llm_calls_total{{provider=\"openai\",outcome=\"fallback\"}} {fallbacks}"
        )),
        "{m}"
    );
    took
}

#[tokio::test]
async fn a_hanging_server_falls_back_after_the_timeout() {
    let took = falls_back(
        vec![Reply::Hang(Duration::from_secs(20)); 3],
        &[
            ("MARKETSYNC_AI_TIMEOUT_MS", "300"),
            ("MARKETSYNC_AI_RETRIES", "1"),
        ],
        1,
    )
    .await;
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn the_batch_deadline_bounds_the_wait() {
    let took = falls_back(
        vec![Reply::Hang(Duration::from_secs(20)); 3],
        &[
            ("MARKETSYNC_AI_TIMEOUT_MS", "60000"),
            ("MARKETSYNC_AI_BATCH_DEADLINE_MS", "500"),
        ],
        1,
    )
    .await;
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn garbage_answers_fall_back() {
    falls_back(vec![Reply::Raw("<html>502 Bad Gateway</html>")], &[], 1).await;
    falls_back(vec![Reply::Text("Sure! The description is: warm.")], &[], 1).await;
    falls_back(vec![Reply::Raw(r#"{"choices":[]}"#)], &[], 1).await;
    falls_back(
        vec![Reply::Status(503, "{}", None); 3],
        &[("MARKETSYNC_AI_RETRIES", "2")],
        1,
    )
    .await;
}

#[tokio::test]
async fn disabled_or_oversized_batches_send_nothing() {
    let fake = FakeLlm::start(vec![]).await;
    let tenant = Uuid::now_v7();
    let products = batch();

    let (ai, _) = providers(config(
        "openai",
        &fake.base,
        &[("MARKETSYNC_AI_ENABLED", "false")],
    ));
    assert!(!ai.enabled() && !ai.uses_llm());
    let model = catalog(&ai, tenant);
    let before = pending(&model, &products, 3);
    let after = ai.refine(tenant, &products, before.clone()).await;
    assert_eq!(after.len(), before.len());

    let (ai, metrics) = providers(config(
        "openai",
        &fake.base,
        &[("MARKETSYNC_AI_MAX_BATCH", "2")],
    ));
    let model = catalog(&ai, tenant);
    let before = pending(&model, &products, 3);
    let after = ai.refine(tenant, &products, before.clone()).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.suggestions, a.suggestions);
    }
    assert!(
        metrics
            .encode()
            .contains("ai_llm_calls_total{provider=\"openai\",outcome=\"skipped\"} 3")
    );
    assert!(fake.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn max_suggestions_caps_the_merged_list() {
    let fake = FakeLlm::start(vec![]).await;
    let (ai, _) = providers(config(
        "openai",
        &fake.base,
        &[("MARKETSYNC_AI_MAX_SUGGESTIONS", "1")],
    ));
    assert_eq!(ai.max_suggestions(), 1);
    let tenant = Uuid::now_v7();
    let model = catalog(&ai, tenant);
    let products = batch();
    let after = ai
        .refine(tenant, &products, pending(&model, &products, 1))
        .await;
    for x in &after {
        assert!(x.suggestions.len() <= 1, "{:?}", x.suggestions);
    }
    assert_eq!(
        find(&after, "missing_description")[0].strategy,
        "llm:missing_description"
    );
}

#[tokio::test]
async fn an_unchanged_product_is_not_asked_twice() {
    let fake = FakeLlm::start(vec![]).await;
    let (ai, metrics) = providers(config("openai", &fake.base, &[]));
    let tenant = Uuid::now_v7();
    let model = catalog(&ai, tenant);
    let mut products = batch();
    let first = ai
        .refine(tenant, &products, pending(&model, &products, 3))
        .await;
    let second = ai
        .refine(tenant, &products, pending(&model, &products, 3))
        .await;
    assert_eq!(fake.requests().len(), 3);
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a.suggestions, b.suggestions);
    }
    assert!(
        metrics
            .encode()
            .contains("ai_llm_calls_total{provider=\"openai\",outcome=\"cached\"} 3")
    );
    // A changed title is a new question.
    products[0].title = "Aurora Merino Hoodie Deluxe".into();
    let third = ai
        .refine(tenant, &products, pending(&model, &products, 3))
        .await;
    assert_eq!(third.len(), 3);
    assert_eq!(fake.requests().len(), 4);
}
