//! A histogram gradient-boosting engine (see docs/decisions/0004-own-gbdt.md for why it is
//! written here rather than taken from a crate).
//!
//! LightGBM-style: features are bucketed into at most 255 value bins plus a missing bin;
//! trees grow leaf-wise (best gain first) with histogram subtraction; numeric splits learn
//! which side missing values go to; categorical features split on category sets ordered by
//! gradient ratio; L2 leaf regularisation, shrinkage, feature and row subsampling (seeded);
//! objectives: squared error, binary log loss, multiclass softmax. Training is driven round by
//! round through a callback, which is how the trainer streams curves, honours deadlines and
//! cancellation, and stops early on the validation loss.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::train::target::TargetTransform;

/// Index of the missing-value bin.
pub const MISSING_BIN: u8 = 255;
const MAX_VALUE_BINS: usize = 255;

/// How one feature maps values to bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BinMapper {
    /// `bin = #edges < x`, so `x <= edges[t]` exactly when `bin <= t`.
    Numeric {
        /// Upper edges of the value bins but the last.
        edges: Vec<f64>,
    },
    /// Category codes `0..n` are their own bins; others are missing.
    Categorical {
        /// Number of codes.
        n: usize,
    },
}

impl BinMapper {
    /// Fits a mapper on a column's training values (NaN = missing).
    pub fn fit(values: &[f64], categorical: bool) -> BinMapper {
        if categorical {
            let n = values
                .iter()
                .filter(|v| v.is_finite())
                .map(|v| *v as usize + 1)
                .max()
                .unwrap_or(0)
                .min(MAX_VALUE_BINS - 1);
            return BinMapper::Categorical { n };
        }
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let mut uniq = v.clone();
        uniq.dedup();
        let edges = if uniq.len() <= MAX_VALUE_BINS {
            uniq.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect()
        } else {
            let mut e: Vec<f64> = (1..MAX_VALUE_BINS)
                .map(|i| v[(i * v.len()) / MAX_VALUE_BINS])
                .collect();
            e.dedup();
            e
        };
        BinMapper::Numeric { edges }
    }

    /// The bin of one value.
    #[inline]
    pub fn bin(&self, x: f64) -> u8 {
        if !x.is_finite() {
            return MISSING_BIN;
        }
        match self {
            BinMapper::Numeric { edges } => edges.partition_point(|e| *e < x) as u8,
            BinMapper::Categorical { n } => {
                if x >= 0.0 && (x as usize) < *n && x.fract() == 0.0 {
                    x as u8
                } else {
                    MISSING_BIN
                }
            }
        }
    }

    fn n_bins(&self) -> usize {
        match self {
            BinMapper::Numeric { edges } => edges.len() + 1,
            BinMapper::Categorical { n } => *n,
        }
    }
}

/// Features bucketed for training: `codes[f][row]`.
pub struct Binned {
    /// Rows.
    pub rows: usize,
    /// One column of bins per feature.
    pub codes: Vec<Vec<u8>>,
}

/// Buckets column-major `data` (`cols` blocks of `rows`) with `mappers`.
pub fn bin_data(data: &[f64], rows: usize, mappers: &[BinMapper]) -> Binned {
    let codes = mappers
        .iter()
        .enumerate()
        .map(|(f, m)| {
            data[f * rows..(f + 1) * rows]
                .iter()
                .map(|x| m.bin(*x))
                .collect()
        })
        .collect();
    Binned { rows, codes }
}

/// The loss being boosted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Squared error (regression).
    Squared,
    /// Binary log loss; targets 0/1.
    Binary,
    /// Softmax over `k` classes; targets are class indices.
    Multiclass(usize),
}

impl Objective {
    fn outputs(&self) -> usize {
        match self {
            Objective::Multiclass(k) => *k,
            _ => 1,
        }
    }
}

/// Hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Shrinkage.
    pub learning_rate: f64,
    /// Most leaves per tree.
    pub num_leaves: usize,
    /// Most depth (0 = unlimited).
    pub max_depth: usize,
    /// Fewest rows in a leaf.
    pub min_child_samples: usize,
    /// Smallest hessian sum in a leaf.
    pub min_child_hessian: f64,
    /// L2 regularisation of leaf values.
    pub lambda_l2: f64,
    /// Smallest gain that makes a split.
    pub min_split_gain: f64,
    /// Share of features tried per tree.
    pub feature_fraction: f64,
    /// Share of rows used per tree.
    pub bagging_fraction: f64,
    /// Most boosting rounds.
    pub max_rounds: usize,
    /// Stop after this many rounds without a better validation loss.
    pub early_stopping_rounds: usize,
    /// Seed of the subsampling.
    pub seed: u64,
    /// The regression target's transform: applied by the trainer before fitting and undone on
    /// the predictions (the engine fits whatever target it is given).
    #[serde(default, skip_serializing_if = "TargetTransform::is_none")]
    pub target: TargetTransform,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            learning_rate: 0.1,
            num_leaves: 31,
            max_depth: 0,
            min_child_samples: 20,
            min_child_hessian: 1e-3,
            lambda_l2: 1.0,
            min_split_gain: 0.0,
            feature_fraction: 1.0,
            bagging_fraction: 1.0,
            max_rounds: 1000,
            early_stopping_rounds: 30,
            seed: 0,
            target: TargetTransform::None,
        }
    }
}

