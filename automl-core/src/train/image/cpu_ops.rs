//! Fused CPU kernels for the from-scratch nets (`small_cnn`, `resnet`): a convolution as one
//! im2col and one GEMM each way, batch norm with its ReLU, and 2×2 max pooling. Each is a
//! candle custom op with a hand-written backward pass, so that a training step is a few passes
//! over each activation instead of the dozens of element-wise kernels, zero-filled gradient
//! buffers and strided copies that the same layers cost as compositions of candle ops
//! (decisions/0106). Other devices keep the candle-op path in `net.rs`.

use std::sync::{Arc, Mutex};

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Storage, Tensor, Var, bail,
};
use candle_nn::BatchNorm;

fn f32s<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(d) = s else {
        bail!("{what}: f32 expected")
    };
    let Some((a, b)) = l.contiguous_offsets() else {
        bail!("{what}: contiguous input expected")
    };
    Ok(&d[a..b])
}

/// Runs `f` on a CPU tensor's values (made contiguous first).
fn with_f32<R>(t: &Tensor, what: &str, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (st, l) = t.storage_and_layout();
    match &*st {
        Storage::Cpu(cs) => f(f32s(cs, l, what)?),
        _ => bail!("{what}: CPU tensor expected"),
    }
}

/// `dst` (`m`×`n`) = `lhs` · `rhs`, each matrix given with its row and column strides, so
/// that transposed operands and results need no copy. The one `unsafe` call of the crate:
/// `gemm` takes raw pointers and strides; the asserts below are its contract.
#[allow(unsafe_code)]
fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    (dst_rs, dst_cs): (usize, usize),
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        (m - 1) * dst_rs + (n - 1) * dst_cs < dst.len(),
        "matmul: dst too small"
    );
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                dst[i * dst_rs + j * dst_cs] = 0.0;
            }
        }
        return;
    }
    // The bounds the kernel reads and writes within, checked once.
    assert!(
        (m - 1) * lhs_rs + (k - 1) * lhs_cs < lhs.len(),
        "matmul: lhs too small"
    );
    assert!(
        (k - 1) * rhs_rs + (n - 1) * rhs_cs < rhs.len(),
        "matmul: rhs too small"
    );
    let threads = candle_core::utils::get_num_threads();
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every index the kernel touches inside the three slices,
    // and `dst` is borrowed mutably, so it overlaps neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            false,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// Shapes of one convolution: input `n × c × h × w`, a `k`×`k` kernel with "same" padding
/// `k / 2` and stride `s`, output `ho × wo`.
#[derive(Debug, Clone, Copy)]
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    k: usize,
    s: usize,
    p: usize,
    ho: usize,
    wo: usize,
}

impl Geom {
    fn new((n, c, h, w): (usize, usize, usize, usize), k: usize, s: usize) -> Result<Self> {
        if k == 0 || k % 2 == 0 || s == 0 {
            bail!("conv: odd kernel and positive stride expected, got k={k} s={s}");
        }
        let p = k / 2;
        if h + 2 * p < k || w + 2 * p < k {
            bail!("conv: input {h}×{w} smaller than the kernel");
        }
        Ok(Self {
            n,
            c,
            h,
            w,
            k,
            s,
            p,
            ho: (h + 2 * p - k) / s + 1,
            wo: (w + 2 * p - k) / s + 1,
        })
    }

    /// Columns of the im2col matrix: one per output pixel of the whole batch.
    fn cols(&self) -> usize {
        self.n * self.ho * self.wo
    }

    /// Visits, for every (input channel, kernel offset) row of the im2col matrix and every
    /// (image, output row), `f(at, src, lo, hi, kx)`: the output row starts at `at` in the
    /// matrix, the input row at `src` in the input, and output columns `lo..hi` read input
    /// column `ox·s + kx − p`; the others read padding. A row that reads padding only has
    /// `src` = `None`.
    fn rows(&self, mut f: impl FnMut(usize, Option<usize>, usize, usize, usize)) {
        let g = *self;
        let nn = g.cols();
        for ci in 0..g.c {
            for ky in 0..g.k {
                for kx in 0..g.k {
                    let row = ((ci * g.k + ky) * g.k + kx) * nn;
                    // Output columns whose input column `ox·s + kx − p` lies inside the row.
                    let lo = g.p.saturating_sub(kx).div_ceil(g.s);
                    let hi = (g.w + g.p)
                        .saturating_sub(kx)
                        .div_ceil(g.s)
                        .min(g.wo)
                        .max(lo);
                    for b in 0..g.n {
                        let plane = (b * g.c + ci) * g.h * g.w;
                        for oy in 0..g.ho {
                            let iy = oy * g.s + ky;
                            let at = row + (b * g.ho + oy) * g.wo;
                            let inside = iy >= g.p && iy - g.p < g.h && lo < hi;
                            f(at, inside.then(|| plane + (iy - g.p) * g.w), lo, hi, kx);
                        }
                    }
                }
            }
        }
    }
}

