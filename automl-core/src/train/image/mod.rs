//! The image trainer: small CNNs and residual nets on candle, trained from a folder of labelled
//! images (one sub-folder per class), and the [`ImageModel`] predictor that reloads them.
//!
//! Images are decoded once at a training size chosen from the data (see [`decode`]), then each
//! batch is normalised and augmented (random shifts; flips and light colour jitter on colour
//! images). Each architecture is one trial: AdamW with a warm-up + cosine learning-rate schedule
//! sized to the time left, early stopping on the validation split, and the best checkpoint kept.
//! A model saves as `model.safetensors` (weights) plus `model.json` (format, classes,
//! architecture and the preprocessing spec); [`ImageModel::load`] reads them back.
//!
//! Transfer learning: when pretrained weights are found (see [`ImageTrainerConfig::pretrained`]),
//! every tensor whose name and shape match the network is loaded, the head is fine-tuned alone
//! first and then the whole net; otherwise the trainer says in a WARNING that it trains from
//! scratch.

pub mod backbone;
mod cpu_ops;
pub mod decode;
pub mod net;
mod transfer;
pub mod weights;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, StringArray};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use ndarray::Array2;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{AutomlError, Result};
use crate::event::{
    Event, FeatureImportance, GdPathPayload, MetricScalarPayload, Metrics, ModelCandidate,
    TrainProgressPayload, TrainRunFinishedPayload, TrainRunStartedPayload,
};
use crate::event::{TaskKind, TransformReport};
use crate::metrics;
use crate::train::{
    ImageData, Predictions, TaskSpec, TrainContext, TrainInput, TrainedModel, Trainer, TrialRecord,
};

pub use decode::{Augment, PreprocessSpec};
use net::cerr;
pub use net::{ArchSpec, Net};

/// The `format` of an image model's `model.json`.
pub const FORMAT: &str = "automl-image/1";

/// Loads an image model from its `model.json` and the safetensors beside it (registered in the
/// model format registry).
pub fn load(file: &Path, _json: serde_json::Value) -> Result<Box<dyn TrainedModel>> {
    ImageModel::load(file).map(|m| Box::new(m) as Box<dyn TrainedModel>)
}

/// The environment variable naming pretrained weights (a safetensors file, or a folder holding
/// `model.safetensors`).
pub const PRETRAINED_ENV: &str = "AUTOML_IMAGE_PRETRAINED";

/// Settings of the image trainer.
#[derive(Debug, Clone)]
pub struct ImageTrainerConfig {
    /// Architectures tried, in order (`small_cnn`, `resnet`).
    pub archs: Vec<String>,
    /// Images larger than this are resized down to it (pixels per side).
    pub max_side: usize,
    /// Epochs at most per trial.
    pub max_epochs: usize,
    /// Epochs without a better validation score before a trial stops.
    pub patience: usize,
    /// Peak learning rate of AdamW.
    pub lr: f64,
    /// Decoupled weight decay of AdamW.
    pub weight_decay: f64,
    /// Batch size (default 32: within a short budget, more updates beat larger batches).
    pub batch_size: Option<usize>,
    /// Pretrained weights; when `None`, the path in `AUTOML_IMAGE_PRETRAINED` is used if set.
    pub pretrained: Option<PathBuf>,
    /// When no weights are named, look for the EfficientNet-Lite0 file the setup script
    /// caches (see [`weights::cache_dir`]). Default true.
    pub weight_cache: bool,
    /// Width of the from-scratch nets; `None` sizes it to the data and the time budget (see
    /// [`ImageTrainerConfig::min_epochs`]).
    pub width: Option<usize>,
    /// Epochs a from-scratch net should get in its share of the time: when the measured
    /// step time says the data-sized width gets fewer, narrower widths are measured and the
    /// widest that gets them is trained (at least [`MIN_WIDTH`]).
    pub min_epochs: usize,
    /// Whether the head of the from-scratch nets reads the last feature map flattened;
    /// `None` decides from the data (see [`flat_head_for`]).
    pub flat_head: Option<bool>,
    /// Random rotations of the training images of up to this many degrees (0 = off).
    pub rotate: f32,
    /// Random zoom of the training images of up to this fraction (0 = off).
    pub zoom: f32,
}

impl Default for ImageTrainerConfig {
    fn default() -> Self {
        Self {
            archs: vec!["small_cnn".to_string(), "resnet".to_string()],
            max_side: 32,
            max_epochs: 200,
            patience: 12,
            lr: 3e-3,
            weight_decay: 0.02,
            batch_size: None,
            pretrained: None,
            weight_cache: true,
            width: None,
            min_epochs: 12,
            flat_head: None,
            rotate: 10.0,
            zoom: 0.1,
        }
    }
}

/// Trains CNNs on labelled image folders.
#[derive(Debug, Clone, Default)]
pub struct ImageTrainer {
    /// Settings.
    pub config: ImageTrainerConfig,
}

impl ImageTrainer {
    /// A trainer with the given settings.
    pub fn new(config: ImageTrainerConfig) -> Self {
        Self { config }
    }
}

/// Rough CPU speed used for cost estimates (multiply-accumulates per second, forward+backward).
const EST_MACS_PER_S: f64 = 2.0e9;

#[async_trait]
impl Trainer for ImageTrainer {
    fn name(&self) -> &str {
        "image"
    }

    fn supports(&self, task: &TaskSpec) -> bool {
        task.modality == "image" && task.task == TaskKind::Classification
    }

    fn candidates(&self, task: &TaskSpec) -> Vec<ModelCandidate> {
        let side = self.config.max_side.min(64);
        let mut out = Vec::new();
        if let Some(path) = pretrained_path(&self.config) {
            // Named from the file name only: reading the checkpoint is left to training.
            let b = weights::Backbone::EfficientnetLite0;
            let macs = b.macs_224() * (128.0f64 / 224.0).powi(2);
            let cost = macs * task.n_rows as f64 / (EST_MACS_PER_S * 3.0) + 10.0;
            out.push(ModelCandidate {
                model: "pretrained_backbone".to_string(),
                family: "pretrained ImageNet backbone (transfer learning)".to_string(),
                trainer: "image".to_string(),
                pros: vec![
                    "ImageNet features: high accuracy on photos from few images".to_string(),
                    "embeds once, then fits the head in seconds".to_string(),
                ],
                cons: vec![
                    format!(
                        "needs the weights file {} and its licence",
                        path.file_name()
                            .map(|n| n.to_string_lossy())
                            .unwrap_or_default()
                    ),
                    "larger and slower to predict than the small nets".to_string(),
                    "less gain on small grayscale images such as digits".to_string(),
                ],
                estimated_cost_s: (cost * 10.0).round() / 10.0,
            });
        }
        out.extend(self.config.archs.iter().map(|a| {
            let spec = ArchSpec::sized(a, 3, side, task.n_classes as usize, task.n_rows as usize);
            let cost = 3.0 * spec.forward_macs() * task.n_rows as f64 * 20.0 / EST_MACS_PER_S;
            let (family, pros, cons) = if a == "resnet" {
                (
                    "residual network",
                    vec![
                        "residual blocks train deeper features".to_string(),
                        "usually the more accurate of the two on photos".to_string(),
                    ],
                    vec!["about twice the compute of the small CNN per image".to_string()],
                )
            } else {
                (
                    "convolutional network",
                    vec![
                        "fast: three conv layers with batch norm".to_string(),
                        "strong on small, centred images such as digits".to_string(),
                    ],
                    vec!["limited capacity on varied photos".to_string()],
                )
            };
            ModelCandidate {
                model: a.clone(),
                family: family.to_string(),
                trainer: "image".to_string(),
                pros,
                cons,
                estimated_cost_s: (cost * 10.0).round() / 10.0,
            }
        }));
        out
    }

