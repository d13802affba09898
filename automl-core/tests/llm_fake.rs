//! The LLM parser and explainer against a local OpenAI-compatible chat endpoint
//! (127.0.0.1, started by each test) that answers valid intents, garbage, schema mismatches,
//! refusals, 429s, 500s and slow replies, and that can be killed mid-run.
#![cfg(feature = "hub")]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use automl_core::agents::finders::catalog::CatalogFinder;
use automl_core::agents::llm::{
    ExplainingSelector, LlmClient, LlmConfig, LlmParser, intent_schema, validate,
};
use automl_core::agents::parser::EmbeddedParser;
use automl_core::agents::selector::CostFirstSelector;
use automl_core::agents::{Agent, Prompt, RunSettings, StageContext};
use automl_core::event::Event;
use automl_core::event::{Modality, Objective, ParserKind};
use automl_core::{Conductor, EventBus, RunRequest};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Default)]
struct Fake {
    calls: Arc<AtomicUsize>,
    /// Set once the endpoint has answered a valid intent (the "die" mode shuts down then).
    shutdown: Option<Arc<tokio::sync::Notify>>,
}

fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "fake-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
    })
}

fn iris_intent() -> Value {
    json!({
        "modality": "tabular",
        "objective": "classification",
        "task_type": "tabular_classification",
        "supported": true,
        "reason": null,
        "target": "species",
        "dataset_hint": "iris",
        "keywords": ["iris", "species"],
        "constraints": {"time_budget_s": null, "metric": null, "max_trials": null},
        "confidence": 0.93
    })
}

async fn chat(
    State(f): State<Fake>,
    Path(mode): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let n = f.calls.fetch_add(1, Ordering::SeqCst) + 1;
    let wants_schema = body
        .pointer("/response_format/json_schema/schema/properties/modality")
        .is_some();
    match mode.as_str() {
        "valid" | "die" => {
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sk-test")
            {
                return (StatusCode::UNAUTHORIZED, "no key").into_response();
            }
            if !wants_schema {
                // The explainer asks for plain text.
                return Json(completion(
                    "Cheap linear models come first to get a baseline fast.",
                ))
                .into_response();
            }
            if body.pointer("/response_format/json_schema/strict") != Some(&json!(true)) {
                return (StatusCode::BAD_REQUEST, "strict schema expected").into_response();
            }
            if mode == "die" {
                if let Some(s) = &f.shutdown {
                    s.notify_one();
                }
            }
            Json(completion(&iris_intent().to_string())).into_response()
        }
        "fenced" => Json(completion(&format!("```json\n{}\n```", iris_intent()))).into_response(),
        "image" => {
            let mut v = iris_intent();
            v["modality"] = json!("image");
            v["task_type"] = json!("image_classification");
            Json(completion(&v.to_string())).into_response()
        }
        "sections" => {
            // A long brief must arrive cut down to its weighty sections, evaluation included.
            let content = body
                .pointer("/messages/1/content")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if content.chars().count() > 8000
                || !content.contains("[evaluation]")
                || !content.contains("rmse")
            {
                return (StatusCode::BAD_REQUEST, "long brief sent whole").into_response();
            }
            Json(completion(&iris_intent().to_string())).into_response()
        }
        "garbage" => Json(completion("Sure! The task is tabular classification.")).into_response(),
        "notjson" => (StatusCode::OK, "<html>bad gateway page</html>").into_response(),
        "schema" => {
            let mut v = iris_intent();
            v["modality"] = json!("spreadsheet");
            Json(completion(&v.to_string())).into_response()
        }
        "extra" => {
            let mut v = iris_intent();
            v["sql"] = json!("drop table");
            Json(completion(&v.to_string())).into_response()
        }
        "refuse" => Json(json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                "refusal": "I can't help with that."}, "finish_reason": "stop"}]
        }))
        .into_response(),
        "r429" => {
            if n <= 2 {
                let mut h = HeaderMap::new();
                h.insert("retry-after", "0".parse().expect("header"));
                (StatusCode::TOO_MANY_REQUESTS, h, "slow down").into_response()
            } else {
                Json(completion(&iris_intent().to_string())).into_response()
            }
        }
        "r500" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Json(completion(&iris_intent().to_string())).into_response()
        }
        _ => (StatusCode::NOT_FOUND, "unknown mode").into_response(),
    }
}

async fn start(fake: Fake) -> (String, Arc<AtomicUsize>) {
    let calls = fake.calls.clone();
    let shutdown = fake.shutdown.clone();
    let app = axum::Router::new()
        .route("/{mode}/v1/chat/completions", post(chat))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let serve = axum::serve(listener, app);
        match shutdown {
            Some(s) => {
                let _ = serve
                    .with_graceful_shutdown(async move { s.notified().await })
                    .await;
            }
            None => {
                let _ = serve.await;
            }
        }
    });
    (format!("http://{addr}"), calls)
}

