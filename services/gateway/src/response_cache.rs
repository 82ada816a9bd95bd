//! A bounded cache of predictions, per model version, keyed by the exact feature vector (its
//! f32 bits): a repeated hour skips ONNX Runtime and answers the same number. Off by default.
//!
//! Two generations approximate least-recently-used eviction without a linked list: lookups
//! read the current generation, then the previous one (promoting what they find); when the
//! current generation is full it becomes the previous one and the oldest is dropped whole.
//! At most `capacity` entries are held, and the capacity follows from the configured entry and
//! memory bounds.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use prometheus::IntCounter;
use velocast_features::FEATURE_COUNT;

type Key = [u32; FEATURE_COUNT];

/// Bytes one entry costs, with the map's overhead (a conservative estimate used for the bound).
pub const ENTRY_BYTES: usize = 128;

#[derive(Debug, Default)]
struct Generations {
    current: HashMap<Key, f32>,
    previous: HashMap<Key, f32>,
}

/// Hit and miss counters shared by every version's cache.
#[derive(Debug, Clone)]
pub struct CacheCounters {
    pub hits: IntCounter,
    pub misses: IntCounter,
}

#[derive(Debug)]
pub struct ResponseCache {
    generations: Mutex<Generations>,
    /// Entries per generation.
    half: usize,
    counters: CacheCounters,
}

fn key(row: &[f32]) -> Key {
    let mut key = [0_u32; FEATURE_COUNT];
    for (slot, value) in key.iter_mut().zip(row) {
        *slot = value.to_bits();
    }
    key
}

impl ResponseCache {
    /// A cache of at most `min(max_entries, max_bytes / ENTRY_BYTES)` entries (at least 2).
    pub fn new(max_entries: usize, max_bytes: usize, counters: CacheCounters) -> Self {
        let capacity = max_entries.min(max_bytes / ENTRY_BYTES).max(2);
        ResponseCache {
            generations: Mutex::new(Generations::default()),
            half: capacity / 2,
            counters,
        }
    }

    /// The cached prediction of each row (row-major features), `None` where it is not cached.
    pub fn lookup(&self, rows: &[f32]) -> Vec<Option<f32>> {
        let mut generations = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let found: Vec<Option<f32>> = rows
            .chunks_exact(FEATURE_COUNT)
            .map(|row| {
                let key = key(row);
                if let Some(value) = generations.current.get(&key) {
                    return Some(*value);
                }
                let value = generations.previous.remove(&key)?;
                insert(&mut generations, self.half, key, value);
                Some(value)
            })
            .collect();
        let hits = found.iter().filter(|v| v.is_some()).count() as u64;
        self.counters.hits.inc_by(hits);
        self.counters.misses.inc_by(found.len() as u64 - hits);
        found
    }

    /// Remembers the predictions of `rows`.
    pub fn store(&self, rows: &[f32], predictions: &[f32]) {
        let mut generations = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (row, value) in rows.chunks_exact(FEATURE_COUNT).zip(predictions) {
            insert(&mut generations, self.half, key(row), *value);
        }
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        let generations = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        generations.current.len() + generations.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn insert(generations: &mut Generations, half: usize, key: Key, value: f32) {
    if generations.current.len() >= half && !generations.current.contains_key(&key) {
        generations.previous = std::mem::take(&mut generations.current);
    }
    generations.current.insert(key, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters() -> CacheCounters {
        CacheCounters {
            hits: IntCounter::new("h", "h").unwrap(),
            misses: IntCounter::new("m", "m").unwrap(),
        }
    }

    fn row(seed: f32) -> Vec<f32> {
        (0..FEATURE_COUNT).map(|i| seed + i as f32).collect()
    }

    #[test]
    fn hits_return_what_was_stored_and_the_bound_holds() {
        let cache = ResponseCache::new(8, 1 << 20, counters());
        let rows: Vec<f32> = [row(1.0), row(2.0)].concat();
        assert_eq!(cache.lookup(&rows), vec![None, None]);
        cache.store(&rows, &[10.0, 20.0]);
        assert_eq!(cache.lookup(&rows), vec![Some(10.0), Some(20.0)]);
        assert_eq!(cache.counters.hits.get(), 2);
        assert_eq!(cache.counters.misses.get(), 2);
        // -0.0 and 0.0 are different inputs to a tree with a threshold at 0; keys are bits.
        let mut negative = row(0.0);
        negative[0] = -0.0;
        assert_eq!(cache.lookup(&negative), vec![None]);
        for seed in 0..100 {
            cache.store(&row(100.0 + seed as f32), &[1.0]);
            assert!(cache.len() <= 8, "{}", cache.len());
        }
    }

    #[test]
    fn recently_used_entries_survive_a_generation_change() {
        let cache = ResponseCache::new(4, 1 << 20, counters());
        cache.store(&row(1.0), &[1.0]);
        cache.store(&row(2.0), &[2.0]);
        // row 1 is read (promoted) while newer rows push the generations along.
        cache.store(&row(3.0), &[3.0]);
        assert_eq!(cache.lookup(&row(1.0)), vec![Some(1.0)]);
        cache.store(&row(4.0), &[4.0]);
        assert_eq!(cache.lookup(&row(1.0)), vec![Some(1.0)]);
        // The memory bound caps the entry bound.
        let small = ResponseCache::new(1_000_000, 10 * ENTRY_BYTES, counters());
        for seed in 0..50 {
            small.store(&row(seed as f32), &[0.0]);
        }
        assert!(small.len() <= 10);
    }
}
