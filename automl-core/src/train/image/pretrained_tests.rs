//! Tests of the published-backbone loader and forward passes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use super::backbone::BackboneNet;
use super::weights::{self, Backbone, WeightsError};

/// The EfficientNet-Lite0 weights installed by `scripts/setup.d/50-weights.sh`, if present.
pub(crate) fn lite0_weights() -> Option<PathBuf> {
    let p = weights::cache_dir()?.join(weights::LITE0_FILE);
    p.is_file().then_some(p)
}

fn images(class: &str, n: usize) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../datasets/images/cats_dogs")
        .join(class);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v.truncate(n);
    v
}

fn batch(files: &[PathBuf], side: usize, b: Backbone) -> Tensor {
    let (mean, std) = b.normalisation();
    let mut px = Vec::new();
    for f in files {
        let mut v = super::decode::decode_file(f, side, 3).expect("decode");
        let plane = side * side;
        for c in 0..3 {
            for x in &mut v[c * plane..(c + 1) * plane] {
                *x = (*x - mean[c]) / std[c];
            }
        }
        px.extend(v);
    }
    Tensor::from_vec(px, (files.len(), 3, side, side), &Device::Cpu).expect("batch")
}

#[test]
fn lite0_imagenet_classifier_names_cats_and_dogs() {
    let Some(path) = lite0_weights() else {
        eprintln!(
            "skipped: EfficientNet-Lite0 weights not installed (run scripts/setup.d/50-weights.sh)"
        );
        return;
    };
    let raw = weights::read_checkpoint(&path).expect("read");
    assert_eq!(weights::recognise(&raw), Some(Backbone::EfficientnetLite0));
    let fc = (raw["_fc.weight"].clone(), raw["_fc.bias"].clone());
    let w = weights::check(Backbone::EfficientnetLite0, raw, &path).expect("check");
    let net = BackboneNet::new(&w, Some(fc), 1000, &Device::Cpu).expect("net");
    let side = 128;
    let cats = images("cat", 16);
    let dogs = images("dog", 16);
    let t0 = std::time::Instant::now();
    let pc = net
        .logits(&batch(&cats, side, w.backbone))
        .expect("cats")
        .argmax(1)
        .expect("a")
        .to_vec1::<u32>()
        .expect("v");
    let pd = net
        .logits(&batch(&dogs, side, w.backbone))
        .expect("dogs")
        .argmax(1)
        .expect("a")
        .to_vec1::<u32>()
        .expect("v");
    eprintln!(
        "32 images at {side}: {:.2} s; cats {pc:?} dogs {pd:?}",
        t0.elapsed().as_secs_f64()
    );
    let cat_ok = pc.iter().filter(|&&c| (281..=293).contains(&c)).count();
    let dog_ok = pd.iter().filter(|&&c| (151..=275).contains(&c)).count();
    assert!(
        cat_ok >= 12 && dog_ok >= 12,
        "cats {cat_ok}/16, dogs {dog_ok}/16"
    );
}

/// A checkpoint with the real names and shapes of `b` (random values), as a published file
/// would have them: torchvision adds `num_batches_tracked`, timm does not.
fn synthetic(b: Backbone, torchvision: bool) -> BTreeMap<String, Tensor> {
    let dev = Device::Cpu;
    let mut m = BTreeMap::new();
    for (name, shape) in b.expected() {
        let t = if name.ends_with("running_var") {
            Tensor::ones(shape, candle_core::DType::F32, &dev)
        } else if name.ends_with(".weight") && shape.len() == 4 {
            let fan: usize = shape[1..].iter().product();
            Tensor::randn(0f32, (2.0 / fan as f32).sqrt(), shape, &dev)
        } else {
            Tensor::randn(0f32, 0.1, shape, &dev)
        };
        m.insert(name.clone(), t.expect("tensor"));
        if torchvision && name.ends_with("running_var") {
            let p = name.trim_end_matches("running_var");
            m.insert(
                format!("{p}num_batches_tracked"),
                Tensor::zeros((), candle_core::DType::I64, &dev).expect("t"),
            );
        }
    }
    let fc = if b == Backbone::EfficientnetLite0 {
        "_fc"
    } else {
        "fc"
    };
    m.insert(
        format!("{fc}.weight"),
        Tensor::zeros((1000, b.feature_dim()), candle_core::DType::F32, &dev).expect("fc"),
    );
    m.insert(
        format!("{fc}.bias"),
        Tensor::zeros(1000, candle_core::DType::F32, &dev).expect("fc"),
    );
    m
}

