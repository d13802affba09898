//! Cross-crate behaviour of the Conductor through its public API: cancellation, review,
//! sinks that are slow or fail, and the event log.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use automl_core::event::{ModelCandidate, Stage, StageStatus};
use automl_core::train::{TaskSpec, TrainInput, TrialRecord};
use automl_core::{
    AutomlError, ChannelSink, Choice, Conductor, Envelope, Event, EventSink, RunRequest, RunStatus,
    TrainContext, Trainer,
};

fn catalog() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets")
}

fn conductor() -> automl_core::ConductorBuilder {
    // Hermetic: the Hub (on by default) is skipped, so runs use the bundled catalog.
    Conductor::builder()
        .catalog_dir(catalog())
        .offline("offline (hermetic test)")
}

fn stages_completed(events: &[Envelope]) -> Vec<Stage> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            Event::StageStatus(p) if p.status == StageStatus::Completed => Some(p.stage),
            _ => None,
        })
        .collect()
}

fn assert_gapless(events: &[Envelope]) {
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
}

/// A trainer that reports one trial, then keeps "training" until cancelled or out of time.
struct SlowTrainer {
    inner: automl_core::train::linear::LinearTrainer,
}

#[async_trait]
impl Trainer for SlowTrainer {
    fn name(&self) -> &str {
        "slow"
    }
    fn supports(&self, task: &TaskSpec) -> bool {
        self.inner.supports(task)
    }
    fn candidates(&self, task: &TaskSpec) -> Vec<ModelCandidate> {
        let mut c = self.inner.candidates(task);
        for x in &mut c {
            x.trainer = "slow".into();
        }
        c
    }
    async fn train(&self, input: TrainInput, cx: TrainContext) -> automl_core::Result<()> {
        // One real trial first, so there is a best model to keep.
        let limited = TrainContext::new(
            cx.emitter.clone(),
            cx.cancel.clone(),
            cx.deadline,
            cx.seed,
            Some(1),
            cx.metric(),
        );
        self.inner.train(input, limited.clone()).await?;
        let best = limited.best().expect("one trial");
        cx.report_trial(TrialRecord {
            run_id: cx.next_run_id(),
            model_name: best.model.model_name().to_string(),
            params: Default::default(),
            metrics: [(cx.metric().to_string(), best.score)]
                .into_iter()
                .collect(),
            model: best.model.clone(),
            refit: None,
            duration_s: 0.0,
            predictions: None,
        });
        cx.emit(Event::warning(
            "slow_trainer",
            "now waiting to be cancelled",
        ));
        while !cx.should_stop() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }
}

#[tokio::test]
async fn cancel_mid_training_keeps_the_best_model_and_a_consistent_log() {
    let out = tempfile::tempdir().expect("tmp");
    let c = conductor()
        .without_default_trainers()
        .trainer(Arc::new(SlowTrainer {
            inner: Default::default(),
        }))
        .build()
        .expect("build");
    let handle = c
        .start(
            RunRequest::new("classify iris species")
                .out_dir(out.path())
                .time_budget(120.0),
        )
        .expect("valid request");
    let mut events = handle.events();
    while let Some(e) = events.next().await {
        if matches!(&e.event, Event::Warning(w) if w.code == "slow_trainer") {
            handle.cancel();
            break;
        }
    }
    let outcome = handle
        .wait()
        .await
        .expect("a cancelled run is not an error");
    assert_eq!(outcome.status, RunStatus::Cancelled);
    assert!(
        outcome.metrics.contains_key("accuracy"),
        "the best model was evaluated"
    );
    assert!(
        out.path().join("model.json").is_file(),
        "the best model was exported"
    );
    let log = automl_core::sink::read_jsonl(out.path().join("events.jsonl")).expect("log");
    assert_gapless(&log);
    let last = log.last().expect("events");
    assert!(
        matches!(last.event, Event::RunCancelled(_)),
        "ends with RUN_CANCELLED"
    );
    assert_eq!(log.iter().filter(|e| e.event.is_terminal()).count(), 1);
    let done = stages_completed(&log);
    assert!(
        done.contains(&Stage::Train) && done.contains(&Stage::Export),
        "{done:?}"
    );
    // The exported model reloads and predicts.
    let model = automl_core::load_model(out.path()).expect("reload");
    assert_eq!(model.model_name(), "logistic_regression");
}

