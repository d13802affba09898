//! Bad input gives a typed error with the file, and the row and column where they apply.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use automl_core::AutomlError;
use automl_core::data::profile::{TargetHints, profile_dataset};
use automl_core::data::{self, LoadOptions};
use automl_core::error::DataErrorKind;

fn write(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p)
        .and_then(|mut f| f.write_all(body))
        .expect("write");
    p
}

/// Asserts a DataInput error of `kind` at the given place, naming the file.
fn assert_input(
    r: automl_core::Result<impl std::fmt::Debug>,
    file: &Path,
    kind: DataErrorKind,
    row: Option<u64>,
    column: Option<&str>,
) -> String {
    match r {
        Err(
            e @ AutomlError::DataInput {
                path: _,
                kind: _,
                row: _,
                column: _,
                message: _,
            },
        ) => {
            let AutomlError::DataInput {
                path,
                kind: k,
                row: r,
                column: c,
                ..
            } = &e
            else {
                unreachable!()
            };
            assert!(
                path.starts_with(file)
                    || path.to_string_lossy().starts_with(&*file.to_string_lossy()),
                "{e}"
            );
            assert_eq!(*k, kind, "{e}");
            assert_eq!(*r, row, "{e}");
            assert_eq!(c.as_deref(), column, "{e}");
            assert!(e.is_user_error());
            let text = e.to_string();
            assert!(text.contains(&*file.file_name().unwrap_or_default().to_string_lossy()));
            text
        }
        other => panic!("expected {kind:?}, got {other:?}"),
    }
}

fn intent() -> automl_core::Intent {
    automl_core::agents::parser::parse("")
}

#[test]
fn empty_file() {
    let d = tempfile::tempdir().expect("tmp");
    for (name, body) in [("e.csv", &b""[..]), ("w.csv", b"  \n\n ")] {
        let p = write(d.path(), name, body);
        assert_input(data::load(&p), &p, DataErrorKind::EmptyFile, None, None);
    }
}

#[test]
fn header_only() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(d.path(), "h.csv", b"a,b,c\n");
    assert_input(data::load(&p), &p, DataErrorKind::HeaderOnly, None, None);
}

#[test]
fn ragged_rows_name_row_and_column() {
    let d = tempfile::tempdir().expect("tmp");
    // An extra field on data row 2 (line 3).
    let p = write(d.path(), "long.csv", b"a,b\n1,2\n3,4,5\n6,7\n");
    assert_input(
        data::load(&p),
        &p,
        DataErrorKind::RaggedRow,
        Some(2),
        Some("#3"),
    );
    // A missing field on data row 2: column c is the first one absent.
    let p = write(d.path(), "short.csv", b"a,b,c\n1,2,3\n4,5\n");
    assert_input(
        data::load(&p),
        &p,
        DataErrorKind::RaggedRow,
        Some(2),
        Some("c"),
    );
    // Past the inference sample, the streaming reader reports it the same way.
    let mut body = b"a,b\n".to_vec();
    for i in 0..50 {
        body.extend(format!("{i},{i}\n").as_bytes());
    }
    body.extend(b"1,2,3\n");
    let p = write(d.path(), "late.csv", &body);
    let opts = LoadOptions {
        infer_rows: Some(10),
        ..Default::default()
    };
    assert_input(
        data::load_with(&p, &opts),
        &p,
        DataErrorKind::RaggedRow,
        Some(51),
        Some("#3"),
    );
}

#[test]
fn non_utf8_bytes_name_row_and_column() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(d.path(), "latin.csv", b"name,city\nx,Z\xfcrich\ny,Bern\n");
    let msg = assert_input(
        data::load(&p),
        &p,
        DataErrorKind::Encoding,
        Some(1),
        Some("city"),
    );
    assert!(msg.contains("latin-1"));
    // Past the sample too.
    let mut body = b"name,city\n".to_vec();
    for i in 0..50 {
        body.extend(format!("n{i},c{i}\n").as_bytes());
    }
    body.extend(b"x,Z\xfcrich\n");
    let p = write(d.path(), "late.csv", &body);
    let opts = LoadOptions {
        infer_rows: Some(10),
        ..Default::default()
    };
    assert_input(
        data::load_with(&p, &opts),
        &p,
        DataErrorKind::Encoding,
        Some(51),
        Some("city"),
    );
    // Read as Latin-1 when asked.
    let p = write(d.path(), "ok.csv", b"name,city\nx,Z\xfcrich\ny,Bern\n");
    let opts = LoadOptions {
        encoding: data::TextEncoding::Latin1,
        ..Default::default()
    };
    let data::Dataset::Table(t) = data::load_with(&p, &opts).expect("latin-1") else {
        panic!("table")
    };
    assert_eq!(
        data::column_str(t.batch.column(1))[0].as_deref(),
        Some("Zürich")
    );
}

