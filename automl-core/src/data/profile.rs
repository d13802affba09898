//! PROFILE_DATA: what each column holds, which one is the target, and what a data scientist
//! would warn about.

use std::collections::HashMap;

use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;

use crate::data::{ImageFolder, column_f64, column_str, is_numeric_type};
use crate::error::{AutomlError, Result};
use crate::event::{ColumnKind, ColumnProfile, Intent, Objective, Profile, TaskKind, ValueCount};
use crate::words::singular;

const COMMON_TARGETS: &[&str] = &[
    "target",
    "label",
    "labels",
    "class",
    "outcome",
    "response",
    "result",
    "category",
    "species",
    "price",
    "diagnosis",
    "income",
    "churn",
    "survived",
    "default",
    "quality",
    "rating",
    "score",
    "sentiment",
    "is_fraud",
    "fraud",
    "spam",
    "y",
];

/// Rows used for the checks that are not cheap over every row (text length, date patterns,
/// leakage between columns). Counts, missing values, distinct values, top values and
/// min/max/mean/std are exact over every row.
pub const PROFILE_SAMPLE_ROWS: usize = 50_000;

/// A fast, non-cryptographic hasher (FxHash's mixing) for counting distinct values.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);
impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        // splitmix64's finaliser: the multiply alone leaves low bits zero for values such as
        // the bits of small whole floats, and hashbrown picks buckets from the low bits.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}
impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}
type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

static DATE_RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}( \d{1,2}:\d{2}(:\d{2})?)?)$",
    )
    .expect("static regex")
});

/// Whether a string column of a few words per value is short text rather than categories or
/// identifiers: names and titles ("chevrolet chevelle malibu", "Ketchikan International
/// Airport") that rarely repeat whole but share words (a make, "International") that carry the
/// signal. Such a column is mostly unique (at least half its values distinct) or has more
/// distinct values than the trees give codes to; its words are then its features, where a
/// category code would be seen once and an identifier would be dropped.
fn short_text(mean_words: f64, n_unique: u64, non_missing: u64, n_rows: usize) -> bool {
    n_rows > 20
        && mean_words >= 2.0
        && n_unique > 30
        && (n_unique * 2 >= non_missing || n_unique > 250)
}

/// True when a text value looks like a date or a date-time.
pub fn looks_like_date(s: &str) -> bool {
    DATE_RE.is_match(s.trim())
}

fn top_values(counts: impl Iterator<Item = (String, u64)>) -> Vec<ValueCount> {
    let mut top: Vec<ValueCount> = counts
        .map(|(value, count)| ValueCount { value, count })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
    top.truncate(5);
    top
}

