//! Mini-batches in the layout [`linear`](crate::linear) trains on, gathered on the host from
//! the u8 images: only the batches in flight are ever in f32.

use std::ops::Range;
use std::sync::mpsc;
use std::thread::Scope;

use candle_core::{Device, Tensor};

use crate::data::{CLASSES, PIXELS, Split};
use crate::linear::{Batch, INPUTS};

/// Batches gathered ahead of training: enough to cover a slow step, few enough to stay in cache.
const AHEAD: usize = 4;

/// A batch on the host, for [`HostBatch::to_device`].
#[derive(Debug)]
pub struct HostBatch {
    inputs: Vec<f32>,
    targets: Vec<f32>,
    labels: Vec<u32>,
}

impl HostBatch {
    /// The examples of `split` at `indices`, in that order.
    pub fn gather(split: &Split, indices: &[u32]) -> Self {
        // The rows are copied first: copies of scattered rows overlap their cache misses, which
        // the conversion would otherwise wait for one row at a time.
        let mut pixels = Vec::with_capacity(indices.len() * PIXELS);
        for &index in indices {
            pixels.extend_from_slice(split.image(index as usize));
        }
        let labels: Vec<u32> =
            indices.iter().map(|&i| u32::from(split.labels[i as usize])).collect();
        Self { inputs: inputs(&pixels), targets: one_hot(&labels), labels }
    }

    /// The examples of `split` in `rows`.
    pub fn rows(split: &Split, rows: Range<usize>) -> Self {
        let labels: Vec<u32> = split.labels[rows.clone()].iter().map(|&l| u32::from(l)).collect();
        Self {
            inputs: inputs(&split.images[rows.start * PIXELS..rows.end * PIXELS]),
            targets: one_hot(&labels),
            labels,
        }
    }

    /// The batch as tensors on `device`.
    pub fn to_device(self, device: &Device) -> candle_core::Result<Batch> {
        let size = self.labels.len();
        Ok(Batch {
            inputs: Tensor::from_vec(self.inputs, (size, INPUTS), device)?,
            targets: Tensor::from_vec(self.targets, (size, CLASSES), device)?,
            labels: Tensor::from_vec(self.labels, (size, 1), device)?,
        })
    }
}

/// The batches of `steps` through `order`, `batch_size` examples each (the last one of the
/// order may be smaller), gathered by a thread of `scope` up to [`AHEAD`] batches ahead: the
/// cache misses of gathering scattered images then cost training no time. Dropping the
/// iterator stops the thread.
pub fn prefetch<'scope>(
    scope: &'scope Scope<'scope, '_>,
    split: &'scope Split,
    order: &'scope [u32],
    batch_size: usize,
    steps: Range<usize>,
) -> impl Iterator<Item = HostBatch> + 'scope {
    let (sender, receiver) = mpsc::sync_channel(AHEAD);
    scope.spawn(move || {
        for step in steps {
            let start = step * batch_size;
            let indices = &order[start..order.len().min(start + batch_size)];
            if sender.send(HostBatch::gather(split, indices)).is_err() {
                break;
            }
        }
    });
    receiver.into_iter()
}

/// Images (`PIXELS` bytes each) as input rows: pixels normalized as the device does
/// ([`infer_core::normalize_pixel`]), then the constant 1 that multiplies the bias.
fn inputs(images: &[u8]) -> Vec<f32> {
    let mut rows = vec![1.0; images.len() / PIXELS * INPUTS];
    for (row, image) in rows.chunks_exact_mut(INPUTS).zip(images.chunks_exact(PIXELS)) {
        for (x, &p) in row.iter_mut().zip(image) {
            *x = infer_core::normalize_pixel(p);
        }
    }
    rows
}

/// `[labels.len(), CLASSES]` one-hot rows.
fn one_hot(labels: &[u32]) -> Vec<f32> {
    labels
        .iter()
        .flat_map(|&label| (0..CLASSES as u32).map(move |c| f32::from(c == label)))
        .collect()
}
