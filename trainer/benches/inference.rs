//! Host inference: infer-core int8, int4 and f32 against candle's float forward of the same model,
//! for one image (latency) and the 10,000 test images (throughput).
//!
//! `RAYON_NUM_THREADS=1 taskset -c 0 cargo bench -p trainer --bench inference` (one core).

use std::hint::black_box;
use std::path::Path;

use candle_core::{Device, Module, Tensor};
use candle_nn::Linear;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use infer_core::Model;
use trainer::data::{Mnist, PIXELS, bundled_dir};
use trainer::quantize::quantize;
use trainer::safetensors_file::read_float;

/// The CPU features that decide the kernels, printed with the numbers.
fn print_cpu() {
    #[cfg(target_arch = "x86_64")]
    let flags = {
        use std::arch::is_x86_feature_detected as has;
        [
            ("avx2", has!("avx2")),
            ("fma", has!("fma")),
            ("avx512f", has!("avx512f")),
            ("avx512bw", has!("avx512bw")),
            ("avx512vl", has!("avx512vl")),
            ("avx512vnni", has!("avx512vnni")),
        ]
    };
    #[cfg(not(target_arch = "x86_64"))]
    let flags: [(&str, bool); 0] = [];
    let flags: Vec<_> = flags.iter().filter(|(_, has)| *has).map(|(name, _)| *name).collect();
    println!(
        "cpu flags: {}; infer-core host kernel: {}",
        flags.join(" "),
        infer_core::host_kernel()
    );
}

fn inference(c: &mut Criterion) {
    print_cpu();
    let mnist = Mnist::load(&bundled_dir()).expect("bundled MNIST");
    let test = &mnist.test;
    let model_file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/model.safetensors");
    let (float, _) = read_float(&model_file).expect("the committed trained model");
    let int8_blob = quantize(&float).to_blob().unwrap();
    let int4_blob = std::fs::read(model_file.with_file_name("model.int4.postcard")).unwrap();
    let f32_blob = float.to_blob().unwrap();
    let int8 = Model::from_blob(&int8_blob).unwrap();
    let int4 = Model::from_blob(&int4_blob).unwrap();
    let f32 = Model::from_blob(&f32_blob).unwrap();

    let device = Device::Cpu;
    let weight = Tensor::from_slice(float.weight(), (10, PIXELS), &device).unwrap();
    let bias = Tensor::from_slice(float.bias(), 10, &device).unwrap();
    let linear = Linear::new(weight, Some(bias));
    let pixels: Vec<f32> = test.images.iter().map(|&p| infer_core::normalize_pixel(p)).collect();
    let all = Tensor::from_vec(pixels, (test.len(), PIXELS), &device).unwrap();
    let one = all.narrow(0, 0, 1).unwrap().contiguous().unwrap();
    let image = test.image(0);

    let mut group = c.benchmark_group("one image (logits)");
    group.throughput(Throughput::Elements(1));
    group.bench_function("infer-core int8", |b| b.iter(|| int8.logits(black_box(image)).unwrap()));
    group.bench_function("infer-core int4", |b| b.iter(|| int4.logits(black_box(image)).unwrap()));
    group.bench_function("infer-core f32", |b| b.iter(|| f32.logits(black_box(image)).unwrap()));
    group.bench_function("candle f32 forward", |b| {
        b.iter(|| linear.forward(black_box(&one)).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("10k test images (logits)");
    group.throughput(Throughput::Elements(test.len() as u64));
    group.sample_size(20);
    let batch = |model: &Model<'_>| {
        model.logits_batch(&test.images).unwrap().map(|logits| logits[0]).sum::<f32>()
    };
    group.bench_function("infer-core int8", |b| b.iter(|| batch(black_box(&int8))));
    group.bench_function("infer-core int4", |b| b.iter(|| batch(black_box(&int4))));
    group.bench_function("infer-core f32", |b| b.iter(|| batch(black_box(&f32))));
    group.bench_function("candle f32 forward", |b| {
        b.iter(|| linear.forward(black_box(&all)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, inference);
criterion_main!(benches);