fn cx() -> (StageContext, EventBus) {
    let bus = EventBus::default();
    let cx = StageContext {
        emitter: bus.emitter("p-test"),
        cancel: CancellationToken::new(),
        settings: Arc::new(RunSettings {
            seed: 0,
            time_budget_s: 5.0,
            max_trials: None,
            run_dir: PathBuf::from("unused"),
            catalog_dir: None,
        }),
    };
    (cx, bus)
}

fn cfg(base: &str, mode: &str) -> LlmConfig {
    LlmConfig::new(format!("{base}/{mode}/v1"), "fake-model")
        .api_key("sk-test")
        .timeout(Duration::from_millis(800))
        .retries(2, Duration::from_millis(10))
}

fn warnings(bus: &EventBus) -> Vec<(String, String)> {
    bus.history("p-test")
        .into_iter()
        .filter_map(|e| match e.event {
            Event::Warning(w) => Some((w.code, w.message)),
            _ => None,
        })
        .collect()
}

async fn parse_with(mode: &str) -> (automl_core::Intent, Vec<(String, String)>, usize) {
    parse_text_with(mode, "classify iris species").await
}

async fn parse_text_with(
    mode: &str,
    text: &str,
) -> (automl_core::Intent, Vec<(String, String)>, usize) {
    let (base, calls) = start(Fake::default()).await;
    let parser = LlmParser::new(cfg(&base, mode), Arc::new(EmbeddedParser)).expect("config");
    let (cx, bus) = cx();
    let intent = parser
        .run(
            Prompt {
                text: text.to_string(),
                has_data: false,
            },
            &cx,
        )
        .await
        .expect("parse never fails");
    (intent, warnings(&bus), calls.load(Ordering::SeqCst))
}

#[tokio::test]
async fn valid_reply_is_used() {
    let (i, w, calls) = parse_with("valid").await;
    assert_eq!(i.parser, ParserKind::Llm);
    assert_eq!(i.modality, Modality::Tabular);
    assert_eq!(i.objective, Objective::Classification);
    assert_eq!(i.target.as_deref(), Some("species"));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(calls, 1);
    // The embedded parser ran beside the LLM and agrees with it.
    let c = i.comparison.as_ref().expect("both answers");
    assert!(c.agree, "{c:?}");
    assert!(c.differences.is_empty());
    assert_eq!(c.embedded_modality, Modality::Tabular);
    assert_eq!(c.embedded_objective, Objective::Classification);
    let (i, _, _) = parse_with("fenced").await;
    assert_eq!(i.parser, ParserKind::Llm);
}

#[tokio::test]
async fn disagreement_between_the_llm_and_the_embedded_parser_is_reported() {
    let (i, w, _) = parse_with("image").await;
    assert_eq!(i.parser, ParserKind::Llm);
    assert_eq!(i.modality, Modality::Image);
    assert!(w.is_empty(), "{w:?}");
    let c = i.comparison.as_ref().expect("both answers");
    assert!(!c.agree);
    assert_eq!(c.embedded_modality, Modality::Tabular);
    assert_eq!(
        c.differences,
        vec!["modality: llm image, embedded tabular".to_string()]
    );
    // The comparison travels in PROMPT_PARSED's payload.
    let v = serde_json::to_value(&i).expect("json");
    assert_eq!(v["comparison"]["agree"], json!(false));
}

