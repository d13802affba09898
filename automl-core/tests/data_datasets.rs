//! Every bundled real data set loads, profiles (with the expected target, task and kinds) and
//! preprocesses without a leak. The files are the repository's `datasets/` copies of
//! `shared/datasets` (the shared folder is used as well when it exists).

use std::path::{Path, PathBuf};

use automl_core::data::preprocess::{prepare_table, split_rows};
use automl_core::data::profile::{TargetHints, profile_dataset};
use automl_core::data::{self, Dataset};
use automl_core::event::{ColumnKind, FeatureStep, Profile, TaskKind};

fn repo_datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets")
}

/// The repository copy, and the shared original when this machine has it.
fn copies(rel: &str) -> Vec<PathBuf> {
    let mut v = vec![repo_datasets().join(rel)];
    let shared = Path::new("/work/shared/datasets").join(rel);
    if shared.exists() {
        v.push(shared);
    }
    v
}

fn intent() -> automl_core::Intent {
    automl_core::agents::parser::parse("")
}

/// Loads and profiles with no hint at all: the target must be detected.
fn load_profile(path: &Path) -> (Dataset, Profile) {
    let d = data::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let p = profile_dataset(&d, &TargetHints::default(), &intent())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (d, p)
}

fn kind(p: &Profile, col: &str) -> ColumnKind {
    p.column(col)
        .unwrap_or_else(|| panic!("no column {col}"))
        .kind
}

