//! PROFILE_DATA: column kinds and statistics, the target and why, the task, warnings.

use crate::conductor::request::{normalise_metric, task_of_metric};
use crate::conductor::run::{RunState, blocking};
use crate::data::Dataset;
use crate::data::profile::{self, TargetHints};
use crate::data::timeseries::detect::prepare;
use crate::error::{AutomlError, Result};
use crate::event::{Event, Modality, Stage, TaskKind};

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
        let forecasting = self.req.horizon.is_some() || intent.modality == Modality::TimeSeries;
        let hints = TargetHints {
            explicit: self.req.target.clone(),
            from_prompt: intent.target.clone(),
            from_catalog: self.dataset.as_ref().and_then(|d| d.target.clone()),
            task: self.req.task,
            metric_task: self
                .req
                .metric
                .as_deref()
                .and_then(|m| task_of_metric(&normalise_metric(m))),
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
        let mut profile = profile;
        let loaded = match loaded {
            Dataset::Table(t) if forecasting => {
                let target = profile.target.clone();
                let horizon = self.req.horizon;
                let prompt = self.req.prompt.clone();
                let (prepared, t) = blocking("time series", move || {
                    Ok((prepare(&t.batch, &target, horizon, &prompt), t))
                })
                .await?;
                let (data, ts) = prepared?;
                for (code, n, what) in [
                    (
                        "time_series_gaps",
                        ts.gaps,
                        "missing time steps were filled by linear interpolation",
                    ),
                    (
                        "duplicate_timestamps",
                        ts.duplicate_timestamps,
                        "rows repeat a time of their series and were averaged",
                    ),
                    (
                        "series_too_short",
                        ts.series_left_out,
                        "series are too short for the horizon and were left out",
                    ),
                ] {
                    if n > 0 {
                        profile.warnings.push(format!("{n} {what}"));
                        self.emit(Event::warning(code, format!("{n} {what}")));
                    }
                }
                if ts.horizon_source == "default" {
                    self.emit(Event::warning(
                        "horizon_default",
                        format!(
                            "the request names no horizon; forecasting {} steps ({}) ahead (use --horizon to choose)",
                            ts.horizon, ts.frequency
                        ),
                    ));
                }
                profile.task = TaskKind::Regression;
                profile.class_balance.clear();
                profile.time_series = Some(ts);
                self.forecast = Some(std::sync::Arc::new(data));
                Dataset::Table(t)
            }
            other => other,
        };
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
