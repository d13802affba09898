//! Finding the time structure of a table: the time column, series-id columns, the frequency,
//! gaps and duplicate times; and turning the rows into regular series.

use std::collections::{BTreeMap, HashMap};

use arrow::array::Array;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Datelike, NaiveDateTime, Timelike};

use super::{ForecastData, ForecastSetup, Frequency, Series, TimeKind, min_length};
use crate::data::preprocess::parse_datetime;
use crate::data::{column_f64, column_str};
use crate::error::{AutomlError, Result};
use crate::event::TimeSeriesProfile;

/// Share of non-missing values that must parse for a column to be the time column.
const PARSE_SHARE: f64 = 0.95;
/// Most missing steps filled per observed step (more: the data is not on a regular grid).
const MAX_FILL_RATIO: usize = 3;

/// A time value written back as text (dates as `YYYY-MM-DD` when `date_only`).
pub fn format_time(kind: TimeKind, date_only: bool, t: i64) -> String {
    match kind {
        TimeKind::Index => t.to_string(),
        TimeKind::Datetime => match DateTime::from_timestamp(t, 0).map(|d| d.naive_utc()) {
            Some(d) if date_only => d.format("%Y-%m-%d").to_string(),
            Some(d) => d.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => t.to_string(),
        },
    }
}

/// Calendar parts of a time for the GBDT's features: day of week, day of month, month, day of
/// year, hour (all 0 for an index).
pub fn calendar(kind: TimeKind, t: i64) -> [f64; 5] {
    if kind == TimeKind::Index {
        return [0.0; 5];
    }
    match DateTime::from_timestamp(t, 0).map(|d| d.naive_utc()) {
        Some(d) => [
            f64::from(d.weekday().num_days_from_monday()),
            f64::from(d.day()),
            f64::from(d.month()),
            f64::from(d.ordinal()),
            f64::from(d.hour()),
        ],
        None => [0.0; 5],
    }
}

fn time_like_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "time",
        "t",
        "date",
        "ds",
        "year",
        "period",
        "step",
        "index",
        "idx",
        "timestamp",
        "week",
        "month",
        "day",
        "hour",
        "tick",
        "epoch",
    ]
    .iter()
    .any(|w| n == *w || n.split(['_', ' ', '-']).any(|p| p == *w))
}

/// Times of a column when it reads as time: dates/date-times (typed or as text, at least 95%
/// of the non-missing values), or integers under a time-like name. `(kind, times, date_only)`.
pub fn read_time(batch: &RecordBatch, name: &str) -> Option<(TimeKind, Vec<Option<i64>>, bool)> {
    let col = batch.column_by_name(name)?;
    let n_present = col.len() - col.logical_null_count();
    if n_present == 0 {
        return None;
    }
    match col.data_type() {
        DataType::Date32
        | DataType::Date64
        | DataType::Timestamp(_, _)
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View => {
            let text = column_str(col);
            let parsed: Vec<Option<NaiveDateTime>> = text
                .iter()
                .map(|v| v.as_deref().and_then(parse_datetime))
                .collect();
            let ok = parsed.iter().filter(|p| p.is_some()).count();
            if (ok as f64) < PARSE_SHARE * n_present as f64 {
                return None;
            }
            let date_only = parsed
                .iter()
                .flatten()
                .all(|d| d.hour() == 0 && d.minute() == 0 && d.second() == 0);
            Some((
                TimeKind::Datetime,
                parsed
                    .into_iter()
                    .map(|p| p.map(|d| d.and_utc().timestamp()))
                    .collect(),
                date_only,
            ))
        }
        t if t.is_integer() && time_like_name(name) => Some((
            TimeKind::Index,
            column_f64(col)
                .into_iter()
                .map(|v| v.map(|x| x as i64))
                .collect(),
            false,
        )),
        _ => None,
    }
}

/// The time column: the caller's when named, else the first column that reads as time (dates
/// before an integer index), never the target.
pub fn find_time_column(batch: &RecordBatch, target: &str) -> Result<String> {
    let names: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let candidates: Vec<(&String, TimeKind)> = names
        .iter()
        .filter(|n| n.as_str() != target)
        .filter_map(|n| read_time(batch, n).map(|(k, _, _)| (n, k)))
        .collect();
    candidates
        .iter()
        .find(|(_, k)| *k == TimeKind::Datetime)
        .or(candidates.first())
        .map(|(n, _)| (*n).clone())
        .ok_or(AutomlError::NoTimeColumn { columns: names })
}