/// How a split sends rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rule {
    /// Left when `value <= threshold` (bin <= `bin`).
    Threshold {
        /// Value threshold.
        threshold: f64,
        /// Bin threshold.
        bin: u8,
    },
    /// Left when the category is in the set (bit per code).
    Categories {
        /// 256-bit set.
        set: [u64; 4],
    },
}

/// A node of a tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Node {
    /// An inner node.
    Split {
        /// Feature index.
        feature: u32,
        /// The rule.
        rule: Rule,
        /// Where missing (and unseen) values go.
        missing_left: bool,
        /// Left child.
        left: u32,
        /// Right child.
        right: u32,
        /// Gain of the split (for importance).
        gain: f64,
    },
    /// A leaf.
    Leaf {
        /// Output added to the score.
        value: f64,
    },
}

/// One tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Nodes; 0 is the root.
    pub nodes: Vec<Node>,
}

#[inline]
fn in_set(set: &[u64; 4], code: u8) -> bool {
    set[(code >> 6) as usize] >> (code & 63) & 1 == 1
}

impl Tree {
    /// Checks that the nodes form one tree rooted at 0 over `features` inputs (see
    /// [`Model::validate`]).
    pub fn validate(&self, features: usize) -> std::result::Result<(), String> {
        if self.nodes.is_empty() {
            return Err("no nodes".to_string());
        }
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![0usize];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                return Err(format!(
                    "node {i} is reached twice (a cycle or a shared node)"
                ));
            }
            match &self.nodes[i] {
                Node::Leaf { value } => {
                    if !value.is_finite() {
                        return Err(format!("leaf {i} is not a finite number"));
                    }
                }
                Node::Split {
                    feature,
                    left,
                    right,
                    ..
                } => {
                    if *feature as usize >= features {
                        return Err(format!(
                            "node {i} splits on feature {feature}, the model has {features}"
                        ));
                    }
                    for c in [*left, *right] {
                        if c as usize >= self.nodes.len() {
                            return Err(format!(
                                "node {i} points to node {c}, the tree has {}",
                                self.nodes.len()
                            ));
                        }
                        stack.push(c as usize);
                    }
                }
            }
        }
        Ok(())
    }

    #[inline]
    fn leaf_of_bins(&self, codes: &[Vec<u8>], row: usize) -> f64 {
        let mut i = 0usize;
        loop {
            match &self.nodes[i] {
                Node::Leaf { value } => return *value,
                Node::Split {
                    feature,
                    rule,
                    missing_left,
                    left,
                    right,
                    ..
                } => {
                    let b = codes[*feature as usize][row];
                    let go_left = if b == MISSING_BIN {
                        *missing_left
                    } else {
                        match rule {
                            Rule::Threshold { bin, .. } => b <= *bin,
                            Rule::Categories { set } => in_set(set, b),
                        }
                    };
                    i = if go_left { *left } else { *right } as usize;
                }
            }
        }
    }

    /// The output for one row of raw values (`value(f)` gives feature f).
    #[inline]
    pub fn predict_row(&self, value: impl Fn(usize) -> f64) -> f64 {
        let mut i = 0usize;
        loop {
            match &self.nodes[i] {
                Node::Leaf { value } => return *value,
                Node::Split {
                    feature,
                    rule,
                    missing_left,
                    left,
                    right,
                    ..
                } => {
                    let x = value(*feature as usize);
                    let go_left = if !x.is_finite() {
                        *missing_left
                    } else {
                        match rule {
                            Rule::Threshold { threshold, .. } => x <= *threshold,
                            Rule::Categories { set } => {
                                if x >= 0.0 && x < 255.0 && x.fract() == 0.0 {
                                    in_set(set, x as u8)
                                } else {
                                    *missing_left
                                }
                            }
                        }
                    };
                    i = if go_left { *left } else { *right } as usize;
                }
            }
        }
    }
}

/// A trained ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// The loss.
    pub objective: Objective,
    /// Per-output starting scores.
    pub base: Vec<f64>,
    /// Trees per round, one per output.
    pub rounds: Vec<Vec<Tree>>,
    /// Bin mappers (kept for importance names and checks).
    pub mappers: Vec<BinMapper>,
    /// Total split gain per feature.
    pub gain: Vec<f64>,
}

impl Model {
    /// Checks a loaded model before it predicts: `features` inputs, one base score and one tree
    /// per output in every round, every node index in range, every feature index below
    /// `features`, each tree a tree (every node reached once from the root: no cycle, no
    /// shared node), finite leaves. On `Err`, what is wrong, for a `ModelLoad` error.
    pub fn validate(&self, features: usize) -> std::result::Result<(), String> {
        let k = self.objective.outputs();
        if k == 0 || (matches!(self.objective, Objective::Multiclass(_)) && k < 2) {
            return Err(format!(
                "objective {:?} has no usable outputs",
                self.objective
            ));
        }
        if self.base.len() != k {
            return Err(format!("{} base scores for {k} outputs", self.base.len()));
        }
        if self.base.iter().any(|b| !b.is_finite()) {
            return Err("a base score is not a finite number".to_string());
        }
        for (r, round) in self.rounds.iter().enumerate() {
            if round.len() != k {
                return Err(format!(
                    "round {r} has {} trees for {k} outputs",
                    round.len()
                ));
            }
            for (j, t) in round.iter().enumerate() {
                t.validate(features)
                    .map_err(|e| format!("tree {j} of round {r}: {e}"))?;
            }
        }
        Ok(())
    }

