//! Tests of the published-backbone loader and forward passes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

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
        eprintln!("skipped: EfficientNet-Lite0 weights not installed (run scripts/setup.d/50-weights.sh)");
        return;
    };
    let raw = weights::read_checkpoint(&path).expect("read");
    assert_eq!(weights::recognise(&raw), Some(Backbone::EfficientnetLite0));
    let fc = (raw["_fc.weight"].clone(), raw["_fc.bias"].clone());
    let w = weights::check(Backbone::EfficientnetLite0, raw, &path).expect("check");
    let net = BackboneNet::new(&w, Some(fc), 1000).expect("net");
    let side: usize = std::env::var("LITE0_SIDE").ok().and_then(|s| s.parse().ok()).unwrap_or(224);
    let cats = images("cat", 16);
    let dogs = images("dog", 16);
    let t0 = std::time::Instant::now();
    let pc = net.logits(&batch(&cats, side, w.backbone)).expect("cats").argmax(1).expect("a").to_vec1::<u32>().expect("v");
    let pd = net.logits(&batch(&dogs, side, w.backbone)).expect("dogs").argmax(1).expect("a").to_vec1::<u32>().expect("v");
    eprintln!("32 images at {side}: {:.2} s; cats {pc:?} dogs {pd:?}", t0.elapsed().as_secs_f64());
    let cat_ok = pc.iter().filter(|&&c| (281..=293).contains(&c)).count();
    let dog_ok = pd.iter().filter(|&&c| (151..=275).contains(&c)).count();
    assert!(cat_ok >= 12 && dog_ok >= 12, "cats {cat_ok}/16, dogs {dog_ok}/16");
}