#[tokio::test]
async fn cancel_before_training_ends_cleanly_without_a_model() {
    let out = tempfile::tempdir().expect("tmp");
    let c = conductor().build().expect("build");
    let handle = c
        .start(RunRequest::new("predict diamond prices").out_dir(out.path()))
        .expect("valid request");
    let mut events = handle.events();
    while let Some(e) = events.next().await {
        if matches!(&e.event, Event::StageStatus(p) if p.stage == Stage::DataSource && p.status == StageStatus::Running)
        {
            handle.cancel();
        }
    }
    let outcome = handle.wait().await.expect("cancelled is Ok");
    assert_eq!(outcome.status, RunStatus::Cancelled);
    assert!(outcome.artifacts.is_empty());
    let log = automl_core::sink::read_jsonl(out.path().join("events.jsonl")).expect("log");
    assert_gapless(&log);
    assert!(matches!(
        log.last().map(|e| &e.event),
        Some(Event::RunCancelled(_))
    ));
}

#[tokio::test]
async fn cancel_while_the_real_linear_trainer_runs() {
    let out = tempfile::tempdir().expect("tmp");
    let c = conductor().build().expect("build");
    let handle = c
        .start(
            RunRequest::new("predict whether income is above 50K from census data")
                .out_dir(out.path()),
        )
        .expect("valid request");
    let mut events = handle.events();
    while let Some(e) = events.next().await {
        if matches!(e.event, Event::MetricScalar(_)) {
            handle.cancel();
            break;
        }
    }
    let outcome = handle.wait().await.expect("cancelled is Ok");
    assert_eq!(outcome.status, RunStatus::Cancelled);
    let log = automl_core::sink::read_jsonl(out.path().join("events.jsonl")).expect("log");
    assert_gapless(&log);
    assert!(matches!(
        log.last().map(|e| &e.event),
        Some(Event::RunCancelled(_))
    ));
    // Whatever trial was cut short, the log says so and nothing after RUN_CANCELLED.
    assert!(
        log.iter()
            .any(|e| matches!(&e.event, Event::TrainRunFinished(p) if p.status == "cancelled"))
    );
}