thread_local! {
    /// Buffers of the convolution's intermediate matrices, reused from step to step so that
    /// they are neither zero-filled nor page-faulted in again each time.
    static SCRATCH: std::cell::RefCell<Vec<Vec<f32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A buffer of `len` values from this thread's pool (the smallest that holds them). Its
/// values are arbitrary: the caller writes every one.
fn take_buf(len: usize) -> Vec<f32> {
    let mut v = SCRATCH.with(|p| {
        let mut p = p.borrow_mut();
        let best = (0..p.len())
            .filter(|&i| p[i].capacity() >= len)
            .min_by_key(|&i| p[i].capacity())
            .or_else(|| (0..p.len()).max_by_key(|&i| p[i].capacity()));
        best.map(|i| p.swap_remove(i)).unwrap_or_default()
    });
    v.resize(len, 0.0);
    v
}

/// Values the pool of one thread keeps at most (64 MiB): a training step's products fit
/// (small_cnn's largest at width 32, batch 32, 28 px: 2.3 M values), and a server thread that
/// once predicted a large batch does not hold on to its buffers.
const SCRATCH_MAX_VALUES: usize = 16 << 20;

/// Returns a buffer to this thread's pool (at most eight, [`SCRATCH_MAX_VALUES`] in all; a
/// buffer that does not fit is freed).
fn give_buf(v: Vec<f32>) {
    SCRATCH.with(|p| {
        let mut p = p.borrow_mut();
        let held: usize = p.iter().map(Vec::capacity).sum();
        if p.len() < 8 && held + v.capacity() <= SCRATCH_MAX_VALUES {
            p.push(v);
        }
    });
}

/// The im2col matrix `c·k·k × n·ho·wo` of `x` (zeros where the kernel reads padding), in a
/// pooled buffer (see [`give_buf`]).
fn im2col(x: &[f32], g: &Geom) -> Vec<f32> {
    let mut cols = take_buf(g.c * g.k * g.k * g.cols());
    let (s, p) = (g.s, g.p);
    g.rows(|at, src, lo, hi, kx| {
        let dst = &mut cols[at..at + g.wo];
        let Some(src) = src else {
            dst.fill(0.0);
            return;
        };
        dst[..lo].fill(0.0);
        dst[hi..].fill(0.0);
        if s == 1 {
            let from = src + lo + kx - p;
            dst[lo..hi].copy_from_slice(&x[from..from + (hi - lo)]);
        } else {
            for (ox, d) in dst.iter_mut().enumerate().take(hi).skip(lo) {
                *d = x[src + ox * s + kx - p];
            }
        }
    });
    cols
}

/// The adjoint of [`im2col`]: sums every column entry back onto the input pixel it was read
/// from.
fn col2im(cols: &[f32], g: &Geom) -> Vec<f32> {
    let mut x = vec![0f32; g.n * g.c * g.h * g.w];
    let (s, p) = (g.s, g.p);
    g.rows(|at, src, lo, hi, kx| {
        let Some(src) = src else { return };
        let from = &cols[at..at + g.wo];
        if s == 1 {
            let to = src + lo + kx - p;
            for (d, v) in x[to..to + (hi - lo)].iter_mut().zip(&from[lo..hi]) {
                *d += v;
            }
        } else {
            for (ox, v) in from.iter().enumerate().take(hi).skip(lo) {
                x[src + ox * s + kx - p] += v;
            }
        }
    });
    x
}

/// A bias-free convolution with "same" padding, `x` (`n × c × h × w`) by a weight of PyTorch's
/// shape `cout × c × k × k`. The forward pass keeps its im2col matrix for the backward pass.
struct ConvOp {
    k: usize,
    stride: usize,
    /// Lay the products out pixel-major from this many im2col rows on (see
    /// [`PIXEL_MAJOR_FROM`]).
    pixel_from: usize,
    cols: Mutex<Vec<f32>>,
}

impl Drop for ConvOp {
    fn drop(&mut self) {
        let cols = std::mem::take(self.cols.get_mut().unwrap_or_else(|p| p.into_inner()));
        if cols.capacity() > 0 {
            give_buf(cols);
        }
    }
}

impl ConvOp {
    fn pixel_major(&self, ckk: usize) -> bool {
        ckk >= self.pixel_from
    }

    fn geom(&self, x: &Shape, w: &Shape) -> Result<(Geom, usize)> {
        let (cout, cin, kh, kw) = w.dims4()?;
        let g = Geom::new(x.dims4()?, self.k, self.stride)?;
        if cin != g.c || kh != self.k || kw != self.k {
            bail!(
                "conv: weight {w:?} does not fit input {x:?} and kernel {}",
                self.k
            );
        }
        Ok((g, cout))
    }
}

impl CustomOp2 for ConvOp {
    fn name(&self) -> &'static str {
        "automl-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (g, cout) = self.geom(l1.shape(), l2.shape())?;
        let x = f32s(s1, l1, "conv input")?;
        let wt = f32s(s2, l2, "conv weight")?;
        let (nn, ckk, hw) = (g.cols(), g.c * g.k * g.k, g.ho * g.wo);
        let cols = im2col(x, &g);
        let mut out = Vec::with_capacity(g.n * cout * hw);
        if self.pixel_major(ckk) {
            // out_pix (n·ho·wo × cout) = colsᵀ · Wᵀ, then each image's pixels × channels
            // block transposed into channels × pixels.
            let mut op = take_buf(nn * cout);
            matmul(
                (nn, cout, ckk),
                &mut op,
                (cout, 1),
                &cols,
                (1, nn),
                wt,
                (1, ckk),
            );
            for b in 0..g.n {
                let block = &op[b * hw * cout..(b + 1) * hw * cout];
                for o in 0..cout {
                    out.extend(block.iter().skip(o).step_by(cout));
                }
            }
            give_buf(op);
        } else {
            // out_mat (cout × n·ho·wo) = W · cols: one product for the whole batch.
            let mut om = take_buf(cout * nn);
            matmul(
                (cout, nn, ckk),
                &mut om,
                (nn, 1),
                wt,
                (ckk, 1),
                &cols,
                (nn, 1),
            );
            for b in 0..g.n {
                for o in 0..cout {
                    out.extend_from_slice(&om[(o * g.n + b) * hw..][..hw]);
                }
            }
            give_buf(om);
        }
        let old = std::mem::replace(
            &mut *self.cols.lock().unwrap_or_else(|p| p.into_inner()),
            cols,
        );
        if old.capacity() > 0 {
            give_buf(old);
        }
        Ok((CpuStorage::F32(out), Shape::from((g.n, cout, g.ho, g.wo))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (g, cout) = self.geom(x.shape(), w.shape())?;
        let (nn, ckk, hw) = (g.cols(), g.c * g.k * g.k, g.ho * g.wo);
        let pix = self.pixel_major(ckk);
        // The output gradient in the layout of the forward product: pixels × channels, or
        // channels × pixels.
        let gm = with_f32(grad, "conv grad", |gy| {
            let mut gm = take_buf(0);
            if pix {
                for b in 0..g.n {
                    let block = &gy[b * cout * hw..(b + 1) * cout * hw];
                    for p in 0..hw {
                        gm.extend(block.iter().skip(p).step_by(hw));
                    }
                }
            } else {
                for o in 0..cout {
                    for b in 0..g.n {
                        gm.extend_from_slice(&gy[(b * cout + o) * hw..][..hw]);
                    }
                }
            }
            Ok(gm)
        })?;
        // The forward pass's columns (computed again if they are gone).
        let mut cols = std::mem::take(&mut *self.cols.lock().unwrap_or_else(|p| p.into_inner()));
        if cols.len() != ckk * nn {
            give_buf(cols);
            cols = with_f32(x, "conv input", |xs| Ok(im2col(xs, &g)))?;
        }
        let mut gw = vec![0f32; cout * ckk];
        if pix {
            // dWᵀ (ckk × cout) = cols · G, then transposed (it is small).
            let mut gwt = take_buf(ckk * cout);
            matmul(
                (ckk, cout, nn),
                &mut gwt,
                (cout, 1),
                &cols,
                (nn, 1),
                &gm,
                (cout, 1),
            );
            for (o, row) in gw.chunks_mut(ckk).enumerate() {
                for (r, v) in row.iter_mut().enumerate() {
                    *v = gwt[r * cout + o];
                }
            }
            give_buf(gwt);
        } else {
            // dW = gm · colsᵀ.
            matmul(
                (cout, ckk, nn),
                &mut gw,
                (ckk, 1),
                &gm,
                (nn, 1),
                &cols,
                (1, nn),
            );
        }
        give_buf(cols);
        let gw = Tensor::from_vec(gw, w.shape(), w.device())?;
        // dX, only when the input needs it (not for the images): the column gradient
        // (G · W pixel by pixel, or Wᵀ · gm) summed back onto the input pixels.
        let gx = if x.track_op() {
            let gx = with_f32(w, "conv weight", |wt| {
                let mut gc = take_buf(ckk * nn);
                let gx = if pix {
                    matmul(
                        (nn, ckk, cout),
                        &mut gc,
                        (ckk, 1),
                        &gm,
                        (cout, 1),
                        wt,
                        (ckk, 1),
                    );
                    row2im(&gc, &g)
                } else {
                    matmul(
                        (ckk, nn, cout),
                        &mut gc,
                        (nn, 1),
                        wt,
                        (1, ckk),
                        &gm,
                        (nn, 1),
                    );
                    col2im(&gc, &g)
                };
                give_buf(gc);
                Ok(gx)
            })?;
            Some(Tensor::from_vec(gx, x.shape(), x.device())?)
        } else {
            None
        };
        give_buf(gm);
        Ok((gx, Some(gw)))
    }
}

/// Convolution of a CPU tensor `x` by `w` (see [`ConvOp`]).
pub(crate) fn conv2d(x: &Tensor, w: &Tensor, k: usize, stride: usize) -> Result<Tensor> {
    conv2d_with(x, w, k, stride, PIXEL_MAJOR_FROM)
}

/// Rows of the im2col matrix (`c·k·k`) from which the products are laid out pixel-major:
/// measured with `gemm` 0.19 on one core, the pixel-major forms ran the middle and last
/// layers of `small_cnn` about 1.2× (forward) and 1.8–2× (gradients) faster, and the first
/// layer's (`c·k·k` = 9) about 2× slower.
const PIXEL_MAJOR_FROM: usize = 32;

fn conv2d_with(
    x: &Tensor,
    w: &Tensor,
    k: usize,
    stride: usize,
    pixel_from: usize,
) -> Result<Tensor> {
    x.contiguous()?.apply_op2(
        w,
        ConvOp {
            k,
            stride,
            pixel_from,
            cols: Mutex::new(Vec::new()),
        },
    )
}

/// The adjoint of im2col from a pixel-major column gradient (`n·ho·wo × c·k·k`): each
/// pixel's row summed back onto the input pixels it was read from.
fn row2im(rows: &[f32], g: &Geom) -> Vec<f32> {
    let mut x = vec![0f32; g.n * g.c * g.h * g.w];
    let (k, s, p) = (g.k, g.s, g.p);
    let ckk = g.c * k * k;
    for b in 0..g.n {
        for oy in 0..g.ho {
            for ox in 0..g.wo {
                let row = &rows[((b * g.ho + oy) * g.wo + ox) * ckk..][..ckk];
                // Kernel columns inside the image for this output column.
                let kx_lo = p.saturating_sub(ox * s);
                let kx_hi = (g.w + p).saturating_sub(ox * s).min(k);
                for ci in 0..g.c {
                    let plane = (b * g.c + ci) * g.h * g.w;
                    for ky in 0..k {
                        let iy = oy * s + ky;
                        if iy < p || iy - p >= g.h || kx_lo >= kx_hi {
                            continue;
                        }
                        let at = plane + (iy - p) * g.w + ox * s + kx_lo - p;
                        let from = &row[(ci * k + ky) * k + kx_lo..(ci * k + ky) * k + kx_hi];
                        for (d, v) in x[at..at + from.len()].iter_mut().zip(from) {
                            *d += v;
                        }
                    }
                }
            }
        }
    }
    x
}

const LANES: usize = 8;

/// Σx of a slice, summed in eight lanes (so that it vectorises).
fn lane_sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let body = x.chunks_exact(LANES);
    let tail: f32 = body.remainder().iter().sum();
    for ch in body {
        for (a, v) in acc.iter_mut().zip(ch) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Σ(x − mu)² of a slice, in eight lanes.
fn lane_sq_dev(x: &[f32], mu: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let body = x.chunks_exact(LANES);
    let tail: f32 = body.remainder().iter().map(|v| (v - mu) * (v - mu)).sum();
    for ch in body {
        for (a, v) in acc.iter_mut().zip(ch) {
            *a += (v - mu) * (v - mu);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Σg·(x − mu) of two slices, in eight lanes.
fn lane_dot_dev(g: &[f32], x: &[f32], mu: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let n = g.len().min(x.len());
    let full = n / LANES * LANES;
    for (gc, xc) in g[..full]
        .chunks_exact(LANES)
        .zip(x[..full].chunks_exact(LANES))
    {
        for ((a, g), x) in acc.iter_mut().zip(gc).zip(xc) {
            *a += g * (x - mu);
        }
    }
    let tail: f32 = (full..n).map(|i| g[i] * (x[i] - mu)).sum();
    acc.iter().sum::<f32>() + tail
}

/// The batch's per-channel mean and (biased) variance, kept by a training-mode batch norm
/// for its backward pass and for the running statistics.
#[derive(Debug, Clone)]
struct BnStats {
    mean: Vec<f32>,
    var: Vec<f32>,
    /// Values per channel (`n · h · w`).
    count: usize,
}

/// Training-mode batch norm over `n × c × h × w` (statistics of the batch), scaled by `gamma`,
/// shifted by `beta`, optionally followed by a ReLU.
struct BnTrainOp {
    eps: f64,
    relu: bool,
    stats: Arc<Mutex<Option<BnStats>>>,
}

fn bn_dims(x: &Shape, gamma: &Shape, beta: &Shape) -> Result<(usize, usize, usize)> {
    let (n, c, h, w) = x.dims4()?;
    if gamma.dims() != [c] || beta.dims() != [c] {
        bail!("batch norm: scale {gamma:?} / shift {beta:?} do not fit input {x:?}");
    }
    Ok((n, c, h * w))
}

impl CustomOp3 for BnTrainOp {
    fn name(&self) -> &'static str {
        "automl-batch-norm-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c, hw) = bn_dims(l1.shape(), l2.shape(), l3.shape())?;
        let x = f32s(s1, l1, "batch norm input")?;
        let gamma = f32s(s2, l2, "batch norm scale")?;
        let beta = f32s(s3, l3, "batch norm shift")?;
        let count = n * hw;
        if count == 0 {
            bail!("batch norm: empty batch");
        }
        let plane = |b: usize, ch: usize| &x[(b * c + ch) * hw..][..hw];
        let mut mean = vec![0f32; c];
        let mut var = vec![0f32; c];
        let mut scale = vec![0f32; c];
        let mut shift = vec![0f32; c];
        for ch in 0..c {
            let m = (0..n).map(|b| lane_sum(plane(b, ch)) as f64).sum::<f64>() / count as f64;
            let v = (0..n)
                .map(|b| lane_sq_dev(plane(b, ch), m as f32) as f64)
                .sum::<f64>()
                / count as f64;
            let inv = 1.0 / (v + self.eps).sqrt();
            scale[ch] = (gamma[ch] as f64 * inv) as f32;
            shift[ch] = (beta[ch] as f64 - m * gamma[ch] as f64 * inv) as f32;
            mean[ch] = m as f32;
            var[ch] = v as f32;
        }
        // Written in memory order, so the output needs no zero fill.
        let mut y = Vec::with_capacity(x.len());
        for b in 0..n {
            for ch in 0..c {
                let (a, sh) = (scale[ch], shift[ch]);
                let src = plane(b, ch).iter();
                if self.relu {
                    y.extend(src.map(|&v| (v * a + sh).max(0.0)));
                } else {
                    y.extend(src.map(|&v| v * a + sh));
                }
            }
        }
        *self.stats.lock().unwrap_or_else(|p| p.into_inner()) = Some(BnStats { mean, var, count });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Some(st) = self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            bail!("batch norm: backward before forward");
        };
        let (n, c, hw) = bn_dims(x.shape(), gamma.shape(), gamma.shape())?;
        let m = st.count as f64;
        let gam = gamma.to_vec1::<f32>()?;
        let mut dgamma = vec![0f32; c];
        let mut dbeta = vec![0f32; c];
        let dx = with_f32(x, "batch norm input", |xs| {
            with_f32(res, "batch norm output", |ys| {
                with_f32(grad, "batch norm grad", |gy| {
                    let at = |b: usize, ch: usize| (b * c + ch) * hw..(b * c + ch + 1) * hw;
                    // The gradient that reaches the normalisation: zero where the ReLU cut.
                    let g: std::borrow::Cow<[f32]> = if self.relu {
                        ys.iter()
                            .zip(gy)
                            .map(|(&y, &g)| if y > 0.0 { g } else { 0.0 })
                            .collect::<Vec<f32>>()
                            .into()
                    } else {
                        gy.into()
                    };
                    // Per channel: Σg and Σg·(x − mean).
                    let mut coef = Vec::with_capacity(c);
                    for ch in 0..c {
                        let (mu, inv) = (st.mean[ch], 1.0 / (st.var[ch] as f64 + self.eps).sqrt());
                        let (mut sg, mut sgd) = (0f64, 0f64);
                        for b in 0..n {
                            let r = at(b, ch);
                            sg += lane_sum(&g[r.clone()]) as f64;
                            sgd += lane_dot_dev(&g[r.clone()], &xs[r], mu) as f64;
                        }
                        dbeta[ch] = sg as f32;
                        dgamma[ch] = (sgd * inv) as f32;
                        // dx = k·(g − Σg/m − x̂·Σg·x̂/m) = k·g + c1·x + c0, x̂ = (x − mean)·inv.
                        let k = gam[ch] as f64 * inv;
                        let c1 = -k * inv * inv * sgd / m;
                        let c0 = -k * sg / m - c1 * mu as f64;
                        coef.push((k as f32, c1 as f32, c0 as f32));
                    }
                    let mut dx = Vec::with_capacity(xs.len());
                    for b in 0..n {
                        for (ch, &(k, c1, c0)) in coef.iter().enumerate() {
                            let r = at(b, ch);
                            let it = g[r.clone()].iter().zip(&xs[r]);
                            dx.extend(it.map(|(&g, &x)| k * g + c1 * x + c0));
                        }
                    }
                    Ok(dx)
                })
            })
        })?;
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), dev)?),
            Some(Tensor::from_vec(dgamma, c, dev)?),
            Some(Tensor::from_vec(dbeta, c, dev)?),
        ))
    }
}

