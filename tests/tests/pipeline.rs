//! trainer -> blob -> infer-core: a real training run, exported and run by the device code.

use candle_core::{Device, Module, Tensor};
use infer_core::{Error, Model, Scheme};
use tests::{mnist, short_config, short_run, train_on_cpu};
use trainer::calibration::Calibration;
use trainer::data::PIXELS;
use trainer::eval;
use trainer::quantize::{quantize, quantize_int4};

#[test]
fn short_training_run_learns() {
    let trained = short_run();
    assert!(trained.test_accuracy > 90.0, "{}", trained.test_accuracy);
    assert_eq!(trained.history.len(), 1);
}

#[test]
fn f32_blob_logits_match_candle_forward_on_the_test_set() {
    let trained = short_run();
    let test = &mnist().test;
    let blob = trained.model.to_blob().unwrap();
    let model = Model::from_blob(&blob).unwrap();
    assert_eq!((model.inputs(), model.classes(), model.scheme()), (784, 10, Scheme::F32));

    let pixels: Vec<f32> = test.images.iter().map(|&p| infer_core::normalize_pixel(p)).collect();
    let images = Tensor::from_vec(pixels, (test.len(), PIXELS), &Device::Cpu).unwrap();
    let weight = Tensor::from_slice(trained.model.weight(), (10, PIXELS), &Device::Cpu).unwrap();
    let bias = Tensor::from_slice(trained.model.bias(), 10, &Device::Cpu).unwrap();
    let candle = candle_nn::Linear::new(weight, Some(bias))
        .forward(&images)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();

    let mut max_diff = 0.0f32;
    for (i, expected) in candle.iter().enumerate() {
        let logits = model.logits(test.image(i)).unwrap();
        for (a, b) in logits.iter().zip(expected) {
            max_diff = max_diff.max((a - b).abs());
        }
    }
    assert!(max_diff < 1e-4, "max |infer-core - candle| = {max_diff}");
}

#[test]
fn int8_accuracy_is_within_0_15_pp_of_float() {
    let trained = short_run();
    let blob = quantize(&trained.model).to_blob().unwrap();
    let model = Model::from_blob(&blob).unwrap();
    let int8 = eval::evaluate(&model, &mnist().test).unwrap().percent();
    let float_blob = trained.model.to_blob().unwrap();
    let float =
        eval::evaluate(&Model::from_blob(&float_blob).unwrap(), &mnist().test).unwrap().percent();
    assert!(
        (float - trained.test_accuracy).abs() <= 0.02,
        "infer-core f32 {float} vs candle {}",
        trained.test_accuracy
    );
    assert!((int8 - float).abs() <= 0.15, "int8 {int8} vs float {float}");
}

#[test]
fn the_real_quantized_blobs_reject_every_truncation_and_every_bit_flip() {
    let model = &short_run().model;
    let int8 = quantize(model).to_blob().unwrap();
    let int4 = quantize_int4(model, &Calibration::from_training(&mnist().train)).to_blob().unwrap();
    assert_eq!((int8.len(), int4.len()), (7_964, 4_044), "the sizes the README documents");
    assert_eq!(model.to_blob().unwrap().len(), 31_436);
    for blob in [int8, int4] {
        for len in 0..blob.len() {
            assert_eq!(Model::from_blob(&blob[..len]).unwrap_err(), Error::Truncated);
        }
        let mut bad = blob.clone();
        for bit in 0..blob.len() * 8 {
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(Model::from_blob(&bad).is_err(), "flipping bit {bit} went unnoticed");
            bad[bit / 8] ^= 1 << (bit % 8);
        }
        assert!(Model::from_blob(&bad).is_ok());
    }
}

#[test]
fn the_same_seed_gives_the_same_model() {
    let again = train_on_cpu(&short_config(1));
    assert_eq!(again.model, short_run().model);
}

#[test]
fn safetensors_files_of_a_real_run_give_back_the_same_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let trained = short_run();
    let int8 = quantize(&trained.model);
    let metadata =
        trainer::safetensors_file::Metadata::from([("format_version".into(), "1".into())]);
    let (float_path, int8_path) =
        (dir.path().join("f.safetensors"), dir.path().join("q.safetensors"));
    trainer::atomic_write::write_atomically(&[
        (
            float_path.clone(),
            trainer::safetensors_file::float_safetensors(&trained.model, &metadata).unwrap(),
        ),
        (int8_path.clone(), trainer::safetensors_file::int8_safetensors(&int8, &metadata).unwrap()),
    ])
    .unwrap();
    let (float_back, _) = trainer::safetensors_file::read_float(&float_path).unwrap();
    let (int8_back, metadata_back) = trainer::safetensors_file::read_int8(&int8_path).unwrap();
    assert_eq!(float_back.to_blob().unwrap(), trained.model.to_blob().unwrap());
    assert_eq!(int8_back.to_blob().unwrap(), int8.to_blob().unwrap());
    assert_eq!(quantize(&float_back), int8);
    assert_eq!(metadata_back, metadata);
}
