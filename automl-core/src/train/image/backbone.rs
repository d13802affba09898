//! Forward passes of the published backbones (EfficientNet-Lite0, ResNet-18/34) for transfer
//! learning, with batch norm folded into the convolutions (the backbone runs in inference
//! mode; see decision record 0072 for why we do not reuse candle-transformers).
//!
//! Activations are kept channel-major (`C × N × H × W`) through the trunk: every 1×1
//! convolution is then one matrix product over the whole batch, and a depthwise convolution
//! works on contiguous `H × W` planes. The trunk is frozen; the part above it (EfficientNet's
//! 1×1 `conv_head`, and the classifier) is what fine-tuning trains, on cached trunk outputs.

use std::collections::HashMap;

use candle_core::{CpuStorage, CustomOp1, D, DType, Device, Layout, Result, Shape, Tensor};

use super::net::subsample;
use super::weights::{Backbone, BackboneWeights, lite0_blocks};

/// Batch-norm epsilon of the published weights.
fn bn_eps(b: Backbone) -> f64 {
    match b {
        Backbone::EfficientnetLite0 => 1e-3,
        Backbone::Resnet18 | Backbone::Resnet34 => 1e-5,
    }
}

/// A convolution with its batch norm folded in: `w` is `cout × cin × k × k`, `b` is `cout`.
#[derive(Debug, Clone)]
struct Folded {
    w: Tensor,
    b: Tensor,
}

fn fold(
    t: &HashMap<String, Tensor>,
    conv: &str,
    bn: &str,
    eps: f64,
    dev: &Device,
) -> Result<Folded> {
    let get = |n: String| {
        t.get(&n)
            .cloned()
            .ok_or_else(|| candle_core::Error::Msg(format!("tensor {n:?} missing")))
    };
    let w = get(format!("{conv}.weight"))?;
    let gamma = get(format!("{bn}.weight"))?;
    let beta = get(format!("{bn}.bias"))?;
    let mean = get(format!("{bn}.running_mean"))?;
    let var = get(format!("{bn}.running_var"))?;
    let scale = (gamma / (var + eps)?.sqrt()?)?;
    let cout = scale.dim(0)?;
    let w = w.broadcast_mul(&scale.reshape((cout, 1, 1, 1))?)?;
    let b = (beta - (mean * &scale)?)?;
    Ok(Folded {
        w: w.to_device(dev)?,
        b: b.to_device(dev)?,
    })
}

/// A depthwise `k × k` convolution on channel-major input (`C × N × H × W`) with
/// TensorFlow "SAME" padding, bias and ReLU6 fused; inference only (no backward).
struct DepthwiseOp {
    w: Vec<f32>,
    b: Vec<f32>,
    k: usize,
    stride: usize,
}

/// TensorFlow "SAME" padding: output side and the padding before the first pixel.
fn same_pad(size: usize, k: usize, s: usize) -> (usize, usize) {
    let (out, before, _) = same_pad3(size, k, s);
    (out, before)
}

/// TensorFlow "SAME" padding: output side, padding before and after.
fn same_pad3(size: usize, k: usize, s: usize) -> (usize, usize, usize) {
    let out = size.div_ceil(s);
    let total = ((out - 1) * s + k).saturating_sub(size);
    (out, total / 2, total - total / 2)
}

