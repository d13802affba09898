//! Resuming a run that another process started and did not finish (a worker that died;
//! decision 0094). The project's log, as the bus holds it, says which stages completed and
//! what they decided; `RunState::rebuild` turns those events back into the stages' outputs
//! without running the stages (no agent is asked again, no stage event is emitted), and the
//! run continues at the first stage that had not completed. A completed TRAIN is rebuilt
//! only from the best model it checkpointed ([`CheckpointStore`](super::CheckpointStore));
//! without one, TRAIN runs again. A stage whose output cannot be rebuilt (its data file is
//! not readable here, its recomputed split differs from the recorded one) runs again, and
//! RESUMED says so.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::agents::finders::ChosenDataset;
use crate::agents::licence;
use crate::conductor::run::{RunState, blocking};
use crate::data::preprocess;
use crate::data::timeseries::detect::prepare;
use crate::data::{self, Dataset};
use crate::error::{AutomlError, Result};
use crate::event::{
    DatasetSelectedPayload, Envelope, Event, Intent, ModelCandidate, PreprocessSummary, Profile,
    ResumePoint, ResumedPayload, Stage, StageRerun, StageStatus,
};
use crate::train::{BestModel, ImageData, TrainInput, TrainedModel};

use super::checkpoint::{CHECKPOINT_DIR, CHECKPOINT_FILE, CheckpointInfo};

/// What the log of a run that did not end says about its stages.
#[derive(Default)]
struct Recorded {
    after_seq: u64,
    status: BTreeMap<Stage, StageStatus>,
    intent: Option<Intent>,
    selected: Option<DatasetSelectedPayload>,
    profile: Option<Profile>,
    preprocess: Option<PreprocessSummary>,
    ranked: Option<Vec<ModelCandidate>>,
    /// The highest `r-N` trial id in the log.
    trial_ids: u64,
}

impl Recorded {
    fn read(log: &[Envelope]) -> Self {
        let mut r = Recorded {
            after_seq: log.last().map_or(0, |e| e.seq),
            ..Default::default()
        };
        for e in log {
            match &e.event {
                Event::StageStatus(s) => {
                    r.status.insert(s.stage, s.status);
                }
                Event::PromptParsed(i) => r.intent = Some(i.clone()),
                Event::DatasetSelected(d) => r.selected = Some(d.clone()),
                Event::ProfileReady(p) => r.profile = Some(p.clone()),
                Event::PreprocessReady(p) => r.preprocess = Some(p.clone()),
                Event::ModelCandidates(m) => r.ranked = Some(m.candidates.clone()),
                Event::TrainRunStarted(t) => {
                    let n = t
                        .run_id
                        .strip_prefix("r-")
                        .and_then(|rest| rest.split('-').next())
                        .and_then(|n| n.parse::<u64>().ok())
                        .unwrap_or(0);
                    r.trial_ids = r.trial_ids.max(n);
                }
                _ => {}
            }
        }
        r
    }

    fn completed(&self, s: Stage) -> bool {
        self.status.get(&s) == Some(&StageStatus::Completed)
    }
}

/// A stage's output could not be rebuilt: the run goes on from that stage.
struct Rerun(StageRerun);

fn rerun(stage: Stage, reason: impl Into<String>) -> Rerun {
    Rerun(StageRerun {
        stage,
        reason: reason.into(),
    })
}

