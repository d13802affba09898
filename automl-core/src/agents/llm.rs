//! LLM agents over any OpenAI-compatible chat endpoint (OpenRouter, Ollama's `/v1`, vLLM,
//! OpenAI itself): the prompt parser [`LlmParser`] and the model selector's explainer
//! [`ExplainingSelector`].
//!
//! The client is plain `reqwest` speaking `POST {base}/chat/completions` (see
//! `docs/decisions/0010-llm-client.md`). The parser asks for structured output with a JSON
//! schema generated from [`Intent`] (schemars), validates the reply against that same schema,
//! and on any failure — unreachable, timeout, HTTP error, non-JSON, schema mismatch, refusal,
//! call budget spent — lets the embedded parser answer and emits a WARNING that says why.
//!
//! Configuration comes from [`LlmConfig`] or the environment: `AUTOML_LLM_BASE_URL`,
//! `AUTOML_LLM_MODEL`, `AUTOML_LLM_API_KEY`, and optionally `AUTOML_LLM_TIMEOUT_S`,
//! `AUTOML_LLM_MAX_RETRIES`, `AUTOML_LLM_CALL_BUDGET`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{Agent, Prompt, SelectionInput, StageContext, brief};
use crate::error::Result;
use crate::event::{
    Event, Intent, ModelCandidate, ParserComparison, ParserKind, Stage, StageStatus,
};

/// Where and how to reach the chat endpoint.
#[derive(Clone)]
pub struct LlmConfig {
    /// Base URL up to and including the API version, e.g. `https://openrouter.ai/api/v1` or
    /// `http://127.0.0.1:11434/v1`; `/chat/completions` is appended.
    pub base_url: String,
    /// Model name as the endpoint knows it.
    pub model: String,
    /// Bearer token, when the endpoint needs one.
    pub api_key: Option<String>,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Connect timeout (kept short: an unreachable endpoint must not slow a run down).
    pub connect_timeout: Duration,
    /// Retries after a 429 or 5xx answer.
    pub max_retries: u32,
    /// First backoff delay; doubles each retry (a `Retry-After` header wins, capped at 10 s).
    pub backoff: Duration,
    /// HTTP calls one run (project) may make, retries included.
    pub call_budget: u32,
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("call_budget", &self.call_budget)
            .finish()
    }
}

