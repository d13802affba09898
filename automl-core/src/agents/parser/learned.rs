//! A learned second opinion for the embedded parser: a multinomial logistic regression over
//! the word unigrams and bigrams of a request, fitted at first use from the tuning corpus that
//! is embedded in the binary (`tests/data/parser_corpus_tuning.txt`, every entry labelled by
//! reading it). No model file, no network: the same corpus gives the same model.
//!
//! Two models are fitted: one for the modality (tabular, image, text, audio, time series) and
//! one for the answer (classification, regression or unsupported). Each gives a probability
//! per label; [`super::parse`] blends them with the rules by the rule documented there.
//!
//! Features are the distinct lowercase words of the text (numbers folded into one token) and
//! the pairs of adjacent words; each counts once per text, and a text's feature vector is
//! divided by the square root of its number of features, so a long brief and a one-line ask
//! weigh alike. Fitting is stochastic gradient descent with per-weight step sizes (AdaGrad,
//! [`STEP`]), a small L2 penalty ([`L2`]) and [`EPOCHS`] passes over the examples in a fixed
//! order (by a hash of their text), so the fit does not depend on the corpus's order and is the
//! same on every machine. Cross-validation on the tuning corpus chose logistic regression over
//! naive Bayes (docs/parser.md, decision 0099).

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use crate::event::Modality;

/// Passes over the training examples.
pub const EPOCHS: usize = 10;

/// AdaGrad's base step for the feature weights.
pub const STEP: f64 = 0.5;

/// The step for the per-label bias (plain SGD).
const BIAS_STEP: f64 = 0.1;

/// L2 penalty on the feature weights.
pub const L2: f64 = 1e-4;

/// The corpus the embedded models are fitted on: the tuning part, never a held-out part.
const CORPUS: &str = include_str!("../../../tests/data/parser_corpus_tuning.txt");

/// One labelled text of a corpus.
#[derive(Debug, Clone)]
pub struct Example {
    /// `tabular`, `image`, `text`, `audio` or `time_series`.
    pub modality: String,
    /// `classification`, `regression` or `unsupported`.
    pub answer: String,
    /// Where it came from (URL or `written:…` id).
    pub source: String,
    /// The text itself.
    pub text: String,
}

/// Reads a corpus file: entries start with `=== <modality> <answer> [source]`; `# from:` and
/// `# source:` lines are attribution and are skipped; lines before the first entry are the
/// file's header.
pub fn load_corpus(raw: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    for line in raw.lines() {
        if let Some(h) = line.strip_prefix("=== ") {
            let mut it = h.split_whitespace();
            out.push(Example {
                modality: it.next().unwrap_or_default().to_string(),
                answer: it.next().unwrap_or_default().to_string(),
                source: it.next().unwrap_or_default().to_string(),
                text: String::new(),
            });
        } else if let Some(e) = out.last_mut() {
            if line.starts_with("# from:") || line.starts_with("# source:") {
                continue;
            }
            e.text.push_str(line);
            e.text.push('\n');
        }
    }
    out
}