impl CustomOp1 for DepthwiseOp {
    fn name(&self) -> &'static str {
        "depthwise-conv-relu6"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("depthwise conv: f32 input expected");
        };
        let Some((o0, o1)) = layout.contiguous_offsets() else {
            candle_core::bail!("depthwise conv: contiguous input expected");
        };
        let x = &data[o0..o1];
        let (c, n, h, w) = layout.shape().dims4()?;
        let (k, s) = (self.k, self.stride);
        let (ho, pt) = same_pad(h, k, s);
        let (wo, pl) = same_pad(w, k, s);
        let planes = c * n;
        let mut out = vec![0f32; planes * ho * wo];
        let threads = std::thread::available_parallelism()
            .map_or(1, |t| t.get())
            .min(planes)
            .max(1);
        let per = planes.div_ceil(threads);
        std::thread::scope(|scope| {
            for (ti, chunk) in out.chunks_mut(per * ho * wo).enumerate() {
                scope.spawn(move || {
                    for (pi, o) in chunk.chunks_mut(ho * wo).enumerate() {
                        let plane = ti * per + pi;
                        let ch = plane / n;
                        let xin = &x[plane * h * w..(plane + 1) * h * w];
                        let wk = &self.w[ch * k * k..(ch + 1) * k * k];
                        o.fill(self.b[ch]);
                        for oy in 0..ho {
                            let orow = &mut o[oy * wo..(oy + 1) * wo];
                            for ky in 0..k {
                                let iy = (oy * s + ky) as isize - pt as isize;
                                if iy < 0 || iy >= h as isize {
                                    continue;
                                }
                                let row = &xin[iy as usize * w..(iy as usize + 1) * w];
                                for kx in 0..k {
                                    let wv = wk[ky * k + kx];
                                    // Output columns whose input column lies inside the row.
                                    let lo = pl.saturating_sub(kx).div_ceil(s);
                                    let hi = (w + pl - kx).div_ceil(s).min(wo);
                                    if s == 1 {
                                        let shift = kx as isize - pl as isize;
                                        let src = &row[(lo as isize + shift) as usize
                                            ..(hi as isize + shift) as usize];
                                        for (ov, iv) in orow[lo..hi].iter_mut().zip(src) {
                                            *ov += wv * iv;
                                        }
                                    } else {
                                        for ox in lo..hi {
                                            orow[ox] += wv * row[ox * s + kx - pl];
                                        }
                                    }
                                }
                            }
                        }
                        for v in o.iter_mut() {
                            *v = v.clamp(0.0, 6.0);
                        }
                    }
                });
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((c, n, ho, wo))))
    }
}

/// The same depthwise convolution (channel-major input, "SAME" padding, bias, ReLU6) as a
/// sum of `k²` shifted views scaled per channel: candle ops only, so it runs on any device
/// (the fused [`DepthwiseOp`] has a CPU kernel only). `w` is `C × 1 × k × k`, `b` is `C`.
fn depthwise_views(x: &Tensor, w: &Tensor, b: &Tensor, k: usize, s: usize) -> Result<Tensor> {
    let (c, _, h, wd) = x.dims4()?;
    let (ho, pt, pb) = same_pad3(h, k, s);
    let (wo, pl, pr) = same_pad3(wd, k, s);
    let xp = x.pad_with_zeros(2, pt, pb)?.pad_with_zeros(3, pl, pr)?;
    let wk = w.reshape((c, k * k))?;
    let mut acc = b.reshape((c, 1, 1, 1))?;
    for ky in 0..k {
        for kx in 0..k {
            let v = xp
                .narrow(2, ky, (ho - 1) * s + 1)?
                .narrow(3, kx, (wo - 1) * s + 1)?;
            let v = if s > 1 { subsample(&v, s)? } else { v };
            let scale = wk.narrow(1, ky * k + kx, 1)?.reshape((c, 1, 1, 1))?;
            acc = acc.broadcast_add(&v.broadcast_mul(&scale)?)?;
        }
    }
    acc.clamp(0f32, 6f32)
}

/// A 1×1 convolution on channel-major input: one matrix product for the whole batch.
fn pointwise(x: &Tensor, f: &Folded, relu6: bool) -> Result<Tensor> {
    let (c, n, h, w) = x.dims4()?;
    let cout = f.w.dim(0)?;
    let y =
        f.w.reshape((cout, c))?
            .matmul(&x.reshape((c, n * h * w))?)?
            .broadcast_add(&f.b.reshape((cout, 1))?)?;
    let y = if relu6 { y.clamp(0f32, 6f32)? } else { y };
    y.reshape((cout, n, h, w))
}

