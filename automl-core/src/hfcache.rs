//! DATA_SOURCE from the local Hugging Face cache: data sets that an earlier run (or the
//! `huggingface_hub` Python library) downloaded into the standard cache layout
//! (`<cache>/datasets--owner--name/{blobs,snapshots/<commit>,refs/main}`), ranked against the
//! intent, with the licence read from the data set card (`README.md` front matter) kept in the
//! snapshot. No network.
//!
//! The cache folder is `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub` — the order the Python
//! library and hf-hub use.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::agent::{Agent, StageContext};
use crate::catalog::{ChosenDataset, DatasetChoice, DatasetQuery};
use crate::error::{AutomlError, Result};
use crate::event::DatasetCandidate;
use crate::intent::{Intent, Modality, Objective};
use crate::licence::{self, LicenceDecision, Verdict};
use crate::parser::singular;

const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "gif", "webp"];
const TABLE_EXTENSIONS: &[&str] = &["csv", "tsv"];

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
fn files_modality(kind: &str) -> Modality {
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

/// Finds data sets in the local Hugging Face cache.
#[derive(Debug, Clone, Default)]
pub struct HfCacheFinder {
    dir: Option<PathBuf>,
}

impl HfCacheFinder {
    /// A finder over `dir` (default: [`hub_cache_dir`]).
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    /// The folder it scans.
    pub fn dir(&self) -> Option<PathBuf> {
        self.dir.clone().or_else(hub_cache_dir)
    }
}

/// One data set found in the cache.
#[derive(Debug, Clone)]
pub struct CachedDataset {
    /// `owner/name`.
    pub id: String,
    /// The snapshot folder.
    pub snapshot: PathBuf,
    /// The commit.
    pub revision: String,
    /// Files in the snapshot, relative.
    pub files: Vec<String>,
    /// The card's metadata.
    pub card: CardMeta,
}

fn list_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            // Snapshot entries are symlinks into blobs/: follow them.
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() {
                if let Ok(rel) = p.strip_prefix(root) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
    }
    out.sort();
    out
}

/// Lists the data sets in a hub cache folder.
pub fn scan_cache(dir: &Path) -> Vec<CachedDataset> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut out = Vec::new();
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for repo in entries {
        let Some(name) = repo.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(rest) = name.strip_prefix("datasets--") else {
            continue;
        };
        let id = rest.replacen("--", "/", 1);
        let revision = std::fs::read_to_string(repo.join("refs").join("main"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| repo.join("snapshots").join(s).is_dir())
            .or_else(|| {
                std::fs::read_dir(repo.join("snapshots"))
                    .ok()?
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .max()
            });
        let Some(revision) = revision else {
            continue;
        };
        let snapshot = repo.join("snapshots").join(&revision);
        let files = list_files(&snapshot);
        let card = std::fs::read_to_string(snapshot.join("README.md"))
            .map(|t| parse_card(&t))
            .unwrap_or_default();
        out.push(CachedDataset {
            id,
            snapshot,
            revision,
            files,
            card,
        });
    }
    out
}

#[async_trait]
impl Agent<DatasetQuery, DatasetChoice> for HfCacheFinder {
    fn name(&self) -> &str {
        "hf_cache"
    }