    async fn train(&self, input: TrainInput, cx: TrainContext) -> Result<()> {
        let TrainInput::Images(data) = input else {
            return Err(AutomlError::NoTrainer {
                task: "tabular data in the image trainer".to_string(),
            });
        };
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || train_blocking(&data, &cx, &config))
            .await
            .map_err(|e| AutomlError::Internal(format!("image training task failed: {e}")))?
    }
}

fn device() -> Result<Device> {
    #[cfg(feature = "cuda")]
    {
        Device::cuda_if_available(0).map_err(cerr("cuda device"))
    }
    #[cfg(not(feature = "cuda"))]
    {
        Ok(Device::Cpu)
    }
}

/// Decoded training and validation images with their preprocessing.
struct Prepared {
    spec: PreprocessSpec,
    /// Median shorter side of the training images as stored, before any resizing.
    native_side: usize,
    augment: Augment,
    classes: Vec<String>,
    train: decode::Decoded,
    valid: decode::Decoded,
}

/// Chooses the training size and colour from a sample of the training files:
/// (side, channels, the median shorter side as stored).
fn choose_size(files: &[&PathBuf], max_side: usize) -> (usize, usize, usize) {
    let mut sides = Vec::new();
    let mut any_colour = false;
    for p in files.iter().take(48) {
        if let Ok((s, gray)) = decode::probe(p) {
            sides.push(s as usize);
            any_colour |= !gray;
        }
    }
    sides.sort_unstable();
    let median = sides.get(sides.len() / 2).copied().unwrap_or(max_side);
    let side = median.clamp(8, max_side.max(8));
    (side, if any_colour { 3 } else { 1 }, median)
}

fn prepare(data: &ImageData, cx: &TrainContext, config: &ImageTrainerConfig) -> Result<Prepared> {
    let max_side = config.max_side;
    let folder = &data.folder;
    let train_files = data.files_at(&data.split.train);
    let valid_files = data.files_at(&data.split.valid);
    let sample: Vec<&PathBuf> = train_files.iter().map(|(p, _)| p).collect();
    let (side, channels, native_side) = choose_size(&sample, max_side);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (train, mut failed) = decode::decode_all(&train_files, side, channels, threads);
    let (valid, failed_v) = decode::decode_all(&valid_files, side, channels, threads);
    failed.extend(failed_v);
    if !failed.is_empty() {
        let examples: Vec<String> = failed
            .iter()
            .take(5)
            .map(|(p, e)| format!("{} ({e})", p.display()))
            .collect();
        cx.emit(Event::warning(
            "images_unreadable",
            format!(
                "{} of {} training/validation images could not be decoded and were skipped: {}",
                failed.len(),
                train_files.len() + valid_files.len(),
                examples.join("; ")
            ),
        ));
    }
    if train.labels.is_empty() {
        return Err(AutomlError::BadData(format!(
            "none of the {} training images in {} could be decoded",
            train_files.len(),
            folder.root.display()
        )));
    }
    let (mean, std) = decode::channel_stats(&train.pixels, channels, side);
    let colour = channels == 3;
    Ok(Prepared {
        spec: PreprocessSpec {
            side,
            channels,
            mean,
            std,
        },
        native_side,
        augment: Augment {
            flip: colour,
            shift: (side / 8).max(1),
            jitter: if colour { 0.1 } else { 0.0 },
            rotate: config.rotate.max(0.0),
            zoom: config.zoom.max(0.0),
        },
        classes: folder.classes.clone(),
        train,
        valid,
    })
}

/// Pretrained tensors by name, and where they came from.
type Pretrained = (HashMap<String, Tensor>, PathBuf);

/// Where pretrained weights were found.
enum Found {
    /// Weights of one of our own nets (a previous run), loaded by name.
    Own(Pretrained),
    /// A published backbone, checked.
    Backbone(Box<weights::BackboneWeights>),
}

/// The pretrained weights file to use, if any: [`ImageTrainerConfig::pretrained`], else
/// `AUTOML_IMAGE_PRETRAINED`, else the EfficientNet-Lite0 file the setup script puts in
/// [`weights::cache_dir`].
pub fn pretrained_path(config: &ImageTrainerConfig) -> Option<PathBuf> {
    let path = config
        .pretrained
        .clone()
        .or_else(|| std::env::var_os(PRETRAINED_ENV).map(PathBuf::from));
    match path {
        Some(p) if p.is_dir() => Some(p.join("model.safetensors")),
        Some(p) => Some(p),
        None if config.weight_cache => weights::cache_dir()
            .map(|d| d.join(weights::LITE0_FILE))
            .filter(|p| p.is_file()),
        None => None,
    }
}

fn find_pretrained(config: &ImageTrainerConfig, dev: &Device) -> Result<Option<Found>> {
    let Some(file) = pretrained_path(config) else {
        return Ok(None);
    };
    let raw = weights::read_checkpoint(&file)?;
    if let Some(b) = weights::recognise(&raw) {
        // A previous transfer run's model.safetensors carries our classifier as `head.*`.
        let raw = raw
            .into_iter()
            .filter(|(n, _)| !n.starts_with("head."))
            .collect();
        return Ok(Some(Found::Backbone(Box::new(weights::check(
            b, raw, &file,
        )?))));
    }
    // Our own from-scratch nets: every name under one of their modules.
    let own = ["stem.", "block", "layer", "head."];
    if raw.contains_key("head.weight") && raw.keys().all(|n| own.iter().any(|p| n.starts_with(p))) {
        let tensors = raw
            .into_iter()
            .map(|(n, t)| t.to_device(dev).map(|t| (n, t)).map_err(cerr("pretrained")))
            .collect::<Result<HashMap<_, _>>>()?;
        return Ok(Some(Found::Own((tensors, file))));
    }
    let sample: Vec<&str> = raw.keys().take(6).map(String::as_str).collect();
    Err(weights::WeightsError::Unrecognised {
        path: file.clone(),
        sample: sample.join(", "),
    }
    .into())
}