/// A dense `k × k` convolution on channel-major input with symmetric zero padding `pad`
/// (PyTorch semantics), as im2col and one matrix product.
fn dense(x: &Tensor, f: &Folded, stride: usize, pad: usize) -> Result<Tensor> {
    let (c, n, h, w) = x.dims4()?;
    let (cout, _, k, _) = f.w.dims4()?;
    let ho = (h + 2 * pad - k) / stride + 1;
    let wo = (w + 2 * pad - k) / stride + 1;
    let xp = if pad > 0 {
        x.pad_with_zeros(2, pad, pad)?.pad_with_zeros(3, pad, pad)?
    } else {
        x.clone()
    };
    let cols = if k == 1 && stride == 1 {
        xp.reshape((c, n * h * w))?
    } else {
        let mut views = Vec::with_capacity(k * k);
        for dy in 0..k {
            for dx in 0..k {
                let v = xp.narrow(2, dy, (ho - 1) * stride + 1)?.narrow(
                    3,
                    dx,
                    (wo - 1) * stride + 1,
                )?;
                views.push(if stride > 1 {
                    subsample(&v, stride)?
                } else {
                    v
                });
            }
        }
        Tensor::stack(&views, 1)?.reshape((c * k * k, n * ho * wo))?
    };
    f.w.reshape((cout, c * k * k))?
        .matmul(&cols)?
        .broadcast_add(&f.b.reshape((cout, 1))?)?
        .reshape((cout, n, ho, wo))
}

struct LiteBlock {
    expand: Option<Folded>,
    dw: DepthwiseOp,
    /// The depthwise weights as tensors on the net's device, for [`depthwise_views`].
    dwf: Folded,
    project: Folded,
    skip: bool,
}

struct ResBlock {
    conv1: Folded,
    conv2: Folded,
    down: Option<Folded>,
    stride: usize,
}

enum Trunk {
    Lite {
        stem: Folded,
        blocks: Vec<LiteBlock>,
    },
    Res {
        stem: Folded,
        blocks: Vec<ResBlock>,
    },
}

/// A published backbone with a classifier for the task's classes.
pub struct BackboneNet {
    /// The architecture.
    pub backbone: Backbone,
    trunk: Trunk,
    /// EfficientNet's `conv_head` (1×1, batch norm folded): `w` is `1280 × 320`, `b` 1280.
    pub top: Option<(Tensor, Tensor)>,
    /// The classifier: `n_classes × feature_dim` and `n_classes`.
    pub head: (Tensor, Tensor),
    /// The backbone's tensors under their canonical names (for saving).
    raw: HashMap<String, Tensor>,
}

