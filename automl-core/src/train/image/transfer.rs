//! Transfer learning from a published backbone: embed every training and validation image
//! once with the frozen trunk, fit a multinomial logistic head with L2 on the pooled
//! features (seconds), then, while the trial's time allows, fine-tune the layers above the
//! trunk (EfficientNet's 1×1 `conv_head` and the head) on the cached trunk outputs. The
//! better of the two by validation is kept.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::backbone::BackboneNet;
use super::decode::{self, PreprocessSpec};
use super::net::{ArchSpec, cerr};
use super::weights::{Backbone, BackboneWeights};
use crate::error::Result;
use crate::event::{
    Event, MetricScalarPayload, Metrics, TrainProgressPayload, TrainRunFinishedPayload,
    TrainRunStartedPayload,
};
use crate::metrics;
use crate::train::{ImageData, TrainContext, TrainedModel, TrialRecord};

/// Input sides tried, largest first; the largest whose embedding fits the time is used.
const SIDES: [usize; 8] = [224, 192, 160, 128, 112, 96, 80, 64];

/// The smallest input side a backbone is run at.
pub(crate) const MIN_SIDE: usize = SIDES[SIDES.len() - 1];

/// Share of the trial's time the embedding may take.
const EMBED_SHARE: f64 = 0.55;

/// Images per trunk batch.
const EMBED_BATCH: usize = 32;

fn normalised(px: &mut [f32], spec: &PreprocessSpec) {
    let plane = spec.side * spec.side;
    for (i, v) in px.iter_mut().enumerate() {
        let c = (i / plane) % spec.channels;
        *v = (*v - spec.mean[c]) / spec.std[c];
    }
}

/// Trunk outputs (`n × D × P`, flattened) of decoded 0..1 images.
fn embed(
    net: &BackboneNet,
    pixels: &[f32],
    spec: &PreprocessSpec,
    mut progress: impl FnMut(usize),
) -> Result<(Vec<f32>, usize, usize)> {
    let len = spec.len();
    let n = pixels.len() / len.max(1);
    let mut out = Vec::new();
    let (mut d, mut p) = (0, 0);
    for start in (0..n).step_by(EMBED_BATCH) {
        let end = (start + EMBED_BATCH).min(n);
        let mut buf = pixels[start * len..end * len].to_vec();
        normalised(&mut buf, spec);
        let x = Tensor::from_vec(buf, (end - start, 3, spec.side, spec.side), net.device())
            .map_err(cerr("embed"))?;
        let t = net.trunk(&x).map_err(cerr("embed"))?;
        (_, d, p) = t.dims3().map_err(cerr("embed"))?;
        out.extend(
            t.flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(cerr("embed"))?,
        );
        progress(end);
    }
    Ok((out, d, p))
}

/// Seconds per image of the trunk at `side`, measured on a few real images.
fn seconds_per_image(net: &BackboneNet, sample: &[PathBuf], side: usize) -> Result<f64> {
    let spec = spec_for(net.backbone, side);
    let list: Vec<(PathBuf, usize)> = sample.iter().map(|p| (p.clone(), 0)).collect();
    let (dec, _) = decode::decode_all(&list, side, 3, 1);
    let n = dec.labels.len().max(1);
    if !net.device().is_cpu() {
        // The first pass on a GPU loads its kernels: time the second.
        embed(net, &dec.pixels, &spec, |_| {})?;
    }
    let t0 = Instant::now();
    embed(net, &dec.pixels, &spec, |_| {})?;
    Ok(t0.elapsed().as_secs_f64() / n as f64)
}

/// The preprocessing of a backbone at `side`.
pub(crate) fn spec_for(b: Backbone, side: usize) -> PreprocessSpec {
    let (mean, std) = b.normalisation();
    PreprocessSpec {
        side,
        channels: 3,
        mean: mean.to_vec(),
        std: std.to_vec(),
    }
}

/// Logits of a linear head on features.
fn linear(f: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    f.matmul(&w.t()?)?.broadcast_add(b)
}

fn proba(logits: &Tensor) -> Result<Array2<f64>> {
    let p = candle_nn::ops::softmax(logits, D::Minus1).map_err(cerr("predict"))?;
    let (n, k) = p.dims2().map_err(cerr("predict"))?;
    let v = p
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(cerr("predict"))?;
    Array2::from_shape_vec((n, k), v.into_iter().map(f64::from).collect())
        .map_err(|e| crate::error::AutomlError::Internal(e.to_string()))
}

