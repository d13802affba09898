//! Images: folders with one sub-folder per class, zips of such folders, Parquet files whose
//! image column holds encoded bytes (the Hugging Face `Image` feature), and thumbnails.
//!
//! Zips and Parquet images are unpacked into a folder (see [`LoadOptions::extract_dir`]) so
//! that every image source ends as the same [`ImageFolder`] of files on disk.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use arrow::array::{Array, AsArray, BinaryArray, LargeBinaryArray, StructArray};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{ImageFolder, LoadOptions, column_str, extract_dir_for};
use crate::error::{AutomlError, DataErrorKind, Result};

const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];
const COMPLETE_MARKER: &str = ".automl-complete";

/// Limits that stop a zip from filling the disk.
#[derive(Debug, Clone, Copy)]
pub struct ZipLimits {
    /// Most bytes all entries may expand to.
    pub max_total_bytes: u64,
    /// Largest allowed ratio of expanded to compressed size, over the whole archive.
    pub max_ratio: u64,
    /// Most entries.
    pub max_entries: usize,
}

impl Default for ZipLimits {
    fn default() -> Self {
        Self {
            max_total_bytes: 4 << 30,
            max_ratio: 100,
            max_entries: 1_000_000,
        }
    }
}

fn unreadable(path: &Path, e: std::io::Error) -> AutomlError {
    AutomlError::DataFileUnreadable {
        path: path.to_path_buf(),
        source: e,
    }
}

fn io(path: &Path, e: std::io::Error) -> AutomlError {
    AutomlError::io(path, e)
}

