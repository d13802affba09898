//! DATA_SOURCE: the finder agent chooses the data (the caller's, or the fallback chain's), its
//! licence is checked, it is loaded, and a sample is shown; with `wait_for_upload`, the stage
//! waits for an upload when nothing usable is found.

use std::path::PathBuf;

use crate::agents::finders::{self, ChosenDataset, DatasetQuery};
use crate::agents::licence::Verdict;
use crate::conductor::request::Choice;
use crate::conductor::run::{RunState, blocking};
use crate::data::{self, Dataset};
use crate::error::{AutomlError, Result};
use crate::event::{DatasetCandidatesPayload, DatasetSelectedPayload, Event, Stage, StageStatus};

impl RunState {
    /// No usable data set: wait at DATA_SOURCE until the caller confirms it with the path of an
    /// upload (`Choice::Edit({"data": path})`), or cancels.
    pub(crate) async fn wait_for_upload(&mut self, why: &str) -> Result<ChosenDataset> {
        self.emit(Event::stage(
            Stage::DataSource,
            StageStatus::Waiting,
            format!("{why}; waiting for an upload (confirm DATA_SOURCE with {{\"data\": path}})"),
        ));
        loop {
            let (stage, choice) = self.next_confirm().await?;
            let path = match (&stage, &choice) {
                (Stage::DataSource, Choice::Edit(v)) => {
                    v.get("data").and_then(|d| d.as_str()).map(PathBuf::from)
                }
                _ => None,
            };
            let Some(path) = path else {
                self.emit(Event::warning(
                    "confirm_ignored",
                    format!("confirm for {stage} ignored: the run waits at DATA_SOURCE for {{\"data\": path}}"),
                ));
                continue;
            };
            let intent = self
                .intent
                .clone()
                .ok_or_else(|| AutomlError::Internal("no intent".into()))?;
            let choice = self
                .inner
                .finder
                .run(
                    DatasetQuery {
                        intent,
                        data: Some(path.clone()),
                        allow_restricted: self.req.allow_restricted,
                    },
                    &self.cx,
                )
                .await?;
            self.emit(Event::DatasetCandidates(DatasetCandidatesPayload {
                candidates: choice.candidates.clone(),
                rejected: choice.rejected.clone(),
            }));
            match choice.chosen {
                Some(c) => {
                    self.req.data = Some(path);
                    self.emit(Event::stage(
                        Stage::DataSource,
                        StageStatus::Running,
                        "using the uploaded data",
                    ));
                    return Ok(c);
                }
                None => self.emit(Event::warning(
                    "upload_unusable",
                    format!(
                        "{} cannot be used; still waiting for an upload",
                        path.display()
                    ),
                )),
            }
        }
    }

    pub(crate) async fn data_source(&mut self) -> Result<()> {
        self.begin(Stage::DataSource, "looking for data")?;
        let intent = self
            .intent
            .clone()
            .ok_or_else(|| AutomlError::Internal("no intent".into()))?;
        let choice = match &self.req.table {
            Some(t) => finders::caller_table(&t.name, t.batch.num_rows() as u64),
            None => {
                self.inner
                    .finder
                    .run(
                        DatasetQuery {
                            intent,
                            data: self.req.data.clone(),
                            allow_restricted: self.req.allow_restricted,
                        },
                        &self.cx,
                    )
                    .await?
            }
        };
        self.emit(Event::DatasetCandidates(DatasetCandidatesPayload {
            candidates: choice.candidates.clone(),
            rejected: choice.rejected.clone(),
        }));
        let licence_only = choice.candidates.is_empty() && !choice.rejected.is_empty();
        let chosen = match choice.chosen {
            Some(c) => c,
            None => {
                let why = choice
                    .why_none
                    .unwrap_or_else(|| "nothing matched; pass --data FILE".to_string());
                if self.req.wait_for_upload {
                    self.wait_for_upload(&why).await?
                } else if licence_only {
                    return Err(AutomlError::LicenceRejected(why));
                } else {
                    return Err(AutomlError::NoDataset(why));
                }
            }
        };
        if chosen.license.verdict == Verdict::Restricted {
            self.emit(Event::warning(
                "restricted_licence",
                format!(
                    "{} is {}: research/demo use only",
                    chosen.id, chosen.license.license
                ),
            ));
        }
        self.emit(Event::DatasetSelected(DatasetSelectedPayload {
            id: chosen.id.clone(),
            source: chosen.source.clone(),
            revision: chosen.revision.clone(),
            license: chosen.license.license.clone(),
            evidence: chosen.evidence.clone(),
            path: chosen.path.display().to_string(),
            attribution: chosen.attribution.clone(),
        }));
        self.dataset = Some(chosen.clone());
        let path = chosen.path.clone();
        let table = self.req.table.clone();
        let samples = self.run_dir.join("samples");
        let (loaded, sample) = blocking("loader", move || {
            let loaded = match table {
                Some(t) => Dataset::Table(data::table_from_batch(&t.name, t.batch)?),
                None => data::load(&path)?,
            };
            let sample = data::sample_payload(&loaded, Some(&samples));
            Ok((loaded, sample))
        })
        .await?;
        for note in data::load_notes(&loaded) {
            self.emit(Event::warning("data_loaded_with_notes", note));
        }
        self.emit(Event::DatasetSampleReady(sample));
        self.complete(
            Stage::DataSource,
            format!(
                "{} ({}, {})",
                chosen.id, chosen.source, chosen.license.license
            ),
        );
        self.loaded = Some(loaded);
        Ok(())
    }
}