/// candle-nn's batch norm `bn` (and a ReLU when `relu`) of a CPU tensor `n × c × h × w`:
/// in training, the batch's statistics normalise it and update `bn`'s running mean and
/// variance as candle-nn does (momentum, unbiased variance); in inference the running
/// statistics normalise it.
pub(crate) fn batch_norm(bn: &BatchNorm, x: &Tensor, train: bool, relu: bool) -> Result<Tensor> {
    let Some((gamma, beta)) = bn.weight_and_bias() else {
        bail!("batch norm: a scale and a shift expected");
    };
    let (rm, rv) = (bn.running_mean(), bn.running_var());
    if !train {
        return batch_norm_eval(x, gamma, beta, rm, rv, bn.eps(), relu);
    }
    let (out, st) = batch_norm_train(x, gamma, beta, bn.eps(), relu)?;
    let mom = bn.momentum();
    let unbias = st.count as f64 / (st.count.max(2) - 1) as f64;
    let blend = |running: &Tensor, batch: &[f32], scale: f64| -> Result<()> {
        let new: Vec<f32> = (running.to_vec1::<f32>()?.iter().zip(batch))
            .map(|(r, b)| (*r as f64 * (1.0 - mom) + *b as f64 * scale * mom) as f32)
            .collect();
        let c = new.len();
        Var::from_tensor(running)?.set(&Tensor::from_vec(new, c, running.device())?)
    };
    blend(rm, &st.mean, 1.0)?;
    blend(rv, &st.var, unbias)?;
    Ok(out)
}