/// Series-id columns: none when every time is unique; else the fewest low-cardinality
/// columns (one, else two) within whose groups times are unique (or nearly: the fewest
/// repeats). Columns tried: text or integer, 2 to n/3 distinct values.
pub fn find_id_columns(batch: &RecordBatch, time: &[Option<i64>], skip: &[&str]) -> Vec<String> {
    let n = batch.num_rows();
    let repeats = |keys: &[Vec<Option<String>>]| -> usize {
        let mut seen = std::collections::HashSet::new();
        let mut dup = 0;
        for (r, t) in time.iter().enumerate() {
            let Some(t) = t else { continue };
            let key: Vec<&Option<String>> = keys.iter().map(|k| &k[r]).collect();
            if !seen.insert((key, *t)) {
                dup += 1;
            }
        }
        dup
    };
    if repeats(&[]) == 0 {
        return vec![];
    }
    let cands: Vec<(String, Vec<Option<String>>)> = batch
        .schema()
        .fields()
        .iter()
        .filter(|f| !skip.contains(&f.name().as_str()))
        .filter(|f| {
            matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean
            ) || f.data_type().is_integer()
        })
        .filter_map(|f| {
            let v = column_str(batch.column_by_name(f.name())?);
            let distinct: std::collections::HashSet<&Option<String>> = v.iter().collect();
            (distinct.len() >= 2 && distinct.len() <= (n / 3).max(2)).then(|| (f.name().clone(), v))
        })
        .collect();
    let mut tried: Vec<(usize, Vec<String>)> = cands
        .iter()
        .map(|(name, v)| (repeats(std::slice::from_ref(v)), vec![name.clone()]))
        .collect();
    if tried.iter().all(|(r, _)| *r > 0) {
        for i in 0..cands.len() {
            for j in i + 1..cands.len() {
                let r = repeats(&[cands[i].1.clone(), cands[j].1.clone()]);
                tried.push((r + 1, vec![cands[i].0.clone(), cands[j].0.clone()]));
            }
        }
    }
    // The fewest repeats; among equals, the first tried (one column before two).
    let best = tried.into_iter().min_by_key(|(r, _)| *r);
    // Only worth it when grouping removes most repeats.
    match best {
        Some((r, names)) if r * 4 <= repeats(&[]) => names,
        _ => vec![],
    }
}

/// Where the horizon came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HorizonSource {
    /// The caller's option.
    Option,
    /// The prompt.
    Prompt,
    /// The default for the frequency.
    Default,
}

impl HorizonSource {
    fn as_str(self) -> &'static str {
        match self {
            HorizonSource::Option => "option",
            HorizonSource::Prompt => "prompt",
            HorizonSource::Default => "default",
        }
    }
}

