//! EXPORT: the model, metrics, model card and notebook.

use crate::conductor::run::{RunState, blocking};
use crate::error::{AutomlError, Result};
use crate::event::{Artifact, ArtifactsPayload, Event, Stage, StageStatus};
use crate::export::notebook::{self, NotebookInput};
use crate::export::{self as artifacts_io, ExportInput};
use crate::train::TrainInput;

impl RunState {
    pub(crate) async fn export(&mut self, partial: bool) -> Result<Vec<Artifact>> {
        if !partial {
            self.begin(Stage::Export, "writing artifacts")?;
        } else {
            self.current = Stage::Export;
            self.emit(Event::stage(
                Stage::Export,
                StageStatus::Running,
                "writing the best model so far",
            ));
        }
        let best = self
            .best
            .clone()
            .ok_or_else(|| AutomlError::Internal("no model".into()))?;
        let review = match &self.review {
            Some(r) => r.clone(),
            None => {
                let r = self.evaluate(&best).await?;
                self.emit(Event::ReviewReady(r.clone()));
                self.review = Some(r.clone());
                r
            }
        };
        let dataset = self
            .dataset
            .clone()
            .ok_or_else(|| AutomlError::Internal("no dataset".into()))?;
        let profile = self
            .profile
            .clone()
            .ok_or_else(|| AutomlError::Internal("no profile".into()))?;
        // Writing the model, card and notebook is file work: the blocking pool does it.
        let dir = self.run_dir.clone();
        let prompt = self.req.prompt.clone();
        let project_id = self.project_id.clone();
        let metric = self.metric.clone();
        let tabular = match &self.input {
            Some(TrainInput::Tabular(d)) => Some(d.clone()),
            _ => None,
        };
        let (mut artifacts, nb): (Vec<Artifact>, Option<Vec<Artifact>>) =
            blocking("export", move || {
                let artifacts = artifacts_io::write_all(&ExportInput {
                    dir: &dir,
                    model: best.model.as_ref(),
                    review: &review,
                    dataset: &dataset,
                    profile: &profile,
                    prompt: &prompt,
                    project_id: &project_id,
                    partial,
                    optimised_metric: metric.as_deref(),
                })?;
                let nb = match tabular {
                    Some(d) => Some(notebook::write(&NotebookInput {
                        dir: &dir,
                        review: &review,
                        profile: &profile,
                        test_rows: &d.test_rows,
                        prompt: &prompt,
                        project_id: &project_id,
                        dataset_id: &dataset.id,
                    })?),
                    None => None,
                };
                Ok((artifacts, nb))
            })
            .await?;
        if let Some(nb) = nb {
            self.emit(Event::NotebookReady(ArtifactsPayload {
                dir: self.run_dir.display().to_string(),
                artifacts: nb.clone(),
            }));
            artifacts.extend(nb);
        }
        self.emit(Event::ExportReady(ArtifactsPayload {
            dir: self.run_dir.display().to_string(),
            artifacts: artifacts.clone(),
        }));
        self.complete(
            Stage::Export,
            format!("{} files in {}", artifacts.len(), self.run_dir.display()),
        );
        Ok(artifacts)
    }
}
