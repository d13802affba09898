//! The two architectures: a small CNN and a small residual net, both sized to the data.

use candle_core::{D, Module, ModuleT, Result, Tensor};
use candle_nn::{BatchNorm, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use super::cpu_ops;

/// Which network, and its size. Saved in `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchSpec {
    /// `small_cnn` or `resnet`.
    pub arch: String,
    /// Channels of the first stage; later stages double it.
    pub width: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Input side in pixels.
    pub side: usize,
    /// Output classes.
    pub n_classes: usize,
    /// The head reads the last feature map flattened (keeping where in the image a feature
    /// is) instead of its global average. Only for small final maps (see
    /// [`ArchSpec::final_side`]); absent in older `model.json` files, which means the average.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flat_head: bool,
}

impl ArchSpec {
    /// Sizes an architecture to the data: the width grows with the training set, and larger
    /// inputs get an extra early downsampling.
    pub fn sized(
        arch: &str,
        in_channels: usize,
        side: usize,
        n_classes: usize,
        n_train: usize,
    ) -> Self {
        let width = if n_train >= 2000 { 32 } else { 24 };
        Self {
            arch: arch.to_string(),
            width,
            in_channels,
            side,
            n_classes,
            flat_head: false,
        }
    }

    /// Side of the last feature map (what the head reads).
    pub fn final_side(&self) -> usize {
        let s = self.side;
        match self.arch.as_str() {
            "resnet" => {
                let s0 = if s > 32 { s / 2 } else { s };
                s0.div_ceil(2).div_ceil(2)
            }
            _ => {
                let s2 = s / 4;
                if s2 > 8 { s2 / 2 } else { s2 }
            }
        }
        .max(1)
    }

    /// Features the head reads: the last map's channels, times its area when flat.
    pub fn head_inputs(&self) -> usize {
        let c = 4 * self.width;
        if self.flat_head {
            c * self.final_side().pow(2)
        } else {
            c
        }
    }

    /// Multiply-accumulates of one forward pass of one image (for cost estimates).
    pub fn forward_macs(&self) -> f64 {
        let (c, w, s) = (self.in_channels as f64, self.width as f64, self.side as f64);
        match self.arch.as_str() {
            "resnet" => {
                let s0 = if self.side > 32 { s / 2.0 } else { s };
                let stem = s * s * w * c * 9.0;
                let b1 = 2.0 * s0 * s0 * w * w * 9.0;
                let s1 = s0 / 2.0;
                let b2 = s1 * s1 * (2.0 * w * w * 9.0 + 4.0 * w * w * 9.0 + 2.0 * w * w);
                let s2 = s1 / 2.0;
                let b3 = s2 * s2 * (8.0 * w * w * 9.0 + 16.0 * w * w * 9.0 + 8.0 * w * w);
                stem + b1 + b2 + b3
            }
            _ => {
                let l1 = s * s * w * c * 9.0;
                let s1 = s / 2.0;
                let l2 = s1 * s1 * 2.0 * w * w * 9.0;
                let s2 = s1 / 2.0;
                let l3 = s2 * s2 * 8.0 * w * w * 9.0;
                l1 + l2 + l3
            }
        }
    }
}

/// A bias-free `k`×`k` convolution with "same" padding, computed as im2col (zero padding,
/// shifted views stacked on a new axis) and one matrix product for the whole batch. Every op here has a
/// cheap backward pass in candle, unlike its CPU `conv2d`, whose kernel gradient is a
/// convolution with an image-sized kernel. The weight has PyTorch's shape
/// `cout × cin × k × k`.
struct Conv {
    weight: Tensor,
    k: usize,
    stride: usize,
}