    async fn run(&self, q: DatasetQuery, _cx: &StageContext) -> Result<DatasetChoice> {
        let dir = self.dir().ok_or_else(|| {
            AutomlError::NoDataset(
                "no Hugging Face cache folder (HF_HUB_CACHE, HF_HOME and HOME are unset)"
                    .to_string(),
            )
        })?;
        let found = tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || scan_cache(&dir)
        })
        .await
        .map_err(|e| AutomlError::Internal(format!("cache scan failed: {e}")))?;
        let wanted = wanted_task_categories(&q.intent);
        let mut scored: Vec<(f64, CachedDataset, PathBuf)> = Vec::new();
        for ds in found {
            let Some((path, kind)) = loadable_path(&ds.snapshot, &ds.files) else {
                continue;
            };
            let cats = &ds.card.task_categories;
            let task = if cats.iter().any(|c| wanted.contains(&c.as_str())) {
                1.0
            } else if cats.is_empty() {
                // No categories: judge by the files.
                let m = files_modality(kind);
                if m == q.intent.modality
                    || (m == Modality::Tabular
                        && matches!(q.intent.modality, Modality::TimeSeries | Modality::Text))
                {
                    0.3
                } else {
                    0.0
                }
            } else if cats
                .iter()
                .any(|c| category_modality(c) == Some(q.intent.modality))
            {
                0.3
            } else {
                0.0
            };
            if task == 0.0 {
                continue;
            }
            let words = format!(
                "{} {} {}",
                ds.id,
                ds.card.pretty_name.clone().unwrap_or_default(),
                ds.card.tags.join(" ")
            );
            // The request's words must name it: a cached set of the right task type alone is
            // not a match (it may be about anything).
            let terms = term_overlap(&q.intent, &words);
            if terms == 0.0 {
                continue;
            }
            scored.push((2.0 * task + terms, ds, path));
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
        let mut choice = DatasetChoice {
            chosen: None,
            candidates: vec![],
            rejected: vec![],
            why_none: None,
        };
        for (s, ds, path) in scored {
            let decision = decide_with_evidence(
                &ds.card.license,
                &format!("the card (README.md) of {} in the local HF cache", ds.id),
            );
            let usable = decision.verdict == Verdict::Allowed
                || (decision.verdict == Verdict::Restricted && q.allow_restricted);
            let cand = DatasetCandidate {
                id: ds.id.clone(),
                source: "cache".to_string(),
                license: decision.license.clone(),
                verdict: decision.verdict.as_str().to_string(),
                reason: decision.reason.clone(),
                downloads: None,
                size: Some(ds.files.len() as u64),
                score: (s / 3.0 * 1000.0).round() / 1000.0,
            };
            if !usable {
                choice.rejected.push(cand);
                continue;
            }
            if choice.chosen.is_none() {
                choice.chosen = Some(ChosenDataset {
                    id: ds.id.clone(),
                    source: "cache".to_string(),
                    path,
                    revision: Some(ds.revision.clone()),
                    evidence: format!(
                        "license {:?} in the card metadata of {} (local HF cache, revision {})",
                        ds.card.license.join(", "),
                        ds.id,
                        ds.revision
                    ),
                    license: decision,
                    attribution: Some(format!("Hugging Face data set {}", ds.id)),
                    origin: format!("{} (local HF cache {})", ds.id, dir.display()),
                    target: None,
                });
            }
            if choice.candidates.len() < 3 {
                choice.candidates.push(cand);
            }
        }
        if choice.chosen.is_none() {
            choice.why_none = Some(if choice.rejected.is_empty() {
                "no cached data set matches the request".to_string()
            } else {
                format!(
                    "the matching cached data sets may not be used: {}",
                    choice
                        .rejected
                        .iter()
                        .map(|r| format!("{} ({})", r.id, r.license))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
        }
        Ok(choice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_front_matter() {
        let m = parse_card(
            "---\nlicense: cc-by-4.0\ntask_categories:\n- image-classification\npretty_name: \"Cats\"\ntags: [pets, animals]\n---\n# Cats\n",
        );
        assert_eq!(m.license, vec!["cc-by-4.0"]);
        assert_eq!(m.task_categories, vec!["image-classification"]);
        assert_eq!(m.pretty_name.as_deref(), Some("Cats"));
        assert_eq!(m.tags, vec!["pets", "animals"]);
        let m = parse_card("---\nlicense:\n  - mit\n  - apache-2.0\n---\n");
        assert_eq!(m.license, vec!["mit", "apache-2.0"]);
        assert_eq!(
            parse_card("# no front matter").license,
            Vec::<String>::new()
        );
    }

    #[test]
    fn loadable_paths() {
        let root = Path::new("/r");
        let files = vec![
            "README.md".to_string(),
            "train/cat/1.jpg".to_string(),
            "train/dog/2.jpg".to_string(),
            "test/cat/3.jpg".to_string(),
            "test/dog/4.jpg".to_string(),
        ];
        assert_eq!(
            loadable_path(root, &files),
            Some((PathBuf::from("/r/train"), "images"))
        );
        let files = vec!["data/test.csv".to_string(), "data/train.csv".to_string()];
        assert_eq!(
            loadable_path(root, &files),
            Some((PathBuf::from("/r/data/train.csv"), "table"))
        );
        assert_eq!(loadable_path(root, &["x.parquet".to_string()]), None);
    }
}
