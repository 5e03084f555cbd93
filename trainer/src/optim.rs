//! AdamW on a parameter tensor, with its state exposed for checkpoints.
//!
//! candle-nn's `AdamW` updates `Var`s from an autograd `GradStore` and keeps its moment
//! estimates private; training here computes its gradient in closed form and must save and
//! restore the moments. This is the same update, operation for operation (a test checks the
//! two equal bit for bit).

use candle_core::{DType, Tensor};
use candle_nn::ParamsAdamW;

/// Adam with decoupled weight decay (Loshchilov & Hutter), as `torch.optim.AdamW`.
#[derive(Debug)]
pub struct AdamW {
    params: ParamsAdamW,
    first: Tensor,
    second: Tensor,
    step: usize,
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
    /// Zero moments for a parameter tensor like `theta`.
    pub fn new(theta: &Tensor, params: ParamsAdamW) -> candle_core::Result<Self> {
        let zeros = || Tensor::zeros(theta.shape(), DType::F32, theta.device());
        Ok(Self { params, first: zeros()?, second: zeros()?, step: 0 })
    }

    /// Sets the learning rate for the next steps (schedules).
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }

    /// `theta` after one update with gradient `g`.
    pub fn update(&mut self, theta: &Tensor, g: &Tensor) -> candle_core::Result<Tensor> {
        self.step += 1;
        let ParamsAdamW { lr, beta1, beta2, eps, weight_decay } = self.params;
        let scale_m = 1f64 / (1f64 - beta1.powi(self.step as i32));
        let scale_v = 1f64 / (1f64 - beta2.powi(self.step as i32));
        self.first = ((&self.first * beta1)? + (g * (1.0 - beta1))?)?;
        self.second = ((&self.second * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
        let m_hat = (&self.first * scale_m)?;
        let v_hat = (&self.second * scale_v)?;
        let decayed = (theta * (1f64 - lr * weight_decay))?;
        let adjusted_grad = (m_hat / (v_hat.sqrt()? + eps)?)?;
        decayed - (adjusted_grad * lr)?
    }

    /// The update count and the first and second moments, flattened.
    pub fn state(&self) -> candle_core::Result<(usize, Vec<f32>, Vec<f32>)> {
        let flat = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
        Ok((self.step, flat(&self.first)?, flat(&self.second)?))
    }

    /// Continues from a saved update count and moments (flattened).
    pub fn restore(
        &mut self,
        step: usize,
        first: &[f32],
        second: &[f32],
    ) -> candle_core::Result<()> {
        let (shape, device) = (self.first.shape().clone(), self.first.device().clone());
        self.first = Tensor::from_slice(first, &shape, &device)?;
        self.second = Tensor::from_slice(second, &shape, &device)?;
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};
    use candle_nn::{Optimizer, ParamsAdamW};

    use super::*;

    fn bits(t: &Tensor) -> Vec<u32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|f| f.to_bits()).collect()
    }

    #[test]
    fn equals_candle_adamw_bit_for_bit_and_restores_exactly() {
        let device = Device::Cpu;
        let init = Tensor::new(&[[0.3f32, -1.2, 2.5], [0.01, 4.0, -0.7]], &device).unwrap();
        let x = Tensor::new(&[[1.5f32, -0.5, 0.25], [2.0, 0.1, -3.0]], &device).unwrap();
        let params = ParamsAdamW { lr: 3e-3, weight_decay: 1e-4, ..ParamsAdamW::default() };
        let theirs = Var::from_tensor(&init).unwrap();
        let mut theirs_opt = candle_nn::AdamW::new(vec![theirs.clone()], params.clone()).unwrap();
        let (mut ours, mut ours_opt) = (init.clone(), AdamW::new(&init, params.clone()).unwrap());
        for step in 0..20 {
            let lr = 3e-3 / (1 + step) as f64;
            ours_opt.set_learning_rate(lr);
            theirs_opt.set_learning_rate(lr);
            // Both from the gradient autograd finds for candle's parameter, equal to ours.
            let grads = (theirs.as_tensor() * &x).unwrap().sqr().unwrap().sum_all().unwrap();
            let grads = grads.backward().unwrap();
            ours = ours_opt.update(&ours, grads.get(&theirs).unwrap()).unwrap();
            theirs_opt.step(&grads).unwrap();
            assert_eq!(bits(&ours), bits(&theirs), "step {step}");
        }

        // A copy restored from the state continues exactly as the original.
        let (step, first, second) = ours_opt.state().unwrap();
        let mut copy = ours.copy().unwrap();
        let mut copy_opt = AdamW::new(&copy, params).unwrap();
        copy_opt.restore(step, &first, &second).unwrap();
        copy_opt.set_learning_rate(ours_opt.params.lr); // the schedule's, not part of the state
        for _ in 0..5 {
            let g = (&ours * 0.5).unwrap();
            (ours, copy) =
                (ours_opt.update(&ours, &g).unwrap(), copy_opt.update(&copy, &g).unwrap());
        }
        assert_eq!(bits(&ours), bits(&copy));
        assert_eq!(copy_opt.state().unwrap().0, 25);
    }
}