impl Conv {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.device().is_cpu() {
            cpu_ops::conv2d(x, &self.weight, self.k, self.stride)
        } else {
            self.forward_ops(x)
        }
    }

    /// The same convolution from candle ops (im2col as shifted views), for other devices.
    fn forward_ops(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let (cout, k) = (self.weight.dim(0)?, self.k);
        // Columns laid out `c·k·k × n·h·w`, so the whole batch is one large matrix product
        // (a batched product of `n` small ones keeps the CPU gemm far from its peak). The
        // input is put channel-first once, so that stacking the shifted views already gives
        // that layout.
        let xt = x.transpose(0, 1)?.contiguous()?;
        let cols = if k == 1 {
            let xs = if self.stride > 1 {
                subsample(&xt, self.stride)?
            } else {
                xt
            };
            let (_, _, h1, w1) = xs.dims4()?;
            xs.reshape((c, n * h1 * w1))?
        } else {
            let p = k / 2;
            let xp = xt.pad_with_zeros(2, p, p)?.pad_with_zeros(3, p, p)?;
            let mut views = Vec::with_capacity(k * k);
            for dy in 0..k {
                for dx in 0..k {
                    let v = xp.narrow(2, dy, h)?.narrow(3, dx, w)?;
                    views.push(if self.stride > 1 {
                        subsample(&v, self.stride)?
                    } else {
                        v
                    });
                }
            }
            let (_, _, h1, w1) = views[0].dims4()?;
            // c × k² × n × h1 × w1
            Tensor::stack(&views, 1)?.reshape((c * k * k, n * h1 * w1))?
        };
        let (ho, wo) = if self.stride > 1 {
            (h.div_ceil(self.stride), w.div_ceil(self.stride))
        } else {
            (h, w)
        };
        let wm = self.weight.reshape((cout, c * k * k))?;
        wm.matmul(&cols)?
            .reshape((cout, n, ho, wo))?
            .transpose(0, 1)?
            .contiguous()
    }
}

/// Every `s`-th row and column (the top-left of each `s`×`s` cell; sizes padded up to a
/// multiple of `s`).
pub(crate) fn subsample(x: &Tensor, s: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (hp, wp) = (h.div_ceil(s) * s, w.div_ceil(s) * s);
    let x = if hp != h || wp != w {
        x.pad_with_zeros(2, 0, hp - h)?
            .pad_with_zeros(3, 0, wp - w)?
    } else {
        x.clone()
    };
    x.reshape((n, c, hp / s, s, wp / s, s))?
        .narrow(3, 0, 1)?
        .narrow(5, 0, 1)?
        .reshape((n, c, hp / s, wp / s))
}

fn conv(cin: usize, cout: usize, k: usize, stride: usize, vb: VarBuilder) -> Result<Conv> {
    let bound = 1.0 / ((cin * k * k) as f64).sqrt();
    let weight = vb.get_with_hints(
        (cout, cin, k, k),
        "weight",
        candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        },
    )?;
    Ok(Conv { weight, k, stride })
}

fn bn(c: usize, vb: VarBuilder) -> Result<BatchNorm> {
    candle_nn::batch_norm(c, 1e-5, vb)
}

struct ConvBn {
    conv: Conv,
    bn: BatchNorm,
}

impl ConvBn {
    fn new(cin: usize, cout: usize, k: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv: conv(cin, cout, k, stride, vb.pp("conv"))?,
            bn: bn(cout, vb.pp("bn"))?,
        })
    }

    /// Convolution, batch norm, and a ReLU when `relu`: on the CPU the batch norm (with its
    /// ReLU) is one fused op.
    fn forward_t(&self, x: &Tensor, train: bool, relu: bool) -> Result<Tensor> {
        let y = self.conv.forward(x)?;
        if y.device().is_cpu() {
            return cpu_ops::batch_norm(&self.bn, &y, train, relu);
        }
        let y = self.bn.forward_t(&y, train)?;
        if relu { y.relu() } else { Ok(y) }
    }
}

/// 2×2 max pooling: the fused op on the CPU, candle's elsewhere.
fn max_pool2(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() {
        cpu_ops::max_pool2(x)
    } else {
        x.max_pool2d(2)
    }
}

struct Block {
    a: ConvBn,
    b: ConvBn,
    short: Option<ConvBn>,
}

impl Block {
    fn new(cin: usize, cout: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            a: ConvBn::new(cin, cout, 3, stride, vb.pp("a"))?,
            b: ConvBn::new(cout, cout, 3, 1, vb.pp("b"))?,
            short: if stride != 1 || cin != cout {
                Some(ConvBn::new(cin, cout, 1, stride, vb.pp("short"))?)
            } else {
                None
            },
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let y = self.a.forward_t(x, train, true)?;
        let y = self.b.forward_t(&y, train, false)?;
        let s = match &self.short {
            Some(s) => s.forward_t(x, train, false)?,
            None => x.clone(),
        };
        (y + s)?.relu()
    }
}