fn train_blocking(data: &ImageData, cx: &TrainContext, config: &ImageTrainerConfig) -> Result<()> {
    let prep = prepare(data, cx, config)?;
    let dev = device()?;
    let found = find_pretrained(config, &dev)?;
    let mut pretrained = None;
    match found {
        None => cx.emit(Event::warning(
            "no_pretrained_weights",
            format!(
                "no pretrained image weights found (pass --pretrained, set {PRETRAINED_ENV}, or \
                 run scripts/setup.d/50-weights.sh to cache EfficientNet-Lite0); training from \
                 scratch only"
            ),
        )),
        Some(Found::Own(p)) => pretrained = Some(p),
        Some(Found::Backbone(w)) if prep.native_side * 2 < transfer::MIN_SIDE => {
            // The backbone would see the images blown up more than twice (all its input
            // interpolated) at the square of the cost of their own size, while the nets
            // from scratch train at that size: the time goes to them.
            cx.emit(Event::warning(
                "pretrained_skipped",
                format!(
                    "the images are {0}x{0} px: {1} would need them upscaled to at least {2} \
                     px, more than twice their size, at {3:.0}x the pixels; the pretrained \
                     backbone is left out and the nets train from scratch at {0} px",
                    prep.native_side,
                    w.backbone.name(),
                    transfer::MIN_SIDE,
                    (transfer::MIN_SIDE as f64 / prep.native_side.max(1) as f64).powi(2)
                ),
            ));
        }
        Some(Found::Backbone(w)) => {
            // Transfer learning first: it is the strongest candidate on photos. It takes
            // what it needs of the time (embedding, head, fine-tuning), at most 60 %.
            if cx.may_start_trial() {
                let deadline = Instant::now() + cx.time_left().mul_f64(0.6);
                let run_id = cx.next_run_id();
                if let Some(record) = transfer::run_transfer_trial(
                    &dev,
                    data,
                    &prep.classes,
                    cx,
                    &run_id,
                    deadline,
                    &w,
                    cx.seed,
                    |t| {
                        Arc::new(ImageModel {
                            name: t.name,
                            classes: t.classes,
                            spec: t.spec,
                            arch: t.arch,
                            network: Network::Backbone(Box::new(t.net)),
                            weights_source: Some(t.weights_source),
                            device: t.device,
                        })
                    },
                )? {
                    cx.report_trial(record);
                }
                if cx.cancel.is_cancelled() {
                    return Err(AutomlError::Cancelled);
                }
            }
        }
    }
    let archs = plan_archs(&prep, cx, config, &dev)?;
    let n_archs = archs.len();
    for (i, arch) in archs.iter().enumerate() {
        if !cx.may_start_trial() {
            break;
        }
        // Share the time left among the trials still to run.
        let share = cx.time_left().div_f64((n_archs - i) as f64);
        let deadline = Instant::now() + share;
        let run_id = cx.next_run_id();
        if let Some(record) = run_trial(
            arch.clone(),
            &prep,
            cx,
            &run_id,
            deadline,
            config,
            pretrained.as_ref(),
            &dev,
        )? {
            cx.report_trial(record);
        }
        if cx.cancel.is_cancelled() {
            return Err(AutomlError::Cancelled);
        }
    }
    Ok(())
}

/// Steps without a better validation score that early stopping also waits for.
const MIN_PATIENCE_STEPS: usize = 300;

/// Fewest training steps worth giving a trial: below this an architecture is left out, so
/// that a short budget trains one net well rather than several badly.
const MIN_STEPS_PER_TRIAL: f64 = 500.0;

/// The batch size of a trial.
fn batch_size(config: &ImageTrainerConfig, n_train: usize) -> usize {
    config.batch_size.unwrap_or(32).clamp(2, n_train.max(2))
}

/// Narrowest width the from-scratch nets are given when the time budget is short.
pub const MIN_WIDTH: usize = 12;

/// Whether a from-scratch net's head should read its last feature map flattened: on small
/// grayscale images (glyphs, digits, scans), where a feature's place in the frame carries
/// the class; photos keep the global average, which does not care where an object is.
pub fn flat_head_for(spec: &ArchSpec) -> bool {
    spec.in_channels == 1 && spec.final_side() <= 8
}