/// Builds the forecasting data from a table: the time column (found), the id columns
/// (found), the target (must be numeric), the horizon (the caller's `horizon`, else read from
/// `prompt`, else the default for the frequency). Rows with a missing time or target are left
/// out, repeated times averaged, gaps on the regular grid filled linearly, and series too
/// short for the horizon left out (all too short: [`AutomlError::SeriesTooShort`]).
pub fn prepare(
    batch: &RecordBatch,
    target: &str,
    horizon: Option<usize>,
    prompt: &str,
) -> Result<(ForecastData, TimeSeriesProfile)> {
    let time_column = find_time_column(batch, target)?;
    let (kind, times, date_only) = read_time(batch, &time_column)
        .ok_or_else(|| AutomlError::Internal("time column vanished".into()))?;
    let ycol = batch
        .column_by_name(target)
        .ok_or_else(|| AutomlError::TargetNotFound {
            target: target.to_string(),
            available: batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
        })?;
    let y = column_f64(ycol);
    let present = ycol.len() - ycol.logical_null_count();
    let numeric = y.iter().filter(|v| v.is_some()).count();
    if present == 0 || (numeric as f64) < PARSE_SHARE * present as f64 {
        return Err(AutomlError::BadTarget {
            target: target.to_string(),
            reason: format!(
                "forecasting needs numbers, and only {numeric} of its {present} values are numbers"
            ),
        });
    }
    let ids = find_id_columns(batch, &times, &[target, time_column.as_str()]);
    let id_values: Vec<Vec<Option<String>>> = ids
        .iter()
        .filter_map(|c| batch.column_by_name(c).map(column_str))
        .collect();
    let (groups, order, left_out, duplicates) = group(&times, &y, &id_values);
    // The frequency: the median step over all series.
    let mut steps: Vec<i64> = groups
        .values()
        .flat_map(|g| {
            let ts: Vec<i64> = g.keys().copied().collect();
            ts.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>()
        })
        .collect();
    steps.sort_unstable();
    let median = steps.get(steps.len() / 2).copied().unwrap_or(1).max(1);
    let frequency = match kind {
        TimeKind::Datetime => Frequency::from_seconds(median),
        TimeKind::Index => Frequency::index(median),
    };
    let (mut series, gaps) = regularise(&groups, order, &frequency, kind);
    let season = frequency.season();
    let (h, source) = match horizon {
        Some(h) => (h, HorizonSource::Option),
        None => match super::horizon::parse(prompt).map(|p| p.steps(&frequency, kind)) {
            Some(h) => (h, HorizonSource::Prompt),
            None => (
                super::horizon::default_for(&frequency),
                HorizonSource::Default,
            ),
        },
    };
    if h == 0 {
        return Err(AutomlError::InvalidOption {
            name: "horizon".to_string(),
            message: "must be at least 1 step".to_string(),
        });
    }
    // A season longer than the history allows is dropped.
    let longest = series.iter().map(Series::len).max().unwrap_or(0);
    let season = if longest >= min_length(h, season) {
        season
    } else {
        1
    };
    let need = min_length(h, season);
    let setup = ForecastSetup {
        time_column: time_column.clone(),
        time_kind: kind,
        date_only,
        id_columns: ids.clone(),
        target: target.to_string(),
        frequency: frequency.clone(),
        season,
        horizon: h,
    };
    let longest_series = series.iter().max_by_key(|s| s.len()).cloned();
    let before = series.len();
    let mut dropped_rows = 0u64;
    series.retain(|s| {
        let keep = s.len() >= need;
        if !keep {
            dropped_rows += s.len() as u64;
        }
        keep
    });
    if series.is_empty() {
        let s = longest_series.unwrap_or(Series {
            key: vec![],
            times: vec![],
            values: vec![],
        });
        return Err(AutomlError::SeriesTooShort {
            series: s.name(&setup),
            length: s.len(),
            horizon: h,
            needed: need,
        });
    }
    let lens: HashMap<usize, usize> = series.iter().map(|s| s.len()).enumerate().collect();
    let profile = TimeSeriesProfile {
        time_column,
        time_kind: match kind {
            TimeKind::Datetime => "datetime",
            TimeKind::Index => "index",
        }
        .to_string(),
        id_columns: ids,
        frequency: frequency.name.clone(),
        season: season as u64,
        horizon: h as u64,
        horizon_source: source.as_str().to_string(),
        n_series: series.len() as u64,
        min_length: lens.values().copied().min().unwrap_or(0) as u64,
        max_length: lens.values().copied().max().unwrap_or(0) as u64,
        gaps,
        duplicate_timestamps: duplicates,
        rows_left_out: left_out + dropped_rows,
        series_left_out: (before - series.len()) as u64,
    };
    Ok((ForecastData { setup, series }, profile))
}

type Groups = BTreeMap<Vec<String>, BTreeMap<i64, (f64, usize)>>;

/// Rows grouped by series key then time (sum and count of values per time), the keys in
/// first-seen order, rows left out (missing time or value), and repeated times.
fn group(
    times: &[Option<i64>],
    y: &[Option<f64>],
    id_values: &[Vec<Option<String>>],
) -> (Groups, Vec<Vec<String>>, u64, u64) {
    let mut groups: Groups = BTreeMap::new();
    let mut order: Vec<Vec<String>> = Vec::new();
    let mut left_out = 0u64;
    let mut duplicates = 0u64;
    for r in 0..times.len() {
        let (Some(t), Some(v)) = (times[r], y[r]) else {
            left_out += 1;
            continue;
        };
        let key: Vec<String> = id_values
            .iter()
            .map(|c| c[r].clone().unwrap_or_default())
            .collect();
        let g = groups.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            BTreeMap::new()
        });
        let e = g.entry(t).or_insert((0.0, 0));
        if e.1 > 0 {
            duplicates += 1;
        }
        e.0 += v;
        e.1 += 1;
    }
    (groups, order, left_out, duplicates)
}

