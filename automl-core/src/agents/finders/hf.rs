//! Hugging Face conventions shared by the HF-cache and Hub finders: the cache layout, dataset
//! cards, task categories, search terms and licence evidence.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::agents::licence::{self, LicenceDecision};
use crate::event::{Intent, Modality, Objective};
use crate::words::singular;

/// File extensions read as images.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "gif", "webp"];
/// File extensions read as tables.
pub const TABLE_EXTENSIONS: &[&str] = &["csv", "tsv"];

/// The standard Hugging Face hub cache folder, from the environment.
pub fn hub_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var(k)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(PathBuf::from)
    };
    env("HF_HUB_CACHE")
        .or_else(|| env("HUGGINGFACE_HUB_CACHE"))
        .or_else(|| env("HF_HOME").map(|h| h.join("hub")))
        .or_else(|| env("XDG_CACHE_HOME").map(|x| x.join("huggingface").join("hub")))
        .or_else(|| env("HOME").map(|h| h.join(".cache").join("huggingface").join("hub")))
}

/// The folder of a data set repository in the cache: `datasets--owner--name`.
pub fn repo_folder(id: &str) -> String {
    format!("datasets--{}", id.replace('/', "--"))
}

/// What a data set card's YAML front matter says (the fields we use).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CardMeta {
    /// `license:` (a scalar or a list).
    pub license: Vec<String>,
    /// `task_categories:`.
    pub task_categories: Vec<String>,
    /// `pretty_name:`.
    pub pretty_name: Option<String>,
    /// `tags:`.
    pub tags: Vec<String>,
}

/// Reads the YAML front matter of a data set card (`---` … `---` at the top of README.md):
/// top-level scalars and block or flow lists of scalars, which is what card metadata uses.
pub fn parse_card(text: &str) -> CardMeta {
    let mut meta = CardMeta::default();
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("---") {
        return meta;
    }
    let mut current: Option<String> = None;
    let unquote = |s: &str| s.trim().trim_matches(['"', '\'']).to_string();
    for line in lines {
        if line.trim() == "---" {
            break;
        }
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t');
        let t = line.trim();
        if indented || t.starts_with("- ") {
            if let (Some(key), Some(item)) = (&current, t.strip_prefix("- ")) {
                push(&mut meta, key, unquote(item));
            }
            continue;
        }
        let Some((k, v)) = t.split_once(':') else {
            current = None;
            continue;
        };
        let key = k.trim().to_string();
        let v = v.trim();
        if v.is_empty() {
            current = Some(key);
        } else if let Some(inner) = v.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
            for item in inner.split(',').map(unquote).filter(|s| !s.is_empty()) {
                push(&mut meta, &key, item);
            }
            current = None;
        } else {
            if key == "pretty_name" {
                meta.pretty_name = Some(unquote(v));
            } else {
                push(&mut meta, &key, unquote(v));
            }
            current = None;
        }
    }
    meta
}

fn push(meta: &mut CardMeta, key: &str, item: String) {
    match key {
        "license" => meta.license.push(item),
        "task_categories" => meta.task_categories.push(item),
        "tags" => meta.tags.push(item),
        _ => {}
    }
}

/// The Hub task categories that serve an intent, best first.
pub fn wanted_task_categories(intent: &Intent) -> Vec<&'static str> {
    match (intent.modality, intent.objective) {
        (Modality::Image, _) => vec!["image-classification"],
        (Modality::Text, _) => vec!["text-classification"],
        (Modality::Tabular, Objective::Regression) => vec!["tabular-regression"],
        (Modality::Tabular, _) => vec!["tabular-classification"],
        (Modality::TimeSeries, _) => vec!["time-series-forecasting", "tabular-regression"],
        (Modality::Audio, _) => vec!["audio-classification"],
        (Modality::Other, _) => vec![],
    }
}

/// Which modality a Hub task category belongs to.
pub fn category_modality(cat: &str) -> Option<Modality> {
    let c = cat.to_ascii_lowercase();
    if c.starts_with("image") || c.contains("object-detection") || c.starts_with("depth") {
        Some(Modality::Image)
    } else if c.starts_with("text")
        || c.contains("token-classification")
        || c.contains("question-answering")
        || c.contains("summarization")
        || c.contains("translation")
        || c.contains("fill-mask")
        || c.contains("zero-shot-classification")
    {
        Some(Modality::Text)
    } else if c.starts_with("tabular") {
        Some(Modality::Tabular)
    } else if c.starts_with("time-series") {
        Some(Modality::TimeSeries)
    } else if c.starts_with("audio") || c.contains("speech") {
        Some(Modality::Audio)
    } else {
        None
    }
}