/// The architectures to train and their widths. The first architecture's width is sized
/// to the time: its data-sized width ([`ArchSpec::sized`]) unless the step time, measured
/// on three real batches (after one untimed step), says that it would get fewer than
/// [`ImageTrainerConfig::min_epochs`] epochs in the time left, in which case narrower
/// widths (down to [`MIN_WIDTH`]) are measured and the widest that gets them (else the
/// narrowest) is used; later architectures take the same width. Each further architecture
/// is kept only if, with the time shared equally, every trial still gets
/// [`MIN_STEPS_PER_TRIAL`] steps and its epochs (its step time scaled by compute).
/// Left-out architectures are named in a WARNING.
fn plan_archs(
    prep: &Prepared,
    cx: &TrainContext,
    config: &ImageTrainerConfig,
    dev: &Device,
) -> Result<Vec<ArchSpec>> {
    let n_train = prep.train.labels.len();
    let bs = batch_size(config, n_train);
    let steps_per_epoch = (n_train / bs).max(1) as f64;
    let spec_of = |a: &str, width: Option<usize>| {
        let mut s = ArchSpec::sized(
            a,
            prep.spec.channels,
            prep.spec.side,
            prep.classes.len(),
            n_train,
        );
        if let Some(w) = width.or(config.width) {
            s.width = w.max(1);
        }
        s.flat_head = config.flat_head.unwrap_or_else(|| flat_head_for(&s));
        s
    };
    let Some(first_arch) = config.archs.first() else {
        return Ok(vec![]);
    };
    let left = cx.time_left().as_secs_f64();
    // Validation passes and batch assembly: about a tenth on top of the steps.
    let epochs_in = |step_s: f64, share: f64| share / (step_s * steps_per_epoch * 1.1);
    let mut first = spec_of(first_arch, None);
    let mut step_s = step_seconds(&first, prep, bs, dev)?;
    if config.width.is_none() {
        let sized = first.width;
        let mut tried = vec![(sized, step_s)];
        for w in [sized * 3 / 4, sized / 2, MIN_WIDTH] {
            if epochs_in(step_s, left) >= config.min_epochs as f64 {
                break;
            }
            if w >= sized || w < MIN_WIDTH || tried.iter().any(|(t, _)| *t == w) {
                continue;
            }
            let narrower = spec_of(first_arch, Some(w));
            step_s = step_seconds(&narrower, prep, bs, dev)?;
            first = narrower;
            tried.push((w, step_s));
        }
        if first.width != sized {
            cx.emit(Event::warning(
                "image_width_reduced",
                format!(
                    "{:.0} s left: {} of width {} takes {:.3} s per step of {} images, about \
                     {:.1} epochs; trained at width {} ({:.3} s per step, about {:.1} epochs) \
                     (measured: {})",
                    left,
                    first_arch,
                    sized,
                    tried[0].1,
                    bs,
                    epochs_in(tried[0].1, left),
                    first.width,
                    step_s,
                    epochs_in(step_s, left),
                    tried
                        .iter()
                        .map(|(w, s)| format!("width {w}: {s:.3} s"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let width = Some(first.width);
    let need_steps = MIN_STEPS_PER_TRIAL.max(config.min_epochs as f64 * steps_per_epoch);
    let mut keep = vec![first.clone()];
    let mut cost = step_s;
    for a in &config.archs[1..] {
        let spec = spec_of(a, width);
        let c = step_s * spec.forward_macs() / first.forward_macs().max(1.0);
        let n = (keep.len() + 1) as f64;
        // Every kept trial needs its minimum steps within an equal share of the time.
        if cost.max(c) * need_steps * n > left {
            break;
        }
        cost = cost.max(c);
        keep.push(spec);
    }
    if keep.len() < config.archs.len() {
        let skipped: Vec<&str> = config.archs[keep.len()..]
            .iter()
            .map(String::as_str)
            .collect();
        let kept: Vec<&str> = keep.iter().map(|s| s.arch.as_str()).collect();
        cx.emit(Event::warning(
            "architectures_skipped",
            format!(
                "{:.0} s left and about {:.2} s per training step: not enough for {} as well as \
                 {}; training {} only (a larger --time-budget trains them too)",
                left,
                step_s,
                skipped.join(", "),
                kept.join(", "),
                kept.join(", ")
            ),
        ));
    }
    Ok(keep)
}

/// Seconds per training step (forward, backward, AdamW) of `arch` on real batches of `bs`.
fn step_seconds(arch: &ArchSpec, prep: &Prepared, bs: usize, dev: &Device) -> Result<f64> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, dev);
    let net = Net::new(arch, vb).map_err(cerr("build"))?;
    seeded_init(&varmap, 0, dev)?;
    let mut opt = AdamW::new(
        trainable(&varmap, false)
            .into_iter()
            .map(|(_, v)| v)
            .collect(),
        ParamsAdamW::default(),
    )
    .map_err(cerr("optimizer"))?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let n = prep.train.labels.len();
    let idx: Vec<usize> = (0..bs.min(n)).collect();
    let mut t0 = Instant::now();
    for s in 0..4 {
        if s == 1 {
            t0 = Instant::now();
        }
        let (x, y) = batch_tensor(&prep.train, &idx, &prep.spec, &prep.augment, &mut rng, dev)?;
        let logits = net.forward_t(&x, true).map_err(cerr("forward"))?;
        let loss = candle_nn::loss::cross_entropy(&logits, &y).map_err(cerr("loss"))?;
        opt.backward_step(&loss).map_err(cerr("backward"))?;
        loss.to_scalar::<f32>().map_err(cerr("loss"))?;
    }
    Ok(t0.elapsed().as_secs_f64() / 3.0)
}

/// Sets every variable from a seeded generator: He-uniform conv weights, uniform linear
/// weights, batch-norm scales 1, biases and running means 0, running variances 1.
fn seeded_init(varmap: &VarMap, seed: u64, dev: &Device) -> Result<()> {
    let data = varmap.data().lock().unwrap_or_else(|p| p.into_inner());
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let n: usize = dims.iter().product();
        let values: Vec<f32> =
            if name.ends_with("running_var") || (name.ends_with(".weight") && dims.len() == 1) {
                vec![1.0; n]
            } else if name.ends_with(".weight") && dims.len() >= 2 {
                let fan_in: usize = dims[1..].iter().product();
                let bound = if dims.len() == 4 {
                    (6.0 / fan_in as f64).sqrt()
                } else {
                    1.0 / (fan_in as f64).sqrt()
                } as f32;
                (0..n).map(|_| rng.gen_range(-bound..bound)).collect()
            } else {
                vec![0.0; n]
            };
        let t = Tensor::from_vec(values, dims, dev).map_err(cerr("init"))?;
        var.set(&t).map_err(cerr("init"))?;
    }
    Ok(())
}

/// Loads every pretrained tensor whose name and shape match a variable, except the head.
/// Returns how many were loaded.
fn load_pretrained(varmap: &VarMap, pre: &HashMap<String, Tensor>) -> Result<usize> {
    let data = varmap.data().lock().unwrap_or_else(|p| p.into_inner());
    let mut n = 0;
    for (name, var) in data.iter() {
        if name.starts_with("head.") {
            continue;
        }
        if let Some(t) = pre.get(name) {
            if t.dims() == var.dims() {
                let t = t.to_dtype(DType::F32).map_err(cerr("pretrained"))?;
                var.set(&t).map_err(cerr("pretrained"))?;
                n += 1;
            }
        }
    }
    Ok(n)
}

fn trainable(varmap: &VarMap, head_only: bool) -> Vec<(String, Var)> {
    let data = varmap.data().lock().unwrap_or_else(|p| p.into_inner());
    let mut v: Vec<(String, Var)> = data
        .iter()
        .filter(|(n, _)| !n.ends_with("running_mean") && !n.ends_with("running_var"))
        .filter(|(n, _)| !head_only || n.starts_with("head."))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn snapshot(varmap: &VarMap) -> Result<Vec<(Var, Tensor)>> {
    let data = varmap.data().lock().unwrap_or_else(|p| p.into_inner());
    data.values()
        .map(|v| Ok((v.clone(), v.as_tensor().copy().map_err(cerr("checkpoint"))?)))
        .collect()
}

/// A fixed, seeded subsample of the trainable parameters, for the descent path.
struct PathProbe {
    picks: Vec<(Var, Vec<usize>)>,
}

impl PathProbe {
    fn new(vars: &[(String, Var)], seed: u64, max: usize) -> Self {
        let total: usize = vars.iter().map(|(_, v)| v.elem_count()).sum();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9a7b);
        let k = max.min(total);
        let mut idx: Vec<usize> = rand::seq::index::sample(&mut rng, total, k).into_vec();
        idx.sort_unstable();
        let mut picks = Vec::new();
        let mut start = 0;
        let mut it = idx.into_iter().peekable();
        for (_, v) in vars {
            let end = start + v.elem_count();
            let mut local = Vec::new();
            while let Some(&i) = it.peek() {
                if i >= end {
                    break;
                }
                local.push(i - start);
                it.next();
            }
            if !local.is_empty() {
                picks.push((v.clone(), local));
            }
            start = end;
        }
        Self { picks }
    }

    fn read(&self) -> Result<Vec<f64>> {
        let mut out = Vec::new();
        for (v, local) in &self.picks {
            let flat: Vec<f32> = v
                .as_tensor()
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(cerr("descent path"))?;
            out.extend(local.iter().map(|&i| flat[i] as f64));
        }
        Ok(out)
    }
}

/// Steps of linear learning-rate warm-up (at most one epoch). Short on purpose: with a
/// time budget that allows one or two epochs, a warm-up of a whole epoch would spend most of
/// the run at a tiny learning rate.
const WARMUP_STEPS: usize = 20;

/// The number of steps the schedule should last: `max_steps`, or fewer when the mean time per
/// step so far (validation passes included) says the deadline comes first.
fn plan_steps(started: Instant, deadline: Instant, step: usize, max_steps: usize) -> usize {
    let per_step = started.elapsed().as_secs_f64() / step.max(1) as f64;
    let left = deadline
        .saturating_duration_since(Instant::now())
        .as_secs_f64();
    let fit = step + (left / per_step.max(1e-9)).floor() as usize;
    fit.min(max_steps).max(step + 1)
}

/// The learning rate at `step` of `total`: linear warm-up, then cosine decay to 1 % of the peak.
fn lr_at(peak: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let p = ((step - warmup) as f64 / span).min(1.0);
    peak * (0.01 + 0.99 * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
}

fn batch_tensor(
    images: &decode::Decoded,
    idx: &[usize],
    spec: &PreprocessSpec,
    aug: &Augment,
    rng: &mut ChaCha8Rng,
    dev: &Device,
) -> Result<(Tensor, Tensor)> {
    let len = spec.len();
    let mut buf = vec![0f32; idx.len() * len];
    for (j, &i) in idx.iter().enumerate() {
        decode::prepare_into(
            &images.pixels[i * len..(i + 1) * len],
            &mut buf[j * len..(j + 1) * len],
            spec,
            aug,
            rng,
        );
    }
    let x = Tensor::from_vec(buf, (idx.len(), spec.channels, spec.side, spec.side), dev)
        .map_err(cerr("batch"))?;
    let y: Vec<u32> = idx.iter().map(|&i| images.labels[i]).collect();
    let y = Tensor::from_vec(y, idx.len(), dev).map_err(cerr("batch"))?;
    Ok((x, y))
}

/// Class probabilities for normalised images (no augmentation), `bs` at a time.
fn predict_pixels(
    net: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
    pixels: &[f32],
    spec: &PreprocessSpec,
    dev: &Device,
) -> Result<Array2<f64>> {
    let len = spec.len();
    let n = pixels.len() / len.max(1);
    let mut rows: Vec<f32> = Vec::new();
    let mut k = 0;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for start in (0..n).step_by(128) {
        let end = (start + 128).min(n);
        let mut buf = vec![0f32; (end - start) * len];
        for i in start..end {
            decode::prepare_into(
                &pixels[i * len..(i + 1) * len],
                &mut buf[(i - start) * len..(i - start + 1) * len],
                spec,
                &Augment::NONE,
                &mut rng,
            );
        }
        let x = Tensor::from_vec(buf, (end - start, spec.channels, spec.side, spec.side), dev)
            .map_err(cerr("predict"))?;
        let p = net(&x)
            .and_then(|l| candle_nn::ops::softmax(&l, D::Minus1))
            .map_err(cerr("predict"))?;
        k = p.dim(1).map_err(cerr("predict"))?;
        rows.extend(
            p.flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(cerr("predict"))?,
        );
    }
    Array2::from_shape_vec((n, k), rows.into_iter().map(f64::from).collect())
        .map_err(|e| AutomlError::Internal(format!("prediction shape: {e}")))
}

#[allow(clippy::too_many_arguments)]
fn run_trial(
    arch_spec: ArchSpec,
    prep: &Prepared,
    cx: &TrainContext,
    run_id: &str,
    deadline: Instant,
    config: &ImageTrainerConfig,
    pretrained: Option<&Pretrained>,
    dev: &Device,
) -> Result<Option<TrialRecord>> {
    let started = Instant::now();
    let n_train = prep.train.labels.len();
    let arch = arch_spec.arch.clone();
    let arch = arch.as_str();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, dev);
    let net = Net::new(&arch_spec, vb).map_err(cerr("build"))?;
    let seed = cx.seed
        ^ (arch
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64)));
    seeded_init(&varmap, seed, dev)?;
    let loaded = match pretrained {
        Some((tensors, _)) => load_pretrained(&varmap, tensors)?,
        None => 0,
    };
    let bs = batch_size(config, n_train);
    let steps_per_epoch = (n_train / bs).max(1);
    let head_epochs = if loaded > 0 { 2 } else { 0 };
    let mut params = serde_json::Map::new();
    params.insert("arch".into(), arch.into());
    params.insert("width".into(), arch_spec.width.into());
    params.insert("flat_head".into(), arch_spec.flat_head.into());
    params.insert("side".into(), prep.spec.side.into());
    params.insert("channels".into(), prep.spec.channels.into());
    params.insert("batch_size".into(), bs.into());
    params.insert("lr".into(), config.lr.into());
    params.insert("weight_decay".into(), config.weight_decay.into());
    params.insert("optimizer".into(), "adamw".into());
    params.insert("schedule".into(), "warmup_cosine".into());
    params.insert(
        "augment".into(),
        serde_json::to_value(prep.augment).unwrap_or_default(),
    );
    params.insert("pretrained_tensors".into(), loaded.into());
    if let Some((_, p)) = pretrained {
        params.insert("pretrained".into(), p.display().to_string().into());
    }
    cx.emit(Event::TrainRunStarted(TrainRunStartedPayload {
        run_id: run_id.to_string(),
        model: arch.to_string(),
        params: params.clone(),
    }));
    let adamw = |vars: Vec<Var>| {
        AdamW::new(
            vars,
            ParamsAdamW {
                lr: config.lr,
                weight_decay: config.weight_decay,
                ..Default::default()
            },
        )
        .map_err(cerr("optimizer"))
    };
    let all_vars = trainable(&varmap, false);
    let mut opt = if head_epochs > 0 {
        adamw(
            trainable(&varmap, true)
                .into_iter()
                .map(|(_, v)| v)
                .collect(),
        )?
    } else {
        adamw(all_vars.iter().map(|(_, v)| v.clone()).collect())?
    };
    let probe = PathProbe::new(&all_vars, seed, 2000);
    let mut trajectory = vec![probe.read()?];
    let mut path_losses: Vec<f64> = vec![f64::NAN];
    let path_every = (steps_per_epoch / 4).max(1);

    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(1));
    let mut order: Vec<usize> = (0..n_train).collect();
    // The schedule's length in steps: every epoch allowed, or fewer when the measured step
    // time says the deadline comes first (re-estimated as training goes, so the cosine decay
    // ends when the time does). Warm-up is short and fixed, never a whole epoch.
    let max_steps = config.max_epochs.max(1) * steps_per_epoch;
    let mut planned_steps = max_steps;
    let warmup = steps_per_epoch.min(WARMUP_STEPS);
    let mut step = 0usize;
    let mut best: Option<(f64, f64, Vec<(Var, Tensor)>, Metrics)> = None;
    let mut since_best = 0usize;
    let mut best_step = 0usize;
    let mut status = "completed";
    let valid_y: Vec<usize> = prep.valid.labels.iter().map(|&c| c as usize).collect();
    let mut epoch = 0usize;
    let mut out_of_time = false;
    'epochs: while epoch < config.max_epochs.max(1) {
        if epoch == head_epochs && head_epochs > 0 {
            opt = adamw(all_vars.iter().map(|(_, v)| v.clone()).collect())?;
        }
        order.shuffle(&mut rng);
        let (mut correct, mut seen) = (0usize, 0usize);
        for b in 0..steps_per_epoch {
            if cx.cancel.is_cancelled() {
                status = "cancelled";
                break 'epochs;
            }
            if Instant::now() >= deadline {
                // Validate what this epoch has learnt so far, then stop.
                status = "time_budget";
                out_of_time = true;
                break;
            }
            let idx = &order[b * bs..((b + 1) * bs).min(n_train)];
            let (x, y) = batch_tensor(&prep.train, idx, &prep.spec, &prep.augment, &mut rng, dev)?;
            if step >= 4 && step % 8 == 0 {
                planned_steps = plan_steps(started, deadline, step, max_steps);
            }
            opt.set_learning_rate(lr_at(config.lr, step, warmup, planned_steps));
            let logits = net.forward_t(&x, true).map_err(cerr("forward"))?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y).map_err(cerr("loss"))?;
            opt.backward_step(&loss).map_err(cerr("backward"))?;
            let loss_v = loss.to_scalar::<f32>().map_err(cerr("loss"))? as f64;
            let pred: Vec<u32> = logits
                .argmax(D::Minus1)
                .and_then(|t| t.to_vec1::<u32>())
                .map_err(cerr("accuracy"))?;
            correct += pred
                .iter()
                .zip(idx)
                .filter(|(p, i)| **p == prep.train.labels[**i])
                .count();
            seen += idx.len();
            step += 1;
            if !loss_v.is_finite() {
                status = "diverged";
                break 'epochs;
            }
            cx.emit(Event::MetricScalar(MetricScalarPayload {
                run_id: run_id.to_string(),
                name: "loss".to_string(),
                split: "train".to_string(),
                step: step as u64,
                value: loss_v,
            }));
            let elapsed = started.elapsed().as_secs_f64();
            let total = planned_steps as u64;
            cx.emit(Event::TrainProgress(TrainProgressPayload {
                run_id: run_id.to_string(),
                step: step as u64,
                steps: total.max(step as u64),
                eta_s: Some(elapsed / step as f64 * total.saturating_sub(step as u64) as f64),
            }));
            if step % path_every == 0 {
                trajectory.push(probe.read()?);
                path_losses.push(loss_v);
                if trajectory.len() > 240 {
                    // Keep the path light: drop every other point (the first stays).
                    let mut k = 0;
                    trajectory.retain(|_| {
                        k += 1;
                        k % 2 == 1
                    });
                    let mut k = 0;
                    path_losses.retain(|_| {
                        k += 1;
                        k % 2 == 1
                    });
                }
            }
        }
        if out_of_time && seen == 0 {
            // Nothing trained since the last validation.
            break;
        }
        // End of epoch (or of the time): validation, checkpoint, early stopping, path.
        let proba = predict_pixels(
            &|x| net.forward_t(x, false),
            &prep.valid.pixels,
            &prep.spec,
            dev,
        )?;
        let vm = if valid_y.is_empty() {
            Metrics::new()
        } else {
            metrics::classification(&valid_y, &proba)
        };
        let train_acc = correct as f64 / seen.max(1) as f64;
        let emit = |name: &str, split: &str, value: f64| {
            cx.emit(Event::MetricScalar(MetricScalarPayload {
                run_id: run_id.to_string(),
                name: name.to_string(),
                split: split.to_string(),
                step: step as u64,
                value,
            }))
        };
        emit("accuracy", "train", train_acc);
        let (v_acc, v_loss) = (
            vm.get("accuracy").copied().unwrap_or(train_acc),
            vm.get("log_loss").copied().unwrap_or(f64::NAN),
        );
        if !valid_y.is_empty() {
            emit("loss", "valid", v_loss);
            emit("accuracy", "valid", v_acc);
        }
        cx.emit(Event::GdPathUpdate(GdPathPayload {
            run_id: run_id.to_string(),
            points: crate::train::path::project(&trajectory, &path_losses),
        }));
        let better = match &best {
            None => true,
            Some((a, l, _, _)) => v_acc > *a || (v_acc == *a && v_loss < *l),
        };
        if better {
            best = Some((v_acc, v_loss, snapshot(&varmap)?, vm));
            since_best = 0;
            best_step = step;
        } else {
            since_best += 1;
        }
        epoch += 1;
        // Patience counts epochs, and also steps: on a small data set an epoch is a handful
        // of steps and the validation split a few dozen images, so a dozen noisy epochs say
        // little while the learning rate has not yet decayed.
        if since_best >= config.patience && step - best_step >= MIN_PATIENCE_STEPS {
            status = "early_stopped";
            break;
        }
        if out_of_time {
            break;
        }
    }
    // A trial cut short before its first validation still yields a model.
    if best.is_none() && step > 0 {
        let proba = predict_pixels(
            &|x| net.forward_t(x, false),
            &prep.valid.pixels,
            &prep.spec,
            dev,
        )?;
        let vm = if valid_y.is_empty() {
            Metrics::new()
        } else {
            metrics::classification(&valid_y, &proba)
        };
        best = Some((0.0, 0.0, snapshot(&varmap)?, vm));
    }
    let Some((_, _, state, valid_metrics)) = best else {
        cx.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
            run_id: run_id.to_string(),
            model: arch.to_string(),
            metrics: Metrics::new(),
            duration_s: started.elapsed().as_secs_f64(),
            status: status.to_string(),
        }));
        return Ok(None);
    };
    for (var, t) in &state {
        var.set(t).map_err(cerr("checkpoint"))?;
    }
    params.insert("epochs".into(), epoch.into());
    params.insert("steps".into(), step.into());
    let secs = started.elapsed().as_secs_f64();
    params.insert(
        "images_per_s".into(),
        ((step * bs) as f64 / secs.max(1e-9)).round().into(),
    );
    cx.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
        run_id: run_id.to_string(),
        model: arch.to_string(),
        metrics: valid_metrics.clone(),
        duration_s: secs,
        status: status.to_string(),
    }));
    let model = ImageModel {
        name: arch.to_string(),
        classes: prep.classes.clone(),
        spec: prep.spec.clone(),
        arch: arch_spec,
        network: Network::Scratch { varmap, net },
        weights_source: None,
        device: dev.clone(),
    };
    Ok(Some(TrialRecord {
        run_id: run_id.to_string(),
        model_name: arch.to_string(),
        params,
        metrics: valid_metrics,
        model: Arc::new(model),
        refit: None,
        duration_s: 0.0,
        predictions: None,
    }))
}

