//! DATA_SOURCE without the network: the bundled catalog of small real data sets, and the
//! finder agent that ranks catalog entries against the intent and applies the licence policy.
//!
//! The catalog is data, not code: a folder (`datasets/` at the repository root by default)
//! holding `catalog.json` and one file or folder per data set, found at run time.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{ChosenDataset, DatasetChoice, DatasetQuery, Topic, caller_data};
use crate::agents::licence::{self, Verdict};
use crate::agents::{Agent, StageContext};
use crate::error::{AutomlError, Result};
use crate::event::{DatasetCandidate, Intent, Modality, Objective};
use crate::words::singular;

/// One bundled data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// Stable id, e.g. `iris`.
    pub id: String,
    /// A human title.
    pub title: String,
    /// File or folder, relative to the catalog folder.
    pub path: String,
    /// `tabular`, `text` or `image`.
    pub modality: String,
    /// `binary`, `multiclass`, `regression`, `text_classification`, `image_classification`.
    pub task: String,
    /// Target column (`label` for image folders).
    pub target: String,
    /// Rows or images.
    pub rows: u64,
    /// SPDX licence id.
    pub license: String,
    /// Where the licence is stated (file in the catalog folder).
    pub license_file: String,
    /// Whom to credit.
    pub attribution: String,
    /// Where it comes from.
    pub source: String,
    /// What it holds.
    pub description: String,
    /// Words it is known by.
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// The catalog file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Format version.
    pub version: u32,
    /// The entries.
    pub datasets: Vec<CatalogEntry>,
    /// The folder it was read from (not serialised).
    #[serde(skip)]
    pub dir: PathBuf,
}

impl Catalog {
    /// Reads `dir/catalog.json`.
    pub fn load(dir: &Path) -> Result<Catalog> {
        let file = dir.join("catalog.json");
        let text = std::fs::read_to_string(&file).map_err(|e| AutomlError::Catalog {
            path: file.clone(),
            message: e.to_string(),
        })?;
        let mut c: Catalog = serde_json::from_str(&text).map_err(|e| AutomlError::Catalog {
            path: file.clone(),
            message: format!("malformed: {e}"),
        })?;
        c.dir = dir.to_path_buf();
        Ok(c)
    }

    /// Finds the catalog folder: `AUTOML_CATALOG`, then `datasets/catalog.json` in the current
    /// folder or any parent, then beside the executable, then the source tree this crate was
    /// built from.
    pub fn locate() -> Option<PathBuf> {
        if let Ok(p) = std::env::var("AUTOML_CATALOG") {
            let p = PathBuf::from(p);
            if p.join("catalog.json").is_file() {
                return Some(p);
            }
        }
        let mut starts: Vec<PathBuf> = Vec::new();
        if let Ok(cwd) = std::env::current_dir() {
            starts.push(cwd);
        }
        if let Ok(exe) = std::env::current_exe() {
            if let Some(d) = exe.parent() {
                starts.push(d.to_path_buf());
            }
        }
        starts.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        for s in starts {
            for anc in s.ancestors() {
                let cand = anc.join("datasets");
                if cand.join("catalog.json").is_file() {
                    return Some(cand);
                }
            }
        }
        None
    }

    /// The full path of an entry's data.
    pub fn data_path(&self, e: &CatalogEntry) -> PathBuf {
        self.dir.join(&e.path)
    }
}

/// Finds data in the bundled catalog (or takes the caller's file).
#[derive(Debug, Clone, Default)]
pub struct CatalogFinder {
    dir: Option<PathBuf>,
}

impl CatalogFinder {
    /// A finder over the catalog in `dir` (or the located one when `None`).
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }
}

fn tokens(text: &str) -> BTreeSet<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| t.len() > 1)
        .map(singular)
        .collect()
}