    /// Raw scores, row-major `rows × outputs`, for column-major raw `data`.
    pub fn raw_scores(&self, data: &[f64], rows: usize) -> Vec<f64> {
        let k = self.objective.outputs();
        let mut out = vec![0.0; rows * k];
        for r in 0..rows {
            for j in 0..k {
                out[r * k + j] = self.base[j];
            }
            for round in &self.rounds {
                for (j, t) in round.iter().enumerate() {
                    out[r * k + j] += t.predict_row(|f| data[f * rows + r]);
                }
            }
        }
        out
    }

    /// Predictions: values (squared), P(class 1) (binary), or row-major class probabilities.
    pub fn predict(&self, data: &[f64], rows: usize) -> Vec<f64> {
        let mut s = self.raw_scores(data, rows);
        transform(self.objective, &mut s);
        s
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn transform(obj: Objective, s: &mut [f64]) {
    match obj {
        Objective::Squared => {}
        Objective::Binary => s.iter_mut().for_each(|v| *v = sigmoid(*v)),
        Objective::Multiclass(k) => {
            for row in s.chunks_mut(k) {
                let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mut z = 0.0;
                for v in row.iter_mut() {
                    *v = (*v - m).exp();
                    z += *v;
                }
                row.iter_mut().for_each(|v| *v /= z);
            }
        }
    }
}

/// Mean loss of raw scores `s` (row-major) against targets.
pub fn loss(obj: Objective, s: &[f64], y: &[f64]) -> f64 {
    let n = y.len().max(1) as f64;
    match obj {
        Objective::Squared => s.iter().zip(y).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / n,
        Objective::Binary => {
            s.iter()
                .zip(y)
                .map(|(z, t)| {
                    let p = sigmoid(*z).clamp(1e-15, 1.0 - 1e-15);
                    -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
                })
                .sum::<f64>()
                / n
        }
        Objective::Multiclass(k) => {
            let mut total = 0.0;
            for (i, t) in y.iter().enumerate() {
                let row = &s[i * k..(i + 1) * k];
                let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                total += lse - row[*t as usize];
            }
            total / n
        }
    }
}

/// What the callback sees after each round.
#[derive(Debug, Clone, Copy)]
pub struct RoundInfo {
    /// 1-based round.
    pub round: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Mean validation loss.
    pub valid_loss: f64,
    /// Best validation loss so far and its round.
    pub best: (f64, usize),
}

/// Why training stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `max_rounds` reached.
    MaxRounds,
    /// No better validation loss for `early_stopping_rounds`.
    EarlyStopped,
    /// The callback asked to stop (deadline or cancel).
    Interrupted,
}

#[derive(Clone, Copy, Default)]
struct Bin {
    g: f64,
    h: f64,
    n: u32,
}

struct Split {
    gain: f64,
    feature: usize,
    rule: Rule,
    missing_left: bool,
    left_bins: Vec<bool>,
}

struct Leaf {
    rows: Vec<u32>,
    hist: Vec<Bin>,
    g: f64,
    h: f64,
    depth: usize,
    node: usize,
    best: Option<Split>,
}

struct Grower<'a> {
    p: &'a Params,
    codes: &'a [Vec<u8>],
    mappers: &'a [BinMapper],
    features: Vec<usize>,
    /// Where each feature's bins start in a leaf's histogram ([`hist_offsets`]).
    offsets: &'a [usize],
    /// Randomised splits of a forest's tree ([`SplitDraw`]); `None` in boosting.
    draw: Option<SplitDraw>,
}

/// How a forest's tree randomises each split: a fresh draw of the features tried at each node
/// (random-forest style, rather than one draw per tree) and, for extremely randomised trees,
/// one random cut per feature instead of the best one.
#[derive(Debug, Clone, Copy)]
struct SplitDraw {
    /// Share of the tree's features tried at each node.
    fraction: f64,
    /// One random threshold (numeric) or cut of the sorted categories per feature.
    extra: bool,
    /// The tree's seed; each node's draw is seeded by it and the node's index.
    seed: u64,
}

/// The histogram layout: feature `f` owns slots `offsets[f]..offsets[f + 1]`, one per bin and
/// a last one for missing values. Sized by each feature's own bins rather than 256 per
/// feature: on small data most features have a few dozen bins, and every split allocates one
/// histogram and subtracts it from its parent's (on a 10-class, 46-feature set that fixed
/// width was 14 times the slots in use and most of the training time).
fn hist_offsets(mappers: &[BinMapper]) -> Vec<usize> {
    let mut offsets = Vec::with_capacity(mappers.len() + 1);
    let mut at = 0;
    offsets.push(at);
    for m in mappers {
        at += m.n_bins() + 1;
        offsets.push(at);
    }
    offsets
}

