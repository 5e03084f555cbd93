//! PyTorch `torch.save` files, as PyTorch wrote them (tests/fixtures/torch/, made by
//! scripts/torch-fixtures.py): the tutorial's state dict goes through every command; every other
//! PyTorch file is refused with exit 65 and what to do; damaged files never panic.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use trainer::model_file::{self, ModelFile};
use zip::ZipArchive;
use zip::write::SimpleFileOptions;

fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer")).args(args).output().unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/torch").join(name)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn export_eval_inspect_predict_and_plot_take_the_tutorials_file_whatever_its_extension() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["awesome_model.pkl", "awesome_model.pt"] {
        let file = fixture(name);
        let inspection = json(&trainer(&["inspect", path(&file), "--json"]));
        assert_eq!(inspection["kind"], "torch-state-dict");
        assert_eq!(
            (inspection["scheme"].as_str(), inspection["valid"].as_bool()),
            (Some("f32"), Some(true))
        );
        assert_eq!(
            inspection["tensors"],
            serde_json::json!([["linear.bias", "F32", [10]], ["linear.weight", "F32", [10, 784]]])
        );
        let text = String::from_utf8(trainer(&["inspect", path(&file)]).stdout).unwrap();
        assert!(text.contains("PyTorch state dict (torch.save)"), "{text}");

        let eval = json(&trainer(&["eval", path(&file), "--json"]));
        assert_eq!(eval["kind"], "torch-state-dict");
        let predict =
            json(&trainer(&["predict", "--index", "0", "--model", path(&file), "--json"]));
        assert_eq!(predict["class"], eval["predictions"][0]);

        let out = dir.path().join(name);
        let export = trainer(&["export", path(&file), "--out-dir", path(&out), "-q"]);
        assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
        let exported = json(&trainer(&["eval", path(&out.join("model.safetensors")), "--json"]));
        assert_eq!(exported["accuracy"], eval["accuracy"]);
        assert_eq!(exported["predictions"], eval["predictions"]);
        let f32_blob = json(&trainer(&["eval", path(&out.join("model.f32.postcard")), "--json"]));
        assert_eq!(
            f32_blob["predictions"], eval["predictions"],
            "the float model, run as the device runs it"
        );
        for quantized in ["model.int8.postcard", "model.int4.postcard"] {
            let accuracy =
                json(&trainer(&["eval", path(&out.join(quantized)), "--json"]))["accuracy"]
                    .as_f64()
                    .unwrap();
            assert!(
                (accuracy - eval["accuracy"].as_f64().unwrap()).abs() < 0.5,
                "{quantized}: {accuracy}"
            );
        }

        let ModelFile::Torch(model, _) = ModelFile::open(&file).unwrap() else { panic!("{name}") };
        let (converted, ..) = model_file::read_float(&out.join("model.safetensors")).unwrap();
        assert_eq!((converted.weight(), converted.bias()), (model.weight(), model.bias()));

        let plot = trainer(&["plot", "--model", path(&file), "--out-dir", path(&out), "-q"]);
        assert!(plot.status.success(), "{}", String::from_utf8_lossy(&plot.stderr));
        assert!(out.join("weights.png").exists());
    }
    let accuracy =
        json(&trainer(&["eval", path(&fixture("awesome_model.pkl")), "--json"]))["accuracy"]
            .clone();
    assert_eq!(accuracy, 82.47, "the accuracy scripts/torch-fixtures.py printed");
}

/// The bad fixtures, each with words of the problem its error must name.
const BAD: [(&str, &str); 6] = [
    ("legacy.pkl", "legacy format (PyTorch before 1.6"),
    ("whole_module.pt", "holds a `__main__.LogisticRegressionModel` object"),
    ("other_names.pkl", "holds `fc.bias` F32 [10], `fc.weight` F32 [10, 784]; expected `linear."),
    ("half.pkl", "holds `linear.bias` F16 [10], `linear.weight` F16 [10, 784]; expected"),
    ("two_classes.pkl", "holds `linear.bias` F32 [2], `linear.weight` F32 [2, 784]; expected"),
    ("not_torch.zip", "a zip archive, but not a PyTorch file"),
];

#[test]
fn every_other_pytorch_file_exits_65_naming_the_problem_and_the_fix() {
    let out = tempfile::tempdir().unwrap();
    for (name, problem) in BAD {
        let file = fixture(name);
        for args in [
            vec!["export", path(&file), "--out-dir", path(out.path())],
            vec!["eval", path(&file)],
            vec!["inspect", path(&file)],
            vec!["predict", "--index", "0", "--model", path(&file)],
            vec!["plot", "--model", path(&file), "--out-dir", path(out.path())],
        ] {
            let run = trainer(&args);
            let stderr = String::from_utf8_lossy(&run.stderr);
            assert_eq!(run.status.code(), Some(65), "{args:?}: {stderr}");
            assert!(stderr.contains(problem), "{args:?}: {stderr}");
            assert!(
                stderr.contains("`torch.save(model.state_dict(), path)`"),
                "{args:?}: {stderr}"
            );
        }
    }
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "nothing written");
}

