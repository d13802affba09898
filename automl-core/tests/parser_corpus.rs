//! Accuracy of the embedded parser on two corpora:
//! - `tests/data/parser_corpus.txt`: multi-paragraph task descriptions written for automl;
//! - `tests/data/parser_corpus_tuning.txt`: the tuning part of the corpus of real, public task
//!   descriptions (Kaggle briefs, dataset cards, UCI/OpenML descriptions; see docs/parser.md);
//! - `tests/data/parser_corpus_fresh9.txt`: the ninth fresh held-out part (real public task
//!   descriptions collected with the search tools).
//!
//! The floors below are the measured accuracy less a small margin, so a regression of the
//! rules fails this test. The fresh held-out part (`parser_corpus_fresh9.txt`) was scored
//! before and after round 9's tuning (`cargo run --locked --example parser_bench -- fresh9`); its floors only guard
//! against regressions and are not a target to tune towards.
//!
//! Run: `cargo test --workspace --locked --test parser_corpus -- --nocapture` (prints the
//! figures, and every miss of the tuning and written parts; the held-out part's misses are not
//! printed).

use automl_core::agents::parser::learned::{Example as Entry, load_corpus};
use automl_core::agents::parser::parse;
use automl_core::event::{Modality, Objective};

/// Floors on the share of entries answered right, on the written corpus.
const MODALITY_FLOOR: f64 = 0.95;
const OBJECTIVE_FLOOR: f64 = 0.95;

/// Floors on the tuning part of the real corpus (956 entries since round 9, fresh2 to fresh8
/// included; measured 0.990 / 0.988 with the learned second opinion, which is fitted on this
/// very file, so these are in-sample figures: the cross-validated ones are in docs/parser.md).
const REAL_MODALITY_FLOOR: f64 = 0.985;
const REAL_OBJECTIVE_FLOOR: f64 = 0.98;

/// Floors on the ninth fresh held-out part (72 real public task descriptions), scored twice in
/// round 9: with round 8's parser before any round 9 change (0.931 modality / 0.833 objective;
/// rules alone 0.944 / 0.778) and after round 9's changes (fresh8 joined the tuning part the
/// learned model is fitted on; token tags, translated corpora, localisation and ranked-list
/// ratios, the model settling thin objective evidence): measured 0.931 / 0.819 (rules alone
/// 0.944 / 0.792). The floors sit just under, so a regression fails. They must not be raised by
/// tuning on this part.
const FRESH_MODALITY_FLOOR: f64 = 0.92;
const FRESH_OBJECTIVE_FLOOR: f64 = 0.81;

fn corpus() -> Vec<Entry> {
    load_corpus(include_str!("data/parser_corpus.txt"))
}

fn modality_name(m: Modality) -> &'static str {
    m.as_str()
}

#[test]
fn embedded_parser_accuracy_on_the_corpus() {
    let entries = corpus();
    assert!(entries.len() >= 100, "corpus has {} entries", entries.len());
    let (ma, oa) = score(&entries, true);
    assert!(
        ma >= MODALITY_FLOOR,
        "modality accuracy {ma:.3} < {MODALITY_FLOOR}"
    );
    assert!(
        oa >= OBJECTIVE_FLOOR,
        "objective accuracy {oa:.3} < {OBJECTIVE_FLOOR}"
    );
}

#[test]
fn embedded_parser_accuracy_on_the_real_tuning_corpus() {
    let entries = load_corpus(include_str!("data/parser_corpus_tuning.txt"));
    assert!(entries.len() >= 100, "corpus has {} entries", entries.len());
    let (ma, oa) = score(&entries, true);
    assert!(
        ma >= REAL_MODALITY_FLOOR,
        "modality accuracy {ma:.3} < {REAL_MODALITY_FLOOR}"
    );
    assert!(
        oa >= REAL_OBJECTIVE_FLOOR,
        "objective accuracy {oa:.3} < {REAL_OBJECTIVE_FLOOR}"
    );
}