impl RunState {
    /// Rebuilds the outputs of the stages `log` shows completed (in order, up to the first
    /// that did not complete, and up to TRAIN unless a checkpoint of it is found), emitting
    /// nothing but the RESUMED event; returns the stage to continue at. `by` names the
    /// process that takes over, for RESUMED's message.
    pub(crate) async fn rebuild(&mut self, log: &[Envelope], by: &str) -> Result<Stage> {
        let rec = Recorded::read(log);
        let first_open = Stage::ALL
            .into_iter()
            .find(|s| !rec.completed(*s))
            .unwrap_or(Stage::Export);
        let target = first_open.min(Stage::ReviewEdit);
        let mut rebuilt = Vec::new();
        let mut reruns = Vec::new();
        let mut cont = target;
        let mut from_checkpoint = false;
        self.quiet = true;
        for stage in Stage::ALL.into_iter().filter(|s| *s < target) {
            match self.rebuild_stage(stage, &rec).await {
                Ok(()) => rebuilt.push(stage),
                Err(Rerun(r)) => {
                    cont = stage;
                    reruns.push(r);
                    break;
                }
            }
            if stage == Stage::Train {
                from_checkpoint = true;
            }
        }
        self.quiet = false;
        // The completed stages after a fallback run again too; say so for each.
        if let Some(first) = reruns.first().map(|r| r.stage) {
            for s in Stage::ALL
                .into_iter()
                .filter(|s| *s > first && *s < target && rec.completed(*s))
            {
                reruns.push(StageRerun {
                    stage: s,
                    reason: format!("{first} runs again before it"),
                });
            }
        }
        self.trial_ids_used = rec.trial_ids;
        self.current = cont;
        let from = if cont == Stage::ParseIntent {
            ResumePoint::Start
        } else if from_checkpoint {
            ResumePoint::Checkpoint
        } else {
            ResumePoint::Stage
        };
        let names = |v: &[Stage]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        let mut message = format!(
            "the process running this project stopped after seq {}; {by} continues it at {cont}",
            rec.after_seq
        );
        if from_checkpoint {
            message.push_str(" with the best model TRAIN checkpointed");
        }
        if !rebuilt.is_empty() {
            message.push_str(&format!(" ({} rebuilt from the log)", names(&rebuilt)));
        }
        for r in &reruns {
            message.push_str(&format!("; {} runs again: {}", r.stage, r.reason));
        }
        self.emit(Event::Resumed(ResumedPayload {
            after_seq: rec.after_seq,
            from,
            stage: (from != ResumePoint::Start).then_some(cont),
            rebuilt,
            rerun: reruns,
            message,
        }));
        Ok(cont)
    }