#[tokio::test]
async fn long_briefs_go_to_the_llm_as_weighted_sections() {
    let brief = format!(
        "House Prices\n\n## Background\n{}\n\n## Evaluation\nSubmissions are scored on RMSE \
         between the logarithm of the predicted and the observed price.\n\n## Data\n\
         train.csv holds one row per house with 79 columns.\n",
        "Once upon a time a family wanted a house with a garden. ".repeat(300)
    );
    assert!(brief.len() > 12_000);
    let (i, w, calls) = parse_text_with("sections", &brief).await;
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(i.parser, ParserKind::Llm);
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn failures_fall_back_to_the_embedded_parser_with_a_warning() {
    for (mode, code) in [
        ("garbage", "llm_bad_reply"),
        ("notjson", "llm_bad_reply"),
        ("schema", "llm_schema_mismatch"),
        ("extra", "llm_schema_mismatch"),
        ("refuse", "llm_refusal"),
        ("r500", "llm_http_error"),
        ("slow", "llm_timeout"),
        ("nosuchmode", "llm_http_error"),
    ] {
        let (i, w, _) = parse_with(mode).await;
        assert_eq!(i.parser, ParserKind::Embedded, "{mode}");
        assert_eq!(i.dataset_hint.as_deref(), Some("iris"), "{mode}");
        assert_eq!(w.len(), 1, "{mode}: {w:?}");
        assert_eq!(w[0].0, code, "{mode}: {w:?}");
        assert!(w[0].1.contains("embedded parser used"), "{mode}: {w:?}");
    }
}

#[tokio::test]
async fn retries_429_and_5xx_with_backoff() {
    let (i, w, calls) = parse_with("r429").await;
    assert_eq!(i.parser, ParserKind::Llm, "{w:?}");
    assert_eq!(calls, 3, "two 429s then an answer");
    let (_, w, calls) = parse_with("r500").await;
    assert_eq!(calls, 3, "first try and two retries");
    assert!(w[0].1.contains("after 3 attempts"), "{w:?}");
}

#[tokio::test]
async fn unreachable_endpoint_falls_back_fast() {
    // Nothing listens on port 1, and it lies below the ephemeral range, so no fake server of a
    // test running beside this one can be given it (a port taken with `:0` and dropped can be).
    let parser = LlmParser::new(cfg("http://127.0.0.1:1", "valid"), Arc::new(EmbeddedParser))
        .expect("config");
    let (cx, bus) = cx();
    let t = std::time::Instant::now();
    let i = parser
        .run(
            Prompt {
                text: "predict diamond prices".to_string(),
                has_data: false,
            },
            &cx,
        )
        .await
        .expect("parse");
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(i.parser, ParserKind::Embedded);
    let w = warnings(&bus);
    assert_eq!(w[0].0, "llm_unreachable", "{w:?}");
}

#[tokio::test]
async fn call_budget_is_per_run() {
    let (base, calls) = start(Fake::default()).await;
    let client = LlmClient::new(cfg(&base, "r500").call_budget(2)).expect("client");
    let cancel = CancellationToken::new();
    let schema = intent_schema();
    let e = client
        .complete_json("p-a", &cancel, "s", "u", "intent", &schema)
        .await
        .expect_err("500s");
    assert!(
        matches!(
            e,
            automl_core::agents::llm::LlmError::BudgetExhausted { budget: 2 }
        ),
        "{e}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(client.calls_made("p-a"), 2);
    assert_eq!(client.calls_made("p-b"), 0);
}

#[test]
fn schema_is_generated_from_intent_and_strict() {
    let s = intent_schema();
    let props = s["properties"].as_object().expect("properties");
    for k in [
        "modality",
        "objective",
        "task_type",
        "supported",
        "reason",
        "target",
        "dataset_hint",
        "keywords",
        "constraints",
        "confidence",
    ] {
        assert!(props.contains_key(k), "{k} missing from {s}");
    }
    assert!(!props.contains_key("parser"));
    assert_eq!(s["additionalProperties"], json!(false));
    assert_eq!(
        s["properties"]["modality"]["enum"],
        json!(["tabular", "image", "text", "audio", "time_series", "other"])
    );
    assert_eq!(
        s["properties"]["constraints"]["additionalProperties"],
        json!(false)
    );
    assert!(validate(&s, &iris_intent(), "$").is_ok());
    let mut bad = iris_intent();
    bad["objective"] = json!("ranking");
    assert!(
        validate(&s, &bad, "$")
            .expect_err("bad objective")
            .contains("$.objective")
    );
    let mut bad = iris_intent();
    bad.as_object_mut().expect("object").remove("keywords");
    assert!(
        validate(&s, &bad, "$")
            .expect_err("no keywords")
            .contains("keywords")
    );
}

/// The endpoint answers PARSE_INTENT and is then killed: the explainer at MODEL_SELECT finds it
/// gone, warns, and the run still completes.
#[tokio::test]
async fn endpoint_killed_mid_run_falls_back_and_the_run_completes() {
    let notify = Arc::new(tokio::sync::Notify::new());
    let (base, _calls) = start(Fake {
        calls: Arc::new(AtomicUsize::new(0)),
        shutdown: Some(notify.clone()),
    })
    .await;
    let parser = LlmParser::new(cfg(&base, "die"), Arc::new(EmbeddedParser)).expect("config");
    let client = parser.client().expect("client").clone();
    let catalog = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets");
    let out = tempfile::tempdir().expect("tmp");
    let conductor = Conductor::builder()
        .parser(Arc::new(parser))
        .finder(Arc::new(CatalogFinder::new(Some(catalog))))
        .selector(Arc::new(ExplainingSelector::new(
            Arc::new(CostFirstSelector),
            client,
        )))
        .build()
        .expect("build");
    let outcome = conductor
        .run(
            RunRequest::new("classify iris species")
                .out_dir(out.path())
                .project_id("p-kill")
                .max_trials(2)
                .time_budget(20.0),
        )
        .await
        .expect("run completes");
    let h = conductor.bus().history("p-kill");
    let parsed = h
        .iter()
        .find_map(|e| match &e.event {
            Event::PromptParsed(i) => Some(i.clone()),
            _ => None,
        })
        .expect("PROMPT_PARSED");
    assert_eq!(parsed.parser, ParserKind::Llm);
    let warn: Vec<_> = h
        .iter()
        .filter_map(|e| match &e.event {
            Event::Warning(w) if w.code.starts_with("llm_") => Some(w.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(warn.len(), 1, "{warn:?}");
    assert!(
        ["llm_unreachable", "llm_timeout"].contains(&warn[0].code.as_str()),
        "{warn:?}"
    );
    assert!(warn[0].message.contains("without an explanation"));
    assert!(matches!(
        h.last().map(|e| &e.event),
        Some(Event::RunFinished(_))
    ));
    assert!(outcome.model.is_some());
}