impl LlmConfig {
    /// A configuration with the default limits: 20 s per request, 2 s to connect, 2 retries
    /// starting at 500 ms, 6 calls per run.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            model: model.into(),
            api_key: None,
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(2),
            max_retries: 2,
            backoff: Duration::from_millis(500),
            call_budget: 6,
        }
    }

    /// Sets the API key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Sets the request timeout.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Sets the retry count and the first backoff delay.
    pub fn retries(mut self, n: u32, backoff: Duration) -> Self {
        self.max_retries = n;
        self.backoff = backoff;
        self
    }

    /// Sets the per-run call budget.
    pub fn call_budget(mut self, n: u32) -> Self {
        self.call_budget = n;
        self
    }

    /// Reads the environment. `Ok(None)` when `AUTOML_LLM_BASE_URL` is unset (no LLM);
    /// `Err` with a message when it is set but the rest is unusable.
    pub fn from_env() -> std::result::Result<Option<Self>, String> {
        let Some(base) = env_nonempty("AUTOML_LLM_BASE_URL") else {
            return Ok(None);
        };
        let Some(model) = env_nonempty("AUTOML_LLM_MODEL") else {
            return Err(format!(
                "AUTOML_LLM_BASE_URL is set ({base}) but AUTOML_LLM_MODEL is not; set the model name the endpoint serves"
            ));
        };
        let mut cfg = LlmConfig::new(base, model);
        cfg.api_key = env_nonempty("AUTOML_LLM_API_KEY");
        if let Some(v) = env_nonempty("AUTOML_LLM_TIMEOUT_S") {
            let s: f64 = v
                .parse()
                .ok()
                .filter(|s: &f64| *s > 0.0 && s.is_finite())
                .ok_or_else(|| {
                    format!("AUTOML_LLM_TIMEOUT_S={v:?} is not a positive number of seconds")
                })?;
            cfg.timeout = Duration::from_secs_f64(s);
        }
        if let Some(v) = env_nonempty("AUTOML_LLM_MAX_RETRIES") {
            cfg.max_retries = v
                .parse()
                .map_err(|_| format!("AUTOML_LLM_MAX_RETRIES={v:?} is not a whole number"))?;
        }
        if let Some(v) = env_nonempty("AUTOML_LLM_CALL_BUDGET") {
            cfg.call_budget = v
                .parse()
                .map_err(|_| format!("AUTOML_LLM_CALL_BUDGET={v:?} is not a whole number"))?;
        }
        Ok(Some(cfg))
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Why an LLM call gave no usable answer. Each maps to a WARNING code ([`LlmError::code`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The configuration cannot be used.
    #[error("LLM configuration: {0}")]
    Config(String),
    /// No connection could be made.
    #[error("LLM endpoint {url} unreachable: {message}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// What the connection said.
        message: String,
    },
    /// The endpoint did not answer in time.
    #[error("LLM endpoint {url} did not answer within {secs:.1} s")]
    Timeout {
        /// The URL called.
        url: String,
        /// The timeout.
        secs: f64,
    },
    /// An HTTP error status (after retries, for 429/5xx).
    #[error("LLM endpoint answered HTTP {status}{}: {body}", attempts_note(.attempts))]
    Status {
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
        /// Calls made.
        attempts: u32,
    },
    /// The reply was not the JSON we asked for.
    #[error("LLM reply is not valid JSON: {0}")]
    NotJson(String),
    /// The reply was JSON but does not match the schema.
    #[error("LLM reply does not match the Intent schema: {0}")]
    SchemaMismatch(String),
    /// The model refused.
    #[error("LLM refused: {0}")]
    Refusal(String),
    /// The run's call budget is spent.
    #[error("LLM call budget of {budget} calls for this run is spent")]
    BudgetExhausted {
        /// The budget.
        budget: u32,
    },
    /// The run was cancelled while waiting.
    #[error("cancelled while waiting for the LLM")]
    Cancelled,
}

fn attempts_note(n: &u32) -> String {
    if *n > 1 {
        format!(" after {n} attempts")
    } else {
        String::new()
    }
}

impl LlmError {
    /// The WARNING code for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            LlmError::Config(_) => "llm_config",
            LlmError::Unreachable { .. } => "llm_unreachable",
            LlmError::Timeout { .. } => "llm_timeout",
            LlmError::Status { status: 429, .. } => "llm_rate_limited",
            LlmError::Status { .. } => "llm_http_error",
            LlmError::NotJson(_) => "llm_bad_reply",
            LlmError::SchemaMismatch(_) => "llm_schema_mismatch",
            LlmError::Refusal(_) => "llm_refusal",
            LlmError::BudgetExhausted { .. } => "llm_budget_spent",
            LlmError::Cancelled => "llm_cancelled",
        }
    }
}

/// A chat-completions client with timeouts, retries with backoff and a per-run call budget.
pub struct LlmClient {
    cfg: LlmConfig,
    http: reqwest::Client,
    calls: Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient").field("cfg", &self.cfg).finish()
    }
}

const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