/// Where a downloaded snapshot has data that `data::load` reads: the largest CSV/TSV file
/// (one with "train" in its path first), else the folder of class sub-folders holding the most
/// images (at least two classes). `files` are paths relative to `root`.
pub fn loadable_path(root: &Path, files: &[String]) -> Option<(PathBuf, &'static str)> {
    let ext = |f: &str| {
        Path::new(f)
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .unwrap_or_default()
    };
    let mut tables: Vec<&String> = files
        .iter()
        .filter(|f| TABLE_EXTENSIONS.contains(&ext(f).as_str()))
        .collect();
    tables.sort_by_key(|f| (!f.to_lowercase().contains("train"), f.len(), (*f).clone()));
    if let Some(t) = tables.first() {
        return Some((root.join(t), "table"));
    }
    // image folders: parent of the class folder
    let mut roots: std::collections::BTreeMap<String, (BTreeSet<String>, usize)> =
        Default::default();
    for f in files
        .iter()
        .filter(|f| IMAGE_EXTENSIONS.contains(&ext(f).as_str()))
    {
        let parts: Vec<&str> = f.split('/').collect();
        if parts.len() < 2 {
            continue;
        }
        let class = parts[parts.len() - 2].to_string();
        let base = parts[..parts.len() - 2].join("/");
        let e = roots.entry(base).or_default();
        e.0.insert(class);
        e.1 += 1;
    }
    roots
        .into_iter()
        .filter(|(_, (classes, _))| classes.len() >= 2)
        .max_by_key(|(base, (_, n))| (base.to_lowercase().contains("train"), *n))
        .map(|(base, _)| {
            (
                if base.is_empty() {
                    root.to_path_buf()
                } else {
                    root.join(base)
                },
                "images",
            )
        })
}

/// The modality a file list can serve (`Image` for image folders, `Tabular` for tables).
pub fn files_modality(kind: &str) -> Modality {
    if kind == "images" {
        Modality::Image
    } else {
        Modality::Tabular
    }
}

/// Word overlap between the intent's search words and a data set's words, 0..1.
pub fn term_overlap(intent: &Intent, text: &str) -> f64 {
    let words: BTreeSet<String> = text
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() > 1)
        .map(singular)
        .collect();
    let terms = search_terms(intent);
    if terms.is_empty() {
        return 0.0;
    }
    let hits = terms
        .iter()
        .filter(|t| words.contains(&singular(t)))
        .count();
    hits as f64 / terms.len() as f64
}

/// The words to search for: the data set hint, the target, then the keywords that are not
/// about the task itself ("classifier", "images", ...), at most four.
pub fn search_terms(intent: &Intent) -> Vec<String> {
    const GENERIC: &[&str] = &[
        "build",
        "classifier",
        "classification",
        "regression",
        "model",
        "image",
        "images",
        "photo",
        "photos",
        "picture",
        "pictures",
        "text",
        "texts",
        "column",
        "columns",
        "train",
        "tell",
        "apart",
        "predict",
        "accuracy",
        "data",
        "dataset",
        "csv",
        "task",
        "label",
        "labels",
        "class",
        "classes",
        "type",
        "kind",
        "recognise",
        "recognize",
        "detect",
    ];
    let mut out: Vec<String> = Vec::new();
    let mut add = |w: &str| {
        for t in w
            .to_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|t| t.len() > 1)
        {
            let s = singular(t);
            if !GENERIC.contains(&s.as_str()) && !out.contains(&s) && out.len() < 4 {
                out.push(s);
            }
        }
    };
    if let Some(h) = &intent.dataset_hint {
        add(h);
    }
    if let Some(t) = &intent.target {
        add(t);
    }
    for k in &intent.keywords {
        add(k);
    }
    out
}

/// Decides a licence list read from `evidence`, and says where it was read in the reason.
pub fn decide_with_evidence(licences: &[String], evidence: &str) -> LicenceDecision {
    let joined = licences.join(" AND ");
    let mut d = licence::decide(
        Some(&joined)
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.as_str()),
    );
    d.reason = format!("{} (read from {evidence})", d.reason);
    d
}
