//! Cross-validation of the learned second opinion on the tuning corpus, to check that it
//! generalises before the parser trusts it (issue 15, round 7; decision 0099).
//!
//! Only the tuning part is read (`tests/data/parser_corpus_tuning.txt`); the held-out part is
//! never touched here. Two splits:
//! - 10-fold: entry i goes to fold i mod 10; each fold is scored by models fitted on the other
//!   nine, so no entry is scored by a model that saw it;
//! - leave one part out: the real briefs (parts 1-3), the real briefs of fresh7 (appended in
//!   round 8), those of fresh8 (appended in round 9) and each hand-written part (fresh2 to
//!   fresh6) in turn are scored by models fitted on all the other parts.
//!
//! For each, three answers are scored: the rules alone (`parse_rules`; note the rules were
//! tuned on every part except fresh6, which they scored once as held-out: their figures on the
//! other parts are in-sample), the model alone (its most probable modality and answer) and the
//! blend (`parse_with`, the rule that `parse` uses).
//!
//! Run: `cargo run --locked -p automl-core --example parser_cv -- [cv|misses|dump|explain <text>]`
//! (`misses` lists the blend's 10-fold out-of-fold misses on the tuning part; `explain` prints the rules' scores and the learned opinion for one request; `dump` prints, tab-separated, every entry's label, the rules' answer and scores and the
//! out-of-fold model probabilities, for studying the blending rule).

use automl_core::agents::parser::learned::{Example, Models, load_corpus};
use automl_core::agents::parser::{explain, parse_rules, parse_with};
use automl_core::event::Objective;

const FOLDS: usize = 10;

fn answer(objective: Objective, supported: bool) -> &'static str {
    if !supported {
        "unsupported"
    } else {
        objective.as_str()
    }
}

/// Index of the first fresh7 entry in the tuning file: round 8 appended the 102 real briefs of
/// the round 7 held-out part at the end, and they form their own part here.
const FRESH7_START: usize = 793;

/// Index of the first fresh8 entry: round 9 appended the 61 real briefs of the round 8
/// held-out part after fresh7.
const FRESH8_START: usize = 895;

/// The part of entry `i`: "real" (parts 1-3), "fresh7", "fresh8", or a hand-written part.
fn part_at(all: &[Example], i: usize) -> String {
    let p = part(&all[i]);
    if i >= FRESH8_START && p == "real" {
        "fresh8".to_string()
    } else if i >= FRESH7_START && p == "real" {
        "fresh7".to_string()
    } else {
        p
    }
}

fn part(e: &Example) -> String {
    e.source
        .strip_prefix("written:")
        .and_then(|s| s.split('/').next())
        .unwrap_or("real")
        .to_string()
}

#[derive(Default, Clone, Copy)]
struct Tally {
    n: usize,
    rules: (usize, usize),
    model: (usize, usize),
    blend: (usize, usize),
}

impl Tally {
    fn add(&mut self, e: &Example, models: &Models) {
        self.n += 1;
        let r = parse_rules(&e.text);
        let b = parse_with(&e.text, models);
        let o = models.opinion(&e.text);
        let hit = |m: &str, a: &str| ((m == e.modality) as usize, (a == e.answer) as usize);
        let add = |t: &mut (usize, usize), h: (usize, usize)| {
            t.0 += h.0;
            t.1 += h.1;
        };
        add(
            &mut self.rules,
            hit(r.modality.as_str(), answer(r.objective, r.supported)),
        );
        add(
            &mut self.blend,
            hit(b.modality.as_str(), answer(b.objective, b.supported)),
        );
        add(
            &mut self.model,
            hit(o.modality[0].0.as_str(), o.answer[0].0.as_str()),
        );
    }

    fn print(&self, name: &str) {
        let n = self.n.max(1) as f64;
        let f = |t: (usize, usize)| {
            format!(
                "modality {:.3} ({}/{})  objective {:.3} ({}/{})",
                t.0 as f64 / n,
                t.0,
                self.n,
                t.1 as f64 / n,
                t.1,
                self.n
            )
        };
        println!("{name}");
        println!("  rules alone  {}", f(self.rules));
        println!("  model alone  {}", f(self.model));
        println!("  blend        {}", f(self.blend));
    }
}