impl Grower<'_> {
    /// Feature `f`'s slot for bin code `code` (missing values in the feature's last slot).
    #[inline]
    fn slot(&self, f: usize, code: u8) -> usize {
        if code == MISSING_BIN {
            self.offsets[f + 1] - 1
        } else {
            self.offsets[f] + code as usize
        }
    }

    fn hist(&self, rows: &[u32], g: &[f64], h: &[f64]) -> Vec<Bin> {
        let mut hist = vec![Bin::default(); self.offsets.last().copied().unwrap_or(0)];
        for &f in &self.features {
            let col = &self.codes[f];
            for &r in rows {
                let r = r as usize;
                let b = &mut hist[self.slot(f, col[r])];
                b.g += g[r];
                b.h += h[r];
                b.n += 1;
            }
        }
        hist
    }

    fn score(&self, g: f64, h: f64) -> f64 {
        g * g / (h + self.p.lambda_l2)
    }

    fn ok(&self, n: u32, h: f64) -> bool {
        n as usize >= self.p.min_child_samples && h >= self.p.min_child_hessian
    }

    fn best_split(&self, leaf: &Leaf) -> Option<Split> {
        if leaf.rows.len() < 2 * self.p.min_child_samples
            || (self.p.max_depth > 0 && leaf.depth >= self.p.max_depth)
        {
            return None;
        }
        let parent = self.score(leaf.g, leaf.h);
        let n_total = leaf.rows.len() as u32;
        let mut best: Option<Split> = None;
        let mut rng = self.draw.map(|d| {
            rand_chacha::ChaCha8Rng::seed_from_u64(
                d.seed ^ (leaf.node as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            )
        });
        let mut tried = self.features.clone();
        if let (Some(d), Some(rng)) = (self.draw, rng.as_mut())
            && d.fraction < 1.0
        {
            tried.shuffle(rng);
            tried.truncate(((tried.len() as f64 * d.fraction).ceil() as usize).max(1));
        }
        let extra = self.draw.is_some_and(|d| d.extra);
        for &f in &tried {
            let hf = &leaf.hist[self.offsets[f]..self.offsets[f + 1]];
            let nb = self.mappers[f].n_bins();
            let miss = hf[nb];
            match &self.mappers[f] {
                BinMapper::Numeric { edges } => {
                    // Extra trees: one cut, drawn between the node's lowest and highest
                    // occupied bins.
                    let cut = match rng.as_mut().filter(|_| extra) {
                        Some(rng) => {
                            let occupied = || (0..nb).filter(|t| hf[*t].n > 0);
                            match (occupied().next(), occupied().last()) {
                                (Some(lo), Some(hi)) if lo < hi => Some(rng.gen_range(lo..hi)),
                                _ => continue,
                            }
                        }
                        None => None,
                    };
                    let (mut gl, mut hl, mut nl) = (0.0, 0.0, 0u32);
                    for t in 0..nb.saturating_sub(1) {
                        gl += hf[t].g;
                        hl += hf[t].h;
                        nl += hf[t].n;
                        if cut.is_some_and(|c| c != t) {
                            continue;
                        }
                        for missing_left in [false, true] {
                            let (g1, h1, n1) = if missing_left {
                                (gl + miss.g, hl + miss.h, nl + miss.n)
                            } else {
                                (gl, hl, nl)
                            };
                            let (g2, h2, n2) = (leaf.g - g1, leaf.h - h1, n_total - n1);
                            if !self.ok(n1, h1) || !self.ok(n2, h2) {
                                continue;
                            }
                            let gain = self.score(g1, h1) + self.score(g2, h2) - parent;
                            if gain > self.p.min_split_gain
                                && best.as_ref().is_none_or(|b| gain > b.gain)
                            {
                                best = Some(Split {
                                    gain,
                                    feature: f,
                                    rule: Rule::Threshold {
                                        threshold: edges[t],
                                        bin: t as u8,
                                    },
                                    missing_left,
                                    left_bins: vec![],
                                });
                            }
                            if miss.n == 0 {
                                break;
                            }
                        }
                    }
                }
                BinMapper::Categorical { .. } => {
                    // Categories sorted by gradient ratio; the best prefix goes left.
                    let mut cats: Vec<usize> = (0..nb).filter(|c| hf[*c].n > 0).collect();
                    if cats.len() < 2 {
                        continue;
                    }
                    let smooth = 10.0;
                    cats.sort_by(|a, b| {
                        let ra = hf[*a].g / (hf[*a].h + smooth);
                        let rb = hf[*b].g / (hf[*b].h + smooth);
                        ra.total_cmp(&rb)
                    });
                    // Extra trees: one random cut of the sorted categories.
                    let cut = rng
                        .as_mut()
                        .filter(|_| extra)
                        .map(|rng| rng.gen_range(0..cats.len() - 1));
                    let (mut gl, mut hl, mut nl) = (0.0, 0.0, 0u32);
                    for (i, c) in cats.iter().enumerate().take(cats.len() - 1) {
                        gl += hf[*c].g;
                        hl += hf[*c].h;
                        nl += hf[*c].n;
                        if cut.is_some_and(|x| x != i) {
                            continue;
                        }
                        let (g2, h2, n2) = (leaf.g - gl, leaf.h - hl, n_total - nl);
                        if !self.ok(nl, hl) || !self.ok(n2, h2) {
                            continue;
                        }
                        let gain = self.score(gl, hl) + self.score(g2, h2) - parent;
                        if gain > self.p.min_split_gain
                            && best.as_ref().is_none_or(|b| gain > b.gain)
                        {
                            let mut set = [0u64; 4];
                            let mut left_bins = vec![false; 256];
                            for c in &cats[..=i] {
                                set[c >> 6] |= 1 << (c & 63);
                                left_bins[*c] = true;
                            }
                            best = Some(Split {
                                gain,
                                feature: f,
                                rule: Rule::Categories { set },
                                missing_left: false,
                                left_bins,
                            });
                        }
                    }
                }
            }
        }
        best
    }
}

