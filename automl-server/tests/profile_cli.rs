//! `automl profile PATH [--target COL] [--json]` as a user meets it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn automl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_automl"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run automl")
}

#[test]
fn prints_a_table_for_adult() {
    let f = root().join("datasets/tabular/adult.csv");
    let out = automl(&["profile", f.to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("32561 rows, 15 columns"), "{text}");
    assert!(text.contains("target: income"), "{text}");
    let workclass = text
        .lines()
        .find(|l| l.starts_with("workclass "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        workclass.contains("categorical") && workclass.contains("5.6%"),
        "{workclass}"
    );
}

#[test]
fn json_is_the_profile_ready_payload() {
    let f = root().join("datasets/tabular/iris.csv");
    let out = automl(&[
        "profile",
        f.to_str().expect("utf-8 path"),
        "--target",
        "species",
        "--json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["target"], "species");
    assert_eq!(v["target_reason"], "named by the caller");
    assert_eq!(v["n_rows"], 150);
    assert_eq!(v["columns"].as_array().map(Vec::len), Some(5));
    assert_eq!(v["task"], "classification");
}

#[test]
fn image_folder_profiles() {
    let f = root().join("datasets/images/cats_dogs");
    let out = automl(&["profile", f.to_str().expect("utf-8 path"), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["modality"], "image");
    assert_eq!(v["n_rows"], 400);
}

#[test]
fn bad_input_exits_2_naming_file_row_and_column() {
    let d = tempfile::tempdir().expect("tmp");
    let p = d.path().join("ragged.csv");
    std::fs::write(&p, "a,b,c\n1,2,3\n4,5\n").expect("write");
    let out = automl(&["profile", p.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ragged.csv, row 2, column \"c\": ragged row"),
        "{err}"
    );
    let out = automl(&["profile", "/nonexistent/file.csv"]);
    assert_eq!(out.status.code(), Some(2));
    let p = d.path().join("t.csv");
    std::fs::write(&p, "a,b\n1,x\n2,y\n").expect("write");
    let out = automl(&[
        "profile",
        p.to_str().expect("utf-8 path"),
        "--target",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}