impl LlmClient {
    /// A client for `cfg`.
    pub fn new(cfg: LlmConfig) -> std::result::Result<Self, LlmError> {
        if !(cfg.base_url.starts_with("http://") || cfg.base_url.starts_with("https://")) {
            return Err(LlmError::Config(format!(
                "base URL {:?} must start with http:// or https://",
                cfg.base_url
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            .user_agent(concat!("automl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            cfg,
            http,
            calls: Mutex::new(HashMap::new()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LlmConfig {
        &self.cfg
    }

    /// HTTP calls made so far for `project`.
    pub fn calls_made(&self, project: &str) -> u32 {
        self.calls
            .lock()
            .map(|m| m.get(project).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    fn take_call(&self, project: &str) -> std::result::Result<(), LlmError> {
        let mut m = self
            .calls
            .lock()
            .map_err(|_| LlmError::Config("call counter poisoned".to_string()))?;
        let n = m.entry(project.to_string()).or_insert(0);
        if *n >= self.cfg.call_budget {
            return Err(LlmError::BudgetExhausted {
                budget: self.cfg.call_budget,
            });
        }
        *n += 1;
        Ok(())
    }

    /// Sends one chat request (with retries on 429/5xx) and returns the assistant message.
    async fn chat(
        &self,
        project: &str,
        cancel: &CancellationToken,
        body: &Value,
    ) -> std::result::Result<String, LlmError> {
        let url = format!("{}/chat/completions", self.cfg.base_url);
        let mut attempt: u32 = 0;
        loop {
            self.take_call(project)?;
            attempt += 1;
            let mut req = self.http.post(&url).json(body);
            if let Some(k) = &self.cfg.api_key {
                req = req.bearer_auth(k);
            }
            let resp = tokio::select! {
                r = req.send() => r,
                _ = cancel.cancelled() => return Err(LlmError::Cancelled),
            };
            let resp = match resp {
                Ok(r) => r,
                Err(e) => return Err(self.transport_error(&url, e)),
            };
            let status = resp.status();
            if status.is_success() {
                let text = tokio::select! {
                    t = resp.text() => t.map_err(|e| self.transport_error(&url, e))?,
                    _ = cancel.cancelled() => return Err(LlmError::Cancelled),
                };
                return extract_message(&text);
            }
            let retry_after = super::retry_after(resp.headers(), std::time::SystemTime::now());
            let body_text = resp.text().await.unwrap_or_default();
            let retryable = status.as_u16() == 429 || status.is_server_error();
            if !retryable || attempt > self.cfg.max_retries {
                return Err(LlmError::Status {
                    status: status.as_u16(),
                    body: body_text.chars().take(300).collect(),
                    attempts: attempt,
                });
            }
            let delay = retry_after
                .unwrap_or(self.cfg.backoff * 2u32.saturating_pow(attempt - 1))
                .min(MAX_RETRY_AFTER);
            tracing::debug!(status = status.as_u16(), ?delay, "LLM call will be retried");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = cancel.cancelled() => return Err(LlmError::Cancelled),
            }
        }
    }

    fn transport_error(&self, url: &str, e: reqwest::Error) -> LlmError {
        if e.is_timeout() {
            LlmError::Timeout {
                url: url.to_string(),
                secs: self.cfg.timeout.as_secs_f64(),
            }
        } else {
            let mut message = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                message = format!("{message}: {s}");
                src = s.source();
            }
            LlmError::Unreachable {
                url: url.to_string(),
                message,
            }
        }
    }

    /// Asks for a JSON object matching `schema` (OpenAI structured output, strict) and
    /// validates the reply against it.
    pub async fn complete_json(
        &self,
        project: &str,
        cancel: &CancellationToken,
        system: &str,
        user: &str,
        schema_name: &str,
        schema: &Value,
    ) -> std::result::Result<Value, LlmError> {
        let body = json!({
            "model": self.cfg.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "strict": true, "schema": schema},
            },
        });
        let content = self.chat(project, cancel, &body).await?;
        let value = parse_json_content(&content)?;
        validate(schema, &value, "$").map_err(LlmError::SchemaMismatch)?;
        Ok(value)
    }

    /// Asks for plain text.
    pub async fn complete_text(
        &self,
        project: &str,
        cancel: &CancellationToken,
        system: &str,
        user: &str,
    ) -> std::result::Result<String, LlmError> {
        let body = json!({
            "model": self.cfg.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
        });
        self.chat(project, cancel, &body).await
    }
}

/// Takes the assistant message out of a chat-completions response body.
fn extract_message(body: &str) -> std::result::Result<String, LlmError> {
    let v: Value = serde_json::from_str(body).map_err(|e| {
        LlmError::NotJson(format!(
            "response body is not JSON ({e}): {}",
            body.chars().take(120).collect::<String>()
        ))
    })?;
    let choice = v
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| LlmError::NotJson("response has no choices[0]".to_string()))?;
    let msg = choice.get("message").unwrap_or(&Value::Null);
    if let Some(r) = msg.get("refusal").and_then(Value::as_str) {
        if !r.trim().is_empty() {
            return Err(LlmError::Refusal(r.chars().take(300).collect()));
        }
    }
    if choice.get("finish_reason").and_then(Value::as_str) == Some("content_filter") {
        return Err(LlmError::Refusal(
            "the endpoint's content filter stopped the answer".to_string(),
        ));
    }
    msg.get("content")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| LlmError::NotJson("choices[0].message.content is missing".to_string()))
}

/// Parses the message content as JSON; a Markdown code fence around it is tolerated.
fn parse_json_content(content: &str) -> std::result::Result<Value, LlmError> {
    let t = content.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .and_then(|x| x.strip_suffix("```"))
        .unwrap_or(t)
        .trim();
    serde_json::from_str(t).map_err(|e| {
        LlmError::NotJson(format!(
            "{e}: {}",
            content.chars().take(120).collect::<String>()
        ))
    })
}

/// The JSON schema the LLM must answer with: generated from [`Intent`] by schemars, with
/// subschemas inlined, `parser` removed (we set it) and made strict in OpenAI's sense (every
/// property required, no additional properties, enums as `enum` lists, no numeric formats).
pub fn intent_schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let schema = generator.into_root_schema_for::<Intent>();
    let mut v = schema.to_value();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("$schema");
        obj.remove("title");
        if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
            props.remove("parser");
            props.remove("comparison");
        }
    }
    strictify(&mut v);
    v
}

fn strictify(v: &mut Value) {
    let Some(obj) = v.as_object_mut() else {
        if let Some(a) = v.as_array_mut() {
            a.iter_mut().for_each(strictify);
        }
        return;
    };
    obj.remove("format");
    obj.remove("minimum");
    obj.remove("maximum");
    obj.remove("default");
    // oneOf of string constants → a plain enum.
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = obj.get(key).and_then(Value::as_array) {
            let consts: Option<Vec<Value>> = alts
                .iter()
                .map(|a| a.get("const").filter(|c| c.is_string()).cloned())
                .collect();
            if let Some(c) = consts {
                obj.remove(key);
                obj.insert("type".to_string(), json!("string"));
                obj.insert("enum".to_string(), Value::Array(c));
            }
        }
    }
    if let Some(alts) = obj.remove("oneOf") {
        obj.insert("anyOf".to_string(), alts);
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        let keys: Vec<Value> = props.keys().map(|k| Value::String(k.clone())).collect();
        obj.insert("required".to_string(), Value::Array(keys));
        obj.insert("additionalProperties".to_string(), Value::Bool(false));
    }
    for (_, child) in obj.iter_mut() {
        strictify(child);
    }
}

