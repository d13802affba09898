//! Snapshot tests of the event contract: one example per event, serialised exactly as
//! `snapshots.jsonl` beside this file holds it, round-tripped, and quoted in docs/events.md.
//! Run with `UPDATE_SNAPSHOTS=1` to rewrite the snapshot after a deliberate change.

use std::collections::BTreeSet;

use serde_json::json;

use super::*;

fn map(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn metrics(pairs: &[(&str, f64)]) -> Metrics {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// One example of every event, in contract order.
pub(crate) fn examples() -> Vec<Event> {
    vec![
        Event::stage(
            Stage::Train,
            StageStatus::Running,
            "training for up to 60 s, optimising accuracy",
        ),
        Event::PromptParsed(Intent {
            modality: Modality::Tabular,
            objective: Objective::Classification,
            task_type: "tabular_classification".into(),
            supported: true,
            reason: None,
            target: Some("species".into()),
            dataset_hint: Some("iris".into()),
            keywords: vec!["iris".into(), "species".into()],
            constraints: Constraints {
                time_budget_s: Some(30.0),
                metric: None,
                max_trials: None,
            },
            parser: ParserKind::Embedded,
            confidence: 0.8,
            comparison: None,
        }),
        Event::DatasetCandidates(DatasetCandidatesPayload {
            candidates: vec![DatasetCandidate {
                id: "iris".into(),
                source: "catalog".into(),
                license: "CC-BY-4.0".into(),
                verdict: "allowed".into(),
                reason: "CC-BY-4.0 is on the allowed list".into(),
                downloads: None,
                size: Some(150),
                score: 0.778,
            }],
            rejected: vec![DatasetCandidate {
                id: "mnist_5k".into(),
                source: "catalog".into(),
                license: "CC-BY-SA-3.0".into(),
                verdict: "rejected".into(),
                reason: "CC-BY-SA-3.0 is not on the allowed list".into(),
                downloads: None,
                size: Some(5000),
                score: 0.5,
            }],
        }),
        Event::DatasetSelected(DatasetSelectedPayload {
            id: "iris".into(),
            source: "catalog".into(),
            revision: Some("catalog-v1".into()),
            license: "CC-BY-4.0".into(),
            evidence: "CC-BY-4.0 (catalog.json and licenses/iris.md)".into(),
            path: "datasets/tabular/iris.csv".into(),
            attribution: Some("R. A. Fisher (1936)".into()),
        }),
        Event::DatasetSampleReady(DatasetSamplePayload {
            images: vec![],
            columns: vec![
                ColumnType {
                    name: "sepal_length".into(),
                    dtype: "Float64".into(),
                },
                ColumnType {
                    name: "species".into(),
                    dtype: "Utf8".into(),
                },
            ],
            n_rows: 150,
            rows: vec![map(json!({"sepal_length": 5.1, "species": "setosa"}))],
        }),
        Event::ProfileReady(Profile {
            modality: "tabular".into(),
            n_rows: 150,
            n_columns: 2,
            target: "species".into(),
            target_reason: "the request names \"species\"".into(),
            task: TaskKind::Classification,
            class_balance: vec![ValueCount {
                value: "setosa".into(),
                count: 50,
            }],
            columns: vec![ColumnProfile {
                name: "sepal_length".into(),
                dtype: "Float64".into(),
                kind: ColumnKind::Numeric,
                missing: 0,
                missing_share: 0.0,
                n_unique: 35,
                min: Some(4.3),
                max: Some(7.9),
                mean: Some(5.84),
                std: Some(0.83),
                top: vec![],
            }],
            warnings: vec![],
            duplicate_rows: 0,
            time_series: None,
        }),
        Event::PreprocessReady(PreprocessSummary {
            steps: vec![FeatureStep::Numeric {
                column: "sepal_length".into(),
                fill: 5.8,
                mean: 5.84,
                std: 0.83,
                missing_indicator: false,
            }],
            dropped: vec![],
            n_features: 1,
            split: SplitSizes {
                train: 96,
                valid: 24,
                test: 30,
            },
            seed: 0,
            stratified: true,
            duplicate_rows: 0,
            duplicates_of_test_left_out: 0,
        }),
        Event::ModelCandidates(ModelCandidatesPayload {
            candidates: vec![ModelCandidate {
                model: "logistic_regression".into(),
                family: "linear".into(),
                trainer: "linear".into(),
                pros: vec!["fast".into()],
                cons: vec!["linear boundaries only".into()],
                estimated_cost_s: 0.06,
            }],
        }),
        Event::TrainRunStarted(TrainRunStartedPayload {
            run_id: "r-1".into(),
            model: "logistic_regression".into(),
            params: map(json!({"alpha": 1.0})),
        }),
        Event::TrainProgress(TrainProgressPayload {
            run_id: "r-1".into(),
            step: 3,
            steps: 30,
            eta_s: Some(0.5),
        }),
        Event::MetricScalar(MetricScalarPayload {
            run_id: "r-2".into(),
            name: "loss".into(),
            split: "valid".into(),
            step: 3,
            value: 0.42,
        }),
        Event::GdPathUpdate(GdPathPayload {
            run_id: "r-1".into(),
            points: vec![
                PathPoint {
                    x: -1.5,
                    y: 0.25,
                    loss: 1.09,
                },
                PathPoint {
                    x: 1.5,
                    y: -0.25,
                    loss: 0.2,
                },
            ],
        }),
        Event::TrainRunFinished(TrainRunFinishedPayload {
            run_id: "r-1".into(),
            model: "logistic_regression".into(),
            metrics: metrics(&[("accuracy", 0.96), ("macro_f1", 0.96)]),
            duration_s: 0.12,
            status: "completed".into(),
        }),
        Event::LeaderboardUpdated(LeaderboardPayload {
            metric: "accuracy".into(),
            higher_is_better: true,
            rows: vec![LeaderboardRow {
                rank: 1,
                run_id: "r-1".into(),
                model: "logistic_regression".into(),
                score: 0.96,
                params: map(json!({"alpha": 1.0})),
            }],
            search: Some(SearchSummary {
                stop: SearchStop::Converged,
                trials: 1,
                elapsed_s: 0.4,
                budget_s: 60.0,
            }),
        }),
        Event::ReviewReady(ReviewPayload {
            metrics: metrics(&[("accuracy", 0.9667), ("macro_f1", 0.9666)]),
            best_run_id: "r-1".into(),
            model: "logistic_regression".into(),
            confusion_matrix: Some(ConfusionMatrix {
                labels: vec!["a".into(), "b".into()],
                matrix: vec![vec![10, 1], vec![0, 19]],
            }),
            residuals: None,
            feature_importance: vec![FeatureImportance {
                feature: "petal_length".into(),
                importance: 0.6,
            }],
            n_test: 30,
            misclassified: vec![],
            roc_curve: None,
            pr_curve: None,
            predicted_vs_actual: None,
            forecast: None,
        }),
        Event::NotebookReady(ArtifactsPayload {
            dir: "runs/p-1".into(),
            artifacts: vec![Artifact {
                name: "notebook.ipynb".into(),
                path: "runs/p-1/notebook.ipynb".into(),
                size: 2048,
                sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            }],
        }),
        Event::ExportReady(ArtifactsPayload {
            dir: "runs/p-1".into(),
            artifacts: vec![Artifact {
                name: "model.json".into(),
                path: "runs/p-1/model.json".into(),
                size: 1114,
                sha256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae".into(),
            }],
        }),
        Event::warning("llm_unreachable", "LLM unreachable; embedded parser used"),
        Event::Error(ErrorPayload {
            code: "target_not_found".into(),
            message: "target column \"prize\" is not in the data; the columns are: carat, price"
                .into(),
            stage: Some(Stage::ProfileData),
            user_error: true,
        }),
        Event::RunFinished(RunSummaryPayload {
            metrics: metrics(&[("accuracy", 0.9667), ("macro_f1", 0.9666)]),
            model: Some("logistic_regression".into()),
            dir: Some("runs/p-1".into()),
            duration_s: 0.31,
            message: "logistic_regression trained on iris".into(),
        }),
        Event::RunCancelled(RunSummaryPayload {
            metrics: metrics(&[("accuracy", 0.95)]),
            model: Some("logistic_regression".into()),
            dir: Some("runs/p-1".into()),
            duration_s: 1.2,
            message: "cancelled during TRAIN; the best model so far was exported".into(),
        }),
        Event::Resumed(ResumedPayload {
            after_seq: 241,
            from: ResumePoint::Stage,
            stage: Some(Stage::Train),
            rebuilt: vec![
                Stage::ParseIntent,
                Stage::DataSource,
                Stage::ProfileData,
                Stage::Preprocess,
                Stage::ModelSelect,
            ],
            rerun: vec![],
            message: "the process running this project stopped after seq 241; w-2 continues it at TRAIN (PARSE_INTENT, DATA_SOURCE, PROFILE_DATA, PREPROCESS, MODEL_SELECT rebuilt from the log)".into(),
        }),
    ]
}

fn envelope(seq: u64, event: Event) -> Envelope {
    Envelope {
        kind: "event".into(),
        project_id: "p-1".into(),
        seq,
        ts: "2026-11-27T10:00:00.123Z".into(),
        event,
    }
}

const CONTRACT: [&str; 22] = [
    "STAGE_STATUS",
    "PROMPT_PARSED",
    "DATASET_CANDIDATES",
    "DATASET_SELECTED",
    "DATASET_SAMPLE_READY",
    "PROFILE_READY",
    "PREPROCESS_READY",
    "MODEL_CANDIDATES",
    "TRAIN_RUN_STARTED",
    "TRAIN_PROGRESS",
    "METRIC_SCALAR",
    "GD_PATH_UPDATE",
    "TRAIN_RUN_FINISHED",
    "LEADERBOARD_UPDATED",
    "REVIEW_READY",
    "NOTEBOOK_READY",
    "EXPORT_READY",
    "WARNING",
    "ERROR",
    "RUN_FINISHED",
    "RUN_CANCELLED",
    "RESUMED",
];

#[test]
fn every_contract_event_has_an_example() {
    let names: BTreeSet<&str> = examples().iter().map(Event::name).collect();
    assert_eq!(names, CONTRACT.into_iter().collect::<BTreeSet<_>>());
}

#[test]
fn wire_names_match_serde_names() {
    for e in examples() {
        let v = serde_json::to_value(&e).expect("serialise");
        assert_eq!(v["name"], e.name(), "{e:?}");
        assert!(v.get("payload").is_some());
    }
}

#[test]
fn snapshot_and_round_trip() {
    let lines: Vec<String> = examples()
        .into_iter()
        .enumerate()
        .map(|(i, e)| envelope(i as u64 + 1, e).to_json_line())
        .collect();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/event/snapshots.jsonl");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, lines.join("\n") + "\n").expect("write snapshot");
    }
    let stored = std::fs::read_to_string(path).expect("snapshot file");
    let stored: Vec<&str> = stored.lines().collect();
    assert_eq!(stored.len(), lines.len(), "snapshot has a line per example");
    for (got, want) in lines.iter().zip(stored) {
        assert_eq!(
            got, want,
            "event JSON changed; if deliberate, rerun with UPDATE_SNAPSHOTS=1 and update docs/events.md"
        );
        let back: Envelope = serde_json::from_str(want).expect("parse back");
        assert_eq!(&back.to_json_line(), got, "round trip");
    }
}

#[test]
fn docs_quote_every_snapshot() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/events.md"))
        .expect("docs/events.md");
    for (i, e) in examples().into_iter().enumerate() {
        let line = envelope(i as u64 + 1, e).to_json_line();
        assert!(
            docs.contains(&line),
            "docs/events.md lacks the example:\n{line}"
        );
    }
}

#[test]
fn a_loss_that_is_not_a_number_reads_back_from_the_log() {
    // serde_json writes NaN as null; the log must still load (it did not, and a restarted
    // server lost image runs whose descent path held one).
    let e = Event::GdPathUpdate(GdPathPayload {
        run_id: "r-1".into(),
        points: vec![PathPoint {
            x: 0.5,
            y: -1.0,
            loss: f64::NAN,
        }],
    });
    let line = serde_json::to_string(&e).expect("serialise");
    assert!(line.contains("\"loss\":null"), "{line}");
    let back: Event = serde_json::from_str(&line).expect("reads back");
    match back {
        Event::GdPathUpdate(p) => assert!(p.points[0].loss.is_nan()),
        other => panic!("{other:?}"),
    }
}
