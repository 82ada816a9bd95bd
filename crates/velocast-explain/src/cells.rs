//! Where the table cells live once built.
//!
//! A row reads one cell per group, each in a different part of tables of a hundred megabytes:
//! every read misses the cache, and with 4 KiB pages nearly every read also misses the TLB and
//! walks the page tables. Backed by transparent huge pages (2 MiB) where the kernel grants them
//! (`MADV_HUGEPAGE`; Linux's default `madvise` mode honours exactly this), the walks mostly
//! vanish: 66 to 58 µs a row on the trained blend. Elsewhere, or for small tables, a plain
//! vector.

/// Tables below this stay on the heap: a few pages of TLB reach cover them anyway.
const HUGE_PAGES_FROM_BYTES: usize = 4 << 20;

/// The cell values of a member's tables, read-only once built.
pub(crate) enum CellValues {
    /// An anonymous mapping advised to use huge pages, holding the values as `f64`s (the
    /// mapping is page-aligned, so the cast always holds).
    Mapped {
        map: memmap2::MmapMut,
        len: usize,
    },
    Heap(Vec<f64>),
}

impl CellValues {
    pub(crate) fn new(values: Vec<f64>) -> CellValues {
        let bytes = values.len() * std::mem::size_of::<f64>();
        if bytes < HUGE_PAGES_FROM_BYTES {
            return CellValues::Heap(values);
        }
        let Ok(mut map) = memmap2::MmapMut::map_anon(bytes) else {
            return CellValues::Heap(values);
        };
        // Advice only: a kernel without transparent huge pages keeps small pages.
        let _ = map.advise(memmap2::Advice::HugePage);
        match bytemuck::try_cast_slice_mut::<u8, f64>(&mut map[..]) {
            Ok(cells) => {
                cells.copy_from_slice(&values);
                CellValues::Mapped {
                    map,
                    len: values.len(),
                }
            }
            Err(_) => CellValues::Heap(values),
        }
    }

    pub(crate) fn as_slice(&self) -> &[f64] {
        match self {
            // The mapping is page-aligned and a whole number of f64s long, and `new` filled it
            // through this same cast, so the cast cannot fail here.
            CellValues::Mapped { map, len } => &bytemuck::cast_slice::<u8, f64>(&map[..])[..*len],
            CellValues::Heap(values) => values,
        }
    }
}

impl Default for CellValues {
    fn default() -> CellValues {
        CellValues::Heap(Vec::new())
    }
}

impl Clone for CellValues {
    fn clone(&self) -> CellValues {
        CellValues::new(self.as_slice().to_vec())
    }
}

impl std::fmt::Debug for CellValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            CellValues::Mapped { .. } => "huge-page mapping",
            CellValues::Heap(_) => "heap",
        };
        write!(f, "CellValues({} values, {kind})", self.as_slice().len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_tables_read_back_what_was_stored() {
        for len in [0, 10, (HUGE_PAGES_FROM_BYTES / 8) + 3] {
            let values: Vec<f64> = (0..len).map(|i| i as f64 * 0.5 - 7.0).collect();
            let cells = CellValues::new(values.clone());
            assert_eq!(cells.as_slice(), values.as_slice());
            assert_eq!(cells.clone().as_slice(), values.as_slice());
        }
        let large = CellValues::new(vec![1.0; HUGE_PAGES_FROM_BYTES / 8 + 1]);
        assert!(matches!(large, CellValues::Mapped { .. }), "{large:?}");
    }
}