#[tokio::test]
async fn review_waits_for_confirm_and_an_edit_picks_another_trial() {
    let out = tempfile::tempdir().expect("tmp");
    let c = conductor().build().expect("build");
    let handle = c
        .start(
            RunRequest::new("classify wine cultivars")
                .time_budget(5.0)
                .out_dir(out.path())
                .review(true),
        )
        .expect("valid request");
    let mut events = handle.events();
    let mut last_run = None;
    while let Some(e) = events.next().await {
        match &e.event {
            // The lowest-ranked trial on the leaderboard (a trial cut by the budget finishes
            // without joining it, so TRAIN_RUN_FINISHED is not the list to pick from).
            Event::LeaderboardUpdated(p) => {
                last_run = p.rows.last().map(|r| r.run_id.clone());
            }
            Event::StageStatus(p)
                if p.stage == Stage::ReviewEdit && p.status == StageStatus::Waiting =>
            {
                // A confirm for another stage is ignored with a warning.
                handle
                    .confirm(Stage::DataSource, Choice::Accept)
                    .expect("send");
                let pick = last_run.clone().expect("a trial finished");
                handle
                    .confirm(
                        Stage::ReviewEdit,
                        Choice::Edit(serde_json::json!({"run_id": pick})),
                    )
                    .expect("send");
            }
            _ => {}
        }
    }
    let outcome = handle.wait().await.expect("finished");
    assert_eq!(outcome.status, RunStatus::Finished);
    let log = automl_core::sink::read_jsonl(out.path().join("events.jsonl")).expect("log");
    assert!(
        log.iter()
            .any(|e| matches!(&e.event, Event::Warning(w) if w.code == "confirm_ignored"))
    );
    let reviews: Vec<_> = log
        .iter()
        .filter_map(|e| match &e.event {
            Event::ReviewReady(r) => Some(r.best_run_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        reviews.last(),
        last_run.as_ref(),
        "the edit chose the lowest-ranked trial"
    );
    assert_eq!(stages_completed(&log).len(), 8);
}

struct FailingSink {
    calls: AtomicU64,
}

#[async_trait]
impl EventSink for FailingSink {
    fn name(&self) -> &str {
        "failing"
    }
    async fn emit(&self, _e: &Envelope) -> automl_core::Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(AutomlError::Sink {
            sink: "failing".into(),
            message: "disk full".into(),
        })
    }
}

struct StuckSink;

#[async_trait]
impl EventSink for StuckSink {
    fn name(&self) -> &str {
        "stuck"
    }
    async fn emit(&self, _e: &Envelope) -> automl_core::Result<()> {
        std::future::pending::<()>().await;
        Ok(())
    }
}

#[tokio::test]
async fn failing_and_stuck_sinks_never_stall_the_run_and_are_reported() {
    let out = tempfile::tempdir().expect("tmp");
    let (chan, mut rx) = ChannelSink::new(4);
    let failing = Arc::new(FailingSink {
        calls: AtomicU64::new(0),
    });
    let c = conductor()
        .sink(Arc::new(chan))
        .sink(failing.clone())
        .sink(Arc::new(StuckSink))
        .sink_drain_timeout(Duration::from_secs(5))
        .build()
        .expect("build");
    let reader = tokio::spawn(async move {
        let mut got = vec![];
        // A slow in-process listener.
        while let Some(e) = rx.recv().await {
            tokio::time::sleep(Duration::from_millis(1)).await;
            got.push(e);
        }
        got
    });
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        c.run(
            RunRequest::new("classify iris species")
                .time_budget(5.0)
                .out_dir(out.path()),
        ),
    )
    .await
    .expect("the run is not stalled by its sinks")
    .expect("finished");
    let log = automl_core::sink::read_jsonl(out.path().join("events.jsonl")).expect("log");
    let report = |n: &str| {
        outcome
            .sinks
            .iter()
            .find(|s| s.name == n)
            .cloned()
            .expect(n)
    };
    assert_eq!(report("failing").failed, log.len() as u64);
    assert!(
        report("failing")
            .first_error
            .as_deref()
            .is_some_and(|e| e.contains("disk full"))
    );
    assert!(report("stuck").timed_out);
    assert_eq!(report("jsonl").delivered, log.len() as u64);
    assert_eq!(report("channel").delivered, log.len() as u64);
    drop(c);
    let got = reader.await.expect("reader");
    assert_eq!(
        got.len(),
        log.len(),
        "the slow channel listener got every event"
    );
    assert_gapless(&got);
}

#[tokio::test]
async fn late_subscribers_replay_from_any_seq() {
    let out = tempfile::tempdir().expect("tmp");
    let c = conductor().build().expect("build");
    let outcome = c
        .run(
            RunRequest::new("classify iris species")
                .time_budget(5.0)
                .out_dir(out.path())
                .project_id("p-replay"),
        )
        .await
        .expect("run");
    let all = c.bus().history(&outcome.project_id);
    let mut sub = c.bus().subscribe("p-replay", 10);
    let mut replayed = vec![];
    while let Some(e) = sub.next().await {
        replayed.push(e.seq);
    }
    assert_eq!(replayed, (11..=all.len() as u64).collect::<Vec<_>>());
}