    async fn rebuild_stage(
        &mut self,
        stage: Stage,
        rec: &Recorded,
    ) -> std::result::Result<(), Rerun> {
        let missing = |what: &str| rerun(stage, format!("the log has no {what}"));
        match stage {
            Stage::ParseIntent => {
                self.intent = Some(rec.intent.clone().ok_or_else(|| missing("PROMPT_PARSED"))?);
            }
            Stage::DataSource => {
                let sel = rec
                    .selected
                    .clone()
                    .ok_or_else(|| missing("DATASET_SELECTED"))?;
                // The data source's target hint is not in the log: a profile still to make
                // needs the finder's answer again.
                if !rec.completed(Stage::ProfileData) && sel.source != "user" {
                    return Err(rerun(
                        stage,
                        format!(
                            "PROFILE_DATA did not complete and the {} source's target hint is not in the log",
                            sel.source
                        ),
                    ));
                }
                let table = self.req.table.clone();
                let path = PathBuf::from(&sel.path);
                if table.is_none() && !path.exists() {
                    return Err(rerun(
                        stage,
                        format!("its data {} is not readable by this process", sel.path),
                    ));
                }
                let loaded = blocking("loader", move || match table {
                    Some(t) => Ok(Dataset::Table(data::table_from_batch(&t.name, t.batch)?)),
                    None => data::load(&path),
                })
                .await
                .map_err(|e| rerun(stage, format!("its data {} did not load: {e}", sel.path)))?;
                self.dataset = Some(ChosenDataset {
                    id: sel.id.clone(),
                    source: sel.source.clone(),
                    path: PathBuf::from(&sel.path),
                    revision: sel.revision.clone(),
                    license: licence::decide(Some(&sel.license)),
                    evidence: sel.evidence.clone(),
                    attribution: sel.attribution.clone(),
                    origin: sel.path.clone(),
                    target: None,
                });
                self.loaded = Some(loaded);
            }
            Stage::ProfileData => {
                let profile = rec
                    .profile
                    .clone()
                    .ok_or_else(|| missing("PROFILE_READY"))?;
                if profile.time_series.is_some() {
                    // A clone (the batch is shared): a fallback runs the stage on the data.
                    let Some(Dataset::Table(t)) = self.loaded.clone() else {
                        return Err(rerun(stage, "a forecasting profile without a table"));
                    };
                    let (target, horizon, prompt) = (
                        profile.target.clone(),
                        self.req.horizon,
                        self.req.prompt.clone(),
                    );
                    let (prepared, t) = blocking("time series", move || {
                        Ok((prepare(&t.batch, &target, horizon, &prompt), t))
                    })
                    .await
                    .map_err(|e| rerun(stage, e.to_string()))?;
                    let (data, _) = prepared
                        .map_err(|e| rerun(stage, format!("the series did not rebuild: {e}")))?;
                    self.forecast = Some(Arc::new(data));
                    self.loaded = Some(Dataset::Table(t));
                }
                self.profile = Some(profile);
            }
            Stage::Preprocess => {
                let recorded = rec
                    .preprocess
                    .clone()
                    .ok_or_else(|| missing("PREPROCESS_READY"))?;
                let profile = self
                    .profile
                    .clone()
                    .ok_or_else(|| missing("PROFILE_READY"))?;
                // A clone (shared buffers): a fallback runs the stage on the data.
                let loaded = self.loaded.clone().ok_or_else(|| missing("loaded data"))?;
                let input = if let Some(d) = self.forecast.clone() {
                    let (train, test) = d.split_sizes();
                    if (train as u64, test as u64) != (recorded.split.train, recorded.split.test) {
                        return Err(rerun(
                            stage,
                            "the series split differs from the recorded one",
                        ));
                    }
                    TrainInput::Forecast(d)
                } else {
                    let seed = self.cx.settings.seed;
                    let test_rows = self.req.test_rows.clone();
                    let (input, summary) = blocking("preprocess", move || {
                        Ok(match loaded {
                            Dataset::Table(t) => {
                                let (data, summary) = preprocess::prepare_table(
                                    &t.batch,
                                    &profile,
                                    seed,
                                    test_rows.as_deref(),
                                )?;
                                (TrainInput::Tabular(Arc::new(data)), Some(summary))
                            }
                            Dataset::Images(f) => {
                                let rows: Vec<usize> = (0..f.files.len()).collect();
                                let strata: Vec<usize> = f.files.iter().map(|(_, c)| *c).collect();
                                let split = preprocess::split_rows(&rows, Some(&strata), seed);
                                (
                                    TrainInput::Images(Arc::new(ImageData { folder: f, split })),
                                    None,
                                )
                            }
                        })
                    })
                    .await
                    .map_err(|e| rerun(stage, format!("the preprocessing did not rebuild: {e}")))?;
                    let same = match (&summary, &input) {
                        (Some(s), _) => {
                            match (serde_json::to_value(s), serde_json::to_value(&recorded)) {
                                (Ok(a), Ok(b)) => same_json(&a, &b),
                                _ => false,
                            }
                        }
                        (None, TrainInput::Images(i)) => {
                            (
                                i.split.train.len() as u64,
                                i.split.valid.len() as u64,
                                i.split.test.len() as u64,
                            ) == (
                                recorded.split.train,
                                recorded.split.valid,
                                recorded.split.test,
                            )
                        }
                        _ => false,
                    };
                    if !same {
                        return Err(rerun(
                            stage,
                            "the preprocessing rebuilt from the data differs from the recorded one (the data changed?)",
                        ));
                    }
                    input
                };
                self.input = Some(input);
                self.loaded = None;
            }
            Stage::ModelSelect => {
                let ranked = rec
                    .ranked
                    .clone()
                    .ok_or_else(|| missing("MODEL_CANDIDATES"))?;
                let task = self
                    .task_spec()
                    .map_err(|e| rerun(stage, e.to_string()))?
                    .task;
                // The same choice as the stage made (its warnings are in the log already).
                let metric = self
                    .metric_for(task)
                    .map_err(|e| rerun(stage, e.to_string()))?;
                self.ranked = ranked;
                self.metric = Some(metric);
            }
            Stage::Train => {
                self.best = Some(
                    self.load_checkpoint()
                        .await
                        .map_err(|why| rerun(stage, why))?,
                );
            }
            Stage::ReviewEdit | Stage::Export => {
                return Err(rerun(stage, "stages after TRAIN always run again"));
            }
        }
        Ok(())
    }