/// Series on the regular grid of `frequency`: repeated times averaged, missing grid steps
/// filled linearly (when the data fits the grid); returns the series and the steps filled.
fn regularise(
    groups: &Groups,
    order: Vec<Vec<String>>,
    frequency: &Frequency,
    kind: TimeKind,
) -> (Vec<Series>, u64) {
    let mut gaps = 0u64;
    let mut series: Vec<Series> = Vec::new();
    for key in order {
        let g = &groups[&key];
        let obs: Vec<(i64, f64)> = g.iter().map(|(t, (s, c))| (*t, s / *c as f64)).collect();
        let mut s = Series {
            key,
            times: vec![],
            values: vec![],
        };
        let budget = obs.len() * MAX_FILL_RATIO;
        for (i, (t, v)) in obs.iter().enumerate() {
            if i > 0 {
                let (t0, v0) = obs[i - 1];
                let mut k = 1;
                let mut next = frequency.advance(kind, t0, 1);
                let mut fill = vec![];
                while next < *t && fill.len() <= budget {
                    fill.push(next);
                    k += 1;
                    next = frequency.advance(kind, t0, k);
                }
                if fill.len() <= budget && next == *t {
                    let span = (fill.len() + 1) as f64;
                    for (j, ft) in fill.iter().enumerate() {
                        let w = (j + 1) as f64 / span;
                        s.times.push(*ft);
                        s.values.push(v0 + (v - v0) * w);
                        gaps += 1;
                    }
                }
            }
            s.times.push(*t);
            s.values.push(*v);
        }
        series.push(s);
    }
    (series, gaps)
}