/// Training throughput of an architecture on random data, in images per second: `steps`
/// timed AdamW steps (after two warm-up steps) of batch `batch`, batch norm in training mode,
/// the trainer's batch assembly included, with normalisation only (no augmentation), as the
/// PyTorch twin in bench/image does. For benchmarks.
pub fn throughput(arch: &ArchSpec, batch: usize, steps: usize, seed: u64) -> Result<f64> {
    let dev = device()?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let net = Net::new(arch, vb).map_err(cerr("build"))?;
    seeded_init(&varmap, seed, &dev)?;
    let mut opt = AdamW::new(
        trainable(&varmap, false)
            .into_iter()
            .map(|(_, v)| v)
            .collect(),
        ParamsAdamW {
            lr: 1e-3,
            weight_decay: 0.02,
            ..Default::default()
        },
    )
    .map_err(cerr("optimizer"))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let spec = PreprocessSpec {
        side: arch.side,
        channels: arch.in_channels,
        mean: vec![0.5; arch.in_channels],
        std: vec![0.25; arch.in_channels],
    };
    let n = batch.max(2);
    let images = decode::Decoded {
        pixels: (0..n * spec.len()).map(|_| rng.r#gen::<f32>()).collect(),
        labels: (0..n).map(|i| (i % arch.n_classes.max(1)) as u32).collect(),
        files: vec![],
    };
    // Normalisation only, as bench/image/torch_bench.py does: the figure is the network's
    // step (forward, backward, AdamW), not the augmentation's resampling.
    let aug = Augment {
        flip: false,
        shift: 0,
        jitter: 0.0,
        rotate: 0.0,
        zoom: 0.0,
    };
    let idx: Vec<usize> = (0..n).collect();
    let mut t0 = Instant::now();
    for s in 0..steps + 2 {
        if s == 2 {
            t0 = Instant::now();
        }
        let (x, y) = batch_tensor(&images, &idx, &spec, &aug, &mut rng, &dev)?;
        let logits = net.forward_t(&x, true).map_err(cerr("forward"))?;
        let loss = candle_nn::loss::cross_entropy(&logits, &y).map_err(cerr("loss"))?;
        opt.backward_step(&loss).map_err(cerr("backward"))?;
        loss.to_scalar::<f32>().map_err(cerr("loss"))?;
    }
    Ok((steps * n) as f64 / t0.elapsed().as_secs_f64().max(1e-9))
}

/// What `model.json` of an image model holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ModelDoc {
    format: String,
    model: String,
    classes: Vec<String>,
    arch: ArchSpec,
    preprocess: PreprocessSpec,
    weights: String,
    /// For a fine-tuned published backbone: where its pretrained weights came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pretrained: Option<PretrainedDoc>,
}

