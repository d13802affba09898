//! Checkpoints (decision 0094): the best model of a completed TRAIN, kept where a process
//! taking the run over finds it ([`CheckpointStore`]), so that it continues after TRAIN.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::error::{AutomlError, Result};

/// File copies on the blocking pool (this module stays below `run`, which names it).
async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AutomlError::Internal(format!("checkpoint copy task failed: {e}")))?
}

/// The checkpoint's description, beside the model files in the checkpoint folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.json";
/// The checkpoint folder inside a run folder.
pub const CHECKPOINT_DIR: &str = "checkpoint";

/// Where a run keeps the best model of its completed TRAIN, so that a process taking the run
/// over continues after TRAIN instead of training again. The folder holds the model's files
/// and [`CHECKPOINT_FILE`], whose `files` lists every file of the folder.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// Keeps the checkpoint folder `dir` of `project_id` (replacing an older one).
    async fn save(&self, project_id: &str, dir: &Path) -> Result<()>;
    /// Puts `project_id`'s checkpoint folder into `into`; `Ok(false)` when there is none.
    async fn fetch(&self, project_id: &str, into: &Path) -> Result<bool>;
}

/// A [`CheckpointStore`] in a folder (`<root>/<project>/`), e.g. a disk every worker mounts.
pub struct FolderCheckpoints {
    root: PathBuf,
}

impl FolderCheckpoints {
    /// Checkpoints under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
}

fn copy_files(from: &Path, to: &Path, files: &[String]) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| AutomlError::io(to, e))?;
    for f in files {
        let dst = to.join(f);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(|e| AutomlError::io(parent, e))?;
        }
        std::fs::copy(from.join(f), &dst).map_err(|e| AutomlError::io(&dst, e))?;
    }
    Ok(())
}

/// The files a checkpoint folder lists in its [`CHECKPOINT_FILE`] (that file last).
pub fn checkpoint_files(dir: &Path) -> Result<Vec<String>> {
    let file = dir.join(CHECKPOINT_FILE);
    let text = std::fs::read_to_string(&file).map_err(|e| AutomlError::io(&file, e))?;
    let info: CheckpointInfo = serde_json::from_str(&text).map_err(|e| AutomlError::ModelLoad {
        path: file.clone(),
        message: format!("not a checkpoint description: {e}"),
    })?;
    let mut files = info.files;
    files.push(CHECKPOINT_FILE.to_string());
    Ok(files)
}

#[async_trait]
impl CheckpointStore for FolderCheckpoints {
    async fn save(&self, project_id: &str, dir: &Path) -> Result<()> {
        let (dir, to) = (dir.to_path_buf(), self.root.join(project_id));
        off_runtime(move || {
            let files = checkpoint_files(&dir)?;
            copy_files(&dir, &to, &files)
        })
        .await
    }

    async fn fetch(&self, project_id: &str, into: &Path) -> Result<bool> {
        let (from, into) = (self.root.join(project_id), into.to_path_buf());
        off_runtime(move || {
            if !from.join(CHECKPOINT_FILE).is_file() {
                return Ok(false);
            }
            let files = checkpoint_files(&from)?;
            copy_files(&from, &into, &files)?;
            Ok(true)
        })
        .await
    }
}

/// What [`CHECKPOINT_FILE`] says.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CheckpointInfo {
    /// The trial the model is.
    pub run_id: String,
    /// Its validation score on the optimised metric.
    pub score: f64,
    /// The model's name.
    pub model: String,
    /// The model's files, relative to the folder.
    pub files: Vec<String>,
}
