//! Uploads: a CSV/TSV table or a zip of images (one folder per class), streamed to
//! `data_dir/uploads/<project>/` under a size limit, with a sanitised name, validated by the
//! same loader a run uses. Nothing is ever written outside that folder: zip entries whose
//! names leave it (`../x`, absolute paths, links) are refused, and so are zips that expand
//! beyond the limits (a zip bomb). Refusals are typed [`UploadError`]s.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::{AppError, UploadError};
use super::state::ServerConfig;

/// What an accepted upload holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UploadSummary {
    /// The stored name (a file for tables, a folder for images); pass it as `data` to `/train`.
    pub name: String,
    /// `table` or `images`.
    pub kind: String,
    /// Bytes received.
    pub bytes: u64,
    /// Data rows (tables).
    pub rows: Option<usize>,
    /// Column names (tables).
    pub columns: Option<Vec<String>>,
    /// Image files (images).
    pub images: Option<usize>,
    /// Class names (images).
    pub classes: Option<Vec<String>>,
    /// Zip entries skipped (not images, or metadata folders such as `__MACOSX`).
    pub skipped: Vec<String>,
}

/// The kinds of upload accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    /// `.csv`
    Csv,
    /// `.tsv`
    Tsv,
    /// `.zip` of images.
    Zip,
}

/// Turns a client's file name into one safe path component: the last component only, letters,
/// digits, `.`, `-`, `_` kept and anything else replaced by `_`, no leading dot, at most 100
/// characters; then checks the extension.
pub fn sanitise_name(raw: &str) -> Result<(String, UploadKind), UploadError> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let mut name: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    while name.starts_with('.') {
        name.remove(0);
    }
    if name.chars().count() > 100 {
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_string());
        name = name.chars().take(90).collect();
        if let Some(e) = ext {
            name = format!("{name}.{}", e.chars().take(8).collect::<String>());
        }
    }
    let stem_ok = name
        .rsplit_once('.')
        .map(|(s, _)| s.chars().any(|c| c.is_ascii_alphanumeric()))
        .unwrap_or(false);
    if name.is_empty() || !stem_ok {
        return Err(UploadError::BadName {
            name: raw.chars().take(120).collect(),
            reason: "it needs letters or digits before an extension such as .csv or .zip",
        });
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let kind = match ext.as_str() {
        "csv" => UploadKind::Csv,
        "tsv" => UploadKind::Tsv,
        "zip" => UploadKind::Zip,
        _ => return Err(UploadError::UnsupportedType { name }),
    };
    Ok((name, kind))
}

/// Validates and puts in place a file already received at `incoming` (inside `dir`).
/// Tables are loaded once to check them; zips are extracted into `dir/<stem>/`.
pub fn finish(
    cfg: &ServerConfig,
    dir: &Path,
    incoming: &Path,
    name: &str,
    kind: UploadKind,
    bytes: u64,
) -> Result<(UploadSummary, PathBuf), AppError> {
    match kind {
        UploadKind::Csv | UploadKind::Tsv => {
            let delim = if kind == UploadKind::Tsv {
                Some(b'\t')
            } else {
                None
            };
            let opts = automl_core::data::LoadOptions {
                delimiter: delim,
                ..Default::default()
            };
            let table = automl_core::data::load_csv(incoming, &opts)
                .map_err(|e| UploadError::BadData(strip_path(&e.to_string(), incoming, name)))?;
            let dest = dir.join(name);
            std::fs::rename(incoming, &dest).map_err(AppError::internal)?;
            let schema = table.batch.schema();
            Ok((
                UploadSummary {
                    name: name.to_string(),
                    kind: "table".to_string(),
                    bytes,
                    rows: Some(table.batch.num_rows()),
                    columns: Some(schema.fields().iter().map(|f| f.name().clone()).collect()),
                    images: None,
                    classes: None,
                    skipped: vec![],
                },
                dest,
            ))
        }
        UploadKind::Zip => {
            let stem = name
                .rsplit_once('.')
                .map(|(s, _)| s.to_string())
                .unwrap_or_else(|| name.to_string());
            let staging = dir.join(format!(".extract-{stem}"));
            let _ = std::fs::remove_dir_all(&staging);
            let result = extract_zip(cfg, incoming, &staging);
            let _ = std::fs::remove_file(incoming);
            let skipped = match result {
                Ok(s) => s,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&staging);
                    return Err(e);
                }
            };
            // A zip holding one top folder with the class folders inside: use that folder.
            let root = single_top_dir(&staging).unwrap_or_else(|| staging.clone());
            let folder = match automl_core::data::load_image_folder(
                &root,
                &automl_core::data::LoadOptions::default(),
            ) {
                Ok(f) => f,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&staging);
                    return Err(UploadError::BadData(format!(
                        "{}: {}",
                        name,
                        strip_path(&e.to_string(), &root, "the zip")
                    ))
                    .into());
                }
            };
            let dest = dir.join(&stem);
            let _ = std::fs::remove_dir_all(&dest);
            std::fs::rename(&root, &dest).map_err(AppError::internal)?;
            let _ = std::fs::remove_dir_all(&staging);
            Ok((
                UploadSummary {
                    name: stem,
                    kind: "images".to_string(),
                    bytes,
                    rows: None,
                    columns: None,
                    images: Some(folder.files.len()),
                    classes: Some(folder.classes.clone()),
                    skipped,
                },
                dest,
            ))
        }
    }
}

fn strip_path(msg: &str, path: &Path, shown: &str) -> String {
    msg.replace(&path.display().to_string(), shown)
}