fn write(dir: &Path, name: &str, m: &BTreeMap<String, Tensor>) -> PathBuf {
    let p = dir.join(name);
    let hm: std::collections::HashMap<String, Tensor> = m.clone().into_iter().collect();
    candle_core::safetensors::save(&hm, &p).expect("save");
    p
}

#[test]
fn recognises_each_backbone_from_names_and_shapes() {
    let tmp = tempfile::tempdir().expect("tmp");
    for (b, tv) in [
        (Backbone::Resnet18, true),
        (Backbone::Resnet18, false),
        (Backbone::Resnet34, true),
        (Backbone::Resnet34, false),
        (Backbone::EfficientnetLite0, false),
    ] {
        let p = write(
            tmp.path(),
            &format!("{}-{tv}.safetensors", b.name()),
            &synthetic(b, tv),
        );
        let w = weights::load_backbone(&p).expect("load");
        assert_eq!(w.backbone, b);
        assert_eq!(w.tensors.len(), b.expected().len(), "classifier dropped");
    }
    // DataParallel's `module.` prefix is mapped away.
    let m: BTreeMap<String, Tensor> = synthetic(Backbone::Resnet18, false)
        .into_iter()
        .map(|(k, v)| (format!("module.{k}"), v))
        .collect();
    let p = write(tmp.path(), "dp.safetensors", &m);
    assert_eq!(
        weights::load_backbone(&p).expect("dp").backbone,
        Backbone::Resnet18
    );
}

#[test]
fn a_resnet_checkpoint_runs_forward_and_round_trips_through_save() {
    let tmp = tempfile::tempdir().expect("tmp");
    let p = write(
        tmp.path(),
        "r18.safetensors",
        &synthetic(Backbone::Resnet18, true),
    );
    let w = weights::load_backbone(&p).expect("load");
    let net = BackboneNet::new(&w, None, 3, &Device::Cpu).expect("net");
    let x = Tensor::randn(0f32, 1.0, (2, 3, 64, 64), &Device::Cpu).expect("x");
    let trunk = net.trunk(&x).expect("trunk");
    assert_eq!(trunk.dims(), &[2, 512, 1]);
    assert_eq!(net.logits(&x).expect("logits").dims(), &[2, 3]);
    // The saved tensors are a valid checkpoint again (plus our head).
    let mut saved: BTreeMap<String, Tensor> =
        net.tensors_to_save().expect("save").into_iter().collect();
    assert!(saved.remove("head.weight").is_some() && saved.remove("head.bias").is_some());
    assert_eq!(weights::recognise(&saved), Some(Backbone::Resnet18));
}