/// The distinct features of a text: lowercase words (runs of letters and digits, a number
/// folded into `<num>`), and adjacent word pairs joined by a space.
pub fn features(text: &str) -> BTreeSet<String> {
    let lower = text.to_lowercase();
    let words: Vec<String> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.chars().all(|c| c.is_ascii_digit()) {
                "<num>".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    let mut out: BTreeSet<String> = words.iter().filter(|w| w.len() > 1).cloned().collect();
    for p in words.windows(2) {
        out.insert(format!("{} {}", p[0], p[1]));
    }
    out
}

/// FNV-1a 64 of a text: the fixed training order.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A multinomial logistic regression over binarised, length-normalised features.
#[derive(Debug, Clone)]
pub struct Model {
    labels: Vec<String>,
    bias: Vec<f64>,
    /// Feature → its row in `weights`.
    vocab: HashMap<String, usize>,
    /// One row of `labels.len()` weights per feature.
    weights: Vec<f64>,
}

impl Model {
    /// Fits on `(label, text)` pairs. Labels are kept sorted.
    pub fn fit<'a>(examples: impl IntoIterator<Item = (&'a str, &'a str)>) -> Model {
        let examples: Vec<(&str, &str)> = examples.into_iter().collect();
        let feats: Vec<BTreeSet<String>> = examples.iter().map(|(_, t)| features(t)).collect();
        Model::fit_features(examples.iter().zip(&feats).map(|((l, t), f)| (*l, *t, f)))
    }

    /// Fits on `(label, text, features of the text)`: the features computed once serve
    /// both models.
    fn fit_features<'a>(
        examples: impl IntoIterator<Item = (&'a str, &'a str, &'a BTreeSet<String>)>,
    ) -> Model {
        let mut examples: Vec<(&str, &str, &BTreeSet<String>)> = examples.into_iter().collect();
        // The training order: by a hash of the text, so it neither depends on the corpus's
        // order nor runs label by label.
        examples.sort_by_cached_key(|e| (fnv(e.1), e.1, e.0));
        let labels: Vec<String> = examples
            .iter()
            .map(|(l, _, _)| l.to_string())
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect();
        // Features are numbered once, so the passes below index arrays instead of hashing
        // strings (fitting the embedded corpus takes milliseconds, not seconds).
        let mut vocab: HashMap<String, usize> = HashMap::new();
        let docs: Vec<(usize, Vec<usize>)> = examples
            .iter()
            .map(|(l, _, f)| {
                let fs = f
                    .iter()
                    .map(|f| {
                        let next = vocab.len();
                        *vocab.entry(f.clone()).or_insert(next)
                    })
                    .collect();
                (labels.iter().position(|x| x == l).unwrap_or_default(), fs)
            })
            .collect();
        let k = labels.len();
        let mut bias = vec![0.0; k];
        let mut weights = vec![0.0; vocab.len() * k];
        let mut grad_sq = vec![1e-8; vocab.len() * k];
        let mut s = vec![0.0; k];
        let mut g = vec![0.0; k];
        let n = docs.len();
        for epoch in 0..EPOCHS {
            for j in 0..n {
                let (y, fs) = &docs[(j + 7 * epoch) % n];
                let scale = (fs.len().max(1) as f64).sqrt();
                s.copy_from_slice(&bias);
                for &f in fs {
                    for (sk, wk) in s.iter_mut().zip(&weights[f * k..(f + 1) * k]) {
                        *sk += wk / scale;
                    }
                }
                let p = softmax(&s);
                for c in 0..k {
                    g[c] = p[c] - if c == *y { 1.0 } else { 0.0 };
                }
                for (b, gc) in bias.iter_mut().zip(&g) {
                    *b -= BIAS_STEP * gc;
                }
                for &f in fs {
                    let w = &mut weights[f * k..(f + 1) * k];
                    let gs = &mut grad_sq[f * k..(f + 1) * k];
                    for c in 0..k {
                        let d = g[c] / scale + L2 * w[c];
                        gs[c] += d * d;
                        w[c] -= STEP * d / gs[c].sqrt();
                    }
                }
            }
        }
        Model {
            labels,
            bias,
            vocab,
            weights,
        }
    }

    /// The probability of each label for `text`, highest first. A text with no known feature
    /// gets the bias alone.
    pub fn predict(&self, text: &str) -> Vec<(String, f64)> {
        let fs = features(text);
        let scale = (fs.len().max(1) as f64).sqrt();
        let k = self.labels.len();
        let mut s = self.bias.clone();
        for f in &fs {
            if let Some(&i) = self.vocab.get(f) {
                for (sk, wk) in s.iter_mut().zip(&self.weights[i * k..(i + 1) * k]) {
                    *sk += wk / scale;
                }
            }
        }
        let mut out: Vec<(String, f64)> = self.labels.iter().cloned().zip(softmax(&s)).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

fn softmax(s: &[f64]) -> Vec<f64> {
    let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = s.iter().map(|v| (v - max).exp()).collect();
    let z: f64 = e.iter().sum();
    e.into_iter().map(|v| v / z).collect()
}

/// The two models the parser consults.
#[derive(Debug, Clone)]
pub struct Models {
    modality: Model,
    answer: Model,
}

/// What the models say about one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Opinion {
    /// Probability of each modality, highest first.
    pub modality: Vec<(Modality, f64)>,
    /// Probability of `classification`, `regression` and `unsupported`, highest first.
    pub answer: Vec<(String, f64)>,
}

impl Opinion {
    /// The probability given to `answer` (`classification`, `regression`, `unsupported`).
    pub fn answer_p(&self, answer: &str) -> f64 {
        self.answer
            .iter()
            .find(|(a, _)| a == answer)
            .map(|x| x.1)
            .unwrap_or(0.0)
    }
}

fn modality_of(s: &str) -> Option<Modality> {
    match s {
        "tabular" => Some(Modality::Tabular),
        "image" => Some(Modality::Image),
        "text" => Some(Modality::Text),
        "audio" => Some(Modality::Audio),
        "time_series" => Some(Modality::TimeSeries),
        _ => None,
    }
}

impl Models {
    /// Fits both models on labelled examples (entries with an unknown label are skipped).
    pub fn fit(examples: &[Example]) -> Models {
        let ok: Vec<&Example> = examples
            .iter()
            .filter(|e| {
                modality_of(&e.modality).is_some()
                    && ["classification", "regression", "unsupported"].contains(&e.answer.as_str())
            })
            .collect();
        let feats: Vec<BTreeSet<String>> = ok.iter().map(|e| features(&e.text)).collect();
        let with = |label: fn(&Example) -> &str| {
            Model::fit_features(
                ok.iter()
                    .zip(&feats)
                    .map(move |(e, f)| (label(e), e.text.as_str(), f)),
            )
        };
        Models {
            modality: with(|e| e.modality.as_str()),
            answer: with(|e| e.answer.as_str()),
        }
    }

    /// The models' opinion of `text`.
    pub fn opinion(&self, text: &str) -> Opinion {
        Opinion {
            modality: self
                .modality
                .predict(text)
                .into_iter()
                .filter_map(|(m, p)| modality_of(&m).map(|m| (m, p)))
                .collect(),
            answer: self.answer.predict(text),
        }
    }
}

/// The models fitted on the embedded tuning corpus, at first use.
pub static EMBEDDED: LazyLock<Models> = LazyLock::new(|| Models::fit(&load_corpus(CORPUS)));

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(m: &str, a: &str, t: &str) -> Example {
        Example {
            modality: m.into(),
            answer: a.into(),
            source: String::new(),
            text: t.into(),
        }
    }

    #[test]
    fn features_are_words_numbers_and_pairs() {
        let f = features("Predict the Price, 2024 prices!");
        assert!(f.contains("predict"));
        assert!(f.contains("<num>"));
        assert!(f.contains("price <num>"));
        assert!(f.contains("the price"));
        assert!(!f.contains("Price"));
    }

    #[test]
    fn corpus_loader_skips_attribution_and_header() {
        let raw = "# header line\n# source: https://x\n=== image unsupported https://x\n# from: somewhere\nfind the boxes\n# source: https://y\n=== text classification https://y\nsort the mails\n";
        let c = load_corpus(raw);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].modality, "image");
        assert_eq!(c[0].answer, "unsupported");
        assert_eq!(c[0].text, "find the boxes\n");
        assert_eq!(c[1].text, "sort the mails\n");
    }

    #[test]
    fn a_small_model_learns_its_examples_and_gives_probabilities() {
        let data = vec![
            ex(
                "image",
                "unsupported",
                "draw boxes around every kayak in the harbour webcam",
            ),
            ex(
                "image",
                "unsupported",
                "draw boxes around the seals on the beach photos",
            ),
            ex(
                "tabular",
                "regression",
                "how many litres of milk will each cow give next week",
            ),
            ex(
                "tabular",
                "regression",
                "how many kilos of apples will each tree give",
            ),
            ex(
                "text",
                "classification",
                "sort the customer letters into praise and complaint",
            ),
            ex(
                "text",
                "classification",
                "sort the support letters into urgent and routine",
            ),
        ];
        let m = Models::fit(&data);
        let o = m.opinion("draw boxes around the gulls");
        assert_eq!(o.answer[0].0, "unsupported");
        assert_eq!(o.modality[0].0, Modality::Image);
        let total: f64 = o.answer.iter().map(|x| x.1).sum();
        assert!((total - 1.0).abs() < 1e-9);
        let o = m.opinion("how many eggs will each hen give");
        assert_eq!(o.answer[0].0, "regression");
        assert!(o.answer_p("regression") > o.answer_p("classification"));
        // No known word: the bias alone, nowhere near certain.
        let o = m.opinion("zzz qqq");
        assert!(o.answer[0].1 < 0.6, "{:?}", o.answer);
    }

    #[test]
    fn fitting_does_not_depend_on_the_order_of_the_corpus() {
        let a = vec![
            ex("text", "classification", "tag these posts by topic"),
            ex("tabular", "regression", "estimate the rent of each flat"),
        ];
        let b: Vec<Example> = a.iter().rev().cloned().collect();
        let t = "estimate the topic of each flat";
        assert_eq!(Models::fit(&a).opinion(t), Models::fit(&b).opinion(t));
    }

    #[test]
    fn the_embedded_models_are_fitted_on_the_tuning_corpus() {
        let n = load_corpus(CORPUS).len();
        assert!(n >= 700, "tuning corpus has {n} entries");
        let o = EMBEDDED.opinion("translate our product descriptions from English into German");
        assert_eq!(o.answer.len(), 3);
        assert_eq!(o.modality.len(), 5);
    }
}