impl BackboneNet {
    /// Builds the network on `dev` from checked weights and a classifier (zeros when
    /// `None`).
    pub fn new(
        weights: &BackboneWeights,
        head: Option<(Tensor, Tensor)>,
        n_classes: usize,
        dev: &Device,
    ) -> Result<Self> {
        let b = weights.backbone;
        let t = &weights.tensors;
        let eps = bn_eps(b);
        let (trunk, top) = match b {
            Backbone::EfficientnetLite0 => {
                let stem = fold(t, "_conv_stem", "_bn0", eps, dev)?;
                let mut blocks = Vec::new();
                for (i, (k, s, e, cin, cout)) in lite0_blocks().into_iter().enumerate() {
                    let p = format!("_blocks.{i}");
                    let expand = if e != 1 {
                        Some(fold(
                            t,
                            &format!("{p}._expand_conv"),
                            &format!("{p}._bn0"),
                            eps,
                            dev,
                        )?)
                    } else {
                        None
                    };
                    let dwf = fold(
                        t,
                        &format!("{p}._depthwise_conv"),
                        &format!("{p}._bn1"),
                        eps,
                        dev,
                    )?;
                    let dw = DepthwiseOp {
                        w: dwf.w.flatten_all()?.to_vec1::<f32>()?,
                        b: dwf.b.to_vec1::<f32>()?,
                        k,
                        stride: s,
                    };
                    let project = fold(
                        t,
                        &format!("{p}._project_conv"),
                        &format!("{p}._bn2"),
                        eps,
                        dev,
                    )?;
                    blocks.push(LiteBlock {
                        expand,
                        dw,
                        dwf,
                        project,
                        skip: s == 1 && cin == cout,
                    });
                }
                let head = fold(t, "_conv_head", "_bn1", eps, dev)?;
                let w = head.w.reshape((1280, 320))?;
                (Trunk::Lite { stem, blocks }, Some((w, head.b)))
            }
            Backbone::Resnet18 | Backbone::Resnet34 => {
                let stem = fold(t, "conv1", "bn1", eps, dev)?;
                let mut blocks = Vec::new();
                for (l, (n, _c)) in b.resnet_layers().into_iter().enumerate() {
                    for i in 0..n {
                        let p = format!("layer{}.{i}", l + 1);
                        let first = i == 0 && l > 0;
                        blocks.push(ResBlock {
                            conv1: fold(t, &format!("{p}.conv1"), &format!("{p}.bn1"), eps, dev)?,
                            conv2: fold(t, &format!("{p}.conv2"), &format!("{p}.bn2"), eps, dev)?,
                            down: if first {
                                Some(fold(
                                    t,
                                    &format!("{p}.downsample.0"),
                                    &format!("{p}.downsample.1"),
                                    eps,
                                    dev,
                                )?)
                            } else {
                                None
                            },
                            stride: if first { 2 } else { 1 },
                        });
                    }
                }
                (Trunk::Res { stem, blocks }, None)
            }
        };
        let head = match head {
            Some((w, b)) => (w.to_device(dev)?, b.to_device(dev)?),
            None => (
                Tensor::zeros((n_classes, b.feature_dim()), DType::F32, &dev)?,
                Tensor::zeros(n_classes, DType::F32, &dev)?,
            ),
        };
        Ok(Self {
            backbone: b,
            trunk,
            top,
            head,
            raw: t.clone(),
        })
    }

    /// The device the net's tensors live on (its input must be there too).
    pub fn device(&self) -> &Device {
        self.head.0.device()
    }

    /// The frozen trunk's output for a batch `n × 3 × S × S`, as `n × D × P`: EfficientNet's
    /// last block (`D` = 320, `P` = the positions of its feature map), or ResNet's pooled
    /// features (`D` = 512, `P` = 1).
    pub fn trunk(&self, x: &Tensor) -> Result<Tensor> {
        match &self.trunk {
            Trunk::Lite { stem, blocks } => {
                let (_, _, h, w) = x.dims4()?;
                let (_, pt, pb) = same_pad3(h, 3, 2);
                let (_, pl, pr) = same_pad3(w, 3, 2);
                let xp = x.pad_with_zeros(2, pt, pb)?.pad_with_zeros(3, pl, pr)?;
                let y = xp
                    .conv2d(&stem.w, 0, 2, 1, 1)?
                    .broadcast_add(&stem.b.reshape((1, (), 1, 1))?)?
                    .clamp(0f32, 6f32)?;
                let mut y = y.transpose(0, 1)?.contiguous()?;
                for b in blocks {
                    let inp = y.clone();
                    if let Some(e) = &b.expand {
                        y = pointwise(&y, e, true)?;
                    }
                    y = if y.device().is_cpu() {
                        y.contiguous()?.apply_op1_no_bwd(&b.dw)?
                    } else {
                        depthwise_views(&y, &b.dwf.w, &b.dwf.b, b.dw.k, b.dw.stride)?
                    };
                    y = pointwise(&y, &b.project, false)?;
                    if b.skip {
                        y = (y + inp)?;
                    }
                }
                let (c, n, h, w) = y.dims4()?;
                y.reshape((c, n, h * w))?.transpose(0, 1)?.contiguous()
            }
            Trunk::Res { stem, blocks } => {
                let x = x.transpose(0, 1)?.contiguous()?;
                let y = dense(&x, stem, 2, 3)?.relu()?;
                let y = y.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?;
                let mut y = y.max_pool2d_with_stride((3, 3), (2, 2))?;
                for b in blocks {
                    let a = dense(&y, &b.conv1, b.stride, 1)?.relu()?;
                    let a = dense(&a, &b.conv2, 1, 1)?;
                    let s = match &b.down {
                        Some(d) => dense(&y, d, b.stride, 0)?,
                        None => y.clone(),
                    };
                    y = (a + s)?.relu()?;
                }
                let (c, n, _, _) = y.dims4()?;
                y.mean(D::Minus1)?
                    .mean(D::Minus1)?
                    .t()?
                    .contiguous()?
                    .reshape((n, c, 1))
            }
        }
    }

