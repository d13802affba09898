//! Every loader gives the same table; sniffing (delimiter, header, quoting, encoding) and
//! missing tokens; large files keep their row count; image sources end as one folder.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, Float64Array, Int64Array, StringArray, StructArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use automl_core::data::profile::{TargetHints, profile_dataset};
use automl_core::data::{self, Dataset, LoadOptions, column_f64, column_str};
use automl_core::event::ColumnKind;

fn write(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p)
        .and_then(|mut f| f.write_all(body))
        .expect("write");
    p
}

fn table(p: &Path) -> data::TableData {
    match data::load(p).unwrap_or_else(|e| panic!("{e}")) {
        Dataset::Table(t) => t,
        Dataset::Images(_) => panic!("images"),
    }
}

fn sample_batch() -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "x",
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])) as ArrayRef,
        ),
        (
            "y",
            Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5])) as ArrayRef,
        ),
        (
            "c",
            Arc::new(StringArray::from(vec![Some("a"), Some("b"), None])) as ArrayRef,
        ),
    ])
    .expect("batch")
}

fn assert_same(t: &data::TableData) {
    assert_eq!(t.batch.num_rows(), 3);
    assert_eq!(
        column_f64(t.batch.column_by_name("x").expect("x")),
        vec![Some(1.0), None, Some(3.0)]
    );
    assert_eq!(
        column_f64(t.batch.column_by_name("y").expect("y")),
        vec![Some(0.5), Some(1.5), Some(2.5)]
    );
    assert_eq!(
        column_str(t.batch.column_by_name("c").expect("c")),
        vec![Some("a".into()), Some("b".into()), None]
    );
}

#[test]
fn csv_json_ndjson_parquet_ipc_agree() {
    let d = tempfile::tempdir().expect("tmp");
    assert_same(&table(&write(
        d.path(),
        "t.csv",
        b"x,y,c\n1,0.5,a\nNA,1.5,b\n3,2.5,\n",
    )));
    assert_same(&table(&write(
        d.path(),
        "t.json",
        br#"[{"x":1,"y":0.5,"c":"a"},{"x":null,"y":1.5,"c":"b"},{"x":3,"y":2.5}]"#,
    )));
    assert_same(&table(&write(
        d.path(),
        "t.ndjson",
        b"{\"x\":1,\"y\":0.5,\"c\":\"a\"}\n{\"y\":1.5,\"c\":\"b\"}\n{\"x\":3,\"y\":2.5,\"c\":null}\n",
    )));
    let batch = sample_batch();
    let pq = d.path().join("t.parquet");
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&pq).expect("f"),
        batch.schema(),
        None,
    )
    .expect("w");
    w.write(&batch).expect("write");
    w.close().expect("close");
    assert_same(&table(&pq));
    let ipc = d.path().join("t.arrow");
    let mut w = arrow::ipc::writer::FileWriter::try_new(
        std::fs::File::create(&ipc).expect("f"),
        &batch.schema(),
    )
    .expect("w");
    w.write(&batch).expect("write");
    w.finish().expect("finish");
    assert_same(&table(&ipc));
    let stream = d.path().join("t.arrows");
    let mut w = arrow::ipc::writer::StreamWriter::try_new(
        std::fs::File::create(&stream).expect("f"),
        &batch.schema(),
    )
    .expect("w");
    w.write(&batch).expect("write");
    w.finish().expect("finish");
    assert_same(&table(&stream));
}

#[test]
fn sniffs_delimiter_quotes_header_and_bom() {
    let d = tempfile::tempdir().expect("tmp");
    // Semicolons, with commas inside quoted fields.
    let t = table(&write(
        d.path(),
        "s.csv",
        b"name;note;n\n\"Smith, J\";\"a;b\";1\n\"Lee\";\"x, y, z\";2\n",
    ));
    assert_eq!(t.batch.num_columns(), 3);
    assert_eq!(
        column_str(t.batch.column(0))[0].as_deref(),
        Some("Smith, J")
    );
    assert_eq!(column_str(t.batch.column(1))[0].as_deref(), Some("a;b"));
    // Tabs and pipes.
    assert_eq!(
        table(&write(d.path(), "t.tsv", b"a\tb\n1\t2\n"))
            .batch
            .num_columns(),
        2
    );
    assert_eq!(
        table(&write(d.path(), "p.txt", b"a|b|c\n1|2|3\n4|5|6\n"))
            .batch
            .num_columns(),
        3
    );
    // No header: the first row is numbers.
    let t = table(&write(d.path(), "n.csv", b"1,2.5,3\n4,5.5,6\n"));
    assert_eq!(t.batch.num_rows(), 2);
    assert_eq!(t.batch.schema().field(0).name(), "column_1");
    assert!(t.notes.iter().any(|n| n.contains("read as data")));
    // UTF-8 byte-order mark: not part of the first column's name.
    let t = table(&write(d.path(), "bom.csv", b"\xEF\xBB\xBFid,v\n1,a\n2,b\n"));
    assert_eq!(t.batch.schema().field(0).name(), "id");
    // UTF-16 little-endian with its mark.
    let text = "k,v\n1,é\n2,ü\n";
    let mut utf16 = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        utf16.extend(u.to_le_bytes());
    }
    let t = table(&write(d.path(), "u16.csv", &utf16));
    assert_eq!(column_str(t.batch.column(1))[1].as_deref(), Some("ü"));
    assert!(t.notes.iter().any(|n| n.contains("UTF-16")));
}

