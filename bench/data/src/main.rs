//! Loads and profiles one CSV with automl-core and prints one JSON line: rows, seconds for
//! load and profile, rows/s and peak RSS.
//!
//! Run everything (data generation, this program, pandas and polars): `bash bench/data/run.sh`.
//! This program alone: `cargo run --release -p bench-data -- FILE.csv`.

use std::path::PathBuf;
use std::time::Instant;

use automl_core::data::profile::{TargetHints, profile_dataset};
use automl_core::data::{self, Dataset};

/// Peak resident set size of this process, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: bench-data FILE.csv");
        return std::process::ExitCode::from(2);
    };
    let t0 = Instant::now();
    let loaded = match data::load(&path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let t_load = t0.elapsed().as_secs_f64();
    let rows = match &loaded {
        Dataset::Table(t) => t.batch.num_rows(),
        Dataset::Images(f) => f.files.len(),
    };
    let t1 = Instant::now();
    let profile = match profile_dataset(
        &loaded,
        &TargetHints::default(),
        &automl_core::agents::parser::parse(""),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let t_profile = t1.elapsed().as_secs_f64();
    let total = t0.elapsed().as_secs_f64();
    let out = serde_json::json!({
        "tool": "automl",
        "rows": rows,
        "columns": profile.n_columns,
        "load_s": t_load,
        "profile_s": t_profile,
        "total_s": total,
        "rows_per_s": rows as f64 / total,
        "peak_rss_mib": peak_rss_mib(),
        "target": profile.target,
    });
    println!("{out}");
    std::process::ExitCode::SUCCESS
}