/// Training-mode batch norm (and ReLU when `relu`) of a CPU tensor; returns the output and the
/// batch's statistics.
fn batch_norm_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    relu: bool,
) -> Result<(Tensor, BnStats)> {
    let stats = Arc::new(Mutex::new(None));
    let y = x.contiguous()?.apply_op3(
        gamma,
        beta,
        BnTrainOp {
            eps,
            relu,
            stats: stats.clone(),
        },
    )?;
    let st = stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
    match st {
        Some(st) => Ok((y, st)),
        None => bail!("batch norm: no statistics"),
    }
}

/// `x · a + b` per channel of `n × c × h × w`, then a ReLU when `relu`: batch norm with fixed
/// statistics folded into `a` and `b` (inference only).
struct AffineOp {
    a: Vec<f32>,
    b: Vec<f32>,
    relu: bool,
}

impl CustomOp1 for AffineOp {
    fn name(&self) -> &'static str {
        "automl-channel-affine"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (_, c, h, w) = l.shape().dims4()?;
        if self.a.len() != c || self.b.len() != c {
            bail!(
                "batch norm: {} channels expected, input {:?}",
                self.a.len(),
                l.shape()
            );
        }
        let x = f32s(s, l, "batch norm input")?;
        let hw = h * w;
        let mut y = vec![0f32; x.len()];
        for (p, (dst, src)) in y.chunks_mut(hw.max(1)).zip(x.chunks(hw.max(1))).enumerate() {
            let (a, b) = (self.a[p % c], self.b[p % c]);
            for (d, &v) in dst.iter_mut().zip(src) {
                let t = v * a + b;
                *d = if self.relu { t.max(0.0) } else { t };
            }
        }
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }
}

