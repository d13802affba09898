//! The hyper-parameter search of the tree trainers: a few cheap starting configurations, then
//! a local search around the incumbent in the style of FLAML's CFO (Wu et al., "Frugal
//! Optimization for Cost-related Hyperparameters", AAAI 2021) until the deadline.
//!
//! Configurations live in a normalised cube `[0, 1]^D` (log scale for the scale-like
//! parameters). From the incumbent `x` the search tries `x + s·u` and then `x − s·u` for a random
//! unit direction `u`; a better point becomes the incumbent. After `D` directions without a
//! gain the step `s` halves; once it falls below its floor the search restarts from a random
//! perturbation of the best point with the initial step. Each restart in a row that found
//! nothing better widens the next one (the radius grows until restarts are global), and
//! restarts take turns over the starting configurations' other settings (the regression
//! target's transform, decisions/0098). Finding nothing better is not convergence on small,
//! noisy data (decisions/0098): the search stops before the deadline only when
//! [`RESTARTS_TO_CONVERGE`] restarts in a row had no configuration left that it had not
//! already tried. Trials compare by the requested metric, ties broken by log loss / RMSE
//! ([`crate::train::rank_key`]).

use std::collections::HashSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::boost::Params;
use crate::error::Result;
use crate::train::{TrainContext, compare_keys};

/// Dimensions of the normalised space.
pub const DIMS: usize = 6;
/// The first step size (in the unit cube).
const STEP_INIT: f64 = 0.25;
/// Below this step, the local search around the current incumbent is done.
const STEP_MIN: f64 = 0.02;
/// Restarts in a row that proposed no configuration not tried before, after which the search
/// has converged (the reachable configurations are exhausted).
pub const RESTARTS_TO_CONVERGE: usize = 3;
/// The widest restart radius (in the unit cube: a restart this wide reaches any point).
const RADIUS_MAX: f64 = 1.5;
/// Most trials of one search (a safety net; the deadline normally ends it first).
const MAX_TRIALS: usize = 2000;

/// What a trial came to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Scored: its ranking key (see [`crate::train::rank_key`]).
    Scored((f64, f64)),
    /// It produced no usable model (e.g. no rounds); the search goes on.
    Failed,
    /// Cut by the deadline or cancelled: the search ends.
    Stopped,
}

/// How a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Out of time, cancelled or the caller's trial count reached.
    Stopped,
    /// Converged before the deadline.
    Converged,
}

/// Ranges of the search space.
struct Range {
    lo: f64,
    hi: f64,
    log: bool,
}

fn ranges(n_rows: usize) -> [Range; DIMS] {
    let max_child = ((n_rows / 8).max(3) as f64).min(200.0);
    [
        // num_leaves
        Range {
            lo: 4.0,
            hi: 256.0_f64.min((n_rows as f64 / 2.0).max(8.0)),
            log: true,
        },
        // learning_rate
        Range {
            lo: 0.01,
            hi: 0.3,
            log: true,
        },
        // min_child_samples
        Range {
            lo: 2.0,
            hi: max_child,
            log: true,
        },
        // lambda_l2
        Range {
            lo: 1e-3,
            hi: 100.0,
            log: true,
        },
        // feature_fraction
        Range {
            lo: 0.3,
            hi: 1.0,
            log: false,
        },
        // bagging_fraction
        Range {
            lo: 0.5,
            hi: 1.0,
            log: false,
        },
    ]
}

