//! Sparse TF-IDF features of free text: word unigrams and bigrams plus character 2- to 5-grams,
//! hashed (no n-gram strings are stored), kept when at least [`MIN_DF`] training documents hold
//! them (at most [`MAX_VOCAB`], the most frequent), weighted `(1 + ln tf) · idf` and L2-normalised
//! per kind. The result is a CSR matrix: memory is linear in the non-zeros, never a dense copy.

use std::collections::HashMap;

/// Mean words per value from which a string column is free text (messages, reviews): the
/// text is then what the task is about. Below it, a text column is short text (names,
/// titles), one feature among the others.
pub const FREE_TEXT_WORDS: f64 = 4.0;

/// Mean whitespace-separated words per value over the first 2,000 present values.
pub fn mean_words<'a>(values: impl IntoIterator<Item = &'a str>) -> f64 {
    let (mut n, mut words) = (0usize, 0usize);
    for v in values.into_iter().take(2000) {
        n += 1;
        words += v.split_whitespace().count();
    }
    words as f64 / n.max(1) as f64
}

/// An n-gram must appear in at least this many training documents to be kept.
pub const MIN_DF: u32 = 2;
/// Most n-grams kept per text column (the highest document frequencies).
pub const MAX_VOCAB: usize = 60_000;
/// Character n-gram lengths.
pub const CHAR_NGRAMS: std::ops::RangeInclusive<usize> = 2..=5;

/// A row-compressed sparse matrix of `f32` values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Csr {
    /// Row `i` holds entries `indptr[i]..indptr[i + 1]`.
    pub indptr: Vec<usize>,
    /// Column of each entry.
    pub indices: Vec<u32>,
    /// Value of each entry.
    pub values: Vec<f32>,
    /// Number of columns.
    pub ncols: usize,
}

impl Csr {
    /// An empty matrix of `ncols` columns and no rows.
    pub fn new(ncols: usize) -> Csr {
        Csr {
            indptr: vec![0],
            indices: vec![],
            values: vec![],
            ncols,
        }
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// Appends a row from (column, value) pairs (columns must be below `ncols`).
    pub fn push_row(&mut self, entries: impl IntoIterator<Item = (u32, f32)>) {
        for (c, v) in entries {
            self.indices.push(c);
            self.values.push(v);
        }
        self.indptr.push(self.indices.len());
    }

    /// The entries of row `i`.
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }

    /// The rows `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Csr {
        let mut out = Csr::new(self.ncols);
        for i in idx {
            let (c, v) = self.row(*i);
            out.push_row(c.iter().copied().zip(v.iter().copied()));
        }
        out
    }

    /// Rows of `self` then rows of `other` (same width).
    pub fn vstack(&self, other: &Csr) -> Csr {
        let mut out = self.clone();
        for i in 0..other.nrows() {
            let (c, v) = other.row(i);
            out.push_row(c.iter().copied().zip(v.iter().copied()));
        }
        out
    }

    /// Heap bytes held by the matrix.
    pub fn heap_bytes(&self) -> usize {
        self.indptr.len() * 8 + self.indices.len() * 4 + self.values.len() * 4
    }
}

const WORD_SEED: u64 = 0xcbf2_9ce4_8422_2325;
const CHAR_SEED: u64 = 0x84222325_cbf29ce4;

fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn mix(a: u64, b: u64) -> u64 {
    // Order-sensitive combination for word pairs.
    (a.rotate_left(17) ^ b).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Hashed word n-grams (kind 0) and character n-grams (kind 1) of `text`, with counts.
fn ngrams(text: &str, out: &mut HashMap<u64, (u8, u32)>) {
    out.clear();
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '£' && c != '$')
        .filter(|t| !t.is_empty())
        .collect();
    let hashes: Vec<u64> = words.iter().map(|w| fnv(WORD_SEED, w.as_bytes())).collect();
    for h in &hashes {
        out.entry(*h & !1).or_insert((0, 0)).1 += 1;
    }
    for w in hashes.windows(2) {
        out.entry(mix(w[0], w[1]) & !1).or_insert((0, 0)).1 += 1;
    }
    // Characters with runs of white space collapsed, padded so that word edges count.
    let mut norm = String::with_capacity(lower.len() + 2);
    norm.push(' ');
    let mut space = true;
    for c in lower.chars() {
        if c.is_whitespace() {
            if !space {
                norm.push(' ');
            }
            space = true;
        } else {
            norm.push(c);
            space = false;
        }
    }
    if !space {
        norm.push(' ');
    }
    let bounds: Vec<usize> = norm
        .char_indices()
        .map(|(i, _)| i)
        .chain([norm.len()])
        .collect();
    let n_chars = bounds.len() - 1;
    for n in CHAR_NGRAMS {
        for s in 0..n_chars.saturating_sub(n - 1) {
            let g = &norm.as_bytes()[bounds[s]..bounds[s + n]];
            out.entry(fnv(CHAR_SEED, g) | 1).or_insert((1, 0)).1 += 1;
        }
    }
}

