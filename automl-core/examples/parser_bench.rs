//! Accuracy of the embedded parser on the collected corpus of real task descriptions.
//!
//! Prints modality and objective accuracy on the tuning part
//! (`automl-core/tests/data/parser_corpus_tuning.txt`, 956 entries since round 9, fresh7 and
//! fresh8 included) and the ninth fresh held-out part (`parser_corpus_fresh9.txt`, 72 real public task
//! descriptions collected before round 9 changed the parser), a confusion
//! table per part and every miss with its source URL. No LLM is involved.
//!
//! Run: `cargo run --locked --example parser_bench -- [tuning|fresh9|all|written] [-v] [--misses]`
//! (default `all`: tuning and fresh9, printed separately; `written` is the older hand-written
//! corpus; `-v` prints the weighed evidence behind every miss; `tuning -s` prints the scores
//! of every entry, one line each). Tune on `tuning` only: `fresh9`
//! is scored when reporting, and prints its figures and confusion tables only (`--misses` lists
//! its misses too, which spends it as held-out data). Not a timed test: it reports, it does not assert. `RULES_ONLY=1`
//! scores the rules without the learned second opinion (decision 0099).

use std::collections::BTreeMap;

use automl_core::agents::parser::{explain, parse, parse_rules};
use automl_core::event::Objective;

/// A corpus entry: the parser's own loader, so the bench reads corpora as the model does.
use automl_core::agents::parser::learned::{Example as Entry, load_corpus as load};

fn answer(objective: Objective, supported: bool) -> &'static str {
    if !supported {
        "unsupported"
    } else {
        objective.as_str()
    }
}

fn report(name: &str, entries: &[Entry], verbose: bool, show_misses: bool) {
    // `RULES_ONLY=1` scores the rules without the learned second opinion, for comparison.
    let parse = |t: &str| {
        if std::env::var("RULES_ONLY").is_ok_and(|v| v == "1") {
            parse_rules(t)
        } else {
            parse(t)
        }
    };
    let (mut m_ok, mut o_ok) = (0usize, 0usize);
    let mut modality_confusion: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut objective_confusion: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut misses = Vec::new();
    let start = std::time::Instant::now();
    for e in entries {
        let i = parse(&e.text);
        let got_m = i.modality.as_str().to_string();
        let got_o = answer(i.objective, i.supported).to_string();
        let mo = got_m == e.modality;
        let oo = got_o == e.answer;
        m_ok += mo as usize;
        o_ok += oo as usize;
        *modality_confusion
            .entry((e.modality.clone(), got_m.clone()))
            .or_default() += 1;
        *objective_confusion
            .entry((e.answer.clone(), got_o.clone()))
            .or_default() += 1;
        if !mo || !oo {
            misses.push(format!(
                "  MISS want {} {} got {} {} ({}) :: {}",
                e.modality, e.answer, got_m, got_o, i.task_type, e.source
            ));
            if verbose {
                for l in explain(&e.text).lines() {
                    misses.push(format!("      {l}"));
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let n = entries.len().max(1) as f64;
    println!("== {name}: {} entries", entries.len());
    println!(
        "modality accuracy  {:.3} ({m_ok}/{})",
        m_ok as f64 / n,
        entries.len()
    );
    println!(
        "objective accuracy {:.3} ({o_ok}/{})",
        o_ok as f64 / n,
        entries.len()
    );
    println!(
        "parse time: {:.2} ms per entry",
        elapsed.as_secs_f64() * 1000.0 / n
    );
    println!("modality confusion (want -> got: count):");
    for ((w, g), c) in &modality_confusion {
        println!("  {w:12} -> {g:12} {c}");
    }
    println!("objective confusion (want -> got: count):");
    for ((w, g), c) in &objective_confusion {
        println!("  {w:14} -> {g:14} {c}");
    }
    if show_misses {
        for m in misses {
            println!("{m}");
        }
    } else if !misses.is_empty() {
        println!(
            "({} misses not shown: this part is held out; `--misses` shows them and spends it)",
            misses.iter().filter(|m| !m.starts_with("      ")).count()
        );
    }
    println!();
}

/// One line per entry with the scores behind its answer (`-s`): label, answer, modality
/// scores, classification, regression and the strongest unsupported task kind, tab-separated,
/// for studying the decision rule.
fn dump_scores(entries: &[Entry]) {
    for e in entries {
        let i = parse(&e.text);
        let ex = explain(&e.text);
        let val = |key: &str| -> String {
            ex.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| "0".to_string())
        };
        let unsup = ex
            .lines()
            .find_map(|l| l.strip_prefix("unsupported "))
            .unwrap_or("none: 0")
            .replace(": ", "\t");
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            e.modality,
            e.answer,
            i.modality.as_str(),
            answer(i.objective, i.supported),
            val("classification:"),
            val("regression:"),
            unsup,
            ["tabular", "image", "text", "audio", "time_series"]
                .iter()
                .map(|m| val(&format!("modality {m}:")))
                .collect::<Vec<_>>()
                .join("\t"),
            e.source
        );
    }
}

fn main() {
    let part = std::env::args().nth(1).unwrap_or_else(|| "all".to_string());
    // `-v` after the part prints the weighed evidence of every miss.
    let verbose = std::env::args().nth(2).as_deref() == Some("-v");
    // A held-out part prints its figures only: seeing its misses would make it tuning data.
    let held_out_misses = std::env::args().any(|a| a == "--misses");
    if std::env::args().nth(2).as_deref() == Some("-s") {
        let raw = match part.as_str() {
            "tuning" => include_str!("../tests/data/parser_corpus_tuning.txt"),
            "written" => include_str!("../tests/data/parser_corpus.txt"),
            _ => {
                eprintln!("-s dumps the scores of one tuning part: tuning or written");
                std::process::exit(2);
            }
        };
        dump_scores(&load(raw));
        return;
    }
    let tuning = load(include_str!("../tests/data/parser_corpus_tuning.txt"));
    let fresh9 = load(include_str!("../tests/data/parser_corpus_fresh9.txt"));
    let written = load(include_str!("../tests/data/parser_corpus.txt"));
    match part.as_str() {
        "written" => report(
            "written (tests/data/parser_corpus.txt)",
            &written,
            verbose,
            true,
        ),
        "tuning" => report("tuning", &tuning, verbose, true),
        "fresh9" => report("fresh9 held-out", &fresh9, verbose, held_out_misses),
        "all" => {
            report("tuning", &tuning, verbose, true);
            report("fresh9 held-out", &fresh9, verbose, held_out_misses);
        }
        other => {
            eprintln!("unknown part {other:?}: use tuning, fresh9, all or written");
            std::process::exit(2);
        }
    }
}