fn profile_column(name: &str, col: &arrow::array::ArrayRef, n_rows: usize) -> ColumnProfile {
    use arrow::array::{Array, AsArray};
    let dtype = col.data_type().clone();
    let missing = col.logical_null_count() as u64;
    let non_missing = n_rows as u64 - missing;
    let numeric = is_numeric_type(&dtype);
    let (mut min, mut max, mut mean, mut std) = (None, None, None, None);
    let n_unique: u64;
    let mut top = Vec::new();
    let mut mean_words = 0.0;
    let mut date_like = false;
    let mut bool_like = false;
    if numeric || matches!(dtype, DataType::Boolean) {
        let v = column_f64(col);
        let mut seen: std::collections::HashSet<u64, FxBuild> = Default::default();
        let (mut sum, mut n) = (0.0f64, 0usize);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for x in v.iter().flatten() {
            sum += x;
            n += 1;
            lo = lo.min(*x);
            hi = hi.max(*x);
            seen.insert(if *x == 0.0 { 0 } else { x.to_bits() });
        }
        n_unique = seen.len() as u64;
        if n > 0 && numeric {
            let m = sum / n as f64;
            let var = v.iter().flatten().map(|x| (x - m).powi(2)).sum::<f64>() / n.max(2) as f64;
            min = Some(lo);
            max = Some(hi);
            mean = Some(m);
            std = Some(var.sqrt());
        }
        if !numeric {
            let mut counts: HashMap<String, u64> = HashMap::new();
            for s in column_str(col).into_iter().flatten() {
                *counts.entry(s).or_default() += 1;
            }
            top = top_values(counts.into_iter());
        }
    } else {
        let owned;
        let strings = match dtype {
            DataType::Utf8 => col.as_string::<i32>(),
            _ => {
                owned = arrow::compute::cast(col, &DataType::Utf8)
                    .unwrap_or_else(|_| arrow::array::new_null_array(&DataType::Utf8, col.len()));
                owned.as_string::<i32>()
            }
        };
        let mut counts: HashMap<&str, u64, FxBuild> = HashMap::default();
        for s in strings.iter().flatten() {
            *counts.entry(s).or_default() += 1;
        }
        n_unique = counts.len() as u64;
        top = top_values(counts.iter().map(|(v, c)| ((*v).to_string(), *c)));
        let sample: Vec<&str> = strings.iter().flatten().take(2000).collect();
        mean_words = crate::data::text::mean_words(sample.iter().copied());
        date_like = !sample.is_empty()
            && sample.iter().filter(|s| looks_like_date(s)).count() * 100 >= sample.len() * 95;
        bool_like = n_unique == 2
            && counts.keys().all(|k| {
                ["true", "false", "yes", "no", "t", "f", "y", "n"]
                    .contains(&k.to_ascii_lowercase().as_str())
            });
    }
    let lname = name.to_ascii_lowercase();
    let idish_name = lname == "id"
        || lname.ends_with("_id")
        || lname.ends_with("id") && lname.len() <= 4
        || lname == "index"
        || lname == "uuid";
    let kind = if n_unique <= 1 {
        ColumnKind::Constant
    } else if matches!(dtype, DataType::Boolean) || bool_like {
        ColumnKind::Boolean
    } else if matches!(
        dtype,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    ) || date_like
    {
        ColumnKind::Datetime
    } else if numeric {
        let integral = dtype.is_integer();
        if integral && idish_name && n_unique == non_missing && n_rows > 20 {
            ColumnKind::Identifier
        } else {
            ColumnKind::Numeric
        }
    } else if mean_words >= crate::data::text::FREE_TEXT_WORDS
        || short_text(mean_words, n_unique, non_missing, n_rows)
    {
        ColumnKind::Text
    } else if n_rows > 20 && n_unique as f64 >= 0.95 * non_missing as f64 {
        ColumnKind::Identifier
    } else {
        ColumnKind::Categorical
    };
    ColumnProfile {
        name: name.to_string(),
        dtype: dtype.to_string(),
        kind,
        missing,
        missing_share: if n_rows == 0 {
            0.0
        } else {
            missing as f64 / n_rows as f64
        },
        n_unique,
        min,
        max,
        mean,
        std,
        top: if numeric { vec![] } else { top },
    }
}

/// Profiles every column, on up to two threads.
fn profile_columns(names: &[String], batch: &RecordBatch) -> Vec<ColumnProfile> {
    let n_rows = batch.num_rows();
    let threads = std::thread::available_parallelism()
        .map(|p| p.get())
        .unwrap_or(1)
        .clamp(1, 4);
    if threads == 1 || names.len() < 2 || n_rows < 10_000 {
        return names
            .iter()
            .zip(batch.columns())
            .map(|(n, c)| profile_column(n, c, n_rows))
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out: std::sync::Mutex<Vec<(usize, ColumnProfile)>> = Default::default();
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= names.len() {
                        break;
                    }
                    let p = profile_column(&names[i], batch.column(i), n_rows);
                    if let Ok(mut o) = out.lock() {
                        o.push((i, p));
                    }
                }
            });
        }
    });
    let mut v = out.into_inner().unwrap_or_default();
    v.sort_by_key(|(i, _)| *i);
    v.into_iter().map(|(_, p)| p).collect()
}

