//! `automl run`: one request end to end, with a progress bar per stage or JSON lines.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use automl_core::event::{Event, Stage, StageStatus};
use automl_core::{Conductor, RunRequest, RunStatus};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::RunArgs;

fn stage_label(s: Stage) -> String {
    format!("{:<13}", s.as_str())
}

/// Runs the request and returns the process exit code.
pub async fn run(args: RunArgs) -> ExitCode {
    let mut builder = Conductor::builder();
    if args.offline {
        builder = builder.offline("offline (--offline)");
    }
    if let Some(path) = &args.pretrained {
        if !path.exists() {
            eprintln!(
                "error: --pretrained {}: no such file or folder",
                path.display()
            );
            return ExitCode::from(2);
        }
        // The built-in trainers, with the image trainer pointed at these weights.
        builder = builder.without_default_trainers();
        for t in automl_core::conductor::defaults::trainers() {
            if t.name() == "image" {
                let cfg = automl_core::train::image::ImageTrainerConfig {
                    pretrained: Some(path.clone()),
                    ..Default::default()
                };
                builder = builder.trainer(std::sync::Arc::new(
                    automl_core::train::image::ImageTrainer::new(cfg),
                ));
            } else {
                builder = builder.trainer(t);
            }
        }
    }
    let conductor = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(if e.is_user_error() { 2 } else { 1 });
        }
    };
    let mut req = RunRequest::new(args.prompt.clone()).seed(args.seed);
    req.data = args.data.clone();
    req.target = args.target.clone();
    req.time_budget_s = args.time_budget;
    req.out_dir = args.out.clone();
    req.max_trials = args.max_trials;
    req.project_id = args.project_id.clone();
    req.allow_restricted = args.research;
    req.metric = args.metric.clone();
    req.horizon = args.horizon;
    if let Some(path) = &args.test_rows {
        match read_test_rows(path) {
            Ok(rows) => req.test_rows = Some(rows),
            Err(msg) => {
                eprintln!("error: {msg}");
                return ExitCode::from(2);
            }
        }
    }

    let handle = match conductor.start(req) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(if e.is_user_error() { 2 } else { 1 });
        }
    };
    let cancel = handle.cancel_token();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ncancelling (the best model so far is kept)...");
            cancel.cancel();
        }
    });
    let mut events = handle.events();
    let json = args.json;
    let printer = tokio::spawn(async move {
        let mut ui = if json {
            None
        } else {
            Some(Bars::new(std::io::stderr().is_terminal()))
        };
        let stdout = std::io::stdout();
        while let Some(env) = events.next().await {
            if json {
                let mut out = stdout.lock();
                // A closed stdout (e.g. `| head`) must not stop the run.
                let _ = writeln!(out, "{}", env.to_json_line());
                let _ = out.flush();
            } else if let Some(ui) = ui.as_mut() {
                ui.on(&env.event);
            }
        }
        if let Some(ui) = ui {
            ui.finish();
        }
    });
    let result = handle.wait().await;
    let _ = printer.await;
    match result {
        Ok(outcome) => {
            if !json {
                let mut out = std::io::stdout().lock();
                let status = match outcome.status {
                    RunStatus::Finished => "finished",
                    RunStatus::Cancelled => "cancelled",
                };
                let _ = writeln!(out, "\nrun {} {status}", outcome.project_id);
                if let Some(m) = &outcome.model {
                    let _ = writeln!(out, "model: {m}");
                }
                if !outcome.metrics.is_empty() {
                    let _ = writeln!(out, "test metrics:");
                    for (k, v) in &outcome.metrics {
                        let _ = writeln!(out, "  {k:<18} {v:.4}");
                    }
                }
                let _ = writeln!(out, "artifacts in {}:", outcome.run_dir.display());
                for a in &outcome.artifacts {
                    let _ = writeln!(out, "  {} ({} bytes)", a.path, a.size);
                }
                let _ = writeln!(out, "  {}", outcome.run_dir.join("events.jsonl").display());
            }
            for s in &outcome.sinks {
                if s.failed > 0 || s.timed_out {
                    eprintln!(
                        "warning: event sink {} lost {} events ({})",
                        s.name,
                        s.failed,
                        s.first_error.as_deref().unwrap_or("timed out")
                    );
                }
            }
            match outcome.status {
                RunStatus::Finished => ExitCode::SUCCESS,
                RunStatus::Cancelled => ExitCode::from(130),
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(if e.is_user_error() { 2 } else { 1 })
        }
    }
}

fn read_test_rows(path: &std::path::Path) -> Result<Vec<usize>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read --test-rows {}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("--test-rows {} is not JSON: {e}", path.display()))?;
    let list = v.get("test").unwrap_or(&v);
    list.as_array()
        .ok_or_else(|| {
            format!(
                "--test-rows {}: expected {{\"test\": [row, ...]}}",
                path.display()
            )
        })?
        .iter()
        .map(|x| {
            x.as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| format!("--test-rows {}: {x} is not a row number", path.display()))
        })
        .collect()
}

struct Bars {
    /// Without a terminal, one plain line per finished stage instead of bars.
    plain: bool,
    multi: MultiProgress,
    bars: HashMap<Stage, ProgressBar>,
    spin: ProgressStyle,
    bar: ProgressStyle,
    done: ProgressStyle,
}

impl Bars {
    fn new(terminal: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let spin = ProgressStyle::with_template("{spinner} {prefix} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar =
            ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        let done = ProgressStyle::with_template("{prefix} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let mut bars = HashMap::new();
        for s in Stage::ALL {
            let pb = multi.add(ProgressBar::new(1));
            pb.set_style(done.clone());
            pb.set_prefix(format!("  {}", stage_label(s)));
            pb.set_message("pending");
            bars.insert(s, pb);
        }
        Self {
            plain: !terminal,
            multi,
            bars,
            spin,
            bar,
            done,
        }
    }

    fn on(&mut self, e: &Event) {
        match e {
            Event::StageStatus(p) => {
                let Some(pb) = self.bars.get(&p.stage) else {
                    return;
                };
                match p.status {
                    StageStatus::Running => {
                        pb.set_style(self.spin.clone());
                        pb.set_prefix(stage_label(p.stage));
                        pb.enable_steady_tick(Duration::from_millis(120));
                        pb.set_message(p.message.clone());
                    }
                    StageStatus::Waiting => pb.set_message(format!("waiting: {}", p.message)),
                    StageStatus::Pending => {}
                    StageStatus::Completed | StageStatus::Failed | StageStatus::Skipped => {
                        let mark = match p.status {
                            StageStatus::Completed => "✓",
                            StageStatus::Failed => "✗",
                            _ => "-",
                        };
                        if self.plain {
                            eprintln!("{mark} {} {}", stage_label(p.stage), p.message);
                        }
                        pb.set_style(self.done.clone());
                        pb.set_prefix(format!("{mark} {}", stage_label(p.stage)));
                        pb.finish_with_message(p.message.clone());
                    }
                }
            }
            Event::TrainProgress(p) => {
                if let Some(pb) = self.bars.get(&Stage::Train) {
                    pb.set_style(self.bar.clone());
                    pb.set_length(p.steps.max(1));
                    pb.set_position(p.step);
                    pb.set_message(p.run_id.clone());
                }
            }
            Event::Warning(w) => {
                if self.plain {
                    eprintln!("warning: {}", w.message);
                } else {
                    let _ = self.multi.println(format!("warning: {}", w.message));
                }
            }
            _ => {}
        }
    }

    fn finish(self) {
        for pb in self.bars.values() {
            if !pb.is_finished() {
                pb.finish();
            }
        }
    }
}
