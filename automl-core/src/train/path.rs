//! The descent path: an optimiser's parameter trajectory projected on its two main directions
//! (principal components of the centred trajectory), for GD_PATH_UPDATE.

use crate::event::PathPoint;

/// Projects `trajectory` (one flattened parameter vector per step) on its two main directions.
/// Returns one point per step with the given losses.
pub fn project(trajectory: &[Vec<f64>], losses: &[f64]) -> Vec<PathPoint> {
    let m = trajectory.len();
    if m == 0 {
        return vec![];
    }
    let d = trajectory[0].len();
    let mut mean = vec![0.0; d];
    for t in trajectory {
        for (a, b) in mean.iter_mut().zip(t) {
            *a += b / m as f64;
        }
    }
    let centred: Vec<Vec<f64>> = trajectory
        .iter()
        .map(|t| t.iter().zip(&mean).map(|(a, b)| a - b).collect())
        .collect();
    // Gram matrix of the steps (m × m): small, since m is the number of steps.
    let mut gram = vec![vec![0.0; m]; m];
    for i in 0..m {
        for j in i..m {
            let v: f64 = centred[i].iter().zip(&centred[j]).map(|(a, b)| a * b).sum();
            gram[i][j] = v;
            gram[j][i] = v;
        }
    }
    let mut coords = vec![[0.0f64; 2]; m];
    for (comp, _) in [(0usize, ()), (1usize, ())] {
        // Power iteration with a deterministic start.
        let mut u: Vec<f64> = (0..m).map(|i| 1.0 + (i as f64 * 0.618).sin()).collect();
        let mut lambda = 0.0;
        for _ in 0..200 {
            let mut w = vec![0.0; m];
            for i in 0..m {
                w[i] = gram[i].iter().zip(&u).map(|(a, b)| a * b).sum();
            }
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm < 1e-300 {
                lambda = 0.0;
                break;
            }
            lambda = norm;
            u = w.into_iter().map(|x| x / norm).collect();
        }
        let scale = lambda.max(0.0).sqrt();
        for i in 0..m {
            coords[i][comp] = u[i] * scale;
        }
        // Deflate.
        for i in 0..m {
            for j in 0..m {
                gram[i][j] -= lambda * u[i] * u[j];
            }
        }
    }
    coords
        .into_iter()
        .zip(losses.iter().copied().chain(std::iter::repeat(f64::NAN)))
        .map(|(c, loss)| PathPoint {
            x: c[0],
            y: c[1],
            loss,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_straight_line_projects_on_one_axis() {
        let traj: Vec<Vec<f64>> = (0..5)
            .map(|i| vec![i as f64, 2.0 * i as f64, 0.0])
            .collect();
        let pts = project(&traj, &[5.0, 4.0, 3.0, 2.0, 1.0]);
        assert_eq!(pts.len(), 5);
        let xs: Vec<f64> = pts.iter().map(|p| p.x).collect();
        // Distances along the line are preserved (up to sign).
        let step = (xs[1] - xs[0]).abs();
        assert!((step - 5f64.sqrt()).abs() < 1e-6, "{xs:?}");
        assert!(pts.iter().all(|p| p.y.abs() < 1e-6));
        assert_eq!(pts[4].loss, 1.0);
    }
}