/// Trains a model. `y` holds targets (class indices as numbers for classification);
/// `on_round` is called after every round and returns false to stop.
#[allow(clippy::too_many_arguments)]
pub fn train(
    objective: Objective,
    params: &Params,
    mappers: Vec<BinMapper>,
    train: &Binned,
    y: &[f64],
    valid: &Binned,
    y_valid: &[f64],
    mut on_round: impl FnMut(&RoundInfo) -> bool,
) -> (Model, Stop) {
    let k = objective.outputs();
    let n = train.rows;
    let nv = valid.rows;
    let nf = mappers.len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(params.seed);
    // Starting scores.
    let base: Vec<f64> = match objective {
        Objective::Squared => vec![y.iter().sum::<f64>() / n.max(1) as f64],
        Objective::Binary => {
            let p = (y.iter().sum::<f64>() / n.max(1) as f64).clamp(1e-6, 1.0 - 1e-6);
            vec![(p / (1.0 - p)).ln()]
        }
        Objective::Multiclass(k) => {
            let mut c = vec![1.0; k];
            for t in y {
                c[*t as usize] += 1.0;
            }
            let s: f64 = c.iter().sum();
            c.iter().map(|v| (v / s).ln()).collect()
        }
    };
    let mut s: Vec<f64> = (0..n * k).map(|i| base[i % k]).collect();
    let mut sv: Vec<f64> = (0..nv * k).map(|i| base[i % k]).collect();
    let mut rounds: Vec<Vec<Tree>> = Vec::new();
    let mut gain = vec![0.0; nf];
    let mut best = (f64::INFINITY, 0usize);
    let mut stop = Stop::MaxRounds;
    let mut g = vec![0.0; n];
    let mut h = vec![0.0; n];
    let all_features: Vec<usize> = (0..nf).collect();
    let offsets = hist_offsets(&mappers);
    for round in 1..=params.max_rounds {
        // Probabilities for the gradients.
        let mut p = s.clone();
        transform(objective, &mut p);
        let rows: Vec<u32> = if params.bagging_fraction < 1.0 {
            (0..n as u32)
                .filter(|_| rng.r#gen::<f64>() < params.bagging_fraction)
                .collect()
        } else {
            (0..n as u32).collect()
        };
        let mut trees = Vec::with_capacity(k);
        for j in 0..k {
            for i in 0..n {
                let (gi, hi) = match objective {
                    Objective::Squared => (s[i] - y[i], 1.0),
                    Objective::Binary => (p[i] - y[i], (p[i] * (1.0 - p[i])).max(1e-12)),
                    Objective::Multiclass(_) => {
                        let pi = p[i * k + j];
                        let t = if y[i] as usize == j { 1.0 } else { 0.0 };
                        (pi - t, (pi * (1.0 - pi)).max(1e-12))
                    }
                };
                g[i] = gi;
                h[i] = hi;
            }
            let features = if params.feature_fraction < 1.0 {
                let mut f = all_features.clone();
                f.shuffle(&mut rng);
                f.truncate(((nf as f64 * params.feature_fraction).ceil() as usize).max(1));
                f
            } else {
                all_features.clone()
            };
            let grower = Grower {
                p: params,
                codes: &train.codes,
                mappers: &mappers,
                features,
                offsets: &offsets,
                draw: None,
            };
            let tree = grow(&grower, rows.clone(), &g, &h, &mut gain);
            for i in 0..n {
                s[i * k + j] += tree.leaf_of_bins(&train.codes, i);
            }
            for i in 0..nv {
                sv[i * k + j] += tree.leaf_of_bins(&valid.codes, i);
            }
            trees.push(tree);
        }
        rounds.push(trees);
        let train_loss = loss(objective, &s, y);
        let valid_loss = if nv > 0 {
            loss(objective, &sv, y_valid)
        } else {
            train_loss
        };
        if valid_loss < best.0 - 1e-12 {
            best = (valid_loss, round);
        }
        let info = RoundInfo {
            round,
            train_loss,
            valid_loss,
            best,
        };
        if !on_round(&info) {
            stop = Stop::Interrupted;
            break;
        }
        if round - best.1 >= params.early_stopping_rounds {
            stop = Stop::EarlyStopped;
            break;
        }
    }
    // Keep the rounds up to the best validation loss.
    if best.1 > 0 {
        rounds.truncate(best.1);
    }
    (
        Model {
            objective,
            base,
            rounds,
            mappers,
            gain,
        },
        stop,
    )
}

/// Random-forest settings (see [`train_forest`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    /// Trees to grow.
    pub trees: usize,
    /// Most leaves per tree.
    pub num_leaves: usize,
    /// Fewest rows in a leaf.
    pub min_child_samples: usize,
    /// Share of features each tree may split on.
    pub feature_fraction: f64,
    /// Share of the tree's features tried at each split, drawn afresh at every node (1: all
    /// of them). Absent in forests saved before it existed.
    #[serde(default = "one")]
    pub split_fraction: f64,
    /// Extremely randomised trees: each tried feature gets one random cut instead of its best
    /// one (Geurts et al. 2006); the best of those cuts splits the node.
    #[serde(default)]
    pub extra: bool,
    /// Seed of the bootstrap and feature draws.
    pub seed: u64,
}