#[test]
fn embedded_parser_accuracy_on_the_fresh_held_out_corpus() {
    let entries = load_corpus(include_str!("data/parser_corpus_fresh9.txt"));
    assert!(entries.len() >= 60, "corpus has {} entries", entries.len());
    let (ma, oa) = score(&entries, false);
    assert!(
        ma >= FRESH_MODALITY_FLOOR,
        "modality accuracy {ma:.3} < {FRESH_MODALITY_FLOOR}"
    );
    assert!(
        oa >= FRESH_OBJECTIVE_FLOOR,
        "objective accuracy {oa:.3} < {FRESH_OBJECTIVE_FLOOR}"
    );
}

#[test]
fn both_parts_of_the_real_corpus_are_labelled_and_attributed() {
    for (name, raw) in [
        ("tuning", include_str!("data/parser_corpus_tuning.txt")),
        ("fresh9", include_str!("data/parser_corpus_fresh9.txt")),
    ] {
        let mut n = 0;
        for line in raw.lines().filter(|l| l.starts_with("=== ")) {
            n += 1;
            let f: Vec<&str> = line[4..].split_whitespace().collect();
            assert_eq!(f.len(), 3, "{name}: {line}");
            assert!(
                ["tabular", "image", "text", "audio", "time_series"].contains(&f[0]),
                "{name}: {line}"
            );
            assert!(
                ["classification", "regression", "unsupported"].contains(&f[1]),
                "{name}: {line}"
            );
            assert!(
                f[2].starts_with("http")
                    || f[2].starts_with("written:fresh2/")
                    || f[2].starts_with("written:fresh3/")
                    || f[2].starts_with("written:fresh4/")
                    || f[2].starts_with("written:fresh5/")
                    || f[2].starts_with("written:fresh6/"),
                "{name}: {line}"
            );
        }
        assert!(n >= 60, "{name} has {n} entries");
    }
}

/// Prints per-label figures and, when `show_misses`, every miss (not for the held-out part:
/// seeing its misses would make it tuning data); returns (modality accuracy, objective
/// accuracy).
fn score(entries: &[Entry], show_misses: bool) -> (f64, f64) {
    let (mut m_ok, mut o_ok) = (0usize, 0usize);
    let mut per_label: std::collections::BTreeMap<String, (usize, usize, usize)> =
        Default::default();
    for e in entries {
        let i = parse(&e.text);
        let mo = modality_name(i.modality) == e.modality;
        let oo = match e.answer.as_str() {
            "unsupported" => !i.supported,
            "classification" => i.supported && i.objective == Objective::Classification,
            "regression" => i.supported && i.objective == Objective::Regression,
            other => panic!("unknown objective label {other}"),
        };
        m_ok += mo as usize;
        o_ok += oo as usize;
        let k = per_label
            .entry(format!("{} {}", e.modality, e.answer))
            .or_default();
        k.0 += 1;
        k.1 += mo as usize;
        k.2 += oo as usize;
        if show_misses && (!mo || !oo) {
            let first: String = e.text.trim().chars().take(90).collect();
            println!(
                "MISS [{} {}] got {} {} supported={} :: {first}",
                e.modality,
                e.answer,
                i.modality.as_str(),
                i.objective.as_str(),
                i.supported
            );
        }
    }
    let n = entries.len() as f64;
    let (ma, oa) = (m_ok as f64 / n, o_ok as f64 / n);
    println!("entries {}", entries.len());
    for (k, (n, m, o)) in &per_label {
        println!("  {k:28} n={n:3} modality {m:3}/{n}  objective {o:3}/{n}");
    }
    println!("modality accuracy  {ma:.3} ({m_ok}/{})", entries.len());
    println!("objective accuracy {oa:.3} ({o_ok}/{})", entries.len());
    (ma, oa)
}