/// Inference-mode batch norm (running statistics) and optional ReLU of a CPU tensor.
fn batch_norm_eval(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f64,
    relu: bool,
) -> Result<Tensor> {
    let (g, be) = (gamma.to_vec1::<f32>()?, beta.to_vec1::<f32>()?);
    let (rm, rv) = (
        running_mean.to_vec1::<f32>()?,
        running_var.to_vec1::<f32>()?,
    );
    let a: Vec<f32> = g
        .iter()
        .zip(&rv)
        .map(|(g, v)| (*g as f64 / (*v as f64 + eps).sqrt()) as f32)
        .collect();
    let b = be
        .iter()
        .zip(&rm)
        .zip(&a)
        .map(|((be, m), a)| be - m * a)
        .collect();
    x.contiguous()?.apply_op1_no_bwd(&AffineOp { a, b, relu })
}

/// 2×2 max pooling with stride 2 (odd sizes floored, like candle's `max_pool2d(2)`). The
/// forward pass keeps, per output, which of its four inputs was the (first) largest, and the
/// backward pass sends the output's gradient there, whole.
#[derive(Default)]
struct MaxPool2Op {
    argmax: Mutex<Vec<u8>>,
}

impl CustomOp1 for MaxPool2Op {
    fn name(&self) -> &'static str {
        "automl-max-pool2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l.shape().dims4()?;
        let x = f32s(s, l, "max pool input")?;
        let (ho, wo) = (h / 2, w / 2);
        let mut y = Vec::with_capacity(n * c * ho * wo);
        let mut arg = Vec::with_capacity(n * c * ho * wo);
        for p in 0..n * c {
            let src = &x[p * h * w..(p + 1) * h * w];
            for oy in 0..ho {
                let (r0, r1) = (&src[2 * oy * w..][..w], &src[(2 * oy + 1) * w..][..w]);
                for ox in 0..wo {
                    let (a, b, c, d) = (r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]);
                    let (top, bottom) = (a.max(b), c.max(d));
                    let m = top.max(bottom);
                    // Which of the four is the first largest (top row first, left first).
                    let j = if top >= bottom {
                        u8::from(a < b)
                    } else {
                        2 + u8::from(c < d)
                    };
                    y.push(m);
                    arg.push(j);
                }
            }
        }
        *self.argmax.lock().unwrap_or_else(|p| p.into_inner()) = arg;
        Ok((CpuStorage::F32(y), Shape::from((n, c, ho, wo))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (n, c, h, w) = x.dims4()?;
        let (ho, wo) = (h / 2, w / 2);
        let arg = self.argmax.lock().unwrap_or_else(|p| p.into_inner());
        if arg.len() != n * c * ho * wo {
            bail!("max pool: backward before forward");
        }
        let gx = with_f32(grad, "max pool grad", |gy| {
            let mut gx = vec![0f32; n * c * h * w];
            for p in 0..n * c {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let o = (p * ho + oy) * wo + ox;
                        let j = arg[o] as usize;
                        gx[p * h * w + (2 * oy + j / 2) * w + 2 * ox + j % 2] = gy[o];
                    }
                }
            }
            Ok(gx)
        })?;
        Ok(Some(Tensor::from_vec(gx, x.shape(), x.device())?))
    }
}