/// Validates `v` against the subset of JSON Schema that [`intent_schema`] uses: `type`
/// (one or a list), `enum`, `const`, `properties`, `required`, `additionalProperties: false`,
/// `items`, `anyOf`. Returns the first problem with its JSON path.
pub fn validate(schema: &Value, v: &Value, path: &str) -> std::result::Result<(), String> {
    let Some(s) = schema.as_object() else {
        return Ok(());
    };
    if let Some(alts) = s.get("anyOf").and_then(Value::as_array) {
        let mut errs = Vec::new();
        for a in alts {
            match validate(a, v, path) {
                Ok(()) => {
                    errs.clear();
                    break;
                }
                Err(e) => errs.push(e),
            }
        }
        if !errs.is_empty() {
            return Err(format!(
                "{path}: matches none of the alternatives ({})",
                errs.join("; ")
            ));
        }
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(x) => vec![x.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "null" => v.is_null(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "number" => v.is_number(),
            "integer" => v.as_i64().is_some() || v.as_u64().is_some(),
            "object" => v.is_object(),
            "array" => v.is_array(),
            _ => false,
        });
        if !types.is_empty() && !ok {
            return Err(format!("{path}: expected {}, got {v}", types.join(" or ")));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        let null_allowed = s
            .get("type")
            .is_some_and(|t| t.to_string().contains("null"));
        let ok = e.contains(v) || (v.is_null() && null_allowed);
        if !ok {
            return Err(format!(
                "{path}: {v} is not one of {}",
                Value::Array(e.clone())
            ));
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            return Err(format!("{path}: expected {c}, got {v}"));
        }
    }
    if let Some(o) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(req) = s.get("required").and_then(Value::as_array) {
            for r in req.iter().filter_map(Value::as_str) {
                if !o.contains_key(r) {
                    return Err(format!("{path}: missing required property {r:?}"));
                }
            }
        }
        if s.get("additionalProperties") == Some(&Value::Bool(false)) {
            if let Some(extra) = o.keys().find(|k| props.is_none_or(|p| !p.contains_key(*k))) {
                return Err(format!("{path}: unexpected property {extra:?}"));
            }
        }
        if let Some(p) = props {
            for (k, sub) in p {
                if let Some(x) = o.get(k) {
                    validate(sub, x, &format!("{path}.{k}"))?;
                }
            }
        }
    }
    if let (Some(items), Some(a)) = (s.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            validate(items, x, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

const PARSER_SYSTEM: &str = "You turn a request for a machine-learning model into a JSON intent. \
Fields: modality (tabular, image, text, audio, time_series, other: the kind of input data); \
objective (classification: predict a class; regression: predict a number; other: neither); \
task_type (e.g. tabular_classification, tabular_regression, image_classification, \
text_classification, time_series_forecasting, object_detection, image_segmentation, \
question_answering, generation, clustering, recommendation); supported (true only for \
classification or regression on tabular, text or image data, and for time-series forecasting \
as regression; audio, detection, segmentation, generation, translation, summarisation, \
question answering, clustering and recommendation are not supported); reason (why not, when \
supported is false, else null); target (the column or quantity to predict, as named, else null); \
dataset_hint (words naming a data set, else null); keywords (content words, at most 16); \
constraints (time_budget_s in seconds, metric such as accuracy, macro_f1, roc_auc, recall, r2, \
rmse, mae, max_trials; null when not stated); confidence (0 to 1). Weigh the evidence as \
follows: evaluation metric names (RMSE, RMSLE, MAE, R2, Pearson or Spearman correlation mean \
regression; accuracy, AUC, log loss, F1, kappa mean classification; IoU, Dice, mAP with boxes, \
BLEU, ROUGE mean detection, segmentation or generation), file types (.jpg, .png, .dcm, .tif \
mean image; .wav, .mp3, .flac mean audio; CSV files of columns mean tabular unless the columns \
hold free text, images or signals), data descriptions (essays, reviews, tweets, comments, \
documents mean text; readings ordered in time mean time series), the submission format (one \
probability per class means classification; one number per row means regression) and the \
sentence that states the task. The title, the task statement and the Evaluation and Data \
sections count more than background story; a long brief may come as its sections, each \
marked [title], [task], [evaluation], [submission], [data], [text] or [background]. Features \
computed from images are tabular. Answer with the JSON only.";

/// Asks the LLM for an [`Intent`] and checks it.
pub async fn llm_intent(
    client: &LlmClient,
    project: &str,
    cancel: &CancellationToken,
    text: &str,
) -> std::result::Result<Intent, LlmError> {
    let schema = intent_schema();
    // A long brief goes as its sections, the weighty ones first (title, task, evaluation,
    // submission, data), background last; a shorter one goes whole.
    let text = brief::condense(text, brief::LONG_BRIEF_CHARS);
    let mut v = client
        .complete_json(project, cancel, PARSER_SYSTEM, &text, "intent", &schema)
        .await?;
    if let Some(o) = v.as_object_mut() {
        o.insert("parser".to_string(), json!("llm"));
    }
    let mut intent: Intent =
        serde_json::from_value(v).map_err(|e| LlmError::SchemaMismatch(e.to_string()))?;
    if !(0.0..=1.0).contains(&intent.confidence) {
        return Err(LlmError::SchemaMismatch(format!(
            "$.confidence: {} is outside 0..1",
            intent.confidence
        )));
    }
    if intent.task_type.trim().is_empty() {
        return Err(LlmError::SchemaMismatch("$.task_type: empty".to_string()));
    }
    if !intent.supported && intent.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(LlmError::SchemaMismatch(
            "$.reason: required when supported is false".to_string(),
        ));
    }
    if let Some(b) = intent.constraints.time_budget_s {
        if !(b > 0.0 && b.is_finite()) {
            intent.constraints.time_budget_s = None;
        }
    }
    intent.parser = ParserKind::Llm;
    Ok(intent)
}

/// PARSE_INTENT with an LLM: the LLM when one is configured, the injected fallback parser
/// (the embedded one, in the default wiring) otherwise and whenever the LLM fails (with a
/// WARNING naming the failure).
#[derive(Clone)]
pub struct LlmParser {
    client: Option<Arc<LlmClient>>,
    config_error: Option<String>,
    fallback: Arc<dyn Agent<Prompt, Intent>>,
}

impl LlmParser {
    /// A parser over the endpoint in `cfg`, falling back to `fallback`.
    pub fn new(
        cfg: LlmConfig,
        fallback: Arc<dyn Agent<Prompt, Intent>>,
    ) -> std::result::Result<Self, LlmError> {
        Ok(Self {
            client: Some(Arc::new(LlmClient::new(cfg)?)),
            config_error: None,
            fallback,
        })
    }

    /// A parser configured from `AUTOML_LLM_*`; with no `AUTOML_LLM_BASE_URL` it is the
    /// fallback alone. A broken configuration is reported as a WARNING at each run.
    pub fn from_env(fallback: Arc<dyn Agent<Prompt, Intent>>) -> Self {
        let (client, config_error) = match LlmConfig::from_env() {
            Ok(None) => (None, None),
            Ok(Some(cfg)) => match LlmClient::new(cfg) {
                Ok(c) => (Some(Arc::new(c)), None),
                Err(e) => (None, Some(e.to_string())),
            },
            Err(e) => (None, Some(e)),
        };
        Self {
            client,
            config_error,
            fallback,
        }
    }

    /// The client, when an LLM is configured.
    pub fn client(&self) -> Option<&Arc<LlmClient>> {
        self.client.as_ref()
    }
}

#[async_trait]
impl Agent<Prompt, Intent> for LlmParser {
    fn name(&self) -> &str {
        if self.client.is_some() {
            "llm"
        } else {
            self.fallback.name()
        }
    }

    async fn run(&self, input: Prompt, cx: &StageContext) -> Result<Intent> {
        if let Some(e) = &self.config_error {
            cx.emitter.emit(Event::warning(
                "llm_config",
                format!("{e}; embedded parser used"),
            ));
        }
        let Some(client) = &self.client else {
            return self.fallback.run(input, cx).await;
        };
        cx.emitter.emit(Event::stage(
            Stage::ParseIntent,
            StageStatus::Running,
            format!("asking {} at {}", client.cfg.model, client.cfg.base_url),
        ));
        match llm_intent(client, cx.emitter.project_id(), &cx.cancel, &input.text).await {
            Ok(mut i) => {
                // The fallback parser answers too (the embedded one is rules: milliseconds),
                // so that PROMPT_PARSED carries both answers and whether they agree.
                if let Ok(other) = self.fallback.run(input, cx).await {
                    i.comparison = Some(ParserComparison::between(&i, &other));
                }
                Ok(i)
            }
            Err(LlmError::Cancelled) => Err(crate::AutomlError::Cancelled),
            Err(e) => {
                cx.emitter.emit(Event::warning(
                    e.code(),
                    format!("{e}; {} parser used", self.fallback.name()),
                ));
                self.fallback.run(input, cx).await
            }
        }
    }
}

/// MODEL_SELECT with an LLM: the wrapped selector ranks; the LLM only adds a plain-language
/// explanation (a STAGE_STATUS message). The candidates, their order, pros, cons and costs are
/// the wrapped selector's, untouched.
pub struct ExplainingSelector {
    inner: Arc<dyn Agent<SelectionInput, Vec<ModelCandidate>>>,
    client: Arc<LlmClient>,
}

impl ExplainingSelector {
    /// Wraps `inner`, explaining its ranking with `client`.
    pub fn new(
        inner: Arc<dyn Agent<SelectionInput, Vec<ModelCandidate>>>,
        client: Arc<LlmClient>,
    ) -> Self {
        Self { inner, client }
    }
}

#[async_trait]
impl Agent<SelectionInput, Vec<ModelCandidate>> for ExplainingSelector {
    fn name(&self) -> &str {
        "explaining"
    }

    async fn run(&self, input: SelectionInput, cx: &StageContext) -> Result<Vec<ModelCandidate>> {
        let spec = input.spec.clone();
        let ranked = self.inner.run(input, cx).await?;
        let facts = json!({
            "task": spec.words(),
            "rows": spec.n_rows,
            "features": spec.n_features,
            "classes": spec.n_classes,
            "candidates_best_first": ranked,
        });
        let system = "Explain to a non-expert, in at most three sentences, why these model \
candidates are tried in this order. Use only the facts given; do not add, drop, reorder or \
re-estimate candidates.";
        match self
            .client
            .complete_text(
                cx.emitter.project_id(),
                &cx.cancel,
                system,
                &facts.to_string(),
            )
            .await
        {
            Ok(text) if !text.trim().is_empty() => {
                let text: String = text.trim().chars().take(600).collect();
                cx.emitter.emit(Event::stage(
                    Stage::ModelSelect,
                    StageStatus::Running,
                    format!("explanation (LLM): {text}"),
                ));
            }
            Ok(_) => cx.emitter.emit_warning(
                "llm_bad_reply",
                "the LLM gave an empty explanation; none shown",
            ),
            Err(LlmError::Cancelled) => return Err(crate::AutomlError::Cancelled),
            Err(e) => cx.emitter.emit_warning(
                e.code(),
                format!("{e}; model candidates shown without an explanation"),
            ),
        }
        Ok(ranked)
    }
}

trait EmitWarning {
    fn emit_warning(&self, code: &str, message: impl Into<String>);
}

impl EmitWarning for crate::bus::Emitter {
    fn emit_warning(&self, code: &str, message: impl Into<String>) {
        self.emit(Event::warning(code, message));
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    use crate::agents::retry_after;

    fn with(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(v).expect("header value"));
        h
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        // 2015-10-21 07:28:00 UTC.
        let at = UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let now = at - Duration::from_secs(90);
        assert_eq!(
            retry_after(&with("120"), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(&with(" 0.2 "), now),
            Some(Duration::from_millis(200))
        );
        // The three date forms RFC 9110 names.
        for date in [
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Wednesday, 21-Oct-15 07:28:00 GMT",
            "Wed Oct 21 07:28:00 2015",
        ] {
            assert_eq!(
                retry_after(&with(date), now),
                Some(Duration::from_secs(90)),
                "{date}"
            );
        }
        // A date already past asks for no wait.
        assert_eq!(
            retry_after(
                &with("Wed, 21 Oct 2015 07:28:00 GMT"),
                at + Duration::from_secs(5)
            ),
            Some(Duration::ZERO)
        );
        for bad in ["-1", "soon", "NaN", "inf"] {
            assert_eq!(retry_after(&with(bad), now), None, "{bad}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), SystemTime::now()), None);
    }
}