/// Preprocesses and checks that nothing of the held-out rows reached the fitted pipeline:
/// every standardised numeric feature has mean 0 on the training rows (fitted there) and
/// no column was dropped as a leak.
fn preprocess_without_leak(d: &Dataset, p: &Profile) {
    let Dataset::Table(t) = d else {
        panic!("not a table")
    };
    let (tab, summary) = prepare_table(&t.batch, p, 7, None).expect("prepare");
    assert_eq!(
        summary.split.train + summary.split.valid + summary.split.test,
        p.n_rows - p.column(&p.target).map(|c| c.missing).unwrap_or(0)
    );
    assert!(
        summary.dropped.iter().all(|c| !c.reason.contains("leak")),
        "{:?}",
        summary.dropped
    );
    assert!(!tab.pipeline.feature_names.contains(&p.target));
    let mut off = 0;
    for s in &tab.pipeline.steps {
        if s.is_sparse() {
            // TF-IDF text comes as a sparse matrix, after the dense features.
            continue;
        }
        if let FeatureStep::Numeric { .. } = s {
            let m = tab.x_train.column(off).mean().unwrap_or(f64::NAN);
            assert!(m.abs() < 1e-6, "{}: train mean {m}", s.column());
        }
        off += s.width();
    }
    assert_eq!(off, tab.x_train.ncols());
    assert_eq!(off, tab.pipeline.dense_width());
    if let Some(sparse) = tab.pipeline.transform_sparse(&tab.train_rows) {
        assert_eq!(sparse.ncols, tab.pipeline.sparse_width());
        assert_eq!(sparse.nrows(), tab.x_train.nrows());
    }
    assert!(
        p.warnings.iter().all(|w| !w.contains("leak")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn iris() {
    for f in copies("tabular/iris.csv") {
        let (d, p) = load_profile(&f);
        assert_eq!((p.n_rows, p.n_columns), (150, 5));
        assert_eq!(p.target, "species");
        assert_eq!(p.task, TaskKind::Classification);
        assert_eq!(kind(&p, "sepal_length"), ColumnKind::Numeric);
        assert_eq!(p.class_balance.len(), 3);
        preprocess_without_leak(&d, &p);
    }
}

#[test]
fn wine() {
    for f in copies("tabular/wine.csv") {
        let (d, p) = load_profile(&f);
        assert_eq!(p.n_rows, 178);
        assert_eq!(p.target, "cultivar", "{}", p.target_reason);
        assert!(p.target_reason.contains("last column"));
        assert_eq!(p.task, TaskKind::Classification);
        assert_eq!(kind(&p, "proline"), ColumnKind::Numeric);
        preprocess_without_leak(&d, &p);
    }
}

#[test]
fn breast_cancer() {
    for f in copies("tabular/breast_cancer.csv") {
        let (d, p) = load_profile(&f);
        assert_eq!(p.n_rows, 569);
        assert_eq!(p.target, "diagnosis");
        assert_eq!(p.task, TaskKind::Classification);
        assert_eq!(p.class_balance.len(), 2);
        assert_eq!(kind(&p, "mean_radius"), ColumnKind::Numeric);
        preprocess_without_leak(&d, &p);
    }
}

#[test]
fn diabetes() {
    for f in copies("tabular/diabetes.csv") {
        let (d, p) = load_profile(&f);
        assert_eq!(p.n_rows, 442);
        assert_eq!(p.target, "progression");
        assert_eq!(p.task, TaskKind::Regression);
        assert_eq!(kind(&p, "bmi"), ColumnKind::Numeric);
        assert!(p.class_balance.is_empty());
        preprocess_without_leak(&d, &p);
    }
}

#[test]
fn penguins() {
    for f in copies("tabular/penguins.csv") {
        let (d, p) = load_profile(&f);
        assert_eq!(p.n_rows, 344);
        assert_eq!(p.target, "species");
        assert_eq!(p.task, TaskKind::Classification);
        assert_eq!(kind(&p, "island"), ColumnKind::Categorical);
        assert_eq!(kind(&p, "bill_length_mm"), ColumnKind::Numeric);
        // "NA" in the file is missing, not a category.
        let sex = p.column("sex").expect("sex");
        assert!(sex.missing > 0);
        assert!(sex.top.iter().all(|v| v.value != "NA"));
        assert!(p.column("bill_length_mm").expect("bill").missing > 0);
        preprocess_without_leak(&d, &p);
    }
}

#[test]
fn diamonds() {
    for f in copies("tabular/diamonds.csv") {
        let (d, p) = load_profile(&f);
        assert_eq!(p.n_rows, 53940);
        assert_eq!(p.target, "price");
        assert_eq!(p.task, TaskKind::Regression);
        assert_eq!(kind(&p, "cut"), ColumnKind::Categorical);
        assert_eq!(kind(&p, "carat"), ColumnKind::Numeric);
        assert_eq!(p.column("cut").expect("cut").n_unique, 5);
        preprocess_without_leak(&d, &p);
    }
}

#[test]
fn adult_missing_values_and_categoricals() {
    for f in copies("tabular/adult.csv") {
        let (d, p) = load_profile(&f);
        assert_eq!(p.n_rows, 32561);
        assert_eq!(p.target, "income");
        assert_eq!(p.task, TaskKind::Classification);
        for c in [
            "workclass",
            "education",
            "marital_status",
            "occupation",
            "relationship",
            "race",
            "native_country",
        ] {
            assert_eq!(kind(&p, c), ColumnKind::Categorical, "{c}");
        }
        for c in ["age", "fnlwgt", "capital_gain", "hours_per_week"] {
            assert_eq!(kind(&p, c), ColumnKind::Numeric, "{c}");
        }
        // The source's '?' were written as empty fields: 1836 / 1843 / 583 (UCI counts).
        assert_eq!(p.column("workclass").expect("w").missing, 1836);
        assert_eq!(p.column("occupation").expect("o").missing, 1843);
        assert_eq!(p.column("native_country").expect("n").missing, 583);
        assert_eq!(p.column("age").expect("age").missing, 0);
        assert_eq!(p.class_balance.len(), 2);
        preprocess_without_leak(&d, &p);
    }
}

#[test]
fn sms_spam_text() {
    for f in copies("text/sms_spam.csv") {
        let (d, p) = load_profile(&f);
        assert_eq!(p.n_rows, 5574);
        assert_eq!(p.target, "label");
        assert_eq!(p.task, TaskKind::Classification);
        assert_eq!(kind(&p, "text"), ColumnKind::Text);
        assert!(p.warnings.iter().any(|w| w.contains("imbalanced")));
        // 403 messages repeat an earlier one word for word; the profile says so.
        assert_eq!(p.duplicate_rows, 403);
        assert!(
            p.warnings
                .iter()
                .any(|w| w.starts_with("403 of 5574 rows exactly repeat")),
            "{:?}",
            p.warnings
        );
        preprocess_without_leak(&d, &p);
    }
}

fn image_set(rel: &str, classes: usize, n: u64) {
    for f in copies(rel) {
        let (d, p) = load_profile(&f);
        assert_eq!(p.modality, "image");
        assert_eq!(p.target, "label");
        assert_eq!(p.n_rows, n);
        assert_eq!(p.class_balance.len(), classes);
        let Dataset::Images(folder) = &d else {
            panic!("not images")
        };
        assert!(folder.skipped.is_empty(), "{:?}", folder.skipped.first());
        // Stratified split: every class in every part.
        let rows: Vec<usize> = (0..folder.files.len()).collect();
        let strata: Vec<usize> = folder.files.iter().map(|(_, c)| *c).collect();
        let s = split_rows(&rows, Some(&strata), 1);
        for part in [&s.train, &s.valid, &s.test] {
            let mut seen = vec![false; classes];
            for r in part.iter() {
                seen[strata[*r]] = true;
            }
            assert!(seen.iter().all(|x| *x));
        }
        // 1-3 thumbnails, written as PNG files.
        let tmp = tempfile::tempdir().expect("tmp");
        let sample = data::sample_payload(&d, Some(tmp.path()));
        assert!((1..=3).contains(&sample.images.len()));
        for img in &sample.images {
            let bytes = std::fs::read(img).expect("thumbnail");
            assert!(bytes.starts_with(b"\x89PNG"));
        }
    }
}

#[test]
fn digits_images() {
    image_set("images/digits", 10, 1797);
}

#[test]
fn mnist_images() {
    image_set("images/mnist_5k", 10, 5000);
}

#[test]
fn cats_dogs_images() {
    image_set("images/cats_dogs", 2, 400);
}