    /// Pooled features from trunk outputs `n × D × P`, through `top` (the given one, so that
    /// fine-tuning can pass its variables).
    pub fn features_from(cache: &Tensor, top: Option<(&Tensor, &Tensor)>) -> Result<Tensor> {
        let (n, d, p) = cache.dims3()?;
        match top {
            Some((w, b)) => {
                let cout = w.dim(0)?;
                let x = cache.transpose(0, 1)?.contiguous()?.reshape((d, n * p))?;
                w.matmul(&x)?
                    .broadcast_add(&b.reshape((cout, 1))?)?
                    .clamp(0f32, 6f32)?
                    .reshape((cout, n, p))?
                    .mean(D::Minus1)?
                    .t()
            }
            None => cache.reshape((n, d)),
        }
    }

    /// Logits for a batch `n × 3 × S × S`.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let cache = self.trunk(x)?;
        let f = Self::features_from(&cache, self.top.as_ref().map(|(w, b)| (w, b)))?;
        f.matmul(&self.head.0.t()?)?.broadcast_add(&self.head.1)
    }

    /// The tensors to save: the backbone under its canonical names (EfficientNet's
    /// `conv_head` as fine-tuned, its batch norm set to the identity) and the classifier as
    /// `head.weight` / `head.bias`.
    pub fn tensors_to_save(&self) -> Result<HashMap<String, Tensor>> {
        let mut t = self.raw.clone();
        let dev = &Device::Cpu;
        if let Some((w, b)) = &self.top {
            let eps = bn_eps(self.backbone);
            let c = w.dim(0)?;
            let (w, b) = (w.to_device(dev)?, b.to_device(dev)?);
            t.insert("_conv_head.weight".into(), w.reshape((c, 320, 1, 1))?);
            t.insert("_bn1.weight".into(), Tensor::ones(c, DType::F32, dev)?);
            t.insert("_bn1.bias".into(), b);
            t.insert(
                "_bn1.running_mean".into(),
                Tensor::zeros(c, DType::F32, dev)?,
            );
            t.insert(
                "_bn1.running_var".into(),
                Tensor::full((1.0 - eps) as f32, c, dev)?,
            );
        }
        t.insert("head.weight".into(), self.head.0.to_device(dev)?);
        t.insert("head.bias".into(), self.head.1.to_device(dev)?);
        Ok(t)
    }
}