/// Provenance of the pretrained weights of a fine-tuned backbone.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PretrainedDoc {
    file: String,
    source: String,
    licence: String,
}

/// The network of an image model.
pub(crate) enum Network {
    /// One of our from-scratch nets.
    Scratch { varmap: VarMap, net: Net },
    /// A published backbone with its fine-tuned top and classifier.
    Backbone(Box<backbone::BackboneNet>),
}

impl Network {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Scratch { net, .. } => net.forward_t(x, false),
            Self::Backbone(b) => b.logits(x),
        }
    }
}

/// A trained image classifier: the network, its weights and its preprocessing.
pub struct ImageModel {
    name: String,
    classes: Vec<String>,
    spec: PreprocessSpec,
    arch: ArchSpec,
    network: Network,
    /// The published weights a backbone model was fine-tuned from.
    weights_source: Option<PathBuf>,
    device: Device,
}

impl std::fmt::Debug for ImageModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageModel")
            .field("name", &self.name)
            .field("classes", &self.classes)
            .field("arch", &self.arch)
            .field("spec", &self.spec)
            .finish()
    }
}

impl ImageModel {
    /// Loads a model saved by [`TrainedModel::save`]: a run folder, or its `model.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let json = if path.is_dir() {
            path.join("model.json")
        } else {
            path.to_path_buf()
        };
        let bad = |message: String| AutomlError::ModelLoad {
            path: json.clone(),
            message,
        };
        let text = std::fs::read_to_string(&json).map_err(|e| bad(e.to_string()))?;
        let doc: ModelDoc =
            serde_json::from_str(&text).map_err(|e| bad(format!("not an image model: {e}")))?;
        if doc.format != FORMAT {
            return Err(bad(format!("format {:?}, expected {FORMAT:?}", doc.format)));
        }
        if doc.preprocess.mean.len() != doc.preprocess.channels
            || doc.preprocess.std.len() != doc.preprocess.channels
            || doc.arch.in_channels != doc.preprocess.channels
            || doc.arch.n_classes != doc.classes.len()
        {
            return Err(bad(
                "inconsistent preprocessing, architecture and classes".into()
            ));
        }
        // Bounds before anything is allocated: a hostile file must not size the network.
        let p = &doc.preprocess;
        let backbone = weights::Backbone::from_name(&doc.arch.arch);
        if ![1, 3].contains(&p.channels)
            || !(8..=1024).contains(&p.side)
            || p.side != doc.arch.side
            || !(1..=4096).contains(&doc.arch.width)
            || doc.classes.len() < 2
            || doc.classes.len() > 100_000
            || (backbone.is_none() && !["small_cnn", "resnet"].contains(&doc.arch.arch.as_str()))
            || (backbone.is_some() && p.channels != 3)
        {
            return Err(bad(format!(
                "architecture out of range: {} of width {} on {}x{}x{} images, {} classes",
                doc.arch.arch,
                doc.arch.width,
                p.channels,
                p.side,
                p.side,
                doc.classes.len()
            )));
        }
        if p.mean.iter().chain(&p.std).any(|v| !v.is_finite()) || p.std.contains(&0.0) {
            return Err(bad(
                "preprocessing statistics must be finite, scales non-zero".into(),
            ));
        }
        // The weights sit beside model.json: a plain file name, never a path elsewhere.
        let weights_name = Path::new(&doc.weights);
        if weights_name.components().count() != 1
            || weights_name
                .file_name()
                .is_none_or(|n| n != weights_name.as_os_str())
        {
            return Err(bad(format!(
                "weights {:?} must be a file name beside model.json",
                doc.weights
            )));
        }
        let dir = json.parent().unwrap_or(Path::new("."));
        let weights = dir.join(weights_name);
        let device = device()?;
        let network = if let Some(b) = backbone {
            Network::Backbone(Box::new(load_backbone_model(
                b,
                &weights,
                doc.classes.len(),
                &device,
            )?))
        } else {
            let mut varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
            let net = Net::new(&doc.arch, vb).map_err(|e| bad(e.to_string()))?;
            varmap.load(&weights).map_err(|e| AutomlError::ModelLoad {
                path: weights.clone(),
                message: e.to_string(),
            })?;
            Network::Scratch { varmap, net }
        };
        Ok(Self {
            name: doc.model,
            classes: doc.classes,
            spec: doc.preprocess,
            arch: doc.arch,
            network,
            weights_source: doc.pretrained.map(|p| PathBuf::from(p.file)),
            device,
        })
    }

    /// Class labels, in the order of the probability columns.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The preprocessing spec.
    pub fn preprocess(&self) -> &PreprocessSpec {
        &self.spec
    }

    /// The architecture.
    pub fn arch(&self) -> &ArchSpec {
        &self.arch
    }

    /// Class probabilities for one encoded image (PNG or JPEG bytes).
    pub fn predict_bytes(&self, bytes: &[u8]) -> Result<Vec<f64>> {
        let px = decode::decode_bytes(bytes, self.spec.side, self.spec.channels)
            .map_err(|e| AutomlError::BadData(format!("image bytes: {e}")))?;
        let p = predict_pixels(&|x| self.network.logits(x), &px, &self.spec, &self.device)?;
        Ok(p.row(0).to_vec())
    }

    /// Class probabilities for image files, and the files that could not be decoded (left
    /// out of the rows, which follow the order of the readable files).
    pub fn predict_files(
        &self,
        files: &[PathBuf],
    ) -> Result<(Array2<f64>, Vec<(PathBuf, String)>)> {
        let list: Vec<(PathBuf, usize)> = files.iter().map(|p| (p.clone(), 0)).collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (dec, failed) = decode::decode_all(&list, self.spec.side, self.spec.channels, threads);
        let p = predict_pixels(
            &|x| self.network.logits(x),
            &dec.pixels,
            &self.spec,
            &self.device,
        )?;
        Ok((p, failed))
    }
}