enum Body {
    Small(Vec<ConvBn>),
    Res {
        stem: ConvBn,
        pool: bool,
        blocks: Vec<Block>,
    },
}

/// A network built from an [`ArchSpec`]; its variables live in the caller's `VarMap`.
pub struct Net {
    body: Body,
    head: Linear,
    flat_head: bool,
}

impl Net {
    /// Builds the network's variables under `vb`.
    pub fn new(spec: &ArchSpec, vb: VarBuilder) -> Result<Self> {
        let (c, w) = (spec.in_channels, spec.width);
        let (body, _) = match spec.arch.as_str() {
            "resnet" => {
                let stem = ConvBn::new(c, w, 3, 1, vb.pp("stem"))?;
                let blocks = vec![
                    Block::new(w, w, 1, vb.pp("block1"))?,
                    Block::new(w, 2 * w, 2, vb.pp("block2"))?,
                    Block::new(2 * w, 4 * w, 2, vb.pp("block3"))?,
                ];
                (
                    Body::Res {
                        stem,
                        pool: spec.side > 32,
                        blocks,
                    },
                    4 * w,
                )
            }
            "small_cnn" => (
                Body::Small(vec![
                    ConvBn::new(c, w, 3, 1, vb.pp("layer1"))?,
                    ConvBn::new(w, 2 * w, 3, 1, vb.pp("layer2"))?,
                    ConvBn::new(2 * w, 4 * w, 3, 1, vb.pp("layer3"))?,
                ]),
                4 * w,
            ),
            other => candle_core::bail!("unknown architecture {other:?}"),
        };
        let head = candle_nn::linear(spec.head_inputs(), spec.n_classes, vb.pp("head"))?;
        Ok(Self {
            body,
            head,
            flat_head: spec.flat_head,
        })
    }

    /// Logits for a batch `n × c × side × side`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = x.clone();
        match &self.body {
            Body::Small(layers) => {
                for (i, l) in layers.iter().enumerate() {
                    x = l.forward_t(&x, train, true)?;
                    // Pool after the first two layers, and after the third on large inputs.
                    if i < 2 || x.dim(2)? > 8 {
                        x = max_pool2(&x)?;
                    }
                }
            }
            Body::Res { stem, pool, blocks } => {
                x = stem.forward_t(&x, train, true)?;
                if *pool {
                    x = max_pool2(&x)?;
                }
                for b in blocks {
                    x = b.forward_t(&x, train)?;
                }
            }
        }
        let x = if self.flat_head {
            x.flatten_from(1)?
        } else {
            x.mean(D::Minus1)?.mean(D::Minus1)?
        };
        self.head.forward(&x)
    }
}

/// Maps a candle error to the image trainer's typed error, naming the step.
pub(crate) fn cerr(what: &'static str) -> impl Fn(candle_core::Error) -> crate::error::AutomlError {
    move |e| crate::error::AutomlError::Training {
        model: "image".to_string(),
        message: format!("{what}: {e}"),
    }
}

#[cfg(test)]
mod conv_tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn im2col_conv_matches_candles_conv2d() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (3, 2, 7, 7), &dev).expect("x");
        for (k, stride) in [(3, 1), (3, 2), (1, 2), (1, 1)] {
            let weight = Tensor::randn(0f32, 1.0, (4, 2, k, k), &dev).expect("w");
            let ours = Conv {
                weight: weight.clone(),
                k,
                stride,
            }
            .forward_ops(&x)
            .expect("ours");
            let want = x.conv2d(&weight, k / 2, stride, 1, 1).expect("candle");
            assert_eq!(ours.dims(), want.dims(), "k={k} stride={stride}");
            let diff = (ours - want)
                .expect("sub")
                .abs()
                .expect("abs")
                .max_all()
                .expect("max")
                .to_scalar::<f32>()
                .expect("scalar");
            assert!(diff < 1e-4, "k={k} stride={stride}: {diff}");
        }
    }
}