fn csv_header(path: &Path) -> Vec<String> {
    use std::io::BufRead;
    std::fs::File::open(path)
        .ok()
        .and_then(|f| std::io::BufReader::new(f).lines().next())
        .and_then(|l| l.ok())
        .map(|l| {
            l.split([',', '\t', ';'])
                .map(|s| s.trim_matches('"').to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn entry_text(entry: &CatalogEntry, columns: &[String]) -> String {
    let mut text = format!(
        "{} {} {} {}",
        entry.id.replace('_', " "),
        entry.title,
        entry.description,
        entry.keywords.join(" ")
    );
    for c in columns {
        text.push(' ');
        text.push_str(c);
    }
    text
}

/// When `entry` is not about the request's subject (see [`Topic::relevant`]), the reason
/// ("diamonds (Diamond prices) is not about house"); `None` when it is, or when the request
/// names no subject.
pub fn off_topic(intent: &Intent, entry: &CatalogEntry, columns: &[String]) -> Option<String> {
    let topic = Topic::of(intent, &entry_text(entry, columns));
    if topic.relevant() {
        return None;
    }
    Some(format!(
        "{} ({}) is not about {} (matched {} of the subject's {} word(s); the floor is one in three)",
        entry.id,
        entry.title,
        topic.subject_words(),
        topic.matched.len(),
        topic.subject.len()
    ))
}

/// How well `entry` fits `intent`: 0 when it cannot serve the task, or when it matches only by
/// the target's name while the request names another subject (see [`off_topic`]).
pub fn match_score(intent: &Intent, entry: &CatalogEntry, columns: &[String]) -> f64 {
    let modality_ok = match intent.modality {
        Modality::Image => entry.modality == "image",
        Modality::Text => entry.modality == "text",
        Modality::Tabular => entry.modality == "tabular" || entry.modality == "text",
        Modality::TimeSeries => entry.modality == "tabular",
        Modality::Audio | Modality::Other => false,
    };
    if !modality_ok {
        return 0.0;
    }
    let mut entry_text = format!(
        "{} {} {} {} {}",
        entry.id.replace('_', " "),
        entry.title,
        entry.description,
        entry.keywords.join(" "),
        entry.target
    );
    for c in columns {
        entry_text.push(' ');
        entry_text.push_str(c);
    }
    let et = tokens(&entry_text);
    let id_tokens = tokens(&entry.id.replace('_', " "));
    let mut score = 0.0;
    let hint = intent
        .dataset_hint
        .as_deref()
        .map(tokens)
        .unwrap_or_default();
    for t in &hint {
        if id_tokens.contains(t) {
            score += 3.0;
        } else if et.contains(t) {
            score += 2.0;
        }
    }
    if let Some(t) = &intent.target {
        let t = singular(&t.to_lowercase());
        if singular(&entry.target.to_lowercase()) == t {
            score += 1.5;
        } else if et.contains(&t) {
            score += 0.5;
        }
    }
    for k in &intent.keywords {
        let k = singular(k);
        if hint.contains(&k)
            || intent
                .target
                .as_deref()
                .map(|t| singular(&t.to_lowercase()))
                == Some(k.clone())
        {
            continue;
        }
        if id_tokens.contains(&k) {
            score += 2.0;
        } else if et.contains(&k) {
            score += 1.0;
        }
    }
    if score == 0.0 || off_topic(intent, entry, columns).is_some() {
        return 0.0;
    }
    let regression_entry = entry.task == "regression";
    match intent.objective {
        Objective::Regression if !regression_entry => score *= 0.4,
        Objective::Classification if regression_entry => score *= 0.4,
        _ => {}
    }
    score
}

#[async_trait]
impl Agent<DatasetQuery, DatasetChoice> for CatalogFinder {
    fn name(&self) -> &str {
        "catalog"
    }

    async fn run(&self, q: DatasetQuery, cx: &StageContext) -> Result<DatasetChoice> {
        if let Some(path) = &q.data {
            return caller_data(path);
        }
        let dir = self
            .dir
            .clone()
            .or_else(|| cx.settings.catalog_dir.clone())
            .or_else(Catalog::locate)
            .ok_or_else(|| {
                AutomlError::NoDataset(
                    "no data was given and no bundled catalog was found (set AUTOML_CATALOG to the datasets/ folder, or pass --data FILE)".to_string(),
                )
            })?;
        let catalog = Catalog::load(&dir)?;
        let mut off: Vec<String> = Vec::new();
        let mut scored: Vec<(f64, &CatalogEntry)> = catalog
            .datasets
            .iter()
            .map(|e| {
                let cols = if e.modality == "image" {
                    vec![]
                } else {
                    csv_header(&catalog.data_path(e))
                };
                let s = match_score(&q.intent, e, &cols);
                if s == 0.0 {
                    // Say why a data set with the wanted target was not taken.
                    let target = q
                        .intent
                        .target
                        .as_deref()
                        .map(|t| singular(&t.to_lowercase()));
                    if target.is_some_and(|t| singular(&e.target.to_lowercase()) == t) {
                        off.extend(off_topic(&q.intent, e, &cols));
                    }
                }
                (s, e)
            })
            .filter(|(s, _)| *s > 0.0)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
        let mut candidates = Vec::new();
        let mut rejected = Vec::new();
        let mut chosen = None;
        for (s, e) in scored {
            let decision = licence::decide(Some(&e.license));
            let usable = decision.verdict == Verdict::Allowed
                || (decision.verdict == Verdict::Restricted && q.allow_restricted);
            let mut reason = decision.reason.clone();
            if decision.verdict == Verdict::Restricted && !q.allow_restricted {
                reason.push_str("; not enabled for this run (research/demo use only)");
            }
            let cand = DatasetCandidate {
                id: e.id.clone(),
                source: "catalog".to_string(),
                license: decision.license.clone(),
                verdict: decision.verdict.as_str().to_string(),
                reason,
                downloads: None,
                size: Some(e.rows),
                score: (s / (s + 2.0) * 1000.0).round() / 1000.0,
            };
            if !usable {
                rejected.push(cand);
                continue;
            }
            if chosen.is_none() {
                chosen = Some(ChosenDataset {
                    id: e.id.clone(),
                    source: "catalog".to_string(),
                    path: catalog.data_path(e),
                    revision: Some(format!("catalog-v{}", catalog.version)),
                    license: decision,
                    evidence: format!("{} (catalog.json and {})", e.license, e.license_file),
                    attribution: Some(e.attribution.clone()),
                    origin: e.source.clone(),
                    target: Some(e.target.clone()).filter(|t| !t.is_empty()),
                });
            }
            if candidates.len() < 3 {
                candidates.push(cand);
            }
        }
        let why_none = chosen.is_none().then(|| {
            if rejected.is_empty() {
                format!(
                    "no bundled data set matches the request ({}){}; pass your data with --data FILE",
                    q.intent.understood(),
                    if off.is_empty() {
                        String::new()
                    } else {
                        format!("; {}", off.join("; "))
                    }
                )
            } else {
                format!(
                    "the matching bundled data sets have licences that may not be used ({}); pass your data with --data FILE",
                    rejected
                        .iter()
                        .map(|r| format!("{}: {}", r.id, r.license))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        });
        Ok(DatasetChoice {
            chosen,
            candidates,
            rejected,
            why_none,
        })
    }
}