impl TrainedModel for ImageModel {
    fn model_name(&self) -> &str {
        &self.name
    }

    fn task(&self) -> TaskKind {
        TaskKind::Classification
    }

    fn classes(&self) -> &[String] {
        &self.classes
    }

    fn is_image_model(&self) -> bool {
        true
    }

    /// Rows must have an `image` column of file paths.
    fn predict_batch(&self, batch: &RecordBatch) -> Result<(Predictions, TransformReport)> {
        let col = batch
            .column_by_name("image")
            .ok_or_else(|| AutomlError::TargetNotFound {
                target: "image".to_string(),
                available: batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect(),
            })?;
        let paths = col
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| AutomlError::BadData("the image column must hold file paths".into()))?;
        let files: Vec<PathBuf> = (0..paths.len())
            .map(|i| PathBuf::from(if paths.is_null(i) { "" } else { paths.value(i) }))
            .collect();
        let (proba, failed) = self.predict_files(&files)?;
        if let Some((p, e)) = failed.first() {
            return Err(AutomlError::BadData(format!(
                "cannot decode image {}: {e}",
                p.display()
            )));
        }
        Ok((
            Predictions::Classes {
                classes: self.classes.clone(),
                proba,
            },
            TransformReport::default(),
        ))
    }

    fn predict_images(&self, files: &[PathBuf]) -> Result<(Predictions, Vec<(PathBuf, String)>)> {
        let (proba, failed) = self.predict_files(files)?;
        Ok((
            Predictions::Classes {
                classes: self.classes.clone(),
                proba,
            },
            failed,
        ))
    }

    fn feature_importance(&self) -> Vec<FeatureImportance> {
        vec![]
    }

    fn provenance(&self) -> Option<String> {
        self.weights_source.as_ref().map(|p| {
            let (source, licence) = weights::provenance(p);
            format!(
                "Fine-tuned from pretrained {} weights `{}`: {source}; licence of the weights: \
                 {licence}.",
                self.arch.arch,
                p.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            )
        })
    }

    fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|e| AutomlError::io(dir, e))?;
        let weights = dir.join("model.safetensors");
        let written = match &self.network {
            Network::Scratch { varmap, .. } => varmap.save(&weights),
            Network::Backbone(b) => b
                .tensors_to_save()
                .and_then(|t| candle_core::safetensors::save(&t, &weights)),
        };
        written.map_err(|e| AutomlError::Training {
            model: self.name.clone(),
            message: format!("writing {}: {e}", weights.display()),
        })?;
        let doc = ModelDoc {
            format: FORMAT.to_string(),
            model: self.name.clone(),
            classes: self.classes.clone(),
            arch: self.arch.clone(),
            preprocess: self.spec.clone(),
            weights: "model.safetensors".to_string(),
            pretrained: self.weights_source.as_ref().map(|p| {
                let (source, licence) = weights::provenance(p);
                PretrainedDoc {
                    file: p.display().to_string(),
                    source,
                    licence,
                }
            }),
        };
        let json = dir.join("model.json");
        let text =
            serde_json::to_string_pretty(&doc).map_err(|e| AutomlError::Internal(e.to_string()))?;
        std::fs::write(&json, text).map_err(|e| AutomlError::io(&json, e))?;
        Ok(vec![json, weights])
    }
}