/// 2×2 max pooling of a CPU tensor (see [`MaxPool2Op`]).
pub(crate) fn max_pool2(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(MaxPool2Op::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .and_then(|d| d.abs())
            .and_then(|d| d.max_all())
            .and_then(|d| d.to_scalar::<f32>())
            .expect("diff")
    }

    fn randn(shape: &[usize], seed: u64) -> Tensor {
        // Deterministic values without a global RNG: a hash of the index.
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n as u64)
            .map(|i| {
                let h = (i ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                    .wrapping_mul(0xbf58_476d_1ce4_e5b9)
                    .rotate_left(31)
                    .wrapping_mul(0x94d0_49bb_1331_11eb);
                ((h >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).expect("tensor")
    }

    /// The gradients of a random weighted sum of `ours` and of `want` agree on every variable.
    fn same_gradients(ours: &Tensor, want: &Tensor, seed: u64, vars: &[(&str, &Var)], what: &str) {
        let r = randn(ours.dims(), seed);
        let g1 = (ours * &r)
            .and_then(|t| t.sum_all())
            .and_then(|t| t.backward());
        let g2 = (want * &r)
            .and_then(|t| t.sum_all())
            .and_then(|t| t.backward());
        let (g1, g2) = (g1.expect("ours backward"), g2.expect("candle backward"));
        for (name, v) in vars {
            let (a, b) = (g1.get(v.as_tensor()), g2.get(v.as_tensor()));
            let (a, b) = (a.expect("ours grad"), b.expect("candle grad"));
            assert!(max_diff(a, b) < 1e-3, "d{name} {what}: {}", max_diff(a, b));
        }
    }

    /// Forward values and the gradients of a weighted sum of the output agree with the same
    /// layer built from candle ops, for every kernel and stride the nets use.
    #[test]
    fn conv_matches_candle_forward_and_backward() {
        for (k, s, side) in [
            (3, 1, 7),
            (3, 2, 7),
            (3, 2, 8),
            (1, 2, 7),
            (1, 1, 5),
            (3, 1, 1),
        ] {
            let x = Var::from_tensor(&randn(&[3, 2, side, side], 1)).expect("x");
            let w = Var::from_tensor(&randn(&[4, 2, k, k], 2)).expect("w");
            for pixel_from in [usize::MAX, 0] {
                let ours =
                    conv2d_with(x.as_tensor(), w.as_tensor(), k, s, pixel_from).expect("ours");
                let want = x
                    .as_tensor()
                    .conv2d(w.as_tensor(), k / 2, s, 1, 1)
                    .expect("candle");
                assert_eq!(ours.dims(), want.dims(), "k={k} s={s}");
                assert!(
                    max_diff(&ours, &want) < 1e-4,
                    "forward k={k} s={s} pixel_from={pixel_from}"
                );
                let what = format!("k={k} s={s} pixel_from={pixel_from}");
                same_gradients(&ours, &want, 3, &[("x", &x), ("w", &w)], &what);
            }
        }
    }

    /// The images (a tensor that is not a variable) get no gradient.
    #[test]
    fn conv_skips_the_gradient_of_an_untracked_input() {
        let x = randn(&[2, 1, 5, 5], 4);
        let w = Var::from_tensor(&randn(&[3, 1, 3, 3], 5)).expect("w");
        let grads = conv2d(&x, w.as_tensor(), 3, 1)
            .and_then(|t| t.sum_all())
            .and_then(|t| t.backward())
            .expect("backward");
        assert!(grads.get(&x).is_none());
        assert!(grads.get(w.as_tensor()).is_some());
    }

    /// Batch norm with and without its ReLU, against candle-nn's batch norm (plus candle's
    /// ReLU) on a twin with the same parameters: outputs and the gradients of input, scale
    /// and shift, the running mean and variance after three training steps, and the output
    /// in inference with them.
    #[test]
    fn batch_norm_matches_candle_nn() {
        let twin = |gamma: &Var, beta: &Var| {
            let zeros = Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).expect("rm");
            let ones = Tensor::ones(3, candle_core::DType::F32, &Device::Cpu).expect("rv");
            let (g, b) = (gamma.as_tensor().clone(), beta.as_tensor().clone());
            BatchNorm::new(3, zeros, ones, g, b, 1e-5).expect("bn")
        };
        let relu_if = |t: Tensor, relu: bool| if relu { t.relu().expect("relu") } else { t };
        for relu in [false, true] {
            let gamma = Var::from_tensor(&randn(&[3], 7).affine(1.0, 1.0).expect("g")).expect("g");
            let beta = Var::from_tensor(&randn(&[3], 8)).expect("b");
            let (ours_bn, theirs_bn) = (twin(&gamma, &beta), twin(&gamma, &beta));
            for step in 0..3u64 {
                let x = randn(&[4, 3, 5, 5], 6 + step).affine(3.0, 0.5 + step as f64);
                let x = Var::from_tensor(&x.expect("x")).expect("x");
                let ours = batch_norm(&ours_bn, x.as_tensor(), true, relu).expect("ours");
                let want = candle_core::ModuleT::forward_t(&theirs_bn, x.as_tensor(), true);
                let want = relu_if(want.expect("candle"), relu);
                assert!(max_diff(&ours, &want) < 1e-4, "forward relu={relu}");
                let vars = [("x", &x), ("gamma", &gamma), ("beta", &beta)];
                same_gradients(&ours, &want, 9, &vars, &format!("relu={relu}"));
            }
            for (a, b) in [
                (ours_bn.running_mean(), theirs_bn.running_mean()),
                (ours_bn.running_var(), theirs_bn.running_var()),
            ] {
                assert!(max_diff(a, b) < 1e-5, "running statistics relu={relu}");
            }
            let x = randn(&[2, 3, 5, 5], 20);
            let ours = batch_norm(&ours_bn, &x, false, relu).expect("eval");
            let want = candle_core::ModuleT::forward_t(&theirs_bn, &x, false);
            let want = relu_if(want.expect("candle eval"), relu);
            assert!(max_diff(&ours, &want) < 1e-4, "eval relu={relu}");
        }
    }

    /// Forward as candle's `max_pool2d(2)`; backward sends each window's gradient to its
    /// largest input, whole. (candle 0.11's own backward multiplies it by the share of maxima
    /// in the window, a quarter for a single maximum, so it is checked here by hand.)
    #[test]
    fn max_pool_matches_candle_and_routes_the_whole_gradient() {
        for side in [6, 7] {
            let x = Var::from_tensor(&randn(&[2, 3, side, side], 10)).expect("x");
            let ours = max_pool2(x.as_tensor()).expect("ours");
            let want = x.as_tensor().max_pool2d(2).expect("candle");
            assert_eq!(ours.dims(), want.dims());
            assert!(max_diff(&ours, &want) < 1e-6);
            let r = randn(ours.dims(), 11);
            let grads = (&ours * &r)
                .and_then(|t| t.sum_all())
                .and_then(|t| t.backward())
                .expect("backward");
            let got = grads.get(x.as_tensor()).expect("grad");
            let xs = x
                .as_tensor()
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .expect("x");
            let rs = r.flatten_all().and_then(|t| t.to_vec1::<f32>()).expect("r");
            let mut expect = vec![0f32; xs.len()];
            let o = side / 2;
            for p in 0..6 {
                for oy in 0..o {
                    for ox in 0..o {
                        let at = |dy: usize, dx: usize| {
                            p * side * side + (2 * oy + dy) * side + 2 * ox + dx
                        };
                        let best = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)]
                            .into_iter()
                            .fold(at(0, 0), |b, i| if xs[i] > xs[b] { i } else { b });
                        expect[best] += rs[(p * o + oy) * o + ox];
                    }
                }
            }
            let expect = Tensor::from_vec(expect, x.dims(), &Device::Cpu).expect("expect");
            assert!(max_diff(got, &expect) < 1e-6, "side {side}");
        }
    }

    /// The scratch pool keeps at most eight buffers and `SCRATCH_MAX_VALUES` values.
    #[test]
    fn the_scratch_pool_stays_bounded() {
        std::thread::spawn(|| {
            for _ in 0..12 {
                give_buf(vec![0f32; SCRATCH_MAX_VALUES / 4]);
            }
            give_buf(vec![0f32; SCRATCH_MAX_VALUES + 1]);
            let (n, held) = SCRATCH.with(|p| {
                let p = p.borrow();
                (p.len(), p.iter().map(Vec::capacity).sum::<usize>())
            });
            assert!(
                n <= 8 && held <= SCRATCH_MAX_VALUES,
                "{n} buffers, {held} values"
            );
            // A taken buffer has the length asked for, whatever it held before.
            assert_eq!(take_buf(10).len(), 10);
        })
        .join()
        .expect("pool thread");
    }

    /// Shapes that do not fit are typed errors, not panics.
    #[test]
    fn mismatched_shapes_are_errors() {
        let x = randn(&[2, 3, 5, 5], 12);
        assert!(conv2d(&x, &randn(&[4, 2, 3, 3], 13), 3, 1).is_err());
        assert!(conv2d(&x, &randn(&[4, 3, 3, 3], 13), 2, 1).is_err());
        let g = randn(&[4], 14);
        assert!(batch_norm_train(&x, &g, &g, 1e-5, true).is_err());
        let zero = Tensor::zeros(4, candle_core::DType::F32, &Device::Cpu).expect("zeros");
        let bn = BatchNorm::new_no_bias(4, zero.clone(), zero, 1e-5).expect("bn");
        assert!(batch_norm(&bn, &x, true, true).is_err(), "no shift");
    }
}