/// The fitted vocabulary of one text column: kept n-gram hashes and their idf.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// Kept n-gram hashes, in feature order (word n-grams have the low bit 0, characters 1).
    pub grams: Vec<u64>,
    /// Inverse document frequency of each, `ln((1 + n) / (1 + df)) + 1`.
    pub idf: Vec<f64>,
}

/// Fits the vocabulary on training documents (missing ones count as empty).
pub fn fit(docs: &[Option<String>]) -> Vocabulary {
    let mut df: HashMap<u64, u32> = HashMap::new();
    let mut grams = HashMap::new();
    for d in docs {
        ngrams(d.as_deref().unwrap_or(""), &mut grams);
        for g in grams.keys() {
            *df.entry(*g).or_default() += 1;
        }
    }
    let mut kept: Vec<(u64, u32)> = df.into_iter().filter(|(_, c)| *c >= MIN_DF).collect();
    // Highest document frequency first; the hash breaks ties so the order is reproducible.
    kept.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    kept.truncate(MAX_VOCAB);
    let n = docs.len() as f64;
    Vocabulary {
        idf: kept
            .iter()
            .map(|(_, c)| ((1.0 + n) / (1.0 + f64::from(*c))).ln() + 1.0)
            .collect(),
        grams: kept.into_iter().map(|(g, _)| g).collect(),
    }
}

/// TF-IDF rows of `docs` over a vocabulary, appended to `out` with column offset `offset`.
/// Word and character parts are each L2-normalised and scaled by 1/√2, so every non-empty row
/// has unit norm. `index` maps a gram hash to its feature (build it with [`index`]).
pub fn transform_into(
    docs: &[Option<String>],
    vocab: &Vocabulary,
    index: &HashMap<u64, u32>,
    offset: u32,
    rows: &mut [Vec<(u32, f32)>],
) {
    let mut grams = HashMap::new();
    for (i, d) in docs.iter().enumerate() {
        let Some(d) = d else { continue };
        ngrams(d, &mut grams);
        let mut parts: [Vec<(u32, f64)>; 2] = [Vec::new(), Vec::new()];
        for (g, (kind, tf)) in &grams {
            if let Some(j) = index.get(g) {
                let w = (1.0 + f64::from(*tf).ln()) * vocab.idf[*j as usize];
                parts[*kind as usize].push((*j, w));
            }
        }
        for part in &mut parts {
            let norm = part.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
            if norm > 0.0 {
                let s = std::f64::consts::FRAC_1_SQRT_2 / norm;
                rows[i].extend(part.iter().map(|(j, w)| (offset + j, (w * s) as f32)));
            }
        }
    }
}

/// Gram hash → feature index.
pub fn index(vocab: &Vocabulary) -> HashMap<u64, u32> {
    vocab
        .grams
        .iter()
        .enumerate()
        .map(|(i, g)| (*g, i as u32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tfidf_rows_are_unit_norm_and_unseen_grams_vanish() {
        let docs: Vec<Option<String>> = ["free prize now", "call me now", "free call", "hello"]
            .iter()
            .map(|s| Some(s.to_string()))
            .collect();
        let v = fit(&docs);
        assert!(!v.grams.is_empty());
        let idx = index(&v);
        let mut rows = vec![Vec::new(); 3];
        let new = vec![
            Some("free now".to_string()),
            Some("zzzz qqqq".to_string()),
            None,
        ];
        transform_into(&new, &v, &idx, 0, &mut rows);
        let norm: f32 = rows[0].iter().map(|(_, w)| w * w).sum();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
        assert!(rows[1].is_empty(), "no kept gram in unseen text");
        assert!(rows[2].is_empty(), "missing text gives no entries");
    }

    /// Names and titles are short text, messages free text; the mean reads at most 2,000 values.
    #[test]
    fn mean_words_tells_short_from_free_text() {
        let names = [
            "chevrolet chevelle malibu",
            "buick skylark 320",
            "ford torino",
        ];
        assert!(mean_words(names) < FREE_TEXT_WORDS);
        let sms = ["Free entry in 2 a wkly comp to win FA Cup final tkts"];
        assert!(mean_words(sms) >= FREE_TEXT_WORDS);
        assert_eq!(mean_words(std::iter::empty()), 0.0);
        let many = std::iter::repeat_n("one", 2000).chain(std::iter::repeat_n("a b c d e f", 10));
        assert_eq!(mean_words(many), 1.0);
    }
}