#[cfg(test)]
mod pretrained_tests;
#[cfg(test)]
mod tests;

/// Loads a saved backbone model's tensors: the classifier (`head.*`) and the backbone,
/// checked against the architecture's table.
fn load_backbone_model(
    b: weights::Backbone,
    file: &Path,
    n_classes: usize,
    dev: &Device,
) -> Result<backbone::BackboneNet> {
    let mut raw = weights::read_checkpoint(file)?;
    let bad = |message: String| AutomlError::ModelLoad {
        path: file.to_path_buf(),
        message,
    };
    let hw = raw
        .remove("head.weight")
        .ok_or_else(|| bad("tensor \"head.weight\" is missing".into()))?;
    let hb = raw
        .remove("head.bias")
        .ok_or_else(|| bad("tensor \"head.bias\" is missing".into()))?;
    if hw.dims() != [n_classes, b.feature_dim()] || hb.dims() != [n_classes] {
        return Err(bad(format!(
            "head has shape {:?}/{:?}, expected [{n_classes}, {}]",
            hw.dims(),
            hb.dims(),
            b.feature_dim()
        )));
    }
    let w = weights::check(b, raw, file)?;
    backbone::BackboneNet::new(&w, Some((hw, hb)), n_classes, dev)
        .map_err(|e| bad(format!("building {}: {e}", b.name())))
}
