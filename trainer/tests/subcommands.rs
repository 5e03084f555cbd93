//! The `trainer` subcommands on a real one-epoch model: eval, predict, inspect, export, JSON
//! output, exit codes, reproducible files and a closed stdout.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use image::{GrayImage, imageops};
use infer_core::blob::{self, Params};
use trainer::data::{Mnist, bundled_dir};
use trainer::safetensors_file::{self, float_safetensors, read_float, read_int4, read_int8};

#[path = "../../tests/support/dir.rs"]
mod dir;

use dir::contents;

fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer")).args(args).output().unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A directory with the files of one real training epoch, made once.
fn trained() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_str().unwrap();
        let run = trainer(&["train", "--epochs", "1", "-q", "--out-dir", out]);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        dir
    })
    .path()
}

fn file(name: &str) -> String {
    trained().join(name).display().to_string()
}

#[test]
fn eval_reports_what_train_reported_for_every_model_file() {
    let inspection = json(&trainer(&["inspect", &file("model.int8.safetensors"), "--json"]));
    let reported = inspection["metadata"]["int8_test_accuracy"].as_str().unwrap().to_string();
    let blob = json(&trainer(&["eval", &file("model.int8.postcard"), "--json"]));
    assert_eq!(format!("{:.2}", blob["accuracy"].as_f64().unwrap()), reported);
    let int8 = json(&trainer(&["eval", &file("model.int8.safetensors"), "--json"]));
    assert_eq!(int8["predictions"], blob["predictions"], "same int8 model, same predictions");
    let int4_reported = inspection["metadata"]["int4_test_accuracy"].as_str().unwrap();
    let int4_blob = json(&trainer(&["eval", &file("model.int4.postcard"), "--json"]));
    assert_eq!(format!("{:.2}", int4_blob["accuracy"].as_f64().unwrap()), int4_reported);
    let int4 = json(&trainer(&["eval", &file("model.int4.safetensors"), "--json"]));
    assert_eq!(int4["predictions"], int4_blob["predictions"], "same int4 model, same predictions");
    assert_eq!(
        (int4["kind"].as_str(), int4_blob["kind"].as_str()),
        (Some("int4-safetensors"), Some("blob"))
    );
    let float = json(&trainer(&["eval", &file("model.safetensors"), "--json"]));
    let float_reported = inspection["metadata"]["float_test_accuracy"].as_str().unwrap();
    let float_accuracy = float["accuracy"].as_f64().unwrap();
    assert!((float_accuracy - float_reported.parse::<f64>().unwrap()).abs() <= 0.02);
    let confusion: u64 = blob["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(confusion, 10_000);

    let text = String::from_utf8(trainer(&["eval", &file("model.int8.postcard")]).stdout).unwrap();
    assert!(text.contains("<- predicted") && text.contains(&format!("{reported}%")), "{text}");
}

#[test]
fn inspect_describes_valid_and_damaged_blobs() {
    let blob = json(&trainer(&["inspect", &file("model.int8.postcard"), "--json"]));
    assert_eq!((blob["valid"].as_bool(), blob["scheme"].as_str()), (Some(true), Some("int8")));
    assert_eq!(
        (blob["inputs"].as_u64(), blob["classes"].as_u64(), blob["bytes"].as_u64()),
        (Some(784), Some(10), Some(7964))
    );
    let int4 = json(&trainer(&["inspect", &file("model.int4.postcard"), "--json"]));
    assert_eq!((int4["valid"].as_bool(), int4["scheme"].as_str()), (Some(true), Some("int4")));
    assert_eq!(int4["bytes"].as_u64(), Some(4044), "two weights per byte");
    let int4 = json(&trainer(&["inspect", &file("model.int4.safetensors"), "--json"]));
    assert_eq!(
        (int4["kind"].as_str(), int4["scheme"].as_str()),
        (Some("int4-safetensors"), Some("int4"))
    );
    assert_eq!(int4["metadata"]["weight_bits"], "4");
    let text = String::from_utf8(trainer(&["inspect", &file("model.int4.safetensors")]).stdout);
    assert!(text.unwrap().contains("int4 safetensors"));

    let dir = tempfile::tempdir().unwrap();
    let damaged = dir.path().join("damaged.postcard");
    let mut bytes = std::fs::read(file("model.int8.postcard")).unwrap();
    bytes[500] ^= 0x40;
    std::fs::write(&damaged, bytes).unwrap();
    let run = trainer(&["inspect", damaged.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&run.stdout).contains("CRC-32 mismatch"));
    assert!(String::from_utf8_lossy(&run.stderr).contains("would be rejected by a device"));
}

/// The reference model in `tests/fixtures/`.
fn fixture(name: &str) -> String {
    format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn inspect_and_eval_read_version_1_blobs_as_devices_in_the_field_hold_them() {
    for (name, version) in [("model.v1.int8.postcard", "1"), ("model.int8.postcard", "2")] {
        let inspection = json(&trainer(&["inspect", &fixture(name), "--json"]));
        assert_eq!(inspection["format_version"].as_str(), Some(version), "{name}");
    }
    let accuracy =
        |name| json(&trainer(&["--json", "eval", &fixture(name)]))["accuracy"].as_f64().unwrap();
    assert_eq!(accuracy("model.v1.int8.postcard"), accuracy("model.int8.postcard"));
}

#[test]
fn export_of_the_reference_model_writes_the_committed_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let run = trainer(&["export", &fixture("model.safetensors"), "--out-dir", out, "-q"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    for name in ["model.int8.postcard", "model.f32.postcard", "model.int4.postcard"] {
        let written = std::fs::read(dir.path().join(name)).unwrap();
        assert!(
            written == std::fs::read(fixture(name)).unwrap(),
            "{name} differs from the fixture"
        );
    }
}

/// A test digit as someone would photograph it: 8x larger, dark ink on white paper.
fn picture_of_test_image(index: usize, dir: &Path) -> PathBuf {
    let mnist = Mnist::load(&bundled_dir()).unwrap();
    let small = GrayImage::from_raw(28, 28, mnist.test.image(index).to_vec()).unwrap();
    let mut big = imageops::resize(&small, 224, 224, imageops::FilterType::Triangle);
    imageops::invert(&mut big);
    let path = dir.join(format!("digit{index}.png"));
    big.save(&path).unwrap();
    path
}

#[test]
fn predict_a_picture_like_the_test_image_it_shows() {
    let dir = tempfile::tempdir().unwrap();
    let model = file("model.int8.postcard");
    let mut agree = 0;
    for index in 0..20 {
        let picture = picture_of_test_image(index, dir.path());
        let from_picture =
            json(&trainer(&["predict", picture.to_str().unwrap(), "--model", &model, "--json"]));
        assert_eq!(from_picture["inverted"], true, "a white page is detected and inverted");
        assert_eq!(from_picture["top"].as_array().unwrap().len(), 3);
        let from_index = json(&trainer(&[
            "predict",
            "--index",
            &index.to_string(),
            "--model",
            &model,
            "--json",
        ]));
        agree += usize::from(from_picture["class"] == from_index["class"]);
    }
    assert!(agree >= 18, "only {agree} of 20 pictures classified like their test images");
    for model in [file("model.int4.postcard"), file("model.int4.safetensors")] {
        let seven = json(&trainer(&["predict", "--index", "0", "--model", &model, "--json"]));
        assert_eq!((seven["label"].as_u64(), seven["class"].as_u64()), (Some(7), Some(7)));
    }

    let picture = picture_of_test_image(0, dir.path());
    let forced = json(&trainer(&[
        "predict",
        picture.to_str().unwrap(),
        "--model",
        &model,
        "--invert",
        "--json",
    ]));
    assert_eq!((forced["inverted"].as_bool(), forced["class"].as_u64()), (Some(true), Some(7)));
    let light = json(&trainer(&[
        "predict",
        picture.to_str().unwrap(),
        "--model",
        &model,
        "--ink",
        "light",
        "--json",
    ]));
    assert_eq!(light["inverted"], false, "told the ink is light, nothing is inverted");
}

#[test]
fn export_takes_a_float_safetensors_to_the_device_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let run = trainer(&["export", &file("model.safetensors"), "--out-dir", out, "-q"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    for name in ["model.int8.postcard", "model.f32.postcard", "model.int4.postcard"] {
        let same =
            std::fs::read(dir.path().join(name)).unwrap() == std::fs::read(file(name)).unwrap();
        assert!(same, "{name} differs from the one `train` wrote");
    }
    let int8 = dir.path().join("model.int8.safetensors");
    let (exported, metadata) = read_int8(&int8).unwrap();
    let (trained, _) = read_int8(Path::new(&file("model.int8.safetensors"))).unwrap();
    assert_eq!(exported, trained);
    assert_eq!(metadata["exported_from"], file("model.safetensors"));
    let (exported, _) = read_int4(&dir.path().join("model.int4.safetensors")).unwrap();
    let (trained, _) = read_int4(Path::new(&file("model.int4.safetensors"))).unwrap();
    assert_eq!(exported, trained);
}

#[test]
fn int4_quantization_reads_the_training_files_only() {
    // A data directory without the test files: export cannot have looked at the test set, and
    // its int4 model is the one `train` made.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("train-only");
    std::fs::create_dir(&data).unwrap();
    for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"] {
        std::fs::copy(bundled_dir().join(name), data.join(name)).unwrap();
    }
    let out = dir.path().join("out");
    let (data, out) = (data.to_str().unwrap(), out.to_str().unwrap());
    let run = trainer(&[
        "export",
        &file("model.safetensors"),
        "--data-dir",
        data,
        "--out-dir",
        out,
        "-q",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let written = std::fs::read(Path::new(out).join("model.int4.postcard")).unwrap();
    assert!(written == std::fs::read(file("model.int4.postcard")).unwrap());
    let run = trainer(&["eval", &file("model.int4.postcard"), "--data-dir", data]);
    assert_eq!(run.status.code(), Some(65), "evaluating does need the test files");
}

#[test]
fn bad_inputs_get_clear_errors_and_exit_codes() {
    let run = trainer(&["eval", "no/such/model.postcard"]);
    assert_eq!(run.status.code(), Some(74), "{}", String::from_utf8_lossy(&run.stderr));
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a model").unwrap();
    let run = trainer(&["eval", text.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&run.stderr).contains("not a valid safetensors file"));
    let blank = dir.path().join("blank.png");
    GrayImage::new(40, 40).save(&blank).unwrap();
    let run =
        trainer(&["predict", blank.to_str().unwrap(), "--model", &file("model.int8.postcard")]);
    assert_eq!(run.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&run.stderr).contains("no ink found"));
    assert_eq!(trainer(&["predict"]).status.code(), Some(2));
    let run = trainer(&["predict", "--index", "10000", "--model", &file("model.int8.postcard")]);
    assert_eq!(run.status.code(), Some(65));
}

/// The trained int4 safetensors with its first weight set to `value`, in place.
fn int4_file_with_first_weight(dir: &Path, value: i8) -> String {
    let mut bytes = std::fs::read(file("model.int4.safetensors")).unwrap();
    let (header_len, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let (start, _) = header.info("linear.weight").unwrap().data_offsets;
    bytes[8 + header_len + start] = value.cast_unsigned();
    let path = dir.join(format!("first-weight-{value}.int4.safetensors"));
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

#[test]
fn an_int4_file_with_a_value_out_of_range_is_refused_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let edited = int4_file_with_first_weight(dir.path(), -8);
    assert!(trainer(&["eval", &edited, "-q"]).status.success(), "-8 is an int4 value");
    let bad = int4_file_with_first_weight(dir.path(), 8);
    for args in [
        vec!["eval", &bad],
        vec!["predict", "--index", "0", "--model", &bad],
        vec!["inspect", &bad],
    ] {
        let run = trainer(&args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(65), "{args:?}: {stderr}");
        assert!(stderr.contains("linear.weight holds 8 at index 0, outside the int4 range -8..=7"));
    }
}

#[test]
fn train_and_plot_draw_the_pictures() {
    for name in ["weights.png", "confusion.png", "training.png"] {
        let picture = image::open(trained().join(name)).unwrap();
        assert!(picture.width() >= 400 && picture.height() >= 400, "{name}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let run = trainer(&["plot", "--model", &file("model.safetensors"), "--out-dir", out, "-q"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    // Pictures are deterministic: plot redraws exactly what train drew.
    for name in ["weights.png", "confusion.png", "training.png"] {
        let same = std::fs::read(dir.path().join(name)).unwrap()
            == std::fs::read(trained().join(name)).unwrap();
        assert!(same, "{name} differs");
    }
}

#[test]
fn plot_draws_models_written_before_the_history_lost_its_clock() {
    let (model, mut metadata) = read_float(Path::new(&file("model.safetensors"))).unwrap();
    let mut history: Vec<serde_json::Value> = serde_json::from_str(&metadata["history"]).unwrap();
    history.iter_mut().for_each(|point| point["seconds"] = 1.5.into());
    metadata.insert("history".into(), serde_json::to_string(&history).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.safetensors");
    std::fs::write(&old, float_safetensors(&model, &metadata).unwrap()).unwrap();
    let out = dir.path().to_str().unwrap();
    let run = trainer(&["plot", "--model", old.to_str().unwrap(), "--out-dir", out, "-q"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let same = std::fs::read(dir.path().join("training.png")).unwrap()
        == std::fs::read(trained().join("training.png")).unwrap();
    assert!(same, "the seconds changed the training curves");
}

#[test]
fn the_same_seed_gives_byte_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let run = trainer(&["train", "--epochs", "1", "-q", "--out-dir", dir.path().to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let (again, first) = (contents(dir.path()), contents(trained()));
    let names: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "confusion.png",
            "model.f32.postcard",
            "model.int4.postcard",
            "model.int4.safetensors",
            "model.int8.postcard",
            "model.int8.safetensors",
            "model.safetensors",
            "training.png",
            "weights.png"
        ]
    );
    assert_eq!(again.keys().collect::<Vec<_>>(), first.keys().collect::<Vec<_>>());
    for (name, bytes) in &first {
        assert!(again[name] == *bytes, "{name} differs between two runs with the same seed");
    }
    // Still valid safetensors, its metadata in key order, with no clock in the history.
    let float = &first["model.safetensors"];
    let metadata = safetensors_file::metadata(Path::new("model.safetensors"), float);
    assert!(metadata.unwrap()["history"].contains("test_accuracy"));
    let header = String::from_utf8_lossy(&float[8..float.len().min(4096)]);
    assert!(!header.contains("seconds"), "{header}");
    let keys = ["data_sha256", "device", "float_test_accuracy", "format", "history", "training"];
    let at: Vec<usize> = keys.iter().map(|k| header.find(&format!("\"{k}\":")).unwrap()).collect();
    assert!(at.is_sorted(), "metadata keys out of order: {header}");
}

/// A blob of `inputs` x `classes`, zero weights.
fn blob_of_shape(dir: &Path, inputs: usize, classes: usize) -> String {
    let (weights, bias) = (vec![0.0; inputs * classes], vec![0.0; classes]);
    let bytes = blob::encode(&Params::F32 { inputs, classes, weights: &weights, bias: &bias });
    let path = dir.join(format!("{inputs}x{classes}.postcard"));
    std::fs::write(&path, bytes.unwrap()).unwrap();
    path.display().to_string()
}

#[test]
fn a_model_of_another_shape_is_refused_naming_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    for (inputs, classes) in [(100, 3), (784, 16), (784, 9)] {
        let model = blob_of_shape(dir.path(), inputs, classes);
        let expected = format!(
            "the model takes {inputs} inputs x {classes} classes; the data has 784-pixel images \
             with labels 0..9"
        );
        for run in [
            trainer(&["eval", &model]),
            trainer(&["predict", "--index", "0", "--model", &model]),
            trainer(&[
                "predict",
                &picture_of_test_image(0, dir.path()).display().to_string(),
                "--model",
                &model,
            ]),
        ] {
            let stderr = String::from_utf8_lossy(&run.stderr);
            assert_eq!(run.status.code(), Some(65), "{stderr}");
            assert!(stderr.contains(&expected), "{stderr}");
            assert!(run.stdout.is_empty());
        }
    }
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let blob = file("model.int8.postcard");
    let float = file("model.safetensors");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let commands: [&[&str]; 7] = [
        &["--json", "eval", &blob],
        &["eval", &blob],
        &["--json", "inspect", &float],
        &["inspect", &blob],
        &["predict", "--index", "0", "--model", &blob],
        &["export", &float, "--out-dir", out],
        // Log lines during training, then the report: training goes on, the files are written.
        &["train", "--epochs", "1", "--out-dir", out],
    ];
    for args in commands {
        let mut child = Command::new(env!("CARGO_BIN_EXE_trainer"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before the command prints, as `| head -0` would.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    assert!(contents(dir.path())["model.safetensors"] == contents(trained())["model.safetensors"]);
}