/// The series of a history table for a trained forecaster: its time, id and target columns
/// read, repeated times averaged and gaps filled at the trained frequency. A missing column
/// or a history without a usable row is a [`AutomlError::BadData`] naming it.
pub fn history_series(setup: &ForecastSetup, batch: &RecordBatch) -> Result<Vec<Series>> {
    let missing = |c: &str| {
        AutomlError::BadData(format!(
            "the history has no column {c:?}; a forecast needs the time column {:?}, the value {:?}{}",
            setup.time_column,
            setup.target,
            if setup.id_columns.is_empty() {
                String::new()
            } else {
                format!(" and the series columns {}", setup.id_columns.join(", "))
            }
        ))
    };
    for c in std::iter::once(&setup.time_column)
        .chain(std::iter::once(&setup.target))
        .chain(&setup.id_columns)
    {
        if batch.column_by_name(c).is_none() {
            return Err(missing(c));
        }
    }
    let (kind, times, _) = read_time(batch, &setup.time_column)
        .filter(|(k, _, _)| *k == setup.time_kind)
        .ok_or_else(|| {
            AutomlError::BadData(format!(
                "column {:?} of the history does not read as {}",
                setup.time_column,
                match setup.time_kind {
                    TimeKind::Datetime => "dates",
                    TimeKind::Index => "an integer index",
                }
            ))
        })?;
    let y = column_f64(
        batch
            .column_by_name(&setup.target)
            .ok_or_else(|| missing(&setup.target))?,
    );
    let id_values: Vec<Vec<Option<String>>> = setup
        .id_columns
        .iter()
        .filter_map(|c| batch.column_by_name(c).map(column_str))
        .collect();
    let (groups, order, _, _) = group(&times, &y, &id_values);
    let (series, _) = regularise(&groups, order, &setup.frequency, kind);
    if series.is_empty() {
        return Err(AutomlError::BadData(format!(
            "the history has no row with both a time and a value of {:?}",
            setup.target
        )));
    }
    Ok(series)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn table(cols: Vec<(&str, Arc<dyn Array>)>) -> RecordBatch {
        let schema = Schema::new(
            cols.iter()
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        RecordBatch::try_new(Arc::new(schema), cols.into_iter().map(|(_, a)| a).collect())
            .expect("test data")
    }

    fn days(n: usize, skip: &[usize]) -> Vec<String> {
        let d0 = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("test data");
        (0..n)
            .filter(|i| !skip.contains(i))
            .map(|i| (d0 + chrono::Days::new(i as u64)).to_string())
            .collect()
    }

    #[test]
    fn finds_dates_ids_daily_frequency_gaps_and_duplicates() {
        // Two stores, 60 days each; store b misses day 10; store a repeats day 5.
        let mut date = vec![];
        let mut store = vec![];
        let mut sales = vec![];
        for (s, skip) in [("a", vec![]), ("b", vec![10])] {
            for d in days(60, &skip) {
                date.push(d);
                store.push(s.to_string());
                sales.push(1.0);
            }
        }
        date.push("2024-01-06".into());
        store.push("a".into());
        sales.push(3.0);
        let b = table(vec![
            ("date", Arc::new(StringArray::from(date))),
            ("store", Arc::new(StringArray::from(store))),
            ("sales", Arc::new(Float64Array::from(sales))),
        ]);
        let (d, p) = prepare(
            &b,
            "sales",
            None,
            "forecast daily sales for the next 14 days",
        )
        .expect("test data");
        assert_eq!(p.time_column, "date");
        assert_eq!(p.id_columns, vec!["store"]);
        assert_eq!(p.frequency, "daily");
        assert_eq!(p.season, 7);
        assert_eq!((p.horizon, p.horizon_source.as_str()), (14, "prompt"));
        assert_eq!((p.gaps, p.duplicate_timestamps), (1, 1));
        assert_eq!(d.series.len(), 2);
        assert!(d.series.iter().all(|s| s.len() == 60));
        // The repeated day is averaged.
        assert_eq!(d.series[0].values[5], 2.0);
        assert!(d.setup.date_only);
    }

    #[test]
    fn integer_index_named_like_time_and_monthly_dates() {
        let b = table(vec![
            (
                "period",
                Arc::new(Int64Array::from((0..50).collect::<Vec<i64>>())),
            ),
            ("y", Arc::new(Float64Array::from(vec![1.0; 50]))),
        ]);
        let (d, p) = prepare(&b, "y", Some(5), "").expect("test data");
        assert_eq!(
            (p.time_kind.as_str(), p.horizon_source.as_str()),
            ("index", "option")
        );
        assert_eq!(d.setup.frequency.step, 1);
        // An integer column without a time-like name is not time.
        let b = table(vec![
            (
                "count",
                Arc::new(Int64Array::from((0..50).collect::<Vec<i64>>())),
            ),
            ("y", Arc::new(Float64Array::from(vec![1.0; 50]))),
        ]);
        assert!(matches!(
            prepare(&b, "y", Some(5), ""),
            Err(AutomlError::NoTimeColumn { .. })
        ));
        let months: Vec<String> = (0..48)
            .map(|i| format!("{}-{:02}-01", 2000 + i / 12, i % 12 + 1))
            .collect();
        let b = table(vec![
            ("month", Arc::new(StringArray::from(months))),
            ("y", Arc::new(Float64Array::from(vec![1.0; 48]))),
        ]);
        let (d, p) = prepare(&b, "y", None, "predict y 6 months ahead").expect("test data");
        assert_eq!(
            (p.frequency.as_str(), p.season, p.horizon),
            ("monthly", 12, 6)
        );
        let f = &d.setup.frequency;
        let last = *d.series[0].times.last().expect("test data");
        assert_eq!(
            format_time(
                TimeKind::Datetime,
                true,
                f.advance(TimeKind::Datetime, last, 1)
            ),
            "2004-01-01"
        );
    }

    #[test]
    fn typed_errors_for_text_target_and_short_series() {
        let b = table(vec![
            ("date", Arc::new(StringArray::from(days(30, &[])))),
            ("y", Arc::new(StringArray::from(vec!["high"; 30]))),
        ]);
        assert!(matches!(
            prepare(&b, "y", Some(3), ""),
            Err(AutomlError::BadTarget { .. })
        ));
        let b = table(vec![
            ("date", Arc::new(StringArray::from(days(30, &[])))),
            ("y", Arc::new(Float64Array::from(vec![1.0; 30]))),
        ]);
        let e = prepare(&b, "y", Some(14), "").expect_err("an error");
        assert!(
            matches!(
                e,
                AutomlError::SeriesTooShort {
                    length: 30,
                    horizon: 14,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(e.code(), "series_too_short");
    }
}
