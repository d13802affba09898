//! Stage-level resume (decision 0094): a conductor given the log of a run another process
//! did not finish continues it at the first stage that had not completed, rebuilding the
//! earlier stages' outputs from their events instead of running them again, and says where
//! with RESUMED. Real runs on wine.csv (a first conductor writes the log, a second, on its
//! own bus and run folder, resumes a cut of it).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use automl_core::conductor::{
    CheckpointStore, Conductor, FolderCheckpoints, RunRequest, RunStatus,
};
use automl_core::event::{ResumePoint, ResumedPayload, StageStatusPayload};
use automl_core::{AutomlError, Envelope, Event, EventBus, Stage, StageStatus};

const PROJECT: &str = "p-resume";

fn wine(dir: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/tabular/wine.csv");
    let to = dir.join("wine.csv");
    std::fs::copy(from, &to).expect("copy wine.csv");
    to
}

fn request(data: &Path) -> RunRequest {
    let mut req = RunRequest::new("classify the wine cultivar")
        .data(data)
        .target("cultivar")
        .time_budget(1.5)
        .seed(3);
    req.project_id = Some(PROJECT.to_string());
    req
}

fn conductor(
    bus: &EventBus,
    runs: PathBuf,
    checkpoints: Option<Arc<dyn CheckpointStore>>,
) -> Conductor {
    let mut b = Conductor::builder().bus(bus.clone()).runs_dir(runs);
    if let Some(c) = checkpoints {
        b = b.checkpoints(c);
    }
    b.build().expect("conductor")
}

/// A whole first run's log.
async fn first_run(
    dir: &Path,
    data: &Path,
    checkpoints: Option<Arc<dyn CheckpointStore>>,
) -> Vec<Envelope> {
    let bus = EventBus::default();
    let c = conductor(&bus, dir.join("runs-a"), checkpoints);
    let out = c.run(request(data)).await.expect("first run");
    assert_eq!(out.status, RunStatus::Finished);
    bus.history(PROJECT)
}

fn stage_event(e: &Envelope) -> Option<&StageStatusPayload> {
    match &e.event {
        Event::StageStatus(s) => Some(s),
        _ => None,
    }
}

/// Resumes `cut` on a fresh bus and conductor; returns the whole log after the end.
async fn resume(
    dir: &Path,
    req: RunRequest,
    cut: Vec<Envelope>,
    checkpoints: Option<Arc<dyn CheckpointStore>>,
) -> Vec<Envelope> {
    let bus = EventBus::default();
    bus.restore(PROJECT, cut).expect("restore the log");
    let c = conductor(&bus, dir.join("runs-b"), checkpoints);
    let out = c
        .resume(req, "test process")
        .expect("resumable")
        .wait()
        .await
        .expect("resumed run");
    assert_eq!(out.status, RunStatus::Finished);
    bus.history(PROJECT)
}

fn resumed_at(log: &[Envelope], after: usize) -> ResumedPayload {
    match &log[after].event {
        Event::Resumed(r) => r.clone(),
        other => panic!("expected RESUMED after the cut, got {other:?}"),
    }
}

fn assert_gapless_and_finished(log: &[Envelope]) {
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "seqs 1..N without gap");
    }
    assert!(matches!(
        log.last().map(|e| &e.event),
        Some(Event::RunFinished(_))
    ));
}

fn running_after(log: &[Envelope], after: usize) -> Vec<Stage> {
    log[after..]
        .iter()
        .filter_map(stage_event)
        .filter(|s| s.status == StageStatus::Running)
        .map(|s| s.stage)
        .collect()
}

fn trial_ids(log: &[Envelope]) -> Vec<String> {
    log.iter()
        .filter_map(|e| match &e.event {
            Event::TrainRunStarted(t) => Some(t.run_id.clone()),
            _ => None,
        })
        .collect()
}