/// Features that look like a leak of the target, judged on the first
/// [`PROFILE_SAMPLE_ROWS`] rows: equal to the target, a number that is almost perfectly
/// correlated with a numeric target, or a categorical column whose every value maps to a single
/// class.
fn leakage_suspects(
    batch: &RecordBatch,
    target: &str,
    task: TaskKind,
    columns: &[ColumnProfile],
) -> Vec<String> {
    let mut out = Vec::new();
    let n = batch.num_rows().min(PROFILE_SAMPLE_ROWS);
    let Some(tcol) = batch.column_by_name(target) else {
        return out;
    };
    let tcol = tcol.slice(0, n);
    let t_str = column_str(&tcol);
    let t_num = column_f64(&tcol);
    for c in columns {
        if c.name == target || matches!(c.kind, ColumnKind::Constant) {
            continue;
        }
        let Some(col) = batch.column_by_name(&c.name) else {
            continue;
        };
        let col = col.slice(0, n);
        let f_str = column_str(&col);
        if f_str == t_str {
            let full_equal = batch.num_rows() == n
                || batch
                    .column_by_name(&c.name)
                    .zip(batch.column_by_name(target))
                    .is_some_and(|(a, b)| column_str(a) == column_str(b));
            if full_equal {
                out.push(format!(
                    "{:?} equals the target on every row: a leak; it is not used",
                    c.name
                ));
                continue;
            }
        }
        match (task, c.kind) {
            (TaskKind::Regression, ColumnKind::Numeric) => {
                let f_num = column_f64(&col);
                let pairs: Vec<(f64, f64)> = f_num
                    .iter()
                    .zip(&t_num)
                    .filter_map(|(a, b)| Some(((*a)?, (*b)?)))
                    .collect();
                if let Some(r) = pearson(&pairs)
                    && r.abs() >= 0.99
                {
                    out.push(format!(
                        "{:?} is almost perfectly correlated with the target (r = {r:.3}): a leakage suspect",
                        c.name
                    ));
                }
            }
            (
                TaskKind::Classification,
                ColumnKind::Categorical | ColumnKind::Numeric | ColumnKind::Boolean,
            ) => {
                // Every value of the feature maps to one class, with several rows per value.
                let mut map: HashMap<&str, (&str, bool, u32)> = HashMap::new();
                let mut pairs = 0usize;
                for (f, t) in f_str.iter().zip(&t_str) {
                    let (Some(f), Some(t)) = (f, t) else { continue };
                    pairs += 1;
                    let e = map.entry(f.as_str()).or_insert((t.as_str(), true, 0));
                    e.2 += 1;
                    if e.0 != t.as_str() {
                        e.1 = false;
                    }
                }
                let values = map.len();
                if values >= 2
                    && pairs >= 20
                    && values * 5 <= pairs
                    && map.values().all(|(_, pure, _)| *pure)
                {
                    out.push(format!(
                        "{:?} determines the target on every sampled row ({values} values, each with a single class): a leakage suspect",
                        c.name
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

fn pearson(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 3 {
        return None;
    }
    let n = pairs.len() as f64;
    let (ma, mb) = pairs
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa.sqrt() * sbb.sqrt()))
}

/// Finds the column a request names: exact, case-insensitive, singular/plural, then a column
/// whose name contains the word.
pub fn match_column<'a>(wanted: &str, columns: &'a [String]) -> Option<&'a String> {
    let w = wanted.trim();
    let lw = w.to_ascii_lowercase();
    let sw = singular(&lw);
    columns
        .iter()
        .find(|c| c.as_str() == w)
        .or_else(|| columns.iter().find(|c| c.to_ascii_lowercase() == lw))
        .or_else(|| {
            columns
                .iter()
                .find(|c| singular(&c.to_ascii_lowercase()) == sw)
        })
        .or_else(|| {
            (sw.len() >= 3)
                .then(|| {
                    columns.iter().find(|c| {
                        c.to_ascii_lowercase()
                            .split(|ch: char| !ch.is_ascii_alphanumeric())
                            .any(|part| singular(part) == sw)
                    })
                })
                .flatten()
        })
}

/// What the profiler knows about where the target is.
#[derive(Debug, Clone, Default)]
pub struct TargetHints {
    /// Named by the caller (`--target`): must exist.
    pub explicit: Option<String>,
    /// Named in the prompt: used when it matches a column.
    pub from_prompt: Option<String>,
    /// Given by the catalog entry of a bundled data set.
    pub from_catalog: Option<String>,
    /// The task, when the caller fixed it (e.g. a scikit-learn style classifier or regressor).
    pub task: Option<TaskKind>,
    /// The task the caller's metric implies (`--metric r2` is a regression, `--metric
    /// accuracy` a classification): it outweighs the prompt's reading when the target could be
    /// either (a numeric column of a few distinct integers, such as a count).
    pub metric_task: Option<TaskKind>,
}

/// Profiles a table and decides the target and the task.
pub fn profile_table(batch: &RecordBatch, hints: &TargetHints, intent: &Intent) -> Result<Profile> {
    let n_rows = batch.num_rows();
    let schema = batch.schema();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    if n_rows < 2 {
        return Err(AutomlError::BadData(format!(
            "the table has {n_rows} row(s); at least two are needed to profile and far more to learn"
        )));
    }
    let columns = profile_columns(&names, batch);

    // Target.
    let (target, target_reason) = if let Some(t) = &hints.explicit {
        let found = names
            .iter()
            .find(|c| c.as_str() == t)
            .or_else(|| names.iter().find(|c| c.eq_ignore_ascii_case(t)))
            .ok_or_else(|| AutomlError::TargetNotFound {
                target: t.clone(),
                available: names.clone(),
            })?;
        (found.clone(), "named by the caller".to_string())
    } else if let Some(c) = hints
        .from_prompt
        .as_deref()
        .and_then(|t| match_column(t, &names))
    {
        (c.clone(), format!("the request names {c:?}"))
    } else if let Some(c) = hints
        .from_catalog
        .as_deref()
        .and_then(|t| names.iter().find(|n| n.as_str() == t))
    {
        match hints.from_prompt.as_deref() {
            // The request named a target this data set lacks: say so where the user looks.
            Some(asked) => (
                c.clone(),
                format!(
                    "the request names {asked:?}, which this data set lacks; the data set's catalog entry names {c:?}"
                ),
            ),
            None => (
                c.clone(),
                "the data set's catalog entry names it".to_string(),
            ),
        }
    } else if let Some(c) = COMMON_TARGETS.iter().find_map(|t| {
        // A "y" next to an "x" is a coordinate or a size, not a target.
        if *t == "y" && names.iter().any(|n| n.eq_ignore_ascii_case("x")) {
            return None;
        }
        names.iter().find(|n| n.to_ascii_lowercase() == *t)
    }) {
        (c.clone(), format!("{c:?} is a common name for a target"))
    } else {
        let last = names
            .last()
            .cloned()
            .ok_or_else(|| AutomlError::BadData("the table has no columns".to_string()))?;
        (
            last.clone(),
            "no column was named; the last column was taken".to_string(),
        )
    };
    let tp = columns
        .iter()
        .find(|c| c.name == target)
        .ok_or_else(|| AutomlError::Internal("target profile missing".to_string()))?;
    if tp.missing as usize == n_rows {
        return Err(AutomlError::BadTarget {
            target: target.clone(),
            reason: "every value is missing".to_string(),
        });
    }
    if tp.n_unique < 2 {
        return Err(AutomlError::BadTarget {
            target: target.clone(),
            reason: format!(
                "it has a single value ({:?}); there is nothing to learn",
                tp.top.first().map(|v| v.value.clone()).unwrap_or_default()
            ),
        });
    }

    // Task.
    let mut warnings = Vec::new();
    if target_reason.contains("which this data set lacks") {
        warnings.push(format!(
            "predicting {target:?}, not what the request names: {target_reason}; pass --target or your own data to predict something else"
        ));
    }
    let numeric_target = is_numeric_type(
        batch
            .column_by_name(&target)
            .map(|c| c.data_type())
            .unwrap_or(&arrow::datatypes::DataType::Utf8),
    );
    let integral = batch
        .column_by_name(&target)
        .is_some_and(|c| c.data_type().is_integer());
    let task = if let Some(t) = hints.task {
        if t == TaskKind::Regression && !numeric_target {
            return Err(AutomlError::BadTarget {
                target: target.clone(),
                reason: "regression was asked for but the column is not numeric".to_string(),
            });
        }
        t
    } else if !numeric_target {
        if intent.objective == Objective::Regression {
            warnings.push(format!(
                "the request reads as regression but target {target:?} is not numeric; classifying instead"
            ));
        }
        TaskKind::Classification
    } else {
        let objective = match hints.metric_task {
            Some(TaskKind::Regression) => Objective::Regression,
            Some(TaskKind::Classification) => Objective::Classification,
            None => intent.objective,
        };
        match objective {
            Objective::Classification if tp.n_unique <= 50 => TaskKind::Classification,
            Objective::Classification => {
                warnings.push(format!(
                    "the request reads as classification but target {target:?} has {} distinct numbers; treating it as regression",
                    tp.n_unique
                ));
                TaskKind::Regression
            }
            Objective::Regression => TaskKind::Regression,
            Objective::Other => {
                if integral
                    && (tp.n_unique <= 10
                        || (tp.n_unique <= 20 && (tp.n_unique as f64) < 0.05 * n_rows as f64))
                {
                    TaskKind::Classification
                } else {
                    TaskKind::Regression
                }
            }
        }
    };

    // Balance and warnings.
    let mut class_balance = Vec::new();
    if task == TaskKind::Classification {
        let target_col = batch
            .column_by_name(&target)
            .map(column_str)
            .unwrap_or_default();
        let mut counts: HashMap<String, u64> = HashMap::new();
        for v in target_col.into_iter().flatten() {
            *counts.entry(v).or_default() += 1;
        }
        class_balance = counts
            .into_iter()
            .map(|(value, count)| ValueCount { value, count })
            .collect();
        class_balance.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
        if let (Some(maj), Some(min)) = (class_balance.first(), class_balance.last()) {
            let ratio = maj.count as f64 / min.count.max(1) as f64;
            if ratio >= 20.0 {
                warnings.push(format!(
                    "heavy imbalance: {:?} has {}× the rows of {:?}; accuracy will mislead, look at balanced accuracy or F1",
                    maj.value,
                    ratio.round(),
                    min.value
                ));
            } else if ratio >= 3.0 {
                warnings.push(format!(
                    "imbalanced classes: {:?} has {}× the rows of {:?}",
                    maj.value,
                    ratio.round(),
                    min.value
                ));
            }
            if min.count < 5 {
                warnings.push(format!("class {:?} has only {} rows", min.value, min.count));
            }
        }
    }
    if tp.missing > 0 {
        warnings.push(format!(
            "{} rows have no target value and are left out of training",
            tp.missing
        ));
    }
    if n_rows < 50 {
        warnings.push(format!("tiny data: {n_rows} rows; scores will be noisy"));
    }
    for c in &columns {
        if c.name == target {
            continue;
        }
        match c.kind {
            ColumnKind::Identifier => warnings.push(format!(
                "{:?} looks like an identifier and is not used as a feature",
                c.name
            )),
            ColumnKind::Constant => warnings.push(format!(
                "{:?} is constant and is not used as a feature",
                c.name
            )),
            _ => {}
        }
        if c.missing_share > 0.5 {
            warnings.push(format!(
                "{:?} is {:.0}% missing",
                c.name,
                c.missing_share * 100.0
            ));
        }
    }
    warnings.extend(leakage_suspects(batch, &target, task, &columns));
    if n_rows >= 50 && (n_rows as f64) < 10.0 * names.len() as f64 {
        warnings.push(format!(
            "few rows for the number of columns: {n_rows} rows, {} columns",
            names.len()
        ));
    }

    let mut profile = Profile {
        modality: "tabular".to_string(),
        n_rows: n_rows as u64,
        n_columns: names.len() as u64,
        target,
        target_reason,
        task,
        class_balance,
        columns,
        warnings,
        duplicate_rows: 0,
        time_series: None,
    };
    let groups = crate::data::preprocess::duplicate_groups(
        batch,
        &crate::data::preprocess::duplicate_key_columns(&profile),
    );
    profile.duplicate_rows = crate::data::preprocess::count_duplicates(&groups);
    let grouped = crate::data::preprocess::group_duplicates(
        n_rows,
        profile.duplicate_rows,
        crate::data::preprocess::key_has_text(&profile),
    );
    if grouped {
        profile.warnings.push(format!(
            "{} of {n_rows} rows exactly repeat another row's features; each set of copies is kept on one side of every split (train, validation, test, cross-validation folds) so that scores are not inflated",
            profile.duplicate_rows
        ));
    } else if profile.duplicate_rows > 0 {
        profile.warnings.push(format!(
            "{} of {n_rows} rows repeat another row's features: with so few distinct rows, repeats are distinct records that share coarse features, and are split like any row",
            profile.duplicate_rows
        ));
    }
    Ok(profile)
}

/// Profiles a folder of labelled images.
pub fn profile_images(folder: &ImageFolder) -> Result<Profile> {
    let mut counts = vec![0u64; folder.classes.len()];
    for (_, c) in &folder.files {
        counts[*c] += 1;
    }
    let mut class_balance: Vec<ValueCount> = folder
        .classes
        .iter()
        .zip(&counts)
        .map(|(c, n)| ValueCount {
            value: c.clone(),
            count: *n,
        })
        .collect();
    class_balance.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
    let present = counts.iter().filter(|c| **c > 0).count();
    if present < 2 {
        return Err(AutomlError::BadTarget {
            target: "label".to_string(),
            reason: format!(
                "images were found in {present} class folder(s); at least two classes are needed"
            ),
        });
    }
    let mut warnings = Vec::new();
    if !folder.skipped.is_empty() {
        warnings.push(format!(
            "{} files are not images and were skipped",
            folder.skipped.len()
        ));
    }
    let n = folder.files.len() as u64;
    Ok(Profile {
        modality: "image".to_string(),
        n_rows: n,
        n_columns: 2,
        target: "label".to_string(),
        target_reason: "image folders are labelled by their sub-folder".to_string(),
        task: TaskKind::Classification,
        class_balance: class_balance.clone(),
        columns: vec![
            ColumnProfile {
                name: "image".to_string(),
                dtype: "image".to_string(),
                kind: ColumnKind::Identifier,
                missing: 0,
                missing_share: 0.0,
                n_unique: n,
                min: None,
                max: None,
                mean: None,
                std: None,
                top: vec![],
            },
            ColumnProfile {
                name: "label".to_string(),
                dtype: "Utf8".to_string(),
                kind: ColumnKind::Categorical,
                missing: 0,
                missing_share: 0.0,
                n_unique: present as u64,
                min: None,
                max: None,
                mean: None,
                std: None,
                top: class_balance.into_iter().take(5).collect(),
            },
        ],
        warnings,
        duplicate_rows: 0,
        time_series: None,
    })
}

/// Profiles loaded data of either kind. A table with fewer than two rows is a
/// [`DataErrorKind::TooFewRows`](crate::error::DataErrorKind::TooFewRows) error naming its file.
pub fn profile_dataset(
    dataset: &crate::data::Dataset,
    hints: &TargetHints,
    intent: &Intent,
) -> Result<Profile> {
    match dataset {
        crate::data::Dataset::Table(t) => {
            if t.batch.num_rows() < 2 {
                return Err(AutomlError::data_input(
                    &t.path,
                    crate::error::DataErrorKind::TooFewRows,
                    Some(t.batch.num_rows() as u64),
                    None,
                    "one data row: nothing can be learned or evaluated; at least two rows are needed to profile",
                ));
            }
            profile_table(&t.batch, hints, intent)
        }
        crate::data::Dataset::Images(f) => {
            if let Some(t) = &hints.explicit
                && t != "label"
            {
                return Err(AutomlError::TargetNotFound {
                    target: t.clone(),
                    available: vec!["image".to_string(), "label".to_string()],
                });
            }
            profile_images(f)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    /// A count target (a few distinct integers) with a prompt that names no objective: read as
    /// classes by default, as a regression when the caller's metric is a regression one, and
    /// as classes again when the metric is a classification one.
    #[test]
    fn the_callers_metric_settles_a_count_target() {
        let n = 400i64;
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("age", DataType::Float64, false),
                Field::new("visits", DataType::Int64, false),
            ])),
            vec![
                Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|i| 20.0 + (i % 50) as f64),
                )),
                Arc::new(Int64Array::from_iter_values((0..n).map(|i| i % 6))),
            ],
        )
        .expect("batch");
        let intent = crate::agents::parser::parse("");
        let task = |metric_task| {
            let hints = TargetHints {
                explicit: Some("visits".to_string()),
                metric_task,
                ..Default::default()
            };
            profile_table(&batch, &hints, &intent)
                .expect("profile")
                .task
        };
        assert_eq!(task(None), TaskKind::Classification);
        assert_eq!(task(Some(TaskKind::Regression)), TaskKind::Regression);
        assert_eq!(
            task(Some(TaskKind::Classification)),
            TaskKind::Classification
        );
        assert_eq!(
            crate::conductor::task_of_metric("r2"),
            Some(TaskKind::Regression)
        );
        assert_eq!(
            crate::conductor::task_of_metric("macro_f1"),
            Some(TaskKind::Classification)
        );
        assert_eq!(crate::conductor::task_of_metric("mase"), None);
    }
}
