//! Checkpoints: a run stopped anywhere and resumed from its saved checkpoint ends with the same
//! bits as an uninterrupted run.

use std::ops::ControlFlow;
use std::path::Path;

use candle_core::Device;
use tests::{mnist, short_config, train_on_cpu};
use trainer::checkpoint::Checkpoint;
use trainer::settings::{Config, Preset};
use trainer::train::{Event, Outcome, Start, TrainError, Trained, train};

/// Runs `config` until iteration `stop_at`, saves and reloads the checkpoint through
/// safetensors, and resumes it to the end.
fn stop_and_resume(config: &Config, stop_at: usize, checkpoint_every: usize) -> Trained {
    let stopped =
        train(mnist(), &Device::Cpu, Start::Fresh(config.clone()), checkpoint_every, &mut |e| {
            match e {
                Event::Step { done, .. } if done == stop_at => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        });
    let Ok(Outcome::Stopped(checkpoint)) = stopped else { panic!("did not stop: {stopped:?}") };
    assert_eq!(checkpoint.iteration, stop_at);
    let bytes = checkpoint.to_safetensors().unwrap();
    let reloaded = Checkpoint::parse(Path::new("checkpoint.safetensors"), &bytes).unwrap();
    assert_eq!(reloaded, *checkpoint);
    let start = Start::Resume(Box::new(reloaded));
    match train(mnist(), &Device::Cpu, start, checkpoint_every, &mut |_| ControlFlow::Continue(()))
    {
        Ok(Outcome::Finished(trained)) => trained,
        other => panic!("resumed run did not finish: {other:?}"),
    }
}

fn assert_same_run(resumed: &Trained, uninterrupted: &Trained) {
    assert_eq!(resumed.model, uninterrupted.model, "weights differ bit for bit");
    let bits = |t: &Trained| {
        t.history
            .iter()
            .map(|p| (p.iteration, p.loss.to_bits(), p.mean_loss.to_bits(), p.test_accuracy))
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(resumed), bits(uninterrupted));
    // The history holds no clock: the model files of both runs are the same bytes.
    assert_eq!(resumed.history, uninterrupted.history);
}

#[test]
fn adamw_runs_resume_to_the_same_bits_mid_epoch_and_at_an_epoch_boundary() {
    let config = short_config(2);
    let uninterrupted = train_on_cpu(&config);
    for stop_at in [333, 600] {
        assert_same_run(&stop_and_resume(&config, stop_at, 0), &uninterrupted);
    }
}

#[test]
fn sgd_runs_resume_to_the_same_bits_between_log_points() {
    // The tutorial logs every 500 iterations: the loss summed since 500 must carry over.
    let config = Config { epochs: 1, ..Config::preset(Preset::Tutorial, 3) };
    let uninterrupted = train_on_cpu(&config);
    assert_same_run(&stop_and_resume(&config, 550, 0), &uninterrupted);
}

#[test]
fn periodic_checkpoints_are_reported_and_resume_exactly() {
    let config = short_config(1);
    let mut saved = Vec::new();
    let run = train(mnist(), &Device::Cpu, Start::Fresh(config.clone()), 250, &mut |e| {
        if let Event::Checkpoint(c) = e {
            saved.push(c.clone());
        }
        ControlFlow::Continue(())
    });
    let Ok(Outcome::Finished(uninterrupted)) = run else { panic!("{run:?}") };
    assert_eq!(saved.iter().map(|c| c.iteration).collect::<Vec<_>>(), [250, 500]);
    let last = saved.pop().unwrap();
    let resumed = train(mnist(), &Device::Cpu, Start::Resume(Box::new(last)), 0, &mut |_| {
        ControlFlow::Continue(())
    });
    let Ok(Outcome::Finished(resumed)) = resumed else { panic!("{resumed:?}") };
    assert_same_run(&resumed, &uninterrupted);
}

#[test]
fn a_checkpoint_for_other_data_or_a_damaged_one_is_refused() {
    let config = short_config(1);
    let stopped = train(mnist(), &Device::Cpu, Start::Fresh(config), 0, &mut |e| match e {
        Event::Step { done: 10, .. } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    });
    let Ok(Outcome::Stopped(checkpoint)) = stopped else { panic!("{stopped:?}") };

    let mut other_data = checkpoint.clone();
    other_data.data_sha256.values_mut().for_each(|v| *v = "0".repeat(64));
    let result = train(mnist(), &Device::Cpu, Start::Resume(other_data), 0, &mut |_| {
        ControlFlow::Continue(())
    });
    assert!(matches!(result, Err(TrainError::Resume(_))), "{result:?}");

    let bytes = checkpoint.to_safetensors().unwrap();
    let path = Path::new("checkpoint.safetensors");
    for len in [0, 8, bytes.len() / 2, bytes.len() - 1] {
        assert!(Checkpoint::parse(path, &bytes[..len]).is_err(), "{len} bytes parsed");
    }
    let mut shuffled = checkpoint.clone();
    shuffled.order[0] = shuffled.order[1];
    let error = Checkpoint::parse(path, &shuffled.to_safetensors().unwrap()).unwrap_err();
    assert!(error.to_string().contains("not a permutation"), "{error}");
    let mut nan = checkpoint;
    nan.weight[5] = f32::NAN;
    let error = Checkpoint::parse(path, &nan.to_safetensors().unwrap()).unwrap_err();
    assert!(error.to_string().contains("NaN"), "{error}");
}
