//! Fuzz-style property test of CSV → profile: seeded random inputs (CSV-shaped text with
//! quotes, delimiters, missing tokens, odd bytes; and mutated real rows) must give a table and
//! a profile or a typed error, never a panic. The libFuzzer target over the same path lives
//! in `fuzz/` (`cargo fuzz run csv_profile`); this test runs everywhere without it.
//!
//! `AUTOML_FUZZ_CASES` sets the number of cases (default 400).

use std::io::Write;

use automl_core::data::profile::{TargetHints, profile_dataset};
use automl_core::data::{self, Dataset};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Pieces for well-formed-ish rows; `ODD` adds bytes that make a file binary or badly encoded.
const ODD: &[&str] = &["\0", "\x01", "\u{feff}", "\r", "\"\"\"", "\"", "\"\""];
const PIECES: &[&str] = &[
    ",",
    ",",
    ";",
    "\t",
    "|",
    "\n",
    "\r\n",
    "\"a,b\"",
    "?",
    "NA",
    "",
    " ",
    "1",
    "-2",
    "3.5",
    "1e9",
    "inf",
    "NaN",
    "true",
    "no",
    "2021-01-02",
    "2021-01-02 10:11:12",
    "abc",
    "a b c d e",
    "é",
    "9999999999999999999999",
    "id",
    "label",
    "target",
    "x",
];

fn random_csv(rng: &mut ChaCha8Rng) -> Vec<u8> {
    match rng.gen_range(0..4) {
        0 => (0..rng.gen_range(0..400))
            .map(|_| rng.r#gen::<u8>())
            .collect(),
        1 => {
            let n = rng.gen_range(0..200);
            (0..n)
                .map(|_| {
                    if rng.gen_bool(0.1) {
                        ODD[rng.gen_range(0..ODD.len())]
                    } else {
                        PIECES[rng.gen_range(0..PIECES.len())]
                    }
                })
                .collect::<String>()
                .into_bytes()
        }
        _ => {
            // Well-formed-ish: a header, rows of mostly the right width, then mutations.
            let cols = rng.gen_range(1..6);
            let mut s = (0..cols)
                .map(|i| format!("c{i}"))
                .collect::<Vec<_>>()
                .join(",");
            s.push('\n');
            let ragged = rng.gen_bool(0.2);
            for _ in 0..rng.gen_range(0..60) {
                let w = if !ragged || rng.gen_bool(0.9) {
                    cols
                } else {
                    rng.gen_range(1..8)
                };
                let row: Vec<&str> = (0..w)
                    .map(|_| PIECES[rng.gen_range(0..PIECES.len())])
                    .map(|p| {
                        if p.contains(['\n', '\r']) || (p.contains(',') && !p.starts_with('"')) {
                            "x"
                        } else {
                            p
                        }
                    })
                    .collect();
                s.push_str(&row.join(","));
                s.push('\n');
            }
            let mut b = s.into_bytes();
            for _ in 0..rng.gen_range(0..3) {
                if rng.gen_bool(0.5) {
                    continue;
                }
                if b.is_empty() {
                    break;
                }
                let i = rng.gen_range(0..b.len());
                b[i] = rng.r#gen();
            }
            b
        }
    }
}

#[test]
fn csv_to_profile_never_panics() {
    let cases: usize = std::env::var("AUTOML_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let d = tempfile::tempdir().expect("tmp");
    let mut rng = ChaCha8Rng::seed_from_u64(0x00A1_7003);
    let intent = automl_core::agents::parser::parse("");
    let (mut loaded, mut profiled) = (0, 0);
    for case in 0..cases {
        let body = random_csv(&mut rng);
        let p = d.path().join(format!("f{}.csv", case % 8));
        std::fs::File::create(&p)
            .and_then(|mut f| f.write_all(&body))
            .expect("write");
        let outcome = std::panic::catch_unwind(|| match data::load(&p) {
            Ok(Dataset::Table(t)) => {
                let ds = Dataset::Table(t);
                let _ = data::sample_payload(&ds, None);
                (
                    true,
                    profile_dataset(&ds, &TargetHints::default(), &intent).is_ok(),
                )
            }
            Ok(Dataset::Images(_)) => (true, false),
            Err(e) => {
                assert!(!e.to_string().is_empty());
                if std::env::var_os("AUTOML_FUZZ_VERBOSE").is_some() {
                    eprintln!("{}", e.code());
                }
                (false, false)
            }
        });
        match outcome {
            Ok((l, pr)) => {
                loaded += usize::from(l);
                profiled += usize::from(pr);
            }
            Err(_) => panic!(
                "case {case} panicked; input (lossy): {:?}",
                String::from_utf8_lossy(&body)
            ),
        }
    }
    // The generator must reach the deep path, not only the early rejections.
    assert!(loaded * 5 > cases, "only {loaded} of {cases} loaded");
    assert!(profiled * 10 > cases, "only {profiled} of {cases} profiled");
    eprintln!("{cases} cases: {loaded} loaded, {profiled} profiled, 0 panics");
}
