//! `automl profile PATH [--target COL] [--json]`: loads a file or an image folder and prints its
//! profile (a readable table, or the PROFILE_READY payload as JSON). Exit code 2 on bad input.

use std::path::PathBuf;
use std::process::ExitCode;

use automl_core::AutomlError;
use automl_core::event::Profile;

/// Options of `automl profile`.
#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    /// A CSV/TSV, Parquet, JSON/NDJSON or Arrow IPC file, a zip of image folders, or a folder
    /// of images with one sub-folder per class.
    pub path: PathBuf,
    /// The column to predict (default: detected, with the reason).
    #[arg(long)]
    pub target: Option<String>,
    /// Print the PROFILE_READY payload as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command.
pub fn profile(args: ProfileArgs) -> ExitCode {
    match build(&args) {
        Ok((p, notes)) => {
            for n in &notes {
                eprintln!("note: {n}");
            }
            if args.json {
                match serde_json::to_string_pretty(&p) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                print!("{}", render(&p));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(if e.is_user_error() { 2 } else { 1 })
        }
    }
}

fn build(args: &ProfileArgs) -> Result<(Profile, Vec<String>), AutomlError> {
    automl_core::api::profile_file(&args.path, args.target.as_deref())
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "-".to_string(),
        Some(x) if x.abs() >= 1e6 || (x != 0.0 && x.abs() < 1e-3) => format!("{x:.3e}"),
        Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.3}"),
    }
}

/// The profile as a plain-text table.
pub fn render(p: &Profile) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{} data: {} rows, {} columns\ntarget: {} ({}), task: {}\n\n",
        p.modality,
        p.n_rows,
        p.n_columns,
        p.target,
        p.target_reason,
        p.task.as_str()
    ));
    let rows: Vec<[String; 8]> = p
        .columns
        .iter()
        .map(|c| {
            let kind = serde_json::to_value(c.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let top = c
                .top
                .iter()
                .take(3)
                .map(|v| format!("{} ({})", v.value, v.count))
                .collect::<Vec<_>>()
                .join(", ");
            [
                c.name.clone(),
                kind,
                c.dtype.clone(),
                format!("{:.1}%", c.missing_share * 100.0),
                c.n_unique.to_string(),
                num(c.min),
                num(c.max),
                if c.mean.is_some() {
                    format!("{} ± {}", num(c.mean), num(c.std))
                } else {
                    top
                },
            ]
        })
        .collect();
    let head = [
        "column",
        "kind",
        "type",
        "missing",
        "unique",
        "min",
        "max",
        "mean ± std / top values",
    ];
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, cell) in r.iter().enumerate().take(7) {
            widths[i] = widths[i].max(cell.chars().count().min(32));
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i < 7 {
                let shown: String = c.chars().take(32).collect();
                s.push_str(&format!("{shown:<w$}  ", w = widths[i]));
            } else {
                s.push_str(c);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    out.push_str(&line(&head.map(str::to_string)));
    for r in &rows {
        out.push_str(&line(r));
    }
    if !p.class_balance.is_empty() {
        out.push_str("\nclasses: ");
        out.push_str(
            &p.class_balance
                .iter()
                .take(10)
                .map(|v| format!("{} {}", v.value, v.count))
                .collect::<Vec<_>>()
                .join(", "),
        );
        if p.class_balance.len() > 10 {
            out.push_str(&format!(", ... ({} classes)", p.class_balance.len()));
        }
        out.push('\n');
    }
    if !p.warnings.is_empty() {
        out.push_str("\nwarnings:\n");
        for w in &p.warnings {
            out.push_str(&format!("  - {w}\n"));
        }
    }
    out
}