#[test]
fn binary_junk() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(d.path(), "b.csv", b"\x00\x01\x02\x03binary\x00junk");
    assert_input(data::load(&p), &p, DataErrorKind::Binary, None, None);
    let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let p = write(d.path(), "j.csv", &junk);
    assert_input(data::load(&p), &p, DataErrorKind::Binary, None, None);
}

#[test]
fn duplicate_column_names() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(d.path(), "d.csv", b"a,b,a\n1,2,3\n");
    assert_input(
        data::load(&p),
        &p,
        DataErrorKind::DuplicateColumn,
        Some(0),
        Some("a"),
    );
}

#[test]
fn huge_field() {
    let d = tempfile::tempdir().expect("tmp");
    let mut body = b"a,b\n1,x\n2,".to_vec();
    body.extend(std::iter::repeat_n(b'y', 10 << 20));
    body.extend(b"\n3,z\n");
    let p = write(d.path(), "big.csv", &body);
    assert_input(
        data::load(&p),
        &p,
        DataErrorKind::FieldTooLarge,
        Some(2),
        Some("b"),
    );
}

#[test]
fn target_all_missing_or_one_class() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(d.path(), "m.csv", b"x,y\n1,\n2,NA\n3,?\n");
    let ds = data::load(&p).expect("load");
    let hints = TargetHints {
        explicit: Some("y".into()),
        ..Default::default()
    };
    match profile_dataset(&ds, &hints, &intent()) {
        Err(AutomlError::BadTarget { target, reason }) => {
            assert_eq!(target, "y");
            assert!(reason.contains("missing"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let p = write(d.path(), "one.csv", b"x,y\n1,a\n2,a\n3,a\n");
    let ds = data::load(&p).expect("load");
    match profile_dataset(&ds, &hints, &intent()) {
        Err(AutomlError::BadTarget { target, reason }) => {
            assert_eq!(target, "y");
            assert!(reason.contains("single value"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn one_row() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(d.path(), "r.csv", b"x,y\n1,a\n");
    let ds = data::load(&p).expect("load");
    assert_input(
        profile_dataset(&ds, &TargetHints::default(), &intent()),
        &p,
        DataErrorKind::TooFewRows,
        Some(1),
        None,
    );
}

#[test]
fn corrupt_parquet_footer() {
    use arrow::array::Int64Array;
    use arrow::record_batch::RecordBatch;
    let d = tempfile::tempdir().expect("tmp");
    let p = d.path().join("t.parquet");
    let batch = RecordBatch::try_from_iter([(
        "x",
        Arc::new(Int64Array::from(vec![1, 2, 3])) as arrow::array::ArrayRef,
    )])
    .expect("batch");
    let f = std::fs::File::create(&p).expect("create");
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
    let mut bytes = std::fs::read(&p).expect("read");
    let n = bytes.len();
    // Damage the footer length and metadata.
    for b in &mut bytes[n - 8..n - 4] {
        *b = 0xEE;
    }
    std::fs::write(&p, &bytes).expect("write");
    assert_input(data::load(&p), &p, DataErrorKind::CorruptFile, None, None);
    // Truncated: no footer magic at all.
    std::fs::write(&p, &bytes[..n / 2]).expect("write");
    assert_input(data::load(&p), &p, DataErrorKind::CorruptFile, None, None);
}

fn png_bytes(v: u8) -> Vec<u8> {
    let img = image::GrayImage::from_pixel(4, 4, image::Luma([v]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

#[test]
fn undecodable_image() {
    let d = tempfile::tempdir().expect("tmp");
    for c in ["a", "b"] {
        std::fs::create_dir_all(d.path().join(c)).expect("dir");
        write(&d.path().join(c), "ok.png", &png_bytes(10));
    }
    let bad = write(
        &d.path().join("a"),
        "bad.png",
        b"\x89PNG\r\n\x1a\nnot really",
    );
    assert_input(
        data::decode_image(&bad),
        &bad,
        DataErrorKind::UndecodableImage,
        None,
        None,
    );
    // In a folder, it is skipped, listed, and reported.
    let data::Dataset::Images(f) = data::load(d.path()).expect("folder") else {
        panic!("images")
    };
    assert_eq!(f.files.len(), 2);
    assert_eq!(f.skipped.len(), 1);
    assert!(
        f.skipped[0].1.contains("undecodable image"),
        "{}",
        f.skipped[0].1
    );
    assert!(
        data::load_notes(&data::Dataset::Images(f))[0].contains("bad.png"),
        "a WARNING names the file"
    );
    // A folder with nothing decodable is an error.
    let d2 = tempfile::tempdir().expect("tmp");
    for c in ["a", "b"] {
        std::fs::create_dir_all(d2.path().join(c)).expect("dir");
        write(&d2.path().join(c), "x.jpg", b"\xff\xd8\xff garbage");
    }
    assert_input(
        data::load(d2.path()),
        d2.path(),
        DataErrorKind::UndecodableImage,
        None,
        None,
    );
}

fn zip_with(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, body) in entries {
            z.start_file(*name, opts).expect("start");
            z.write_all(body).expect("write");
        }
        z.finish().expect("finish");
    }
    buf.into_inner()
}

#[test]
fn zip_traversal_is_refused_before_writing() {
    let d = tempfile::tempdir().expect("tmp");
    let extract = d.path().join("x");
    let body = zip_with(&[
        ("set/a/1.png", png_bytes(1)),
        ("set/../../evil.png", png_bytes(2)),
    ]);
    let p = write(d.path(), "t.zip", &body);
    let opts = LoadOptions {
        extract_dir: Some(extract.clone()),
        ..Default::default()
    };
    let msg = assert_input(
        data::load_with(&p, &opts),
        &p,
        DataErrorKind::UnsafeArchivePath,
        None,
        None,
    );
    assert!(msg.contains("evil.png"), "{msg}");
    assert!(!d.path().join("evil.png").exists());
    assert!(!extract.exists(), "nothing was extracted");
}

#[test]
fn zip_bomb_is_refused() {
    let d = tempfile::tempdir().expect("tmp");
    let body = zip_with(&[
        ("a/1.png", png_bytes(1)),
        ("b/zeros.png", vec![0u8; 20 << 20]),
    ]);
    let p = write(d.path(), "bomb.zip", &body);
    let opts = LoadOptions {
        extract_dir: Some(d.path().join("x")),
        ..Default::default()
    };
    let msg = assert_input(
        data::load_with(&p, &opts),
        &p,
        DataErrorKind::DecompressionBomb,
        None,
        None,
    );
    assert!(msg.contains("×"), "{msg}");
    // A total-size limit applies too.
    let small = zip_with(&[("a/1.png", png_bytes(1)), ("b/2.png", png_bytes(2))]);
    let p = write(d.path(), "ok.zip", &small);
    let opts = LoadOptions {
        extract_dir: Some(d.path().join("y")),
        zip: data::ZipLimits {
            max_total_bytes: 10,
            ..Default::default()
        },
        ..Default::default()
    };
    assert_input(
        data::load_with(&p, &opts),
        &p,
        DataErrorKind::DecompressionBomb,
        None,
        None,
    );
}

#[test]
fn unsupported_extension() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(d.path(), "x.xlsx", b"whatever");
    assert!(matches!(
        data::load(&p),
        Err(AutomlError::UnsupportedFormat { .. })
    ));
    assert!(matches!(
        data::load(&d.path().join("missing.csv")),
        Err(AutomlError::DataFileUnreadable { .. })
    ));
}

/// A Parquet file on which parquet-rs 60.1 panics ("Decoder for dict should have been set")
/// instead of returning an error, found by the `parquet_load` fuzz target: the load is a typed
/// CorruptFile error naming the file, and the process goes on.
#[test]
fn a_parquet_file_that_panics_the_decoder_is_a_corrupt_file_error() {
    let crash = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz/parquet-dict-decoder-panic.parquet");
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "bad.parquet", &std::fs::read(&crash).unwrap());
    let msg = assert_input(data::load(&p), &p, DataErrorKind::CorruptFile, None, None);
    assert!(msg.contains("Parquet"), "{msg}");
    // Loading it twice works the same: nothing was left poisoned by the first panic.
    assert_input(data::load(&p), &p, DataErrorKind::CorruptFile, None, None);
}

/// A 5 KB Parquet file whose page header declares a huge field (from the `parquet_load` fuzz
/// target): read from the file, parquet-rs skipped it one 8 KB read at a time past the end for
/// 55 s; read from memory it is a CorruptFile error in about 3 s on a 2-core machine (the bound
/// is loose for loaded CI machines).
#[test]
fn a_parquet_header_that_declares_a_huge_field_is_refused_in_seconds() {
    let slow = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz/parquet-huge-thrift-field-slow.parquet");
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "slow.parquet", &std::fs::read(&slow).unwrap());
    let t = std::time::Instant::now();
    assert_input(data::load(&p), &p, DataErrorKind::CorruptFile, None, None);
    let took = t.elapsed().as_secs_f64();
    assert!(took < 25.0, "took {took:.1} s");
}
