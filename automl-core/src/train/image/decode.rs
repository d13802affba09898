//! Decoding, resizing, normalising and augmenting images for the image trainer.
//!
//! Images are decoded once into memory at the training size (`side` × `side`, `channels` 1 or
//! 3, values in 0..1, channel-major); each batch is then normalised and augmented on the fly.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, ImageReader};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// How raw images become network input. Saved beside the weights as part of `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreprocessSpec {
    /// Images are resized (centre-cropped to square first) to `side` × `side`.
    pub side: usize,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// Per-channel mean subtracted after scaling pixels to 0..1.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation divided by after the mean.
    pub std: Vec<f32>,
}

impl PreprocessSpec {
    /// Values per image.
    pub fn len(&self) -> usize {
        self.channels * self.side * self.side
    }

    /// True when the spec describes zero-sized images (never for a valid spec).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Decodes an image file to `channels` × `side` × `side` values in 0..1.
pub fn decode_file(path: &Path, side: usize, channels: usize) -> Result<Vec<f32>, String> {
    let img = open(path)?;
    Ok(to_pixels(&img, side, channels))
}

/// Decodes image bytes (PNG or JPEG) to `channels` × `side` × `side` values in 0..1.
pub fn decode_bytes(bytes: &[u8], side: usize, channels: usize) -> Result<Vec<f32>, String> {
    let img = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    Ok(to_pixels(&img, side, channels))
}

fn open(path: &Path) -> Result<DynamicImage, String> {
    ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())
}

/// Size and colour of an image file, without keeping its pixels: (min side, is grayscale).
pub fn probe(path: &Path) -> Result<(u32, bool), String> {
    let img = open(path)?;
    let gray = matches!(
        img.color(),
        image::ColorType::L8
            | image::ColorType::La8
            | image::ColorType::L16
            | image::ColorType::La16
    );
    Ok((img.width().min(img.height()), gray))
}

fn to_pixels(img: &DynamicImage, side: usize, channels: usize) -> Vec<f32> {
    let s = side as u32;
    let img = if img.width() == s && img.height() == s {
        img.clone()
    } else {
        img.resize_to_fill(s, s, FilterType::Triangle)
    };
    let plane = side * side;
    let mut out = vec![0f32; channels * plane];
    if channels == 1 {
        let g = img.to_luma8();
        for (i, p) in g.pixels().enumerate() {
            out[i] = p.0[0] as f32 / 255.0;
        }
    } else {
        let rgb = img.to_rgb8();
        for (i, p) in rgb.pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = p.0[c] as f32 / 255.0;
            }
        }
    }
    out
}

/// Images decoded at the training size.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// `n` × `channels` × `side` × `side` values in 0..1.
    pub pixels: Vec<f32>,
    /// Class index per image.
    pub labels: Vec<u32>,
    /// The source file per image.
    pub files: Vec<PathBuf>,
}

/// Decodes `files` on `threads` threads. Files that fail to decode are returned with the
/// reason, in input order, and left out of the result.
pub fn decode_all(
    files: &[(PathBuf, usize)],
    side: usize,
    channels: usize,
    threads: usize,
) -> (Decoded, Vec<(PathBuf, String)>) {
    let threads = threads.max(1).min(files.len().max(1));
    let chunk = files.len().div_ceil(threads).max(1);
    type Part = Vec<(usize, Result<Vec<f32>, String>)>;
    let parts: Vec<Part> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .enumerate()
            .map(|(ci, part)| {
                s.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(i, (p, _))| (ci * chunk + i, decode_file(p, side, channels)))
                        .collect::<Part>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec![(usize::MAX, Err("decoder thread panicked".into()))])
            })
            .collect()
    });
    let mut decoded = Decoded {
        pixels: Vec::with_capacity(files.len() * channels * side * side),
        labels: Vec::with_capacity(files.len()),
        files: Vec::with_capacity(files.len()),
    };
    let mut failed = Vec::new();
    for (i, r) in parts.into_iter().flatten() {
        let Some((path, label)) = files.get(i) else {
            continue;
        };
        match r {
            Ok(px) => {
                decoded.pixels.extend_from_slice(&px);
                decoded.labels.push(*label as u32);
                decoded.files.push(path.clone());
            }
            Err(e) => failed.push((path.clone(), e)),
        }
    }
    (decoded, failed)
}