#[test]
fn bad_checkpoints_are_typed_errors_naming_the_tensor() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dev = Device::Cpu;
    // A mismatched shape.
    let mut m = synthetic(Backbone::Resnet18, false);
    m.insert(
        "layer2.0.conv1.weight".into(),
        Tensor::zeros((128, 64, 1, 1), candle_core::DType::F32, &dev).expect("t"),
    );
    let p = write(tmp.path(), "shape.safetensors", &m);
    match weights::load_backbone(&p) {
        Err(WeightsError::Shape {
            tensor, expected, ..
        }) => {
            assert_eq!(tensor, "layer2.0.conv1.weight");
            assert_eq!(expected, vec![128, 64, 3, 3]);
        }
        other => panic!("shape error expected, got {other:?}"),
    }
    // A missing tensor (truncated checkpoint: the last layer's second block is gone).
    let m: BTreeMap<String, Tensor> = synthetic(Backbone::Resnet18, false)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("layer4.1."))
        .collect();
    let p = write(tmp.path(), "missing.safetensors", &m);
    match weights::load_backbone(&p) {
        Err(WeightsError::Missing { tensor, arch, .. }) => {
            assert_eq!(tensor, "layer4.1.conv1.weight");
            assert_eq!(arch, "resnet18");
        }
        other => panic!("missing error expected, got {other:?}"),
    }
    // An unknown tensor.
    let mut m = synthetic(Backbone::Resnet34, false);
    m.insert(
        "layer1.0.se.fc.weight".into(),
        Tensor::zeros((4, 64), candle_core::DType::F32, &dev).expect("t"),
    );
    let p = write(tmp.path(), "extra.safetensors", &m);
    assert!(matches!(weights::load_backbone(&p),
        Err(WeightsError::Unexpected { tensor, .. }) if tensor == "layer1.0.se.fc.weight"));
    // Names of no known backbone.
    let mut m = BTreeMap::new();
    m.insert(
        "encoder.weight".to_string(),
        Tensor::zeros(4, candle_core::DType::F32, &dev).expect("t"),
    );
    let p = write(tmp.path(), "other.safetensors", &m);
    assert!(
        matches!(weights::load_backbone(&p), Err(WeightsError::Unrecognised { sample, .. }) if sample.contains("encoder.weight"))
    );
    // A truncated file.
    let good = write(
        tmp.path(),
        "good.safetensors",
        &synthetic(Backbone::Resnet18, false),
    );
    let bytes = std::fs::read(&good).expect("read");
    let cut = tmp.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    assert!(matches!(
        weights::load_backbone(&cut),
        Err(WeightsError::Read { .. })
    ));
    // A truncated legacy .pth (the real file, cut), when it is installed.
    if let Some(real) = lite0_weights() {
        let bytes = std::fs::read(&real).expect("read");
        let cut = tmp.path().join("cut.pth");
        std::fs::write(&cut, &bytes[..bytes.len() - 1000]).expect("write");
        match weights::load_backbone(&cut) {
            Err(WeightsError::Read { message, .. }) => {
                assert!(message.contains("truncated"), "{message}")
            }
            other => panic!("read error expected, got {other:?}"),
        }
    }
    // The trainer turns them into a typed AutomlError naming the file.
    let e: crate::error::AutomlError = weights::load_backbone(&p).expect_err("err").into();
    assert!(e.to_string().contains("other.safetensors"), "{e}");
}

/// End to end on the bundled cats_dogs with the installed EfficientNet-Lite0 weights:
/// embedding, head, fine-tuning, events, save, reload, predict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_learning_end_to_end_with_installed_weights() {
    use super::{ImageTrainer, ImageTrainerConfig};
    use crate::bus::EventBus;
    use crate::event::Event;
    use crate::train::{TrainContext, TrainInput, Trainer};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let Some(path) = lite0_weights() else {
        eprintln!(
            "skipped: EfficientNet-Lite0 weights not installed (run scripts/setup.d/50-weights.sh)"
        );
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/images/cats_dogs");
    let folder = crate::data::load_image_folder(&dir, &Default::default()).expect("folder");
    let rows: Vec<usize> = (0..folder.files.len()).collect();
    let strata: Vec<usize> = folder.files.iter().map(|(_, c)| *c).collect();
    let split = crate::data::preprocess::split_rows(&rows, Some(&strata), 0);
    let test: Vec<PathBuf> = split
        .test
        .iter()
        .map(|&i| folder.files[i].0.clone())
        .collect();
    let test_y: Vec<usize> = split.test.iter().map(|&i| folder.files[i].1).collect();
    let data = Arc::new(crate::train::ImageData { folder, split });
    let bus = EventBus::default();
    let cx = TrainContext::new(
        bus.emitter("p-tl"),
        tokio_util::sync::CancellationToken::new(),
        Instant::now() + Duration::from_secs(90),
        0,
        None,
        "accuracy",
    );
    let cfg = ImageTrainerConfig {
        archs: vec![],
        pretrained: Some(path.clone()),
        ..Default::default()
    };
    ImageTrainer::new(cfg)
        .train(TrainInput::Images(data), cx.clone())
        .await
        .expect("train");
    let best = cx.best().expect("a trial");
    assert_eq!(best.model.model_name(), "efficientnet_lite0");
    assert!(best.score >= 0.9, "valid accuracy {}", best.score);
    let ev: Vec<Event> = bus.history("p-tl").into_iter().map(|e| e.event).collect();
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::TrainRunStarted(p) if p.params.get("backbone").is_some()))
    );
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::Warning(w) if w.code == "no_pretrained_weights"))
    );
    let tmp = tempfile::tempdir().expect("tmp");
    best.model.save(tmp.path()).expect("save");
    let json = std::fs::read_to_string(tmp.path().join("model.json")).expect("json");
    assert!(json.contains("Apache-2.0"), "{json}");
    assert!(
        best.model
            .provenance()
            .expect("provenance")
            .contains("Apache-2.0")
    );
    let reloaded = crate::api::load_model(tmp.path()).expect("reload");
    let (a, _) = best.model.predict_images(&test).expect("predict");
    let (b, _) = reloaded.predict_images(&test).expect("predict reloaded");
    let (
        crate::train::Predictions::Classes { proba: pa, .. },
        crate::train::Predictions::Classes { proba: pb, .. },
    ) = (a, b)
    else {
        panic!("classes expected");
    };
    for (x, y) in pa.iter().zip(pb.iter()) {
        assert!((x - y).abs() < 1e-4, "{x} vs {y}");
    }
    let correct = (0..pa.nrows())
        .filter(|&i| {
            let r = pa.row(i);
            let arg = if r[0] >= r[1] { 0 } else { 1 };
            arg == test_y[i]
        })
        .count();
    let acc = correct as f64 / pa.nrows() as f64;
    eprintln!("cats_dogs test accuracy {acc:.3} on {} images", pa.nrows());
    assert!(acc >= 0.9, "test accuracy {acc}");
}