fn one() -> f64 {
    1.0
}

impl ForestParams {
    /// The model name the leaderboard shows for this configuration.
    pub fn model_name(&self) -> &'static str {
        if self.extra {
            "extra_trees"
        } else {
            "random_forest"
        }
    }
}

/// Fits a random forest of regression trees on `y` with the same histogram tree grower as the
/// boosting: each tree sees a bootstrap sample of the rows and a random share of the features,
/// and its leaves hold the mean target there (squared loss, no shrinkage, no regularisation).
/// The result is a [`Model`] with the squared objective whose prediction is the mean over its
/// trees. `on_tree` is called after each tree and returns false to stop; the trees grown so far
/// are kept (rescaled to their mean).
pub fn train_forest(
    fp: &ForestParams,
    mappers: Vec<BinMapper>,
    train: &Binned,
    y: &[f64],
    mut on_tree: impl FnMut(usize) -> bool,
) -> (Model, Stop) {
    let n = train.rows;
    let nf = mappers.len();
    let trees = fp.trees.max(1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(fp.seed ^ 0xf0_2e57);
    let base = y.iter().sum::<f64>() / n.max(1) as f64;
    let g: Vec<f64> = y.iter().map(|v| base - v).collect();
    let h = vec![1.0; n];
    let params = Params {
        learning_rate: 1.0 / trees as f64,
        num_leaves: fp.num_leaves.max(2),
        max_depth: 0,
        min_child_samples: fp.min_child_samples.max(1),
        min_child_hessian: 0.0,
        lambda_l2: 0.0,
        min_split_gain: 1e-12,
        feature_fraction: fp.feature_fraction,
        bagging_fraction: 1.0,
        max_rounds: trees,
        early_stopping_rounds: usize::MAX,
        seed: fp.seed,
        target: TargetTransform::None,
    };
    let mut gain = vec![0.0; nf];
    let mut rounds: Vec<Vec<Tree>> = Vec::new();
    let mut stop = Stop::MaxRounds;
    let all: Vec<usize> = (0..nf).collect();
    let offsets = hist_offsets(&mappers);
    for t in 1..=trees {
        // Extra trees see every row (their randomness is in the cuts); forests a bootstrap.
        let rows: Vec<u32> = if fp.extra {
            (0..n as u32).collect()
        } else if n > 0 {
            (0..n).map(|_| rng.gen_range(0..n) as u32).collect()
        } else {
            Vec::new()
        };
        let mut features = all.clone();
        features.shuffle(&mut rng);
        features.truncate(((nf as f64 * fp.feature_fraction).ceil() as usize).clamp(1, nf.max(1)));
        let draw = (fp.split_fraction < 1.0 || fp.extra).then(|| SplitDraw {
            fraction: fp.split_fraction,
            extra: fp.extra,
            seed: rng.r#gen(),
        });
        let grower = Grower {
            p: &params,
            codes: &train.codes,
            mappers: &mappers,
            features,
            offsets: &offsets,
            draw,
        };
        rounds.push(vec![grow(&grower, rows, &g, &h, &mut gain)]);
        if !on_tree(t) {
            stop = Stop::Interrupted;
            break;
        }
    }
    if rounds.len() < trees && !rounds.is_empty() {
        let scale = trees as f64 / rounds.len() as f64;
        for r in &mut rounds {
            for tree in r.iter_mut() {
                for node in &mut tree.nodes {
                    if let Node::Leaf { value } = node {
                        *value *= scale;
                    }
                }
            }
        }
    }
    (
        Model {
            objective: Objective::Squared,
            base: vec![base],
            rounds,
            mappers,
            gain,
        },
        stop,
    )
}

fn grow(gr: &Grower<'_>, rows: Vec<u32>, g: &[f64], h: &[f64], gain: &mut [f64]) -> Tree {
    let lr = gr.p.learning_rate;
    let lambda = gr.p.lambda_l2;
    let (gs, hs) = rows.iter().fold((0.0, 0.0), |(a, b), r| {
        (a + g[*r as usize], b + h[*r as usize])
    });
    let hist = gr.hist(&rows, g, h);
    let mut nodes = vec![Node::Leaf {
        value: -gs / (hs + lambda) * lr,
    }];
    let mut root = Leaf {
        rows,
        hist,
        g: gs,
        h: hs,
        depth: 0,
        node: 0,
        best: None,
    };
    root.best = gr.best_split(&root);
    let mut open = vec![root];
    let mut leaves = 1;
    while leaves < gr.p.num_leaves {
        // The open leaf with the largest gain.
        let Some((idx, _)) = open
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.best.as_ref().map(|b| (i, b.gain)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
        else {
            break;
        };
        let leaf = open.swap_remove(idx);
        let Some(split) = leaf.best else { break };
        let col = &gr.codes[split.feature];
        let (mut lrows, mut rrows) = (Vec::new(), Vec::new());
        for &r in &leaf.rows {
            let b = col[r as usize];
            let left = if b == MISSING_BIN {
                split.missing_left
            } else {
                match &split.rule {
                    Rule::Threshold { bin, .. } => b <= *bin,
                    Rule::Categories { .. } => split.left_bins[b as usize],
                }
            };
            if left { lrows.push(r) } else { rrows.push(r) }
        }
        let sum = |rs: &[u32]| {
            rs.iter().fold((0.0, 0.0), |(a, b), r| {
                (a + g[*r as usize], b + h[*r as usize])
            })
        };
        let (lg, lh) = sum(&lrows);
        let (rg, rh) = (leaf.g - lg, leaf.h - lh);
        // Histogram of the smaller child; the larger one is the parent minus it.
        let small_left = lrows.len() <= rrows.len();
        let small = gr.hist(if small_left { &lrows } else { &rrows }, g, h);
        let mut large = leaf.hist;
        for (a, b) in large.iter_mut().zip(&small) {
            a.g -= b.g;
            a.h -= b.h;
            a.n -= b.n;
        }
        let (lhist, rhist) = if small_left {
            (small, large)
        } else {
            (large, small)
        };
        gain[split.feature] += split.gain;
        let li = nodes.len();
        nodes.push(Node::Leaf {
            value: -lg / (lh + lambda) * lr,
        });
        nodes.push(Node::Leaf {
            value: -rg / (rh + lambda) * lr,
        });
        nodes[leaf.node] = Node::Split {
            feature: split.feature as u32,
            rule: split.rule,
            missing_left: split.missing_left,
            left: li as u32,
            right: li as u32 + 1,
            gain: split.gain,
        };
        for (rows, hist, g_, h_, node) in
            [(lrows, lhist, lg, lh, li), (rrows, rhist, rg, rh, li + 1)]
        {
            let mut l = Leaf {
                rows,
                hist,
                g: g_,
                h: h_,
                depth: leaf.depth + 1,
                node,
                best: None,
            };
            l.best = gr.best_split(&l);
            open.push(l);
        }
        leaves += 1;
    }
    Tree { nodes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column_major(rows: &[Vec<f64>]) -> Vec<f64> {
        let n = rows.len();
        let d = rows[0].len();
        let mut out = vec![0.0; n * d];
        for (i, r) in rows.iter().enumerate() {
            for (f, v) in r.iter().enumerate() {
                out[f * n + i] = *v;
            }
        }
        out
    }

    #[test]
    fn learns_a_step_with_missing_values() {
        // y = 1 when x > 0.5 or x is missing.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let rows: Vec<Vec<f64>> = (0..400)
            .map(|i| {
                vec![
                    if i % 10 == 0 {
                        f64::NAN
                    } else {
                        rng.r#gen::<f64>()
                    },
                    rng.r#gen::<f64>(),
                ]
            })
            .collect();
        let y: Vec<f64> = rows
            .iter()
            .map(|r| {
                if r[0].is_nan() || r[0] > 0.5 {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let x = column_major(&rows);
        let mappers: Vec<BinMapper> = (0..2)
            .map(|f| BinMapper::fit(&x[f * 400..(f + 1) * 400], false))
            .collect();
        let b = bin_data(&x, 400, &mappers);
        let p = Params {
            max_rounds: 50,
            ..Default::default()
        };
        let (m, _) = train(Objective::Binary, &p, mappers, &b, &y, &b, &y, |_| true);
        let pred = m.predict(&x, 400);
        let acc = pred
            .iter()
            .zip(&y)
            .filter(|(p, t)| (**p > 0.5) == (**t > 0.5))
            .count() as f64
            / 400.0;
        assert!(acc > 0.97, "accuracy {acc}");
        assert!(
            m.gain[0] > m.gain[1] * 10.0,
            "the informative feature carries the gain"
        );
        // Raw-value prediction agrees with the binned path on a missing value.
        let one = m.predict(&[f64::NAN, 0.3], 1);
        assert!(one[0] > 0.5);
    }

    /// Forests with a fresh feature draw at each split, and extra trees (random cuts, every
    /// row): both fit a smooth function of one informative feature among noise features, are
    /// reproducible from their seed, and the random cuts really change the trees.
    #[test]
    fn forests_with_split_draws_and_extra_trees_fit_and_repeat() {
        let (n, d) = (600, 6);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|_| (0..d).map(|_| rng.r#gen::<f64>() * 4.0).collect())
            .collect();
        let truth = |r: &[f64]| (r[0] * 1.5).sin() * 2.0;
        let y: Vec<f64> = rows
            .iter()
            .map(|r| truth(r) + (rng.r#gen::<f64>() - 0.5) * 0.5)
            .collect();
        let x = column_major(&rows);
        let mappers: Vec<BinMapper> = (0..d)
            .map(|f| BinMapper::fit(&x[f * n..(f + 1) * n], false))
            .collect();
        let b = bin_data(&x, n, &mappers);
        // Fresh points, scored against the noiseless function.
        let test: Vec<Vec<f64>> = (0..300)
            .map(|_| (0..d).map(|_| rng.r#gen::<f64>() * 4.0).collect())
            .collect();
        let xt = column_major(&test);
        let r2 = |m: &Model| {
            let p = m.predict(&xt, test.len());
            let t: Vec<f64> = test.iter().map(|r| truth(r)).collect();
            let mean = t.iter().sum::<f64>() / t.len() as f64;
            let ss_res: f64 = p.iter().zip(&t).map(|(p, t)| (p - t).powi(2)).sum();
            let ss_tot: f64 = t.iter().map(|t| (t - mean).powi(2)).sum();
            1.0 - ss_res / ss_tot
        };
        let base = ForestParams {
            trees: 40,
            num_leaves: 64,
            min_child_samples: 3,
            feature_fraction: 1.0,
            split_fraction: 0.5,
            extra: false,
            seed: 7,
        };
        let extra = ForestParams {
            extra: true,
            split_fraction: 1.0,
            ..base.clone()
        };
        for fp in [&base, &extra] {
            let (m1, stop) = train_forest(fp, mappers.clone(), &b, &y, |_| true);
            assert_eq!(stop, Stop::MaxRounds);
            let score = r2(&m1);
            assert!(score > 0.85, "{}: R² {score}", fp.model_name());
            assert!(
                m1.gain[0] > m1.gain[1..].iter().sum::<f64>(),
                "{}: the informative feature carries most of the gain",
                fp.model_name()
            );
            let (m2, _) = train_forest(fp, mappers.clone(), &b, &y, |_| true);
            assert_eq!(m1, m2, "{}: same seed, same forest", fp.model_name());
        }
        // Random cuts differ from the best cuts on the same rows.
        let best_cuts = ForestParams {
            extra: false,
            ..extra.clone()
        };
        let (a, _) = train_forest(&extra, mappers.clone(), &b, &y, |_| true);
        let (c, _) = train_forest(&best_cuts, mappers.clone(), &b, &y, |_| true);
        assert_ne!(a, c);
        assert_eq!(extra.model_name(), "extra_trees");
        assert_eq!(base.model_name(), "random_forest");
    }

    #[test]
    fn categorical_sets_and_multiclass() {
        // class = code % 3 for 9 codes.
        let n = 900;
        let rows: Vec<Vec<f64>> = (0..n).map(|i| vec![(i % 9) as f64]).collect();
        let y: Vec<f64> = (0..n).map(|i| ((i % 9) % 3) as f64).collect();
        let x = column_major(&rows);
        let mappers = vec![BinMapper::fit(&x, true)];
        let b = bin_data(&x, n, &mappers);
        let p = Params {
            max_rounds: 30,
            min_child_samples: 5,
            ..Default::default()
        };
        let (m, _) = train(
            Objective::Multiclass(3),
            &p,
            mappers,
            &b,
            &y,
            &b,
            &y,
            |_| true,
        );
        let pred = m.predict(&x, n);
        for i in 0..n {
            let row = &pred[i * 3..i * 3 + 3];
            let arg = (0..3)
                .max_by(|a, b| row[*a].total_cmp(&row[*b]))
                .unwrap_or(0);
            assert_eq!(arg as f64, y[i]);
        }
    }

    #[test]
    fn regression_and_early_stopping_and_seeds() {
        let n = 500;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let rows: Vec<Vec<f64>> = (0..n).map(|_| vec![rng.r#gen::<f64>() * 10.0]).collect();
        let y: Vec<f64> = rows
            .iter()
            .map(|r| r[0].sin() * 3.0 + rng.r#gen::<f64>())
            .collect();
        let x = column_major(&rows);
        let mappers = vec![BinMapper::fit(&x, false)];
        let b = bin_data(&x, n, &mappers);
        let p = Params {
            max_rounds: 2000,
            early_stopping_rounds: 10,
            bagging_fraction: 0.8,
            feature_fraction: 1.0,
            seed: 5,
            ..Default::default()
        };
        let (m1, stop) = train(
            Objective::Squared,
            &p,
            mappers.clone(),
            &b,
            &y,
            &b,
            &y,
            |_| true,
        );
        assert_eq!(stop, Stop::MaxRounds.max_or(stop));
        let (m2, _) = train(
            Objective::Squared,
            &p,
            mappers.clone(),
            &b,
            &y,
            &b,
            &y,
            |_| true,
        );
        assert_eq!(m1, m2, "same seed, same model");
        let mut calls = 0;
        let (_, stop) = train(Objective::Squared, &p, mappers, &b, &y, &b, &y, |_| {
            calls += 1;
            calls < 5
        });
        assert_eq!(stop, Stop::Interrupted);
        assert_eq!(calls, 5);
    }

    impl Stop {
        fn max_or(self, other: Stop) -> Stop {
            if other == Stop::EarlyStopped {
                other
            } else {
                self
            }
        }
    }
}