#[tokio::test]
async fn with_no_usable_data_the_run_waits_for_an_upload() {
    let out = tempfile::tempdir().expect("tmp");
    let c = conductor().build().expect("build");
    let mut req = RunRequest::new("classify quasar flux spectra")
        .time_budget(3.0)
        .out_dir(out.path());
    req.wait_for_upload = true;
    let handle = c.start(req).expect("valid request");
    let mut events = handle.events();
    let mut waited = false;
    while let Some(e) = events.next().await {
        if let Event::StageStatus(p) = &e.event {
            if p.stage == Stage::DataSource && p.status == StageStatus::Waiting {
                waited = true;
                handle
                    .confirm(
                        Stage::DataSource,
                        Choice::Edit(
                            serde_json::json!({"data": catalog().join("tabular/iris.csv")}),
                        ),
                    )
                    .expect("send");
            }
        }
    }
    assert!(waited, "the run waited at DATA_SOURCE");
    let outcome = handle.wait().await.expect("finished on the upload");
    assert_eq!(outcome.status, RunStatus::Finished);
    assert!(outcome.metrics["accuracy"] > 0.8);
}

/// A trainer that fails at once (as least squares did on collinear folds).
struct BrokenTrainer {
    inner: automl_core::train::linear::LinearTrainer,
}

#[async_trait]
impl Trainer for BrokenTrainer {
    fn name(&self) -> &str {
        "broken"
    }
    fn supports(&self, task: &TaskSpec) -> bool {
        self.inner.supports(task)
    }
    fn candidates(&self, task: &TaskSpec) -> Vec<ModelCandidate> {
        let mut c = self.inner.candidates(task);
        for x in &mut c {
            x.trainer = "broken".into();
        }
        c
    }
    async fn train(&self, _input: TrainInput, _cx: TrainContext) -> automl_core::Result<()> {
        Err(AutomlError::Training {
            model: "broken".into(),
            message: "Matrix is non-invertible".into(),
        })
    }
}

#[tokio::test]
async fn a_trainer_that_fails_first_is_skipped_with_a_warning_and_the_next_one_trains() {
    let out = tempfile::tempdir().expect("tmp");
    let c = conductor()
        .without_default_trainers()
        .trainer(Arc::new(BrokenTrainer {
            inner: Default::default(),
        }))
        .trainer(Arc::new(
            automl_core::train::linear::LinearTrainer::default(),
        ))
        .build()
        .expect("build");
    let outcome = c
        .start(
            RunRequest::new("classify iris species")
                .out_dir(out.path())
                .time_budget(10.0),
        )
        .expect("valid request")
        .wait()
        .await
        .expect("the second trainer's model is kept");
    assert_eq!(outcome.status, RunStatus::Finished);
    let log = automl_core::sink::read_jsonl(out.path().join("events.jsonl")).expect("log");
    let warned = log
        .iter()
        .position(|e| matches!(&e.event, Event::Warning(w) if w.code == "trainer_failed" && w.message.contains("non-invertible")))
        .expect("the failure is announced");
    let first_trial = log
        .iter()
        .position(|e| matches!(&e.event, Event::TrainRunFinished(_)))
        .expect("a trial");
    assert!(
        warned < first_trial,
        "the broken trainer ran first, with no model yet"
    );
    assert!(automl_core::load_model(out.path()).is_ok());

    // With no trainer left to give a model, the run fails with the trainer's error.
    let alone = conductor()
        .without_default_trainers()
        .trainer(Arc::new(BrokenTrainer {
            inner: Default::default(),
        }))
        .build()
        .expect("build");
    let err = alone
        .start(
            RunRequest::new("classify iris species")
                .out_dir(out.path().join("alone"))
                .time_budget(5.0),
        )
        .expect("valid request")
        .wait()
        .await
        .expect_err("nothing trained");
    assert!(err.to_string().contains("non-invertible"), "{err}");
}