fn score(valid_y: &[usize], logits: &Tensor) -> Result<(f64, f64, Metrics)> {
    let p = proba(logits)?;
    let m = metrics::classification(valid_y, &p);
    Ok((
        m.get("accuracy").copied().unwrap_or(0.0),
        m.get("log_loss").copied().unwrap_or(f64::INFINITY),
        m,
    ))
}

/// Fits a multinomial logistic head with L2 `lambda` on standardised features (full-batch
/// Adam), returned in the raw feature space: (weight `k × d`, bias `k`).
fn fit_head(
    f: &Tensor,
    y: &Tensor,
    k: usize,
    lambda: f64,
    iters: usize,
) -> Result<(Tensor, Tensor)> {
    let (_, d) = f.dims2().map_err(cerr("head"))?;
    let dev = f.device();
    let mu = f.mean_keepdim(0).map_err(cerr("head"))?;
    let sd = f
        .broadcast_sub(&mu)
        .and_then(|c| c.sqr())
        .and_then(|c| c.mean_keepdim(0))
        .and_then(|v| (v + 1e-6)?.sqrt())
        .map_err(cerr("head"))?;
    let fs = f
        .broadcast_sub(&mu)
        .and_then(|c| c.broadcast_div(&sd))
        .map_err(cerr("head"))?;
    let w = Var::zeros((k, d), DType::F32, dev).map_err(cerr("head"))?;
    let b = Var::zeros(k, DType::F32, dev).map_err(cerr("head"))?;
    let mut opt = AdamW::new(
        vec![w.clone(), b.clone()],
        ParamsAdamW {
            lr: 0.01,
            weight_decay: 0.0,
            ..Default::default()
        },
    )
    .map_err(cerr("head"))?;
    for _ in 0..iters {
        let logits = linear(&fs, w.as_tensor(), b.as_tensor()).map_err(cerr("head"))?;
        let loss = candle_nn::loss::cross_entropy(&logits, y)
            .and_then(|l| l + (w.as_tensor().sqr()?.sum_all()? * lambda)?)
            .map_err(cerr("head"))?;
        opt.backward_step(&loss).map_err(cerr("head"))?;
    }
    // Back to raw features: W' = W / sd, b' = b − W'·mu.
    let w_raw = w.as_tensor().broadcast_div(&sd).map_err(cerr("head"))?;
    let b_raw = (b.as_tensor()
        - w_raw
            .matmul(&mu.t().map_err(cerr("head"))?)
            .and_then(|t| t.squeeze(1))
            .map_err(cerr("head"))?)
    .map_err(cerr("head"))?;
    Ok((w_raw, b_raw))
}

/// The best model of a trial so far: validation accuracy and log loss, metrics, head,
/// top (EfficientNet's `conv_head`) and the phase that produced it.
type Candidate = (
    f64,
    f64,
    Metrics,
    (Tensor, Tensor),
    Option<(Tensor, Tensor)>,
    &'static str,
);

/// Runs one transfer-learning trial with `weights`. Returns `None` (after a WARNING) when
/// not even the smallest input side can be embedded in the time.
#[allow(clippy::too_many_arguments)]
/// What the transfer trial trained, for the image module to wrap as its model (this module
/// does not name the model type: it sits below it).
pub(crate) struct TransferredNet {
    pub name: String,
    pub classes: Vec<String>,
    pub spec: PreprocessSpec,
    pub arch: ArchSpec,
    pub net: BackboneNet,
    pub weights_source: PathBuf,
    pub device: Device,
}