#[cfg(test)]
mod op_tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn depthwise_op_matches_candles_grouped_conv() {
        let dev = Device::Cpu;
        for (k, s, side) in [(3, 1, 7), (5, 1, 6), (3, 2, 8), (5, 2, 9)] {
            let (c, n) = (3, 2);
            let x = Tensor::randn(0f32, 1.0, (n, c, side, side), &dev).expect("x");
            let w = Tensor::randn(0f32, 1.0, (c, 1, k, k), &dev).expect("w");
            let b = vec![0.1f32, -0.2, 0.3];
            let op = DepthwiseOp {
                w: w.flatten_all().and_then(|t| t.to_vec1()).expect("w"),
                b: b.clone(),
                k,
                stride: s,
            };
            let ours = x
                .transpose(0, 1)
                .and_then(|t| t.contiguous())
                .and_then(|t| t.apply_op1_no_bwd(&op))
                .and_then(|t| t.transpose(0, 1))
                .expect("ours");
            let (_, pt, pb) = same_pad3(side, k, s);
            let xp = x
                .pad_with_zeros(2, pt, pb)
                .and_then(|t| t.pad_with_zeros(3, pt, pb))
                .expect("pad");
            let want = xp
                .conv2d(&w, 0, s, 1, c)
                .and_then(|t| {
                    t.broadcast_add(&Tensor::new(b.as_slice(), &dev)?.reshape((1, c, 1, 1))?)
                })
                .and_then(|t| t.clamp(0f32, 6f32))
                .expect("want");
            assert_eq!(ours.dims(), want.dims(), "k={k} s={s}");
            let diff = (ours - want)
                .and_then(|d| d.abs())
                .and_then(|d| d.max_all())
                .and_then(|d| d.to_scalar::<f32>())
                .expect("diff");
            assert!(diff < 1e-4, "k={k} s={s}: {diff}");
        }
    }

    #[test]
    fn depthwise_views_match_the_fused_cpu_op() {
        // The device-generic path (what a CUDA trunk runs) against the CPU kernel.
        let dev = Device::Cpu;
        for (k, s, side) in [(3, 1, 7), (5, 1, 6), (3, 2, 8), (5, 2, 9), (3, 2, 7)] {
            let (c, n) = (4, 3);
            let x = Tensor::randn(0f32, 2.0, (c, n, side, side), &dev).expect("x");
            let w = Tensor::randn(0f32, 1.0, (c, 1, k, k), &dev).expect("w");
            let b = Tensor::new(&[0.1f32, -0.2, 0.3, 2.0], &dev).expect("b");
            let op = DepthwiseOp {
                w: w.flatten_all().and_then(|t| t.to_vec1()).expect("w"),
                b: b.to_vec1().expect("b"),
                k,
                stride: s,
            };
            let fused = x.apply_op1_no_bwd(&op).expect("fused");
            let views = depthwise_views(&x, &w, &b, k, s).expect("views");
            assert_eq!(fused.dims(), views.dims(), "k={k} s={s}");
            let diff = (fused - views)
                .and_then(|d| d.abs())
                .and_then(|d| d.max_all())
                .and_then(|d| d.to_scalar::<f32>())
                .expect("diff");
            assert!(diff < 1e-4, "k={k} s={s}: {diff}");
        }
    }

    #[test]
    fn dense_conv_matches_candles_conv2d() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (2, 3, 9, 9), &dev).expect("x");
        for (k, s, p) in [(7, 2, 3), (3, 1, 1), (3, 2, 1), (1, 2, 0)] {
            let w = Tensor::randn(0f32, 1.0, (4, 3, k, k), &dev).expect("w");
            let f = Folded {
                w: w.clone(),
                b: Tensor::zeros(4, DType::F32, &dev).expect("b"),
            };
            let ours = x
                .transpose(0, 1)
                .and_then(|t| t.contiguous())
                .and_then(|t| dense(&t, &f, s, p))
                .and_then(|t| t.transpose(0, 1))
                .expect("ours");
            let want = x.conv2d(&w, p, s, 1, 1).expect("want");
            assert_eq!(ours.dims(), want.dims(), "k={k} s={s}");
            let diff = (ours - want)
                .and_then(|d| d.abs())
                .and_then(|d| d.max_all())
                .and_then(|d| d.to_scalar::<f32>())
                .expect("diff");
            assert!(diff < 1e-3, "k={k} s={s}: {diff}");
        }
    }
}
