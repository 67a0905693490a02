//! A small seeded generator (xoshiro256++, seeded through splitmix64) and the samplers the simulator needs, so a
//! run is reproducible from its seed and the crate needs no random-number dependency.

/// splitmix64: expands one seed into well-mixed words (used to seed `Rng` and to derive stream seeds).
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256++ (Blackman and Vigna): fast, 256 bits of state, good statistical quality for simulation.
#[derive(Clone, Debug)]
pub struct Rng {
    state: [u64; 4],
    /// The second normal deviate of the last Box-Muller pair, if not used yet.
    spare_normal: Option<f64>,
}

impl Rng {
    /// A generator for one purpose (`stream`) of a run with seed `seed`: different streams are independent, so
    /// changing how many draws one purpose makes (more agents, say) leaves the others' sequences unchanged.
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut mix = seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut state = [0; 4];
        for word in &mut state {
            *word = splitmix64(&mut mix);
        }
        if state == [0; 4] {
            state[0] = 1;
        }
        Rng {
            state,
            spare_normal: None,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1), with 53 bits of precision.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Exponential with the given mean (inversion; `1 - u` is in (0, 1], so the logarithm is finite).
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.uniform()).ln()
    }

    /// Standard normal (Box-Muller, both deviates of a pair used).
    pub fn standard_normal(&mut self) -> f64 {
        if let Some(spare) = self.spare_normal.take() {
            return spare;
        }
        let radius = (-2.0 * (1.0 - self.uniform()).ln()).sqrt();
        let angle = std::f64::consts::TAU * self.uniform();
        self.spare_normal = Some(radius * angle.sin());
        radius * angle.cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_streams_differ() {
        let mut a = Rng::new(42, 1);
        let mut b = Rng::new(42, 1);
        let mut c = Rng::new(42, 2);
        let first: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let again: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let other: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[test]
    fn moments_are_right() {
        let mut rng = Rng::new(7, 0);
        let n = 200_000;
        let uniform_mean = (0..n).map(|_| rng.uniform()).sum::<f64>() / n as f64;
        assert!((uniform_mean - 0.5).abs() < 0.005, "{uniform_mean}");
        let exp_mean = (0..n).map(|_| rng.exponential(3.0)).sum::<f64>() / n as f64;
        assert!((exp_mean - 3.0).abs() < 0.05, "{exp_mean}");
        let normals: Vec<f64> = (0..n).map(|_| rng.standard_normal()).collect();
        let mean = normals.iter().sum::<f64>() / n as f64;
        let var = normals.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
    }
}