fn is_image_name(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn hidden(name: &str) -> bool {
    name.starts_with('.') || name == "__MACOSX"
}

/// Decodes one image file; a typed error names the file when it does not decode.
pub fn decode_image(path: &Path) -> Result<image::DynamicImage> {
    let undecodable =
        |m: String| AutomlError::data_input(path, DataErrorKind::UndecodableImage, None, None, m);
    let reader = image::ImageReader::open(path)
        .map_err(|e| unreadable(path, e))?
        .with_guessed_format()
        .map_err(|e| unreadable(path, e))?;
    if reader.format().is_none() {
        return Err(undecodable(
            "the bytes are not PNG or JPEG (unknown signature)".to_string(),
        ));
    }
    reader.decode().map_err(|e| undecodable(e.to_string()))
}

/// Scans a folder with one sub-folder per class. Files that are not PNG/JPEG by extension, and
/// (with [`LoadOptions::verify_images`]) images that do not decode, are skipped and listed.
pub fn load_image_folder(root: &Path, opts: &LoadOptions) -> Result<ImageFolder> {
    let mut classes: Vec<String> = Vec::new();
    let mut loose = 0usize;
    for entry in std::fs::read_dir(root).map_err(|e| unreadable(root, e))? {
        let entry = entry.map_err(|e| unreadable(root, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if hidden(&name) {
            continue;
        }
        let ft = entry.file_type().map_err(|e| unreadable(root, e))?;
        if ft.is_dir() {
            classes.push(name);
        } else if is_image_name(&entry.path()) {
            loose += 1;
        }
    }
    classes.sort();
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for (ci, c) in classes.iter().enumerate() {
        let dir = root.join(c);
        let mut entries: Vec<PathBuf> = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(|e| unreadable(&dir, e))? {
            let e = e.map_err(|e| unreadable(&dir, e))?;
            if hidden(&e.file_name().to_string_lossy()) {
                continue;
            }
            let p = e.path();
            if p.is_file() {
                entries.push(p);
            }
        }
        entries.sort();
        for p in entries {
            if !is_image_name(&p) {
                skipped.push((p, "not a PNG or JPEG file (by extension)".to_string()));
                continue;
            }
            if opts.verify_images
                && let Err(e) = decode_image(&p)
            {
                skipped.push((p, e.to_string()));
                continue;
            }
            files.push((p, ci));
        }
    }
    if files.is_empty() {
        let detail = if loose > 0 {
            format!(
                "{loose} images lie directly in the folder; put them in one sub-folder per class"
            )
        } else if let Some((p, why)) = skipped.first() {
            format!(
                "no usable image in the class sub-folders; e.g. {}: {why}",
                p.display()
            )
        } else {
            "no images in class sub-folders".to_string()
        };
        let kind = if skipped.iter().any(|(_, w)| w.contains("undecodable")) {
            DataErrorKind::UndecodableImage
        } else {
            DataErrorKind::EmptyFile
        };
        return Err(AutomlError::data_input(root, kind, None, None, detail));
    }
    Ok(ImageFolder {
        root: root.to_path_buf(),
        classes,
        files,
        skipped,
    })
}

/// Unpacks a zip of image class folders, checking every entry's path and the expanded size.
/// Returns the folder that holds the class folders (a single top folder is stepped into).
pub fn extract_zip(path: &Path, opts: &LoadOptions) -> Result<PathBuf> {
    let file = File::open(path).map_err(|e| unreadable(path, e))?;
    let compressed = file.metadata().map(|m| m.len()).unwrap_or(0).max(1);
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| {
        AutomlError::data_input(
            path,
            DataErrorKind::CorruptFile,
            None,
            None,
            format!("not a readable zip archive: {e}"),
        )
    })?;
    let limits = opts.zip;
    let entry_path = |name: &str| PathBuf::from(format!("{}!/{name}", path.display()));
    if archive.len() > limits.max_entries {
        return Err(AutomlError::data_input(
            path,
            DataErrorKind::DecompressionBomb,
            None,
            None,
            format!(
                "{} entries, over the limit of {}",
                archive.len(),
                limits.max_entries
            ),
        ));
    }
    // Pass 1: names and declared sizes, before anything is written.
    let mut declared = 0u64;
    for i in 0..archive.len() {
        let f = archive.by_index_raw(i).map_err(|e| {
            AutomlError::data_input(path, DataErrorKind::CorruptFile, None, None, e.to_string())
        })?;
        let name = f.name().to_string();
        let unsafe_name = name.starts_with('/')
            || name.starts_with('\\')
            || name.contains(':')
            || Path::new(&name).components().any(|c| {
                matches!(
                    c,
                    Component::ParentDir | Component::RootDir | Component::Prefix(_)
                )
            })
            || name.split(['/', '\\']).any(|p| p == "..");
        if unsafe_name || f.enclosed_name().is_none() {
            return Err(AutomlError::data_input(
                entry_path(&name),
                DataErrorKind::UnsafeArchivePath,
                None,
                None,
                "the entry's path leaves the extraction folder (absolute or with ../); nothing was extracted",
            ));
        }
        declared = declared.saturating_add(f.size());
    }
    let too_big = |total: u64| total > limits.max_total_bytes;
    let too_dense = |total: u64| total / compressed > limits.max_ratio;
    if too_big(declared) || too_dense(declared) {
        return Err(AutomlError::data_input(
            path,
            DataErrorKind::DecompressionBomb,
            None,
            None,
            format!(
                "the entries expand to {declared} bytes from {compressed} ({}×); limits: {} bytes, {}×",
                declared / compressed,
                limits.max_total_bytes,
                limits.max_ratio
            ),
        ));
    }
    let dest = extract_dir_for(path, opts);
    if !dest.join(COMPLETE_MARKER).exists() {
        if dest.exists() {
            std::fs::remove_dir_all(&dest).map_err(|e| io(&dest, e))?;
        }
        std::fs::create_dir_all(&dest).map_err(|e| io(&dest, e))?;
        // Pass 2: extract, counting real bytes (declared sizes can lie).
        let mut written = 0u64;
        for i in 0..archive.len() {
            let mut f = archive.by_index(i).map_err(|e| {
                AutomlError::data_input(path, DataErrorKind::CorruptFile, None, None, e.to_string())
            })?;
            let name = f.name().to_string();
            let Some(rel) = f.enclosed_name() else {
                continue;
            };
            let out = dest.join(&rel);
            if f.is_dir() {
                std::fs::create_dir_all(&out).map_err(|e| io(&out, e))?;
                continue;
            }
            if let Some(parent) = out.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            }
            let budget = limits.max_total_bytes.saturating_sub(written);
            let mut w = File::create(&out).map_err(|e| io(&out, e))?;
            let mut limited = (&mut f).take(budget.saturating_add(1));
            let n = std::io::copy(&mut limited, &mut w).map_err(|e| {
                AutomlError::data_input(
                    entry_path(&name),
                    DataErrorKind::CorruptFile,
                    None,
                    None,
                    format!("the entry does not inflate: {e}"),
                )
            })?;
            written += n;
            if n > budget || too_dense(written) {
                drop(w);
                let _ = std::fs::remove_dir_all(&dest);
                return Err(AutomlError::data_input(
                    entry_path(&name),
                    DataErrorKind::DecompressionBomb,
                    None,
                    None,
                    format!(
                        "the archive expands past its declared size (over {written} bytes from {compressed}); extraction stopped"
                    ),
                ));
            }
        }
        File::create(dest.join(COMPLETE_MARKER))
            .and_then(|mut f| f.write_all(b"ok"))
            .map_err(|e| io(&dest, e))?;
    }
    Ok(step_into_single_folder(&dest))
}

/// A folder whose only visible entry is a folder holding folders is stepped into.
fn step_into_single_folder(dir: &Path) -> PathBuf {
    let visible: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| !hidden(&e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    if let [only] = visible.as_slice()
        && only.is_dir()
    {
        let has_sub_dirs = std::fs::read_dir(only)
            .map(|rd| rd.filter_map(|e| e.ok()).any(|e| e.path().is_dir()))
            .unwrap_or(false);
        if has_sub_dirs {
            return only.clone();
        }
    }
    dir.to_path_buf()
}

/// Class names stored by Hugging Face `datasets` in the Parquet metadata
/// (`huggingface` key, `info.features.<column>.names`).
fn hf_class_names(meta: &arrow::datatypes::Metadata, column: &str) -> Vec<String> {
    let Some(raw) = meta.get("huggingface") else {
        return vec![];
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(raw) else {
        return vec![];
    };
    v.pointer(&format!("/info/features/{column}/names"))
        .and_then(|n| n.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn safe_dir_name(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | ' ' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let t = t.trim_matches('.').trim().to_string();
    if t.is_empty() { "_".to_string() } else { t }
}

/// Loads a Parquet file whose image column holds encoded bytes: the images are written, one
/// folder per label, and scanned as an [`ImageFolder`].
pub fn load_image_parquet(path: &Path, opts: &LoadOptions) -> Result<ImageFolder> {
    let corrupt = |e: String| {
        AutomlError::data_input(
            path,
            DataErrorKind::CorruptFile,
            None,
            None,
            format!("not a readable Parquet file: {e}"),
        )
    };
    // Whole into memory first, as `formats::load_parquet` does (a header that declares a huge
    // field costs millions of reads past the end of a file, none in memory).
    let bytes = std::fs::read(path).map_err(|e| unreadable(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| corrupt(e.to_string()))?;
    let schema = builder.schema().clone();
    let img_idx = super::formats::image_column(&schema)
        .ok_or_else(|| corrupt("no image column".to_string()))?;
    let img_name = schema.field(img_idx).name().clone();
    let label_idx = ["label", "labels", "class", "target", "category"]
        .iter()
        .find_map(|n| {
            schema
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(n))
        })
        .or_else(|| {
            schema.fields().iter().position(|f| {
                f.name() != &img_name
                    && (f.data_type().is_integer()
                        || matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8))
            })
        })
        .ok_or_else(|| {
            AutomlError::data_input(
                path,
                DataErrorKind::Malformed,
                None,
                Some(img_name.clone()),
                "an image column but no label column (an integer or text column, e.g. \"label\")",
            )
        })?;
    let label_name = schema.field(label_idx).name().clone();
    let names = hf_class_names(schema.metadata(), &label_name);
    let dest = extract_dir_for(path, opts);
    if !dest.join(COMPLETE_MARKER).exists() {
        if dest.exists() {
            std::fs::remove_dir_all(&dest).map_err(|e| io(&dest, e))?;
        }
        std::fs::create_dir_all(&dest).map_err(|e| io(&dest, e))?;
        let reader = builder
            .with_batch_size(1024)
            .build()
            .map_err(|e| corrupt(e.to_string()))?;
        let mut row = 0u64;
        for b in reader {
            let b = b.map_err(|e| corrupt(e.to_string()))?;
            let labels = column_str(b.column(label_idx));
            let col = b.column(img_idx);
            let bytes_col = match col.data_type() {
                DataType::Struct(_) => {
                    let s: &StructArray = col.as_struct();
                    s.column_by_name("bytes").cloned()
                }
                _ => Some(col.clone()),
            };
            let Some(bytes_col) = bytes_col else { continue };
            for (i, label) in labels.iter().enumerate() {
                row += 1;
                let bytes: Option<&[u8]> =
                    if let Some(a) = bytes_col.as_any().downcast_ref::<BinaryArray>() {
                        a.is_valid(i).then(|| a.value(i))
                    } else if let Some(a) = bytes_col.as_any().downcast_ref::<LargeBinaryArray>() {
                        a.is_valid(i).then(|| a.value(i))
                    } else {
                        None
                    };
                let (Some(bytes), Some(label)) = (bytes, label.as_ref()) else {
                    continue;
                };
                let class = label
                    .parse::<usize>()
                    .ok()
                    .and_then(|k| names.get(k).cloned())
                    .unwrap_or_else(|| label.clone());
                let ext = if bytes.starts_with(&[0xFF, 0xD8]) {
                    "jpg"
                } else {
                    "png"
                };
                let dir = dest.join(safe_dir_name(&class));
                std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
                let out = dir.join(format!("row{row:07}.{ext}"));
                std::fs::write(&out, bytes).map_err(|e| io(&out, e))?;
            }
        }
        File::create(dest.join(COMPLETE_MARKER))
            .and_then(|mut f| f.write_all(b"ok"))
            .map_err(|e| io(&dest, e))?;
    }
    load_image_folder(&dest, opts)
}

/// Writes up to `n` thumbnails (one per class first) as PNG files under `dir`; small images
/// are enlarged with nearest-neighbour, large ones shrunk, to at most 128 px.
pub fn write_thumbnails(folder: &ImageFolder, dir: &Path, n: usize) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut picks: Vec<&(PathBuf, usize)> = Vec::new();
    for c in 0..folder.classes.len() {
        if picks.len() >= n {
            break;
        }
        if let Some(f) = folder.files.iter().find(|(_, ci)| *ci == c) {
            picks.push(f);
        }
    }
    let mut out = Vec::new();
    for (i, (p, c)) in picks.into_iter().enumerate() {
        let img = decode_image(p)?;
        let (w, h) = (img.width().max(1), img.height().max(1));
        let side = w.max(h);
        let scale = if side < 64 { (64 / side).max(1) } else { 1 };
        let thumb = if scale > 1 {
            img.resize(w * scale, h * scale, image::imageops::FilterType::Nearest)
        } else {
            img.thumbnail(128, 128)
        };
        let name = format!(
            "sample_{}_{}.png",
            i + 1,
            safe_dir_name(&folder.classes[*c]).replace(' ', "_")
        );
        let target = dir.join(name);
        thumb
            .save_with_format(&target, image::ImageFormat::Png)
            .map_err(|e| AutomlError::Io {
                path: target.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
        out.push(target);
    }
    Ok(out)
}
