//! PROFILE_DATA: column kinds and statistics, the target and why, the task, warnings.

use crate::conductor::run::{RunState, blocking};
use crate::data::Dataset;
use crate::data::profile::{self, TargetHints};
use crate::error::{AutomlError, Result};
use crate::event::{Event, Stage};

impl RunState {
    pub(crate) async fn profile_data(&mut self) -> Result<()> {
        self.begin(Stage::ProfileData, "profiling the data")?;
        let intent = self
            .intent
            .clone()
            .ok_or_else(|| AutomlError::Internal("no intent".into()))?;
        let loaded = self
            .loaded
            .take()
            .ok_or_else(|| AutomlError::Internal("no data loaded".into()))?;
        let hints = TargetHints {
            explicit: self.req.target.clone(),
            from_prompt: intent.target.clone(),
            from_catalog: self.dataset.as_ref().and_then(|d| d.target.clone()),
            task: self.req.task,
        };
        if let (Dataset::Images(_), Some(t)) = (&loaded, &self.req.target) {
            if t != "label" {
                return Err(AutomlError::TargetNotFound {
                    target: t.clone(),
                    available: vec!["image".to_string(), "label".to_string()],
                });
            }
        }
        let (profile, loaded) = blocking("profile", move || {
            let p = match &loaded {
                Dataset::Table(t) => profile::profile_table(&t.batch, &hints, &intent)?,
                Dataset::Images(f) => profile::profile_images(f)?,
            };
            Ok((p, loaded))
        })
        .await?;
        self.emit(Event::ProfileReady(profile.clone()));
        self.complete(
            Stage::ProfileData,
            format!(
                "{} rows, target {:?} ({}), {}",
                profile.n_rows,
                profile.target,
                profile.target_reason,
                profile.task.as_str()
            ),
        );
        self.profile = Some(profile.clone());
        self.loaded = Some(loaded);
        Ok(())
    }
}