pub(crate) fn run_transfer_trial(
    dev: &Device,
    data: &ImageData,
    classes: &[String],
    cx: &TrainContext,
    run_id: &str,
    deadline: Instant,
    weights: &BackboneWeights,
    seed: u64,
    model_of: impl FnOnce(TransferredNet) -> Arc<dyn TrainedModel>,
) -> Result<Option<TrialRecord>> {
    let started = Instant::now();
    let b = weights.backbone;
    let k = classes.len();
    let train_files = data.files_at(&data.split.train);
    let valid_files = data.files_at(&data.split.valid);
    let mut net = BackboneNet::new(weights, None, k, dev).map_err(cerr("backbone"))?;
    // Input side: the largest whose embedding of train + valid fits the share of the time.
    let sample: Vec<PathBuf> = train_files.iter().take(4).map(|(p, _)| p.clone()).collect();
    let per_128 = seconds_per_image(&net, &sample, 128)?;
    let n_all = (train_files.len() + valid_files.len()) as f64;
    let avail = deadline
        .saturating_duration_since(Instant::now())
        .as_secs_f64()
        * EMBED_SHARE;
    let cost = |s: usize| n_all * per_128 * (s as f64 / 128.0).powi(2);
    let Some(side) = SIDES.into_iter().find(|&s| cost(s) <= avail) else {
        cx.emit(Event::warning(
            "pretrained_skipped",
            format!(
                "embedding {} images with {} takes about {:.0} s even at 64 px ({:.3} s per \
                 image at 128 px), more than the {:.0} s available: the pretrained backbone is \
                 left out and the nets train from scratch",
                n_all,
                b.name(),
                cost(64),
                per_128,
                avail
            ),
        ));
        return Ok(None);
    };
    let spec = spec_for(b, side);
    let mut params = serde_json::Map::new();
    params.insert("backbone".into(), b.name().into());
    params.insert("weights".into(), weights.path.display().to_string().into());
    params.insert("side".into(), side.into());
    params.insert("head".into(), "multinomial_logistic_l2".into());
    params.insert(
        "est_embed_s".into(),
        ((cost(side) * 10.0).round() / 10.0).into(),
    );
    cx.emit(Event::TrainRunStarted(TrainRunStartedPayload {
        run_id: run_id.to_string(),
        model: b.name().to_string(),
        params: params.clone(),
    }));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (train, _) = decode::decode_all(&train_files, side, 3, threads);
    let (valid, _) = decode::decode_all(&valid_files, side, 3, threads);
    let total = train.labels.len() + valid.labels.len();
    let emit_progress = |done: usize| {
        cx.emit(Event::TrainProgress(TrainProgressPayload {
            run_id: run_id.to_string(),
            step: done as u64,
            steps: total as u64,
            eta_s: None,
        }))
    };
    let (tr_cache, d, p) = embed(&net, &train.pixels, &spec, emit_progress)?;
    let n_tr = train.labels.len();
    let (va_cache, _, _) = embed(&net, &valid.pixels, &spec, |i| emit_progress(n_tr + i))?;
    let embed_s = started.elapsed().as_secs_f64();
    let n_va = valid.labels.len();
    let dev = dev.clone();
    let tr_t = Tensor::from_vec(tr_cache, (n_tr, d, p), &dev).map_err(cerr("cache"))?;
    let va_t = Tensor::from_vec(va_cache, (n_va, d, p), &dev).map_err(cerr("cache"))?;
    let top = net.top.clone();
    let feats = |c: &Tensor| {
        BackboneNet::features_from(c, top.as_ref().map(|(w, b)| (w, b))).map_err(cerr("features"))
    };
    let (f_tr, f_va) = (feats(&tr_t)?, feats(&va_t)?);
    let y_tr = Tensor::from_vec(train.labels.clone(), n_tr, &dev).map_err(cerr("labels"))?;
    let valid_y: Vec<usize> = valid.labels.iter().map(|&c| c as usize).collect();

    // 1. The head on frozen features: L2 chosen on validation.
    let mut best: Option<Candidate> = None;
    for lambda in [1e-4, 1e-3, 1e-2] {
        let (w, bb) = fit_head(&f_tr, &y_tr, k, lambda, 150)?;
        let logits = linear(&f_va, &w, &bb).map_err(cerr("head"))?;
        let (acc, ll, m) = if n_va > 0 {
            score(&valid_y, &logits)?
        } else {
            (0.0, 0.0, Metrics::new())
        };
        if best
            .as_ref()
            .is_none_or(|(a, l, ..)| acc > *a || (acc == *a && ll < *l))
        {
            best = Some((acc, ll, m, (w, bb), top.clone(), "linear_probe"));
            params.insert("l2".into(), lambda.into());
        }
    }
    let head_s = started.elapsed().as_secs_f64() - embed_s;
    let emit = |name: &str, split: &str, step: usize, value: f64| {
        cx.emit(Event::MetricScalar(MetricScalarPayload {
            run_id: run_id.to_string(),
            name: name.to_string(),
            split: split.to_string(),
            step: step as u64,
            value,
        }))
    };
    if let Some((a, l, ..)) = &best {
        emit("accuracy", "valid", 0, *a);
        emit("loss", "valid", 0, *l);
    }

    // 2. Fine-tune the top (conv_head + head) on the cached trunk outputs while time allows.
    let mut epochs = 0usize;
    if let (Some((tw, tb)), Some((_, _, _, (hw, hb), _, _))) = (top.clone(), best.clone()) {
        let vars: Vec<Var> = [&tw, &tb, &hw, &hb]
            .iter()
            .map(|t| Var::from_tensor(t).map_err(cerr("fine-tune")))
            .collect::<Result<_>>()?;
        let mut opt = AdamW::new(
            vars.clone(),
            ParamsAdamW {
                lr: 3e-4,
                weight_decay: 1e-4,
                ..Default::default()
            },
        )
        .map_err(cerr("fine-tune"))?;
        let bs = 32.min(n_tr.max(1));
        let mut order: Vec<usize> = (0..n_tr).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut step = 0usize;
        'outer: for epoch in 0..30 {
            order.shuffle(&mut rng);
            for chunk in order.chunks(bs) {
                if Instant::now() >= deadline || cx.cancel.is_cancelled() {
                    break 'outer;
                }
                let idx = Tensor::from_vec(
                    chunk.iter().map(|&i| i as u32).collect::<Vec<_>>(),
                    chunk.len(),
                    &dev,
                )
                .map_err(cerr("fine-tune"))?;
                let xb = tr_t.index_select(&idx, 0).map_err(cerr("fine-tune"))?;
                let yb = y_tr.index_select(&idx, 0).map_err(cerr("fine-tune"))?;
                let f = BackboneNet::features_from(
                    &xb,
                    Some((vars[0].as_tensor(), vars[1].as_tensor())),
                )
                .map_err(cerr("fine-tune"))?;
                let logits = linear(&f, vars[2].as_tensor(), vars[3].as_tensor())
                    .map_err(cerr("fine-tune"))?;
                let loss = candle_nn::loss::cross_entropy(&logits, &yb).map_err(cerr("loss"))?;
                opt.backward_step(&loss).map_err(cerr("fine-tune"))?;
                step += 1;
                emit(
                    "loss",
                    "train",
                    step,
                    loss.to_scalar::<f32>().map_err(cerr("loss"))? as f64,
                );
            }
            epochs = epoch + 1;
            let f =
                BackboneNet::features_from(&va_t, Some((vars[0].as_tensor(), vars[1].as_tensor())))
                    .map_err(cerr("fine-tune"))?;
            let logits =
                linear(&f, vars[2].as_tensor(), vars[3].as_tensor()).map_err(cerr("fine-tune"))?;
            let (acc, ll, m) = if n_va > 0 {
                score(&valid_y, &logits)?
            } else {
                (0.0, 0.0, Metrics::new())
            };
            emit("accuracy", "valid", step, acc);
            emit("loss", "valid", step, ll);
            if best
                .as_ref()
                .is_some_and(|(a, l, ..)| acc > *a || (acc == *a && ll < *l))
            {
                let copy = |v: &Var| v.as_tensor().copy().map_err(cerr("checkpoint"));
                best = Some((
                    acc,
                    ll,
                    m,
                    (copy(&vars[2])?, copy(&vars[3])?),
                    Some((copy(&vars[0])?, copy(&vars[1])?)),
                    "fine_tuned_top",
                ));
            }
        }
    }
    let Some((_, _, valid_metrics, head, top, phase)) = best else {
        return Ok(None);
    };
    net.head = head;
    net.top = top;
    let secs = started.elapsed().as_secs_f64();
    params.insert("embed_s".into(), ((embed_s * 10.0).round() / 10.0).into());
    params.insert("head_fit_s".into(), ((head_s * 10.0).round() / 10.0).into());
    params.insert("fine_tune_epochs".into(), epochs.into());
    params.insert("kept".into(), phase.into());
    cx.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
        run_id: run_id.to_string(),
        model: b.name().to_string(),
        metrics: valid_metrics.clone(),
        duration_s: secs,
        status: "completed".to_string(),
    }));
    let model = model_of(TransferredNet {
        name: b.name().to_string(),
        classes: classes.to_vec(),
        spec: spec.clone(),
        arch: ArchSpec {
            arch: b.name().to_string(),
            width: b.feature_dim(),
            in_channels: 3,
            side,
            n_classes: k,
            flat_head: false,
        },
        net,
        weights_source: weights.path.clone(),
        device: dev,
    });
    Ok(Some(TrialRecord {
        run_id: run_id.to_string(),
        model_name: b.name().to_string(),
        params,
        metrics: valid_metrics,
        model,
        refit: None,
        duration_s: 0.0,
        predictions: None,
    }))
}