/// Per-channel mean and standard deviation of decoded images.
pub fn channel_stats(pixels: &[f32], channels: usize, side: usize) -> (Vec<f32>, Vec<f32>) {
    let plane = side * side;
    let per_image = channels * plane;
    let n = pixels.len() / per_image.max(1);
    let mut mean = vec![0f64; channels];
    let mut sq = vec![0f64; channels];
    for img in pixels.chunks_exact(per_image) {
        for c in 0..channels {
            for &v in &img[c * plane..(c + 1) * plane] {
                mean[c] += v as f64;
                sq[c] += (v as f64) * (v as f64);
            }
        }
    }
    let count = (n * plane).max(1) as f64;
    let mean_f: Vec<f32> = mean.iter().map(|m| (m / count) as f32).collect();
    let std_f: Vec<f32> = sq
        .iter()
        .zip(&mean)
        .map(|(s, m)| {
            let m = m / count;
            ((s / count - m * m).max(0.0).sqrt() as f32).max(1e-3)
        })
        .collect();
    (mean_f, std_f)
}

/// Which augmentations apply to a data set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Random horizontal flips.
    pub flip: bool,
    /// Random shifts of up to this many pixels (a padded random crop).
    pub shift: usize,
    /// Brightness/contrast jitter amplitude (0 = off), e.g. 0.1 for ±10 %.
    pub jitter: f32,
    /// Random rotations of up to this many degrees about the centre (0 = off).
    #[serde(default)]
    pub rotate: f32,
    /// Random zoom of up to this fraction in or out (0 = off), e.g. 0.1 for ±10 %.
    #[serde(default)]
    pub zoom: f32,
}

impl Augment {
    /// No augmentation.
    pub const NONE: Augment = Augment {
        flip: false,
        shift: 0,
        jitter: 0.0,
        rotate: 0.0,
        zoom: 0.0,
    };
}

/// Writes image `src` (values 0..1), normalised by `spec` and augmented, into `dst`.
pub fn prepare_into<R: Rng>(
    src: &[f32],
    dst: &mut [f32],
    spec: &PreprocessSpec,
    aug: &Augment,
    rng: &mut R,
) {
    let side = spec.side as isize;
    let plane = spec.side * spec.side;
    let flip = aug.flip && rng.r#gen::<bool>();
    let (dx, dy) = if aug.shift > 0 {
        let s = aug.shift as isize;
        (rng.gen_range(-s..=s), rng.gen_range(-s..=s))
    } else {
        (0, 0)
    };
    let (gain, offset) = if aug.jitter > 0.0 {
        let j = aug.jitter;
        (1.0 + rng.gen_range(-j..=j), rng.gen_range(-j..=j))
    } else {
        (1.0, 0.0)
    };
    if aug.rotate > 0.0 || aug.zoom > 0.0 {
        let angle = if aug.rotate > 0.0 {
            rng.gen_range(-aug.rotate..=aug.rotate).to_radians()
        } else {
            0.0
        };
        let zoom = if aug.zoom > 0.0 {
            1.0 + rng.gen_range(-aug.zoom..=aug.zoom)
        } else {
            1.0
        };
        let map = Affine::new(spec.side, angle, zoom, dx as f32, dy as f32, flip);
        for c in 0..spec.channels {
            let (m, s) = (spec.mean[c], spec.std[c]);
            let sp = &src[c * plane..(c + 1) * plane];
            let dp = &mut dst[c * plane..(c + 1) * plane];
            let cm = if gain != 1.0 {
                sp.iter().sum::<f32>() / plane as f32
            } else {
                0.0
            };
            for y in 0..spec.side {
                for x in 0..spec.side {
                    let v = match map.sample(sp, x, y) {
                        Some(v) => ((v - cm) * gain + cm + offset).clamp(0.0, 1.0),
                        None => m,
                    };
                    dp[y * spec.side + x] = (v - m) / s;
                }
            }
        }
        return;
    }
    for c in 0..spec.channels {
        let (m, s) = (spec.mean[c], spec.std[c]);
        let sp = &src[c * plane..(c + 1) * plane];
        let dp = &mut dst[c * plane..(c + 1) * plane];
        // Contrast around the image's channel mean, then brightness.
        let cm = if gain != 1.0 {
            sp.iter().sum::<f32>() / plane as f32
        } else {
            0.0
        };
        for y in 0..side {
            let sy = y + dy;
            for x in 0..side {
                let sx0 = x + dx;
                let sx = if flip { side - 1 - sx0 } else { sx0 };
                let v = if sy < 0 || sy >= side || sx < 0 || sx >= side {
                    // Padding is the mean: zero after normalisation.
                    m
                } else {
                    let v = sp[(sy * side + sx) as usize];
                    ((v - cm) * gain + cm + offset).clamp(0.0, 1.0)
                };
                dp[(y * side + x) as usize] = (v - m) / s;
            }
        }
    }
}