fn test_metrics(log: &[Envelope]) -> automl_core::event::Metrics {
    log.iter()
        .rev()
        .find_map(|e| match &e.event {
            Event::RunFinished(s) => Some(s.metrics.clone()),
            _ => None,
        })
        .expect("RUN_FINISHED")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_cut_mid_train_resumes_at_train_without_redoing_earlier_stages() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = wine(tmp.path());
    let full = first_run(tmp.path(), &data, None).await;
    // Cut right after the first trial finished: TRAIN was running.
    let cut_at = full
        .iter()
        .position(|e| matches!(e.event, Event::TrainRunFinished(_)))
        .expect("a trial")
        + 1;
    let cut: Vec<Envelope> = full[..cut_at].to_vec();
    let ids_before = trial_ids(&cut);
    let log = resume(tmp.path(), request(&data), cut.clone(), None).await;

    assert_eq!(&log[..cut_at], &cut[..], "the stored log is kept as it was");
    assert_gapless_and_finished(&log);
    let r = resumed_at(&log, cut_at);
    assert_eq!(r.after_seq, cut_at as u64);
    assert_eq!(r.from, ResumePoint::Stage);
    assert_eq!(r.stage, Some(Stage::Train));
    assert_eq!(
        r.rebuilt,
        vec![
            Stage::ParseIntent,
            Stage::DataSource,
            Stage::ProfileData,
            Stage::Preprocess,
            Stage::ModelSelect
        ]
    );
    assert!(r.rerun.is_empty(), "{:?}", r.rerun);
    // No stage before TRAIN starts again; TRAIN does, then the rest.
    assert_eq!(
        running_after(&log, cut_at),
        vec![Stage::Train, Stage::ReviewEdit, Stage::Export]
    );
    for e in &log[cut_at..] {
        assert!(
            !matches!(
                e.event,
                Event::PromptParsed(_)
                    | Event::DatasetSelected(_)
                    | Event::ProfileReady(_)
                    | Event::PreprocessReady(_)
                    | Event::ModelCandidates(_)
            ),
            "a rebuilt stage emitted {}",
            e.event.name()
        );
    }
    // The new trials number after the stored ones: no id names two trials.
    let ids_after = trial_ids(&log[cut_at..]);
    assert!(!ids_after.is_empty());
    for id in &ids_after {
        assert!(!ids_before.contains(id), "trial id {id} repeated");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_train_resumes_from_its_checkpoint_or_trains_again_without_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = wine(tmp.path());
    let store: Arc<dyn CheckpointStore> = Arc::new(FolderCheckpoints::new(tmp.path().join("ck")));
    let full = first_run(tmp.path(), &data, Some(store.clone())).await;
    let cut_at = full
        .iter()
        .position(|e| {
            stage_event(e)
                .is_some_and(|s| s.stage == Stage::Train && s.status == StageStatus::Completed)
        })
        .expect("TRAIN completed")
        + 1;
    let cut: Vec<Envelope> = full[..cut_at].to_vec();

    // With the checkpoint: REVIEW_EDIT on, the same model, the same test figures.
    let log = resume(tmp.path(), request(&data), cut.clone(), Some(store)).await;
    assert_gapless_and_finished(&log);
    let r = resumed_at(&log, cut_at);
    assert_eq!(r.from, ResumePoint::Checkpoint);
    assert_eq!(r.stage, Some(Stage::ReviewEdit));
    assert_eq!(r.rebuilt.last(), Some(&Stage::Train));
    assert_eq!(
        running_after(&log, cut_at),
        vec![Stage::ReviewEdit, Stage::Export]
    );
    assert!(
        trial_ids(&log[cut_at..]).is_empty(),
        "no trial after a checkpoint"
    );
    // The same model on the same test rows (a reloaded model's weights went through JSON:
    // equal up to the last bits).
    let (got, want) = (test_metrics(&log), test_metrics(&full));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, v) in &want {
        assert!(
            (got[k] - v).abs() <= 1e-9 * v.abs().max(1.0),
            "{k}: {} vs {v}",
            got[k]
        );
    }

    // Without a checkpoint store: TRAIN runs again, and RESUMED says why.
    let log = resume(tmp.path(), request(&data), cut, None).await;
    assert_gapless_and_finished(&log);
    let r = resumed_at(&log, cut_at);
    assert_eq!(r.from, ResumePoint::Stage);
    assert_eq!(r.stage, Some(Stage::Train));
    assert_eq!(r.rerun.len(), 1, "{:?}", r.rerun);
    assert_eq!(r.rerun[0].stage, Stage::Train);
    assert!(
        r.rerun[0].reason.contains("no checkpoints"),
        "{}",
        r.rerun[0].reason
    );
    assert_eq!(running_after(&log, cut_at)[0], Stage::Train);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_this_process_cannot_read_reruns_data_source_and_says_so() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gone = tmp.path().join("dead-worker");
    std::fs::create_dir_all(&gone).expect("dir");
    let data = wine(&gone);
    let full = first_run(tmp.path(), &data, None).await;
    let cut_at = full
        .iter()
        .position(|e| matches!(e.event, Event::TrainRunFinished(_)))
        .expect("a trial")
        + 1;
    // The recorded data file was on the stopped process's disk.
    std::fs::remove_dir_all(&gone).expect("remove");
    let here = wine(tmp.path());
    let log = resume(tmp.path(), request(&here), full[..cut_at].to_vec(), None).await;
    assert_gapless_and_finished(&log);
    let r = resumed_at(&log, cut_at);
    assert_eq!(r.from, ResumePoint::Stage);
    assert_eq!(r.stage, Some(Stage::DataSource));
    assert_eq!(r.rebuilt, vec![Stage::ParseIntent]);
    let rerun: Vec<Stage> = r.rerun.iter().map(|x| x.stage).collect();
    assert_eq!(
        rerun,
        vec![
            Stage::DataSource,
            Stage::ProfileData,
            Stage::Preprocess,
            Stage::ModelSelect
        ]
    );
    assert!(
        r.rerun[0].reason.contains("not readable"),
        "{}",
        r.rerun[0].reason
    );
    assert!(
        r.message.contains("DATA_SOURCE runs again"),
        "{}",
        r.message
    );
    assert_eq!(running_after(&log, cut_at)[0], Stage::DataSource);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_refuses_a_missing_id_an_empty_log_and_an_ended_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bus = EventBus::default();
    let c = conductor(&bus, tmp.path().join("runs"), None);
    let mut req = RunRequest::new("classify the wine cultivar");
    let err = |r: automl_core::Result<automl_core::RunHandle>| match r {
        Err(AutomlError::InvalidOption { name, message }) => format!("{name}: {message}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("resumed"),
    };
    assert!(err(c.resume(req.clone(), "t")).contains("project id"));
    req.project_id = Some("p-none".into());
    assert!(err(c.resume(req.clone(), "t")).contains("no events"));
    bus.emitter("p-none")
        .emit(Event::Error(automl_core::event::ErrorPayload {
            code: "internal".into(),
            message: "x".into(),
            stage: None,
            user_error: false,
        }));
    assert!(err(c.resume(req, "t")).contains("already ended (ERROR at seq 1)"));
}
