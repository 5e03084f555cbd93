//! AdamW whose state can be saved and restored, for checkpoints.
//!
//! candle-nn's `AdamW` keeps its moment estimates private, so a resumed run could not continue
//! it exactly. This is the same update, operation for operation (a test checks the two equal
//! bit for bit), with its state exposed.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::ParamsAdamW;

/// Adam with decoupled weight decay (Loshchilov & Hutter), as `torch.optim.AdamW`.
#[derive(Debug)]
pub struct AdamW {
    params: ParamsAdamW,
    vars: Vec<Moments>,
    step: usize,
}

/// One parameter and its first and second moment estimates.
#[derive(Debug)]
struct Moments {
    var: Var,
    first: Var,
    second: Var,
}

/// The moments of every parameter, in the order the parameters were given, and the step count.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamWState {
    /// Updates done.
    pub step: usize,
    /// `(first, second)` moment estimates per parameter, flattened.
    pub moments: Vec<(Vec<f32>, Vec<f32>)>,
}

impl AdamW {
    /// Zero moments for `vars`.
    pub fn new(vars: Vec<Var>, params: ParamsAdamW) -> candle_core::Result<Self> {
        let vars = vars
            .into_iter()
            .map(|var| {
                let first = Var::zeros(var.shape(), var.dtype(), var.device())?;
                let second = Var::zeros(var.shape(), var.dtype(), var.device())?;
                Ok(Moments { var, first, second })
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(Self { params, vars, step: 0 })
    }

    /// Sets the learning rate for the next steps (schedules).
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }

    /// One update from the gradients of `loss`.
    pub fn backward_step(&mut self, loss: &Tensor) -> candle_core::Result<()> {
        self.step(&loss.backward()?)
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        self.step += 1;
        let ParamsAdamW { lr, beta1, beta2, eps, weight_decay } = self.params;
        let scale_m = 1f64 / (1f64 - beta1.powi(self.step as i32));
        let scale_v = 1f64 / (1f64 - beta2.powi(self.step as i32));
        for Moments { var: theta, first: m, second: v } in &self.vars {
            let Some(g) = grads.get(theta) else { continue };
            let next_m = ((m.as_tensor() * beta1)? + (g * (1.0 - beta1))?)?;
            let next_v = ((v.as_tensor() * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let m_hat = (&next_m * scale_m)?;
            let v_hat = (&next_v * scale_v)?;
            let next_theta = (theta.as_tensor() * (1f64 - lr * weight_decay))?;
            let adjusted_grad = (m_hat / (v_hat.sqrt()? + eps)?)?;
            let next_theta = (next_theta - (adjusted_grad * lr)?)?;
            m.set(&next_m)?;
            v.set(&next_v)?;
            theta.set(&next_theta)?;
        }
        Ok(())
    }

    /// The state to save.
    pub fn state(&self) -> candle_core::Result<AdamWState> {
        let flat = |var: &Var| var.as_tensor().flatten_all()?.to_vec1::<f32>();
        let moments = self
            .vars
            .iter()
            .map(|v| Ok((flat(&v.first)?, flat(&v.second)?)))
            .collect::<candle_core::Result<_>>()?;
        Ok(AdamWState { step: self.step, moments })
    }

    /// Continues from a saved state (moments in the order of the parameters).
    pub fn restore(&mut self, state: &AdamWState) -> candle_core::Result<()> {
        if state.moments.len() != self.vars.len() {
            candle_core::bail!(
                "{} moment pairs for {} parameters",
                state.moments.len(),
                self.vars.len()
            );
        }
        for (var, (first, second)) in self.vars.iter().zip(&state.moments) {
            let (shape, device) = (var.var.shape(), var.var.device());
            var.first.set(&Tensor::from_slice(first, shape, device)?)?;
            var.second.set(&Tensor::from_slice(second, shape, device)?)?;
        }
        self.step = state.step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};
    use candle_nn::{Optimizer, ParamsAdamW};

    use super::*;

    fn loss(w: &Var, x: &Tensor) -> Tensor {
        (w.as_tensor() * x).unwrap().sqr().unwrap().sum_all().unwrap()
    }

    #[test]
    fn equals_candle_adamw_bit_for_bit_and_restores_exactly() {
        let device = Device::Cpu;
        let init = Tensor::new(&[[0.3f32, -1.2, 2.5], [0.01, 4.0, -0.7]], &device).unwrap();
        let x = Tensor::new(&[[1.5f32, -0.5, 0.25], [2.0, 0.1, -3.0]], &device).unwrap();
        let params = ParamsAdamW { lr: 3e-3, weight_decay: 1e-4, ..ParamsAdamW::default() };
        let (ours, theirs) = (Var::from_tensor(&init).unwrap(), Var::from_tensor(&init).unwrap());
        let mut ours_opt = AdamW::new(vec![ours.clone()], params.clone()).unwrap();
        let mut theirs_opt = candle_nn::AdamW::new(vec![theirs.clone()], params.clone()).unwrap();
        let bits = |v: &Var| {
            v.flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .map(|f| f.to_bits())
                .collect::<Vec<_>>()
        };
        for step in 0..20 {
            let lr = 3e-3 / (1 + step) as f64;
            ours_opt.set_learning_rate(lr);
            theirs_opt.set_learning_rate(lr);
            ours_opt.backward_step(&loss(&ours, &x)).unwrap();
            theirs_opt.backward_step(&loss(&theirs, &x)).unwrap();
            assert_eq!(bits(&ours), bits(&theirs), "step {step}");
        }

        // A copy restored from the state continues exactly as the original.
        let state = ours_opt.state().unwrap();
        let copy = Var::from_tensor(&ours.as_tensor().copy().unwrap()).unwrap();
        let mut copy_opt = AdamW::new(vec![copy.clone()], params).unwrap();
        copy_opt.restore(&state).unwrap();
        copy_opt.set_learning_rate(ours_opt.params.lr); // the schedule's, not part of the state
        for _ in 0..5 {
            ours_opt.backward_step(&loss(&ours, &x)).unwrap();
            copy_opt.backward_step(&loss(&copy, &x)).unwrap();
        }
        assert_eq!(bits(&ours), bits(&copy));
        assert_eq!(copy_opt.state().unwrap().step, 25);
    }
}
