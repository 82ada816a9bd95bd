//! Deterministic, monotone assignment of keys to weighted arms.
//!
//! Why rendezvous hashing rather than slicing `0..BUCKETS` into consecutive ranges: with ranges,
//! raising the first arm's weight shifts every later range, so keys move between arms whose
//! weights did not change. Here each (bucket, arm) pair draws a fixed uniform number `u`, the
//! arm's score is `-ln(u) / weight` (an exponential variable of rate `weight`), and the lowest
//! score wins: arm `i` wins with probability `wᵢ / Σw`, and raising `wᵢ` lowers only arm `i`'s
//! scores, so a bucket can only move to arm `i`.

use crate::table::Arm;

/// Fixed buckets a key hashes into. Shares are multiples of 1/10,000 of traffic.
pub const BUCKETS: u32 = 10_000;

/// 64-bit FNV-1a followed by the splitmix64 finalizer: specified here, not by the standard
/// library (whose hasher may change between Rust releases), so every replica and every future
/// build agrees on every key's bucket.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(PRIME);
    }
    splitmix(hash)
}

fn splitmix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The bucket a sticky key falls in.
pub fn bucket_of(key: &str) -> u32 {
    // The remainder is below BUCKETS, so it fits in u32.
    (stable_hash(key.as_bytes()) % u64::from(BUCKETS)) as u32
}

/// A uniform number in (0, 1] for (bucket, arm), fixed forever.
fn uniform(bucket: u32, arm: &str) -> f64 {
    let mut bytes = Vec::with_capacity(4 + arm.len());
    bytes.extend_from_slice(&bucket.to_le_bytes());
    bytes.extend_from_slice(arm.as_bytes());
    // The top 53 bits as a fraction, shifted off zero so the logarithm is finite.
    ((stable_hash(&bytes) >> 11) as f64 + 1.0) / (1u64 << 53) as f64
}

/// Where a key went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    pub bucket: u32,
    /// Index into the route's arms.
    pub arm: usize,
}

/// The arm a bucket belongs to (index into `arms`), or `None` when every arm has weight 0.
/// Counting buckets per arm gives the route's live split.
pub fn arm_of_bucket(bucket: u32, arms: &[Arm]) -> Option<usize> {
    arms.iter()
        .enumerate()
        .filter(|(_, arm)| arm.weight > 0)
        .map(|(index, arm)| {
            let score = -uniform(bucket, arm.name.as_str()).ln() / f64::from(arm.weight);
            (index, score)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
        .map(|(index, _)| index)
}

/// The arm for `key` among `arms`, or `None` when no arm has a positive weight (the route table
/// refuses such a route, so a validated table always assigns).
pub fn assign(key: &str, arms: &[Arm]) -> Option<Assignment> {
    let bucket = bucket_of(key);
    arm_of_bucket(bucket, arms).map(|arm| Assignment { bucket, arm })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fnv1a_then_splitmix() {
        // FNV-1a 64 of "" and "a" (published test vectors), through the finalizer.
        assert_eq!(stable_hash(b""), splitmix(0xcbf2_9ce4_8422_2325));
        assert_eq!(stable_hash(b"a"), splitmix(0xaf63_dc4c_8601_ec8c));
        // Pinned (computed independently): a change here would reshuffle every user's arm.
        assert_eq!(bucket_of("alice"), 572);
        assert_eq!(bucket_of("bob"), 3964);
    }

    #[test]
    fn uniform_numbers_stay_in_the_open_unit_interval() {
        for bucket in 0..1000 {
            let u = uniform(bucket, "champion");
            assert!(u > 0.0 && u <= 1.0, "{u}");
        }
    }
}