#[test]
fn missing_tokens_and_late_type_changes() {
    let d = tempfile::tempdir().expect("tmp");
    let t = table(&write(
        d.path(),
        "m.csv",
        b"a,b,c\n1,x,2020-01-01\n?,NA,\n N/A ,null,2020-02-03\n4,None,2021-12-31\n",
    ));
    assert_eq!(
        column_f64(t.batch.column(0)),
        vec![Some(1.0), None, None, Some(4.0)]
    );
    assert_eq!(t.batch.column(1).null_count(), 3);
    assert_eq!(t.batch.column(2).null_count(), 1);
    // Integers in the sample, a decimal later: widened to floats, with a note.
    let mut body = b"n,s\n".to_vec();
    for i in 0..100 {
        body.extend(format!("{i},{i}\n").as_bytes());
    }
    body.extend(b"2.5,word\n");
    let p = write(d.path(), "late.csv", &body);
    let opts = LoadOptions {
        infer_rows: Some(10),
        ..Default::default()
    };
    let Dataset::Table(t) = data::load_with(&p, &opts).expect("load") else {
        panic!()
    };
    assert_eq!(t.batch.schema().field(0).data_type(), &DataType::Float64);
    assert_eq!(column_f64(t.batch.column(0))[100], Some(2.5));
    assert_eq!(t.batch.schema().field(1).data_type(), &DataType::Utf8);
    assert_eq!(t.notes.len(), 2, "{:?}", t.notes);
    assert!(t.notes[1].contains("row 101"), "{:?}", t.notes);
}

#[test]
fn many_batches_keep_every_row() {
    let d = tempfile::tempdir().expect("tmp");
    let mut body = b"i,f,c\n".to_vec();
    for i in 0..200_000u32 {
        body.extend(format!("{i},{}.5,c{}\n", i % 97, i % 13).as_bytes());
    }
    let t = table(&write(d.path(), "big.csv", &body));
    assert_eq!(t.batch.num_rows(), 200_000);
    let i = column_f64(t.batch.column(0));
    assert_eq!(i[199_999], Some(199_999.0));
    let p = profile_dataset(
        &Dataset::Table(t),
        &TargetHints {
            explicit: Some("c".into()),
            ..Default::default()
        },
        &automl_core::agents::parser::parse(""),
    )
    .expect("profile");
    assert_eq!(p.column("c").expect("c").n_unique, 13);
    assert_eq!(p.column("f").expect("f").n_unique, 97);
    assert_eq!(p.column("i").expect("i").n_unique, 200_000);
}