/// Images much smaller than the backbone's smallest input (here 12 px against 64) are not
/// blown up for it: the backbone is left out with a WARNING saying why, and no transfer
/// trial starts, even though valid weights were named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_images_leave_the_backbone_out_and_say_why() {
    use super::{ImageTrainer, ImageTrainerConfig};
    use crate::bus::EventBus;
    use crate::event::Event;
    use crate::train::{TrainContext, TrainInput, Trainer};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().expect("tmp");
    let weights = write(
        tmp.path(),
        "lite0.safetensors",
        &synthetic(Backbone::EfficientnetLite0, false),
    );
    let root = tmp.path().join("images");
    for (ci, class) in ["a", "b"].iter().enumerate() {
        let d = root.join(class);
        std::fs::create_dir_all(&d).expect("mkdir");
        for k in 0..10u32 {
            let img = image::GrayImage::from_fn(12, 12, |x, y| {
                image::Luma([if (if ci == 0 { x } else { y } + k) % 4 < 2 {
                    220
                } else {
                    30
                }])
            });
            img.save(d.join(format!("{k}.png"))).expect("png");
        }
    }
    let folder = crate::data::load_image_folder(&root, &Default::default()).expect("folder");
    let rows: Vec<usize> = (0..folder.files.len()).collect();
    let strata: Vec<usize> = folder.files.iter().map(|(_, c)| *c).collect();
    let split = crate::data::preprocess::split_rows(&rows, Some(&strata), 0);
    let data = Arc::new(crate::train::ImageData { folder, split });
    let bus = EventBus::default();
    let cx = TrainContext::new(
        bus.emitter("p-small"),
        tokio_util::sync::CancellationToken::new(),
        Instant::now() + Duration::from_secs(60),
        0,
        None,
        "accuracy",
    );
    let cfg = ImageTrainerConfig {
        archs: vec![],
        pretrained: Some(weights),
        ..Default::default()
    };
    ImageTrainer::new(cfg)
        .train(TrainInput::Images(data), cx.clone())
        .await
        .expect("train");
    let ev: Vec<Event> = bus
        .history("p-small")
        .into_iter()
        .map(|e| e.event)
        .collect();
    let why = ev.iter().find_map(|e| match e {
        Event::Warning(w) if w.code == "pretrained_skipped" => Some(w.message.clone()),
        _ => None,
    });
    let why = why.expect("a pretrained_skipped warning");
    assert!(
        why.contains("12x12") && why.contains("64 px"),
        "the warning names the sizes: {why}"
    );
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::TrainRunStarted(p) if p.params.get("backbone").is_some())),
        "no transfer trial on 12 px images"
    );
}