    /// Saves the best model of the completed TRAIN as the run's checkpoint, when the
    /// conductor has a [`CheckpointStore`](super::CheckpointStore). A failure is a WARNING (`checkpoint_not_saved`):
    /// the run goes on, a takeover would train again.
    pub(crate) async fn save_checkpoint(&self) {
        let (Some(store), Some(best)) = (self.inner.checkpoints.clone(), self.best.clone()) else {
            return;
        };
        let dir = self.run_dir.join(CHECKPOINT_DIR);
        let d = dir.clone();
        let written = blocking("checkpoint", move || {
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).map_err(|e| AutomlError::io(&d, e))?;
            let files = best
                .model
                .save(&d)?
                .iter()
                .map(|f| {
                    f.strip_prefix(&d)
                        .map(|r| r.to_string_lossy().into_owned())
                        .map_err(|_| {
                            AutomlError::Internal(format!(
                                "the model saved {} outside its folder",
                                f.display()
                            ))
                        })
                })
                .collect::<Result<Vec<_>>>()?;
            let info = CheckpointInfo {
                run_id: best.run_id.clone(),
                score: best.score,
                model: best.model.model_name().to_string(),
                files,
            };
            let path = d.join(CHECKPOINT_FILE);
            let text = serde_json::to_string_pretty(&info)
                .map_err(|e| AutomlError::Internal(e.to_string()))?;
            std::fs::write(&path, text).map_err(|e| AutomlError::io(&path, e))
        })
        .await;
        let saved = match written {
            Ok(()) => store.save(&self.project_id, &dir).await,
            Err(e) => Err(e),
        };
        if let Err(e) = saved {
            self.emit(Event::warning(
                "checkpoint_not_saved",
                format!(
                    "the trained model was not checkpointed ({e}); if this process stops, the run's TRAIN runs again"
                ),
            ));
        }
    }

    /// The best model of the completed TRAIN, from the run's checkpoint; the error is the
    /// reason TRAIN runs again.
    async fn load_checkpoint(&self) -> std::result::Result<BestModel, String> {
        let Some(store) = self.inner.checkpoints.clone() else {
            return Err("this process keeps no checkpoints".to_string());
        };
        let dir = self.run_dir.join(CHECKPOINT_DIR);
        let _ = tokio::fs::remove_dir_all(&dir).await;
        match store.fetch(&self.project_id, &dir).await {
            Ok(true) => {}
            Ok(false) => return Err("no checkpoint of its model was saved".to_string()),
            Err(e) => return Err(format!("its checkpoint could not be read: {e}")),
        }
        let formats = self.inner.model_formats.clone();
        let d = dir.clone();
        blocking("checkpoint load", move || {
            let file = d.join(CHECKPOINT_FILE);
            let text = std::fs::read_to_string(&file).map_err(|e| AutomlError::io(&file, e))?;
            let info: CheckpointInfo =
                serde_json::from_str(&text).map_err(|e| AutomlError::ModelLoad {
                    path: file.clone(),
                    message: format!("not a checkpoint description: {e}"),
                })?;
            let model: Arc<dyn TrainedModel> = Arc::from(formats.load(&d)?);
            Ok(BestModel {
                run_id: info.run_id,
                score: info.score,
                model,
                refit: None,
                duration_s: 0.0,
            })
        })
        .await
        .map_err(|e| format!("its checkpoint did not load: {e}"))
    }
}

/// Equal JSON, numbers within a relative 1e-9: a recorded payload has been through JSON text
/// (Redis, a log file), whose parse may differ from the computed number in the last bit.
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| same_json(a, b)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::same_json;
    use serde_json::json;

    #[test]
    fn recorded_numbers_match_within_their_last_bits_only() {
        let a = json!({"split": {"train": 90}, "steps": [{"mean": 0.1 + 0.2}]});
        let b = json!({"split": {"train": 90}, "steps": [{"mean": 0.3}]});
        assert!(same_json(&a, &b));
        let c = json!({"split": {"train": 91}, "steps": [{"mean": 0.3}]});
        assert!(!same_json(&a, &c));
        let d = json!({"split": {"train": 90}, "steps": [{"mean": 0.3001}]});
        assert!(!same_json(&b, &d));
        assert!(!same_json(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }
}