#[test]
fn profile_kinds_and_warnings() {
    let d = tempfile::tempdir().expect("tmp");
    let mut body = b"id,when,flag,const,note,city,name,code,side,copy,y\n".to_vec();
    for i in 0..300u32 {
        let y = if i % 25 == 0 { "rare" } else { "common" };
        body.extend(
            format!(
                "{i},2021-03-{:02} 10:00,{},k,the quick brown fox {i} jumps,c{},make{} model{i},X{i},{} side,{y},{y}\n",
                i % 28 + 1,
                if i % 2 == 0 { "yes" } else { "no" },
                i % 5,
                i % 7,
                if i % 3 == 0 { "north" } else { "south" }
            )
            .as_bytes(),
        );
    }
    let ds = data::load(&write(d.path(), "k.csv", &body)).expect("load");
    let p = profile_dataset(
        &ds,
        &TargetHints::default(),
        &automl_core::agents::parser::parse(""),
    )
    .expect("profile");
    assert_eq!(p.target, "y");
    let k = |c: &str| p.column(c).expect(c).kind;
    assert_eq!(k("id"), ColumnKind::Identifier);
    assert_eq!(k("when"), ColumnKind::Datetime);
    assert_eq!(k("flag"), ColumnKind::Boolean);
    assert_eq!(k("const"), ColumnKind::Constant);
    assert_eq!(k("note"), ColumnKind::Text);
    assert_eq!(k("city"), ColumnKind::Categorical);
    // A few words per value, mostly unique: short text (its words are the features), where a
    // single token per unique value is an identifier and a few repeated phrases are categories.
    assert_eq!(k("name"), ColumnKind::Text);
    assert_eq!(k("code"), ColumnKind::Identifier);
    assert_eq!(k("side"), ColumnKind::Categorical);
    let w = p.warnings.join("\n");
    assert!(w.contains("\"id\" looks like an identifier"), "{w}");
    assert!(w.contains("\"const\" is constant"), "{w}");
    assert!(w.contains("\"copy\" equals the target"), "{w}");
    assert!(w.contains("imbalance"), "{w}");
    // Tiny data.
    let ds = data::load(&write(d.path(), "tiny.csv", b"a,y\n1,p\n2,q\n3,p\n4,q\n")).expect("load");
    let p = profile_dataset(
        &ds,
        &TargetHints::default(),
        &automl_core::agents::parser::parse(""),
    )
    .expect("profile");
    assert!(p.warnings.iter().any(|w| w.contains("tiny data")));
}

fn png(v: u8) -> Vec<u8> {
    let img = image::GrayImage::from_pixel(6, 6, image::Luma([v]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

#[test]
fn zip_of_class_folders() {
    let d = tempfile::tempdir().expect("tmp");
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let o = zip::write::SimpleFileOptions::default();
        for (name, v) in [
            ("pets/cat/1.png", 1u8),
            ("pets/cat/2.png", 2),
            ("pets/dog/1.png", 3),
            ("pets/dog/2.png", 4),
        ] {
            z.start_file(name, o).expect("start");
            z.write_all(&png(v)).expect("write");
        }
        z.start_file("__MACOSX/pets/._x", o).expect("start");
        z.finish().expect("finish");
    }
    let p = write(d.path(), "pets.zip", &buf.into_inner());
    let opts = LoadOptions {
        extract_dir: Some(d.path().join("out")),
        ..Default::default()
    };
    let Dataset::Images(f) = data::load_with(&p, &opts).expect("zip") else {
        panic!()
    };
    assert_eq!(f.classes, vec!["cat", "dog"]);
    assert_eq!(f.files.len(), 4);
    assert!(f.root.starts_with(d.path().join("out")));
}

#[test]
fn hugging_face_parquet_with_image_bytes() {
    let d = tempfile::tempdir().expect("tmp");
    let bytes: Vec<Vec<u8>> = (0..6).map(|i| png(i * 40)).collect();
    let image = StructArray::from(vec![
        (
            Arc::new(Field::new("bytes", DataType::Binary, true)),
            Arc::new(BinaryArray::from_iter_values(bytes.iter())) as ArrayRef,
        ),
        (
            Arc::new(Field::new("path", DataType::Utf8, true)),
            Arc::new(StringArray::from(vec![None::<&str>; 6])) as ArrayRef,
        ),
    ]);
    let label = Int64Array::from(vec![0, 1, 0, 1, 0, 1]);
    let meta: std::collections::HashMap<String, String> = [(
        "huggingface".to_string(),
        r#"{"info":{"features":{"image":{"_type":"Image"},"label":{"_type":"ClassLabel","names":["ant","bee"]}}}}"#
            .to_string(),
    )]
    .into_iter()
    .collect();
    let schema = Arc::new(
        Schema::new(vec![
            Field::new("image", image.data_type().clone(), true),
            Field::new("label", DataType::Int64, false),
        ])
        .with_metadata(meta),
    );
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(image), Arc::new(label)])
        .expect("batch");
    let p = d.path().join("train-00000.parquet");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&p).expect("f"), schema, None)
            .expect("w");
    w.write(&batch).expect("write");
    w.close().expect("close");
    let opts = LoadOptions {
        extract_dir: Some(d.path().join("out")),
        ..Default::default()
    };
    let ds = data::load_with(&p, &opts).expect("load");
    let Dataset::Images(f) = &ds else { panic!() };
    assert_eq!(f.classes, vec!["ant", "bee"]);
    assert_eq!(f.files.len(), 6);
    let thumbs = data::write_thumbnails(f, &d.path().join("thumbs"), 3).expect("thumbs");
    assert_eq!(thumbs.len(), 2, "one per class, at most 3");
    let t = image::open(&thumbs[0]).expect("png");
    assert_eq!(t.width(), 60, "6 px enlarged to at least 64/6*6");
}
