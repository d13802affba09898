//! DATA_SOURCE from the local Hugging Face cache: data sets that an earlier run (or the
//! `huggingface_hub` Python library) downloaded into the standard cache layout
//! (`<cache>/datasets--owner--name/{blobs,snapshots/<commit>,refs/main}`), ranked against the
//! intent, with the licence read from the data set card (`README.md` front matter) kept in the
//! snapshot. No network.
//!
//! The cache folder is `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub` — the order the Python
//! library and hf-hub use.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::hf::*;
use super::{ChosenDataset, DatasetChoice, DatasetQuery, Topic};
use crate::agents::licence::Verdict;
use crate::agents::{Agent, StageContext};
use crate::error::{AutomlError, Result};
use crate::event::{DatasetCandidate, Modality};

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
            // ...and be about the request's subject, not only share the target's name.
            let readable = format!(
                "{} {}",
                words.replace(['/', '-', '_'], " "),
                ds.card.task_categories.join(" ")
            );
            if !Topic::of(&q.intent, &readable).relevant() {
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
