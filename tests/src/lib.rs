//! Shared fixtures for the cross-crate tests: the bundled data and one short real training run,
//! each made once per test binary.

use std::ops::ControlFlow;
use std::sync::OnceLock;

use candle_core::Device;
use trainer::data::{Mnist, bundled_dir};
use trainer::settings::{Config, Preset};
use trainer::train::{Outcome, Start, Trained, train};

/// The bundled MNIST.
pub fn mnist() -> &'static Mnist {
    static MNIST: OnceLock<Mnist> = OnceLock::new();
    MNIST.get_or_init(|| Mnist::load(&bundled_dir()).expect("bundled MNIST loads"))
}

/// The default preset cut to `epochs` epochs, seed 7.
pub fn short_config(epochs: usize) -> Config {
    Config { epochs, ..Config::preset(Preset::Default, 7) }
}

/// A real one-epoch run of the default preset on the CPU (about a second).
pub fn short_run() -> &'static Trained {
    static TRAINED: OnceLock<Trained> = OnceLock::new();
    TRAINED.get_or_init(|| train_on_cpu(&short_config(1)))
}

/// Trains with `config` on the CPU, start to end.
pub fn train_on_cpu(config: &Config) -> Trained {
    let start = Start::Fresh(config.clone());
    match train(mnist(), &Device::Cpu, start, 0, &mut |_| ControlFlow::Continue(())) {
        Ok(Outcome::Finished(trained)) => trained,
        other => panic!("training did not finish: {other:?}"),
    }
}