fn to_unit(r: &Range, v: f64) -> f64 {
    let v = v.clamp(r.lo, r.hi);
    let u = if r.log {
        (v.ln() - r.lo.ln()) / (r.hi.ln() - r.lo.ln())
    } else {
        (v - r.lo) / (r.hi - r.lo)
    };
    if u.is_finite() {
        u.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

fn from_unit(r: &Range, u: f64) -> f64 {
    let u = u.clamp(0.0, 1.0);
    if r.log {
        (r.lo.ln() + u * (r.hi.ln() - r.lo.ln())).exp()
    } else {
        r.lo + u * (r.hi - r.lo)
    }
}

/// A point of the cube for `p`.
pub fn encode(p: &Params, n_rows: usize) -> [f64; DIMS] {
    let r = ranges(n_rows);
    [
        to_unit(&r[0], p.num_leaves as f64),
        to_unit(&r[1], p.learning_rate),
        to_unit(&r[2], p.min_child_samples as f64),
        to_unit(&r[3], p.lambda_l2),
        to_unit(&r[4], p.feature_fraction),
        to_unit(&r[5], p.bagging_fraction),
    ]
}

/// The configuration at `x` (rounded to what the engine takes), other fields from `base`.
pub fn decode(x: &[f64; DIMS], base: &Params, n_rows: usize) -> Params {
    let r = ranges(n_rows);
    let round2 = |v: f64| (v * 100.0).round() / 100.0;
    let sig3 = |v: f64| {
        if v <= 0.0 {
            return v;
        }
        let m = 10f64.powf(v.log10().floor() - 2.0);
        (v / m).round() * m
    };
    Params {
        num_leaves: from_unit(&r[0], x[0]).round().max(2.0) as usize,
        learning_rate: sig3(from_unit(&r[1], x[1])),
        min_child_samples: from_unit(&r[2], x[2]).round().max(1.0) as usize,
        lambda_l2: sig3(from_unit(&r[3], x[3])),
        feature_fraction: round2(from_unit(&r[4], x[4])),
        bagging_fraction: round2(from_unit(&r[5], x[5])),
        ..base.clone()
    }
}

fn signature(p: &Params) -> String {
    format!(
        "{:?}|{}|{}|{}|{}|{}|{}",
        p.target,
        p.num_leaves,
        p.learning_rate,
        p.min_child_samples,
        p.lambda_l2,
        p.feature_fraction,
        p.bagging_fraction
    )
}

fn unit_direction(rng: &mut ChaCha8Rng) -> [f64; DIMS] {
    loop {
        let mut u = [0.0; DIMS];
        for v in &mut u {
            // Box-Muller: a standard normal per coordinate gives a uniform direction.
            let a: f64 = rng.r#gen::<f64>().max(1e-300);
            let b: f64 = rng.r#gen::<f64>();
            *v = (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos();
        }
        let norm = u.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 1e-9 {
            for v in &mut u {
                *v /= norm;
            }
            return u;
        }
    }
}

fn moved(x: &[f64; DIMS], u: &[f64; DIMS], step: f64) -> [f64; DIMS] {
    let mut y = *x;
    for i in 0..DIMS {
        y[i] = (x[i] + step * u[i]).clamp(0.0, 1.0);
    }
    y
}

/// Runs the search: `start` first (cheapest first), then the local search, calling `trial`
/// for each new configuration until the deadline, the caller's trial count, a stop from a
/// trial, or convergence (no untried configuration left, see the module docs). Fields outside
/// the cube (e.g. the target transform) come from the incumbent; restarts take turns over the
/// distinct settings of those fields in `start`.
pub fn run(
    cx: &TrainContext,
    n_rows: usize,
    base: &Params,
    start: Vec<Params>,
    trial: impl FnMut(&Params) -> Result<Outcome>,
) -> Result<Ended> {
    run_floored(cx, n_rows, base, start, 1, trial)
}

/// [`run`] with every configuration's `min_child_samples` at least `min_child` (the start
/// configurations' and every point of the local search's).
pub fn run_floored(
    cx: &TrainContext,
    n_rows: usize,
    base: &Params,
    start: Vec<Params>,
    min_child: usize,
    trial: impl FnMut(&Params) -> Result<Outcome>,
) -> Result<Ended> {
    let floor = |mut p: Params| {
        p.min_child_samples = p.min_child_samples.max(min_child);
        p
    };
    let start = start.into_iter().map(floor).collect();
    run_in(
        cx,
        n_rows,
        base,
        start,
        |x, b, n| floor(decode(x, b, n)),
        trial,
    )
}

/// [`run`] over the configurations `decode` gives (tests use a coarse grid to exhaust it).
fn run_in(
    cx: &TrainContext,
    n_rows: usize,
    base: &Params,
    start: Vec<Params>,
    decode: impl Fn(&[f64; DIMS], &Params, usize) -> Params,
    mut trial: impl FnMut(&Params) -> Result<Outcome>,
) -> Result<Ended> {
    let mut rng = ChaCha8Rng::seed_from_u64(cx.seed ^ 0xcf0_5ea7c4);
    let mut seen: HashSet<String> = HashSet::new();
    let mut count = 0usize;
    // The best point, its key and its configuration.
    type Best = Option<([f64; DIMS], (f64, f64), Params)>;
    let mut best: Best = None;
    // The settings outside the cube that restarts take turns over.
    let mut variants: Vec<Params> = Vec::new();
    for p in &start {
        if !variants.iter().any(|v| v.target == p.target) {
            variants.push(p.clone());
        }
    }
    if variants.is_empty() {
        variants.push(base.clone());
    }
    let go = |cx: &TrainContext, count: usize| {
        cx.may_start_trial() && cx.time_left().as_secs_f64() >= 0.02 && count < MAX_TRIALS
    };
    // One evaluation: Ok(None) means the search must end.
    let mut eval =
        |p: &Params, x: [f64; DIMS], best: &mut Best, count: &mut usize| -> Result<Option<bool>> {
            *count += 1;
            match trial(p)? {
                Outcome::Stopped => Ok(None),
                Outcome::Failed => Ok(Some(false)),
                Outcome::Scored(key) => {
                    let better = best
                        .as_ref()
                        .is_none_or(|(_, b, _)| compare_keys(key, *b) == std::cmp::Ordering::Less);
                    if better {
                        *best = Some((x, key, p.clone()));
                    }
                    Ok(Some(better))
                }
            }
        };
    for p in start {
        if !go(cx, count) {
            return Ok(Ended::Stopped);
        }
        seen.insert(signature(&p));
        let x = encode(&p, n_rows);
        if eval(&p, x, &mut best, &mut count)?.is_none() {
            return Ok(Ended::Stopped);
        }
    }
    let Some((mut x, _, mut current)) = best.clone() else {
        // Nothing scored: no incumbent to search around.
        return Ok(Ended::Converged);
    };
    let mut step = STEP_INIT;
    let mut fails = 0usize;
    let mut idle_restarts = 0usize;
    let mut empty_restarts = 0usize;
    let mut restarts = 0usize;
    let mut improved_since_restart = false;
    let mut tried_since_restart = false;
    loop {
        if !go(cx, count) {
            return Ok(Ended::Stopped);
        }
        let u = unit_direction(&mut rng);
        let mut gained = false;
        for sign in [1.0, -1.0] {
            let y = moved(&x, &u, sign * step);
            let p = decode(&y, &current, n_rows);
            if !seen.insert(signature(&p)) {
                continue;
            }
            if !go(cx, count) {
                return Ok(Ended::Stopped);
            }
            tried_since_restart = true;
            match eval(&p, y, &mut best, &mut count)? {
                None => return Ok(Ended::Stopped),
                Some(true) => {
                    x = y;
                    gained = true;
                    improved_since_restart = true;
                    // A new incumbent: the same configuration under the other settings (e.g.
                    // the target transform), so they are compared at good configurations too,
                    // not only at the cheap start.
                    for v in &variants {
                        if v.target == p.target {
                            continue;
                        }
                        let q = Params {
                            target: v.target,
                            ..p.clone()
                        };
                        if !seen.insert(signature(&q)) {
                            continue;
                        }
                        if !go(cx, count) {
                            return Ok(Ended::Stopped);
                        }
                        match eval(&q, y, &mut best, &mut count)? {
                            None => return Ok(Ended::Stopped),
                            Some(true) => current.target = v.target,
                            Some(false) => {}
                        }
                    }
                    break;
                }
                Some(false) => {}
            }
        }
        if gained {
            fails = 0;
            continue;
        }
        fails += 1;
        if fails >= DIMS {
            fails = 0;
            step *= 0.5;
        }
        if step < STEP_MIN {
            // Local search done: restart from a perturbation of the best point, wider after
            // each restart in a row that found nothing better.
            if improved_since_restart {
                idle_restarts = 0;
            } else {
                idle_restarts += 1;
            }
            if tried_since_restart {
                empty_restarts = 0;
            } else {
                empty_restarts += 1;
            }
            if empty_restarts >= RESTARTS_TO_CONVERGE {
                return Ok(Ended::Converged);
            }
            improved_since_restart = false;
            tried_since_restart = false;
            restarts += 1;
            let (centre, best_params) = best
                .as_ref()
                .map_or((x, current.clone()), |b| (b.0, b.2.clone()));
            // Restarts take turns over the other settings, starting with the best one's.
            let at = variants
                .iter()
                .position(|v| v.target == best_params.target)
                .unwrap_or(0);
            let variant = &variants[(at + restarts) % variants.len()];
            current = Params {
                target: variant.target,
                ..best_params
            };
            let jump = unit_direction(&mut rng);
            let radius = (STEP_INIT * (1.0 + rng.r#gen::<f64>()) * (1.0 + idle_restarts as f64))
                .min(RADIUS_MAX);
            x = moved(&centre, &jump, radius);
            step = STEP_INIT;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trips_within_rounding() {
        let base = Params::default();
        let p = Params {
            num_leaves: 31,
            learning_rate: 0.05,
            min_child_samples: 20,
            lambda_l2: 1.0,
            feature_fraction: 0.8,
            bagging_fraction: 0.9,
            ..base.clone()
        };
        let q = decode(&encode(&p, 10_000), &base, 10_000);
        assert_eq!(q.num_leaves, 31);
        assert!((q.learning_rate - 0.05).abs() < 1e-3);
        assert_eq!(q.min_child_samples, 20);
        assert!((q.lambda_l2 - 1.0).abs() < 1e-2);
        assert!((q.feature_fraction - 0.8).abs() < 1e-9);
        assert!((q.bagging_fraction - 0.9).abs() < 1e-9);
    }

    #[test]
    fn directions_are_unit_vectors() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..50 {
            let u = unit_direction(&mut rng);
            let n = u.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((n - 1.0).abs() < 1e-9);
        }
    }

    fn cx(seconds: f64, max_trials: Option<u32>) -> TrainContext {
        let bus = crate::bus::EventBus::default();
        TrainContext::new(
            bus.emitter("t"),
            tokio_util::sync::CancellationToken::new(),
            std::time::Instant::now() + std::time::Duration::from_secs_f64(seconds),
            7,
            max_trials,
            "accuracy",
        )
    }

    /// A smooth objective with its optimum inside the cube: the search walks towards it and
    /// keeps proposing new configurations (here until its trial cap), never calling a
    /// continuous space converged.
    #[test]
    fn local_search_improves_and_keeps_going() {
        let cx = cx(30.0, None);
        let target = [0.7, 0.3, 0.5, 0.6, 0.4, 0.8];
        let base = Params::default();
        let mut scores = Vec::new();
        let start = vec![Params {
            num_leaves: 15,
            learning_rate: 0.1,
            ..base.clone()
        }];
        let ended = run(&cx, 10_000, &base, start, |p| {
            let x = encode(p, 10_000);
            let d: f64 = x.iter().zip(target).map(|(a, b)| (a - b).powi(2)).sum();
            scores.push(-d);
            Ok(Outcome::Scored((-d, 0.0)))
        })
        .expect("the search runs");
        assert_eq!(ended, Ended::Stopped);
        assert_eq!(scores.len(), MAX_TRIALS);
        let first = scores[0];
        let best = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(best > first + 0.2, "first {first}, best {best}");
        assert!(best > -0.02, "best {best}");
    }

    /// Nothing better for many restarts in a row (a flat, noisy-looking objective, as on small
    /// data) is not convergence: the search keeps proposing new configurations until it is
    /// stopped (here by the caller after 1,000 trials; the rule before decisions/0098 called it
    /// converged after three idle restarts, under 200 trials).
    #[test]
    fn no_gain_is_not_convergence() {
        let cx = cx(60.0, None);
        let base = Params::default();
        let mut n = 0usize;
        let ended = run(&cx, 1000, &base, vec![base.clone()], |_| {
            n += 1;
            Ok(if n < 1000 {
                Outcome::Scored((0.5, 0.0))
            } else {
                Outcome::Stopped
            })
        })
        .expect("the search runs");
        assert_eq!(ended, Ended::Stopped);
        assert_eq!(n, 1000);
    }

    /// Once every configuration the space holds has been tried, restarts find nothing new and
    /// the search says it converged, well before its deadline.
    #[test]
    fn an_exhausted_space_converges() {
        let cx = cx(30.0, None);
        let base = Params::default();
        // A grid of 2 × 2 points: the first two coordinates snapped to their ends.
        let grid = |x: &[f64; DIMS], b: &Params, n: usize| {
            let mut y = [0.5; DIMS];
            y[0] = x[0].round();
            y[1] = x[1].round();
            decode(&y, b, n)
        };
        let mut tried = Vec::new();
        let started = std::time::Instant::now();
        let ended = run_in(&cx, 10_000, &base, vec![base.clone()], grid, |p| {
            tried.push(signature(p));
            Ok(Outcome::Scored((p.learning_rate, 0.0)))
        })
        .expect("the search runs");
        assert_eq!(ended, Ended::Converged);
        assert!(started.elapsed().as_secs_f64() < 5.0);
        let distinct: HashSet<_> = tried.iter().collect();
        assert_eq!(
            distinct.len(),
            tried.len(),
            "a configuration was tried twice"
        );
        assert!(tried.len() <= 5, "{} trials", tried.len());
    }

    /// Restarts take turns over the starting configurations' target transforms: a search that
    /// starts with both keeps trying both.
    #[test]
    fn restarts_alternate_target_transforms() {
        use crate::train::target::TargetTransform;
        let cx = cx(60.0, None);
        let base = Params::default();
        let start = vec![
            base.clone(),
            Params {
                target: TargetTransform::Log1p,
                ..base.clone()
            },
        ];
        let (mut plain, mut logged) = (0usize, 0usize);
        run(&cx, 10_000, &base, start, |p| {
            match p.target {
                TargetTransform::None => plain += 1,
                TargetTransform::Log1p => logged += 1,
            }
            Ok(if plain + logged < 600 {
                Outcome::Scored((0.5, 0.0))
            } else {
                Outcome::Stopped
            })
        })
        .expect("the search runs");
        assert!(plain > 100 && logged > 100, "{plain} plain, {logged} log1p");
    }

    /// The caller's deadline ends it; a trial that says Stopped ends it at once.
    #[test]
    fn deadline_and_stop_end_the_search() {
        let cx1 = cx(0.2, None);
        let base = Params::default();
        let started = std::time::Instant::now();
        let ended = run(&cx1, 1000, &base, vec![base.clone()], |p| {
            std::thread::sleep(std::time::Duration::from_millis(5));
            Ok(Outcome::Scored((p.learning_rate, 0.0)))
        })
        .unwrap();
        assert_eq!(ended, Ended::Stopped);
        assert!(started.elapsed().as_secs_f64() < 0.3);
        let cx2 = cx(30.0, None);
        let mut n = 0;
        let ended = run(&cx2, 1000, &base, vec![base.clone()], |_| {
            n += 1;
            Ok(if n < 3 {
                Outcome::Scored((n as f64, 0.0))
            } else {
                Outcome::Stopped
            })
        })
        .unwrap();
        assert_eq!(ended, Ended::Stopped);
        assert_eq!(n, 3);
    }
}