fn folds(all: &[Example]) -> Vec<(Vec<usize>, Models)> {
    (0..FOLDS)
        .map(|k| {
            let train: Vec<Example> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| i % FOLDS != k)
                .map(|(_, e)| e.clone())
                .collect();
            let test: Vec<usize> = (0..all.len()).filter(|i| i % FOLDS == k).collect();
            (test, Models::fit(&train))
        })
        .collect()
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "cv".to_string());
    let all = load_corpus(include_str!("../tests/data/parser_corpus_tuning.txt"));
    match mode.as_str() {
        "cv" => {
            let mut total = Tally::default();
            let mut by_part: std::collections::BTreeMap<String, Tally> = Default::default();
            for (test, models) in folds(&all) {
                for i in test {
                    total.add(&all[i], &models);
                    by_part
                        .entry(part_at(&all, i))
                        .or_default()
                        .add(&all[i], &models);
                }
            }
            total.print(&format!(
                "== {FOLDS}-fold, all {} tuning entries",
                all.len()
            ));
            for (p, t) in &by_part {
                t.print(&format!("   {FOLDS}-fold, part {p} ({} entries)", t.n));
            }
            println!();
            let part_of: Vec<String> = (0..all.len()).map(|i| part_at(&all, i)).collect();
            let parts: std::collections::BTreeSet<String> = part_of.iter().cloned().collect();
            for p in parts {
                let train: Vec<Example> = (0..all.len())
                    .filter(|&i| part_of[i] != p)
                    .map(|i| all[i].clone())
                    .collect();
                let models = Models::fit(&train);
                let mut t = Tally::default();
                for i in (0..all.len()).filter(|&i| part_of[i] == p) {
                    t.add(&all[i], &models);
                }
                t.print(&format!(
                    "== leave part {p} out ({} entries scored, model fitted on {})",
                    t.n,
                    train.len()
                ));
            }
        }
        "misses" => {
            // The blend's out-of-fold misses on the tuning part (never the held-out part).
            for (test, models) in folds(&all) {
                for i in test {
                    let e = &all[i];
                    let b = parse_with(&e.text, &models);
                    let (m, a) = (b.modality.as_str(), answer(b.objective, b.supported));
                    if m != e.modality || a != e.answer {
                        println!(
                            "MISS {}\twant {} {}\tgot {} {} ({})\t{}",
                            part_at(&all, i),
                            e.modality,
                            e.answer,
                            m,
                            a,
                            b.task_type,
                            e.source
                        );
                    }
                }
            }
        }
        "dump" => {
            println!(
                "part\tmodality\tanswer\trules_modality\trules_answer\trules_margin\tcls\treg\tunsup\tmodel_modality\tmodel_modality_p\tp_classification\tp_regression\tp_unsupported\tsource"
            );
            for (test, models) in folds(&all) {
                for i in test {
                    let e = &all[i];
                    let r = parse_rules(&e.text);
                    let o = models.opinion(&e.text);
                    let ex = explain(&e.text);
                    let mods: Vec<f64> = ex
                        .lines()
                        .filter(|l| l.starts_with("modality "))
                        .filter_map(|l| l.rsplit(": ").next()?.parse().ok())
                        .collect();
                    let margin = if mods.first().copied().unwrap_or(0.0) > 1.2 {
                        mods[0] - mods.get(1).copied().unwrap_or(0.0)
                    } else {
                        0.0
                    };
                    let val = |k: &str| -> String {
                        ex.lines()
                            .find_map(|l| l.strip_prefix(k))
                            .map(|v| v.trim().to_string())
                            .unwrap_or_else(|| "0".into())
                    };
                    let unsup = ex
                        .lines()
                        .find_map(|l| l.strip_prefix("unsupported "))
                        .and_then(|l| l.rsplit(": ").next())
                        .unwrap_or("0")
                        .to_string();
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{margin:.2}\t{}\t{}\t{unsup}\t{}\t{:.4}\t{:.4}\t{:.4}\t{:.4}\t{}",
                        part_at(&all, i),
                        e.modality,
                        e.answer,
                        r.modality.as_str(),
                        answer(r.objective, r.supported),
                        val("classification:"),
                        val("regression:"),
                        o.modality[0].0.as_str(),
                        o.modality[0].1,
                        o.answer_p("classification"),
                        o.answer_p("regression"),
                        o.answer_p("unsupported"),
                        e.source
                    );
                }
            }
        }
        "explain" => {
            // The rules' scores and the learned opinion for one request, and both answers.
            let text = std::env::args().skip(2).collect::<Vec<_>>().join(" ");
            print!("{}", explain(&text));
            let r = parse_rules(&text);
            let b = automl_core::agents::parser::parse(&text);
            println!(
                "rules: {} {}\nblend: {} {} ({})",
                r.modality.as_str(),
                answer(r.objective, r.supported),
                b.modality.as_str(),
                answer(b.objective, b.supported),
                b.task_type
            );
        }
        other => {
            eprintln!("unknown mode {other:?}: use cv, dump or explain <text>");
            std::process::exit(2);
        }
    }
}
