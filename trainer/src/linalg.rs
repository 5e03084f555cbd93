//! The two dense matrix routines int4 calibration needs (a 784 x 784 matrix, once per
//! quantization): not worth a linear-algebra dependency.

/// The lower Cholesky factor `L` of a symmetric positive-definite `n x n` matrix `a`
/// (row-major, only its lower triangle read), computed in its place: `a = L L^T`. `None` if `a`
/// is not positive definite.
pub fn cholesky(mut a: Vec<f64>, n: usize) -> Option<Vec<f64>> {
    for i in 0..n {
        let (done, rest) = a.split_at_mut(i * n);
        let row = &mut rest[..n];
        for j in 0..i {
            row[j] = (row[j] - dot(&row[..j], &done[j * n..j * n + j])) / done[j * n + j];
        }
        let diagonal = row[i] - dot(&row[..i], &row[..i]);
        row[i] = (diagonal > 0.0).then(|| diagonal.sqrt())?;
        row[i + 1..].fill(0.0);
    }
    Some(a)
}

/// `sum_k a[k] * b[k]` in four interleaved partial sums: one running sum waits for each add to
/// finish before the next, four keep the floating-point unit busy (about 4x faster here). The
/// order is fixed, so the result is the same on every run.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = a4.remainder().iter().zip(b4.remainder()).map(|(x, y)| x * y).sum();
    let mut sums = [0.0; 4];
    for (x, y) in a4.zip(b4) {
        for lane in 0..4 {
            sums[lane] += x[lane] * y[lane];
        }
    }
    (sums[0] + sums[1]) + (sums[2] + sums[3]) + tail
}

/// The inverse of a lower-triangular `n x n` matrix with a non-zero diagonal (row-major), also
/// lower triangular: row `i` of the inverse is `(e_i - sum_{k<i} l[i][k] * row k) / l[i][i]`,
/// whole rows at a time so the inner loop runs over contiguous memory.
pub fn invert_lower(l: &[f64], n: usize) -> Vec<f64> {
    let mut inverse = vec![0.0; n * n];
    for i in 0..n {
        let (done, rest) = inverse.split_at_mut(i * n);
        let row = &mut rest[..=i];
        row[i] = 1.0;
        for (k, &factor) in l[i * n..i * n + i].iter().enumerate() {
            for (x, &y) in row.iter_mut().zip(&done[k * n..=k * n + k]) {
                *x -= factor * y;
            }
        }
        row.iter_mut().for_each(|x| *x /= l[i * n + i]);
    }
    inverse
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_and_inverse_of_a_small_matrix() {
        // a = L L^T with L = [[2, 0, 0], [1, 3, 0], [-1, 2, 1]].
        let a = [4.0, 2.0, -2.0, 2.0, 10.0, 5.0, -2.0, 5.0, 6.0];
        let l = cholesky(a.to_vec(), 3).unwrap();
        assert_eq!(l, [2.0, 0.0, 0.0, 1.0, 3.0, 0.0, -1.0, 2.0, 1.0]);
        let inverse = invert_lower(&l, 3);
        for i in 0..3 {
            for j in 0..3 {
                let product: f64 = (0..3).map(|k| l[i * 3 + k] * inverse[k * 3 + j]).sum();
                assert!((product - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
        assert_eq!(cholesky(vec![1.0, 2.0, 2.0, 1.0], 2), None, "not positive definite");
    }
}