/// The entries of the tutorial's file, by name.
fn entries() -> Vec<(String, Vec<u8>)> {
    let mut archive =
        ZipArchive::new(Cursor::new(std::fs::read(fixture("awesome_model.pkl")).unwrap())).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (entry.name().unwrap().into_owned(), bytes)
        })
        .collect()
}

/// A zip archive of `entries`, stored as `torch.save` stores them.
fn archive(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        zip.start_file(
            name.as_str(),
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored),
        )
        .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// The tutorial's file with `data.pkl` replaced.
fn with_pickle(pickle: &[u8]) -> Vec<u8> {
    let mut entries = entries();
    let (_, data) = entries.iter_mut().find(|(name, _)| name.ends_with("/data.pkl")).unwrap();
    *data = pickle.to_vec();
    archive(&entries)
}

fn parse(bytes: &[u8]) -> Result<ModelFile, String> {
    ModelFile::parse(Path::new("m.pkl"), bytes).map_err(|e| e.to_string())
}

#[test]
fn truncated_files_are_errors_never_panics() {
    let bytes = std::fs::read(fixture("awesome_model.pkl")).unwrap();
    assert!(parse(&archive(&entries())).is_ok(), "the rebuilt archive reads as the original");
    for cut in 0..bytes.len() {
        if let Ok(file) = parse(&bytes[..cut]) {
            panic!("{cut} bytes read as {:?}", file.kind());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    for cut in [4, 100, 1000, bytes.len() / 2, bytes.len() - 22, bytes.len() - 1] {
        let file = dir.path().join("cut.pkl");
        std::fs::write(&file, &bytes[..cut]).unwrap();
        let run = trainer(&["export", path(&file), "--out-dir", path(&dir.path().join("out"))]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(65), "{cut}: {stderr}");
        assert!(!stderr.contains("panicked"), "{cut}: {stderr}");
    }
}

#[test]
fn damaged_pickles_and_storages_are_errors_never_panics() {
    let entries = entries();
    let (_, pickle) = entries.iter().find(|(name, _)| name.ends_with("/data.pkl")).unwrap();
    for cut in 0..pickle.len() {
        assert!(parse(&with_pickle(&pickle[..cut])).is_err(), "data.pkl cut at {cut}");
    }
    for at in 0..pickle.len() {
        for value in
            [0x00, 0xff, 0x8a, b'(', b't', b'R', b'Q', pickle[at] ^ 1, pickle[at].wrapping_add(1)]
        {
            let mut damaged = pickle.clone();
            damaged[at] = value;
            let _ = parse(&with_pickle(&damaged));
        }
    }
    for (name, _) in entries.iter().filter(|(name, _)| name.contains("/data/")) {
        let mut short = entries.clone();
        let (_, storage) = short.iter_mut().find(|(n, _)| n == name).unwrap();
        storage.truncate(storage.len() - 4);
        let error = parse(&archive(&short)).unwrap_err();
        assert!(error.contains("lies outside its storage"), "{error}");
    }
}

#[test]
fn hostile_pickles_are_refused() {
    let refused = [
        // A 10-byte number (the legacy magic), past what candle's reader can shift.
        (
            b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec(),
            "a number over 8 bytes",
        ),
        // 16,000 nested tuples: as deep as the size bound lets a pickle go.
        (
            [b"\x80\x02)".as_slice(), &[0x85; 16_000], b"."].concat(),
            "holds a tuple, not a state dict",
        ),
        ([b"\x80\x02)".as_slice(), &[0x85; 17_000], b"."].concat(), "more than 16384"),
        (b"\x80\x02}.".to_vec(), "holds no tensors (its keys: )"),
        (
            b"\x80\x02}X\x05\x00\x00\x00epochK\x03s.".to_vec(),
            "holds no tensors (its keys: `epoch`)",
        ),
        (b"\x80\x02X\xff\xff\xff\xffab.".to_vec(), "`data.pkl` is cut short"),
        // An object doubled by the memo, again and again.
        (
            [b"\x80\x02)q\x00".as_slice(), &b"h\x00h\x00\x86q\x00".repeat(40), b"."].concat(),
            "copies more objects",
        ),
    ];
    for (pickle, error) in refused {
        let found = parse(&with_pickle(&pickle)).unwrap_err();
        assert!(found.contains(error), "{found}");
    }
}