/// The inverse map of a random rotation, zoom, shift and flip about the image centre: where
/// each output pixel reads the source, bilinearly.
struct Affine {
    side: usize,
    centre: f32,
    /// Rows of the inverse rotation-and-zoom matrix.
    a: [f32; 4],
    shift: (f32, f32),
    flip: bool,
}

impl Affine {
    fn new(side: usize, angle: f32, zoom: f32, dx: f32, dy: f32, flip: bool) -> Self {
        let (sin, cos) = angle.sin_cos();
        let z = 1.0 / zoom;
        Self {
            side,
            centre: (side as f32 - 1.0) / 2.0,
            a: [cos * z, sin * z, -sin * z, cos * z],
            shift: (dx, dy),
            flip,
        }
    }

    /// The source value for output pixel (`x`, `y`), `None` outside the image (padding).
    fn sample(&self, src: &[f32], x: usize, y: usize) -> Option<f32> {
        let (c, n) = (self.centre, self.side as f32);
        let (u, v) = (x as f32 - c, y as f32 - c);
        let mut sx = self.a[0] * u + self.a[1] * v + c + self.shift.0;
        let sy = self.a[2] * u + self.a[3] * v + c + self.shift.1;
        if self.flip {
            sx = n - 1.0 - sx;
        }
        if sx <= -1.0 || sy <= -1.0 || sx >= n || sy >= n {
            return None;
        }
        let (x0, y0) = (sx.floor(), sy.floor());
        let (fx, fy) = (sx - x0, sy - y0);
        let at = |xi: f32, yi: f32| -> Option<f32> {
            (xi >= 0.0 && yi >= 0.0 && xi < n && yi < n)
                .then(|| src[yi as usize * self.side + xi as usize])
        };
        // Corners outside the image count as the centre of the pixels inside, weighted.
        let mut acc = 0.0;
        let mut wsum = 0.0;
        for (xi, yi, w) in [
            (x0, y0, (1.0 - fx) * (1.0 - fy)),
            (x0 + 1.0, y0, fx * (1.0 - fy)),
            (x0, y0 + 1.0, (1.0 - fx) * fy),
            (x0 + 1.0, y0 + 1.0, fx * fy),
        ] {
            if let Some(p) = at(xi, yi) {
                acc += w * p;
                wsum += w;
            }
        }
        (wsum > 0.5).then(|| acc / wsum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn no_augmentation_only_normalises() {
        let spec = PreprocessSpec {
            side: 2,
            channels: 1,
            mean: vec![0.5],
            std: vec![0.25],
        };
        let src = [0.0, 0.5, 1.0, 0.75];
        let mut dst = [0f32; 4];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        prepare_into(&src, &mut dst, &spec, &Augment::NONE, &mut rng);
        assert_eq!(dst, [-2.0, 0.0, 2.0, 1.0]);
    }

    #[test]
    fn flips_mirror_rows() {
        let spec = PreprocessSpec {
            side: 2,
            channels: 1,
            mean: vec![0.0],
            std: vec![1.0],
        };
        let src = [0.1, 0.2, 0.3, 0.4];
        let aug = Augment {
            flip: true,
            shift: 0,
            jitter: 0.0,
            rotate: 0.0,
            zoom: 0.0,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut seen_flip = false;
        for _ in 0..20 {
            let mut dst = [0f32; 4];
            prepare_into(&src, &mut dst, &spec, &aug, &mut rng);
            assert!(dst == src || dst == [0.2, 0.1, 0.4, 0.3], "{dst:?}");
            seen_flip |= dst != src;
        }
        assert!(seen_flip);
    }

    /// A rotation or zoom of zero with no shift reproduces the image exactly; a quarter
    /// turn moves the top-left corner to the top-right; a zoom in
    /// spreads the centre pixel outwards; what falls outside becomes the mean (0 after
    /// normalisation).
    #[test]
    fn rotations_and_zoom_resample_about_the_centre() {
        let spec = PreprocessSpec {
            side: 3,
            channels: 1,
            mean: vec![0.0],
            std: vec![1.0],
        };
        let src = [1.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0];
        let id = Affine::new(3, 0.0, 1.0, 0.0, 0.0, false);
        let out: Vec<f32> = (0..9)
            .map(|i| id.sample(&src, i % 3, i / 3).expect("inside"))
            .collect();
        assert_eq!(out, src);
        let quarter = Affine::new(3, std::f32::consts::FRAC_PI_2, 1.0, 0.0, 0.0, false);
        let v = |a: &Affine, x, y| a.sample(&src, x, y).expect("inside");
        // The source's top-left (0,0) shows at output (2,0) after a quarter turn.
        assert!((v(&quarter, 2, 0) - 1.0).abs() < 1e-5);
        assert!(v(&quarter, 0, 0).abs() < 1e-5);
        let zoom_in = Affine::new(3, 0.0, 2.0, 0.0, 0.0, false);
        assert!((v(&zoom_in, 1, 1) - 0.5).abs() < 1e-5);
        assert!(
            v(&zoom_in, 0, 0) > 0.3,
            "the corner reads half-way to the centre"
        );
        // Shifted far out: padding.
        let out_of_frame = Affine::new(3, 0.0, 1.0, 5.0, 0.0, false);
        assert_eq!(out_of_frame.sample(&src, 0, 0), None);
        // Through prepare_into, the same maps apply with normalisation; with rotation on,
        // the output is still finite and of the right length.
        let aug = Augment {
            flip: false,
            shift: 1,
            jitter: 0.0,
            rotate: 15.0,
            zoom: 0.1,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut dst = [f32::NAN; 9];
        prepare_into(&src, &mut dst, &spec, &aug, &mut rng);
        assert!(dst.iter().all(|v| v.is_finite()), "{dst:?}");
    }

    #[test]
    fn channel_stats_of_constant_planes() {
        // Two 1×1 RGB images.
        let px = [0.2, 0.4, 0.6, 0.2, 0.8, 0.6];
        let (m, s) = channel_stats(&px, 3, 1);
        assert!((m[0] - 0.2).abs() < 1e-6 && (m[1] - 0.6).abs() < 1e-6);
        assert!((s[1] - 0.2).abs() < 1e-5, "{s:?}");
        assert_eq!(s[0], 1e-3);
    }
}