fn single_top_dir(dir: &Path) -> Option<PathBuf> {
    let entries: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().collect();
    if entries.len() != 1 {
        return None;
    }
    let p = entries[0].path();
    let has_subdirs = std::fs::read_dir(&p)
        .ok()?
        .flatten()
        .any(|e| e.path().is_dir());
    (p.is_dir() && has_subdirs).then_some(p)
}

const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "gif", "webp"];

/// Extracts the images of `zip_path` into `dest`, refusing traversal, links and bombs.
/// Returns the entries it skipped.
pub fn extract_zip(
    cfg: &ServerConfig,
    zip_path: &Path,
    dest: &Path,
) -> Result<Vec<String>, AppError> {
    let file = std::fs::File::open(zip_path).map_err(AppError::internal)?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| UploadError::BadZip(e.to_string()))?;
    if archive.len() > cfg.max_zip_entries {
        return Err(UploadError::ZipBomb {
            reason: format!(
                "{} entries, the limit is {}",
                archive.len(),
                cfg.max_zip_entries
            ),
        }
        .into());
    }
    // First pass: names and declared sizes, before anything is written.
    let mut declared: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| UploadError::BadZip(e.to_string()))?;
        let raw = entry
            .name()
            .map(|n| n.into_owned())
            .map_err(|e| UploadError::BadZip(e.to_string()))?;
        let absolute = raw.starts_with('/') || raw.as_bytes().get(1) == Some(&b':');
        let dotdot = raw.split('/').any(|c| c == "..");
        if absolute
            || dotdot
            || entry.enclosed_name().is_none()
            || raw.contains('\\')
            || raw.contains('\0')
        {
            return Err(UploadError::PathTraversal { entry: raw }.into());
        }
        if entry.is_symlink() {
            return Err(UploadError::PathTraversal { entry: raw }.into());
        }
        declared = declared.saturating_add(entry.size());
        if entry.size() > 1 << 20
            && entry.size() / entry.compressed_size().max(1) > cfg.max_zip_ratio
        {
            return Err(UploadError::ZipBomb {
                reason: format!(
                    "{raw:?} expands {}x, the limit is {}x",
                    entry.size() / entry.compressed_size().max(1),
                    cfg.max_zip_ratio
                ),
            }
            .into());
        }
    }
    if declared > cfg.max_unzipped_bytes {
        return Err(UploadError::ZipBomb {
            reason: format!(
                "{declared} bytes unpacked, the limit is {}",
                cfg.max_unzipped_bytes
            ),
        }
        .into());
    }
    std::fs::create_dir_all(dest).map_err(AppError::internal)?;
    let mut written: u64 = 0;
    let mut skipped = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| UploadError::BadZip(e.to_string()))?;
        let raw = entry
            .name()
            .map(|n| n.into_owned())
            .map_err(|e| UploadError::BadZip(e.to_string()))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(UploadError::PathTraversal { entry: raw }.into());
        };
        if entry.is_dir() {
            continue;
        }
        let hidden = rel.components().any(|c| {
            let s = c.as_os_str().to_string_lossy();
            s.starts_with('.') || s == "__MACOSX"
        });
        let ext = rel
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .unwrap_or_default();
        if hidden || !IMAGE_EXTENSIONS.contains(&ext.as_str()) {
            skipped.push(raw);
            continue;
        }
        let out_path = dest.join(&rel);
        if !out_path.starts_with(dest) {
            return Err(UploadError::PathTraversal { entry: raw }.into());
        }
        if let Some(parent) = out_path.parent() {
            std::fs::create_dir_all(parent).map_err(AppError::internal)?;
        }
        let mut out = std::fs::File::create(&out_path).map_err(AppError::internal)?;
        // Declared sizes can lie: count what really comes out.
        let budget = cfg.max_unzipped_bytes.saturating_sub(written);
        let mut limited = (&mut entry).take(budget + 1);
        let n = std::io::copy(&mut limited, &mut out)
            .map_err(|e| UploadError::BadZip(format!("{raw}: {e}")))?;
        written += n;
        if written > cfg.max_unzipped_bytes {
            return Err(UploadError::ZipBomb {
                reason: format!(
                    "more than {} bytes unpacked (the sizes in the zip were wrong)",
                    cfg.max_unzipped_bytes
                ),
            }
            .into());
        }
    }
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised_to_one_component() {
        assert_eq!(
            sanitise_name("data.csv").ok().map(|r| r.0),
            Some("data.csv".into())
        );
        assert_eq!(
            sanitise_name("../../etc/passwd.csv").ok().map(|r| r.0),
            Some("passwd.csv".into())
        );
        assert_eq!(
            sanitise_name("C:\\x\\my file (1).tsv").ok().map(|r| r.0),
            Some("my_file__1_.tsv".into())
        );
        assert_eq!(
            sanitise_name("...hidden.csv").ok().map(|r| r.0),
            Some("hidden.csv".into())
        );
        assert!(matches!(
            sanitise_name("../.."),
            Err(UploadError::BadName { .. })
        ));
        assert!(matches!(
            sanitise_name(".csv"),
            Err(UploadError::BadName { .. })
        ));
        assert!(matches!(
            sanitise_name("x.exe"),
            Err(UploadError::UnsupportedType { .. })
        ));
        let long = format!("{}.csv", "a".repeat(300));
        let (n, k) = sanitise_name(&long).expect("long names are cut");
        assert!(n.len() <= 100 && n.ends_with(".csv") && k == UploadKind::Csv);
    }
}
