//! Run with: `cargo run -p automl-example-quickstart -- "classify iris species"`
//!
//! The smallest embedding of automl: build a Conductor with the embedded defaults, start a run,
//! print each event as it streams, then the held-out test metrics.

use automl_core::{Conductor, Event, RunRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "classify iris species".to_string());
    let out = std::env::temp_dir().join("automl-quickstart");
    let conductor = Conductor::builder().build()?;
    let handle = conductor.start(RunRequest::new(prompt).out_dir(&out).time_budget(10.0))?;
    let mut events = handle.events();
    while let Some(env) = events.next().await {
        match &env.event {
            Event::StageStatus(s) => {
                println!("#{:<4} {} {:?}: {}", env.seq, s.stage, s.status, s.message)
            }
            Event::LeaderboardUpdated(l) => {
                if let Some(top) = l.rows.first() {
                    println!(
                        "#{:<4} leader {} {} = {:.4}",
                        env.seq, top.model, l.metric, top.score
                    )
                }
            }
            other => println!("#{:<4} {}", env.seq, other.name()),
        }
    }
    let outcome = handle.wait().await?;
    println!("test metrics: {:?}", outcome.metrics);
    println!("artifacts in {}", outcome.run_dir.display());
    Ok(())
}
