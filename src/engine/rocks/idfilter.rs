//! A growable Bloom filter over the grant-id keys of one sync run.
//!
//! Bulk grant writes (expansion) check that every new id is absent before writing blind.
//! Asking RocksDB costs a bloom probe per level-0 table, and tables pile up while
//! compaction is paused, so the check came to dominate large expansions. This filter
//! answers "certainly absent" for almost every new id in memory (about 10 bits per id);
//! only its rare "maybe" answers go to the database.

/// Bits per id in each stage (about 0.8 % false positives with [`HASHES`]).
const BITS_PER_ID: usize = 10;
/// Probes per id.
const HASHES: u64 = 7;
/// Ids the first stage holds.
const MIN_CAPACITY: usize = 1 << 16;

/// One fixed-size stage.
struct Stage {
    bits: Vec<u64>,
    ids: usize,
    capacity: usize,
}

impl Stage {
    fn new(capacity: usize) -> Self {
        let words = (capacity * BITS_PER_ID).div_ceil(64).max(1);
        Stage {
            bits: vec![0; words],
            ids: 0,
            capacity,
        }
    }

    /// The bit positions of `hash` (double hashing).
    fn positions(&self, hash: u64) -> impl Iterator<Item = u64> + use<> {
        let (len, step) = (self.bits.len() as u64 * 64, hash.rotate_left(32) | 1);
        (0..HASHES).map(move |i| hash.wrapping_add(i.wrapping_mul(step)) % len)
    }

    fn insert(&mut self, hash: u64) {
        for p in self.positions(hash) {
            if let Some(w) = self.bits.get_mut((p / 64) as usize) {
                *w |= 1 << (p % 64);
            }
        }
        self.ids += 1;
    }

    fn may_contain(&self, hash: u64) -> bool {
        self.positions(hash).all(|p| {
            self.bits
                .get((p / 64) as usize)
                .is_some_and(|w| w & (1 << (p % 64)) != 0)
        })
    }
}

/// A hasher for keys that already are [`IdFilter::hash`]es.
#[derive(Default)]
pub(super) struct PrehashedId(u64);

impl std::hash::Hasher for PrehashedId {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64s are hashed; fold anything else rather than lose it.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A set of [`IdFilter::hash`]es.
pub(super) type IdHashSet =
    std::collections::HashSet<u64, std::hash::BuildHasherDefault<PrehashedId>>;

/// A scalable Bloom filter: when a stage is full, a new one twice its size takes the
/// inserts, so the false-positive rate stays bounded however many ids arrive.
pub(super) struct IdFilter {
    stages: Vec<Stage>,
}

impl IdFilter {
    /// An empty filter; stages are added as ids arrive.
    pub(super) fn new() -> Self {
        IdFilter { stages: Vec::new() }
    }

    pub(super) fn hash(key: &[u8]) -> u64 {
        xxhash_rust::xxh64::xxh64(key, 0x6331_7a5f_6964_7321)
    }

    pub(super) fn insert(&mut self, key: &[u8]) {
        self.insert_hash(Self::hash(key));
    }

    /// Inserts a key by its [`IdFilter::hash`].
    pub(super) fn insert_hash(&mut self, hash: u64) {
        let full = self.stages.last().is_none_or(|s| s.ids >= s.capacity);
        if full {
            let capacity = self.stages.last().map_or(MIN_CAPACITY, |s| s.capacity * 2);
            self.stages.push(Stage::new(capacity));
        }
        if let Some(stage) = self.stages.last_mut() {
            stage.insert(hash);
        }
    }

    /// Keys inserted so far (repeats included).
    pub(super) fn len(&self) -> usize {
        self.stages.iter().map(|s| s.ids).sum()
    }

    /// `false`: the key was certainly never inserted.
    #[cfg(test)]
    pub(super) fn may_contain(&self, key: &[u8]) -> bool {
        self.may_contain_hash(Self::hash(key))
    }

    /// [`IdFilter::may_contain`] by the key's [`IdFilter::hash`].
    pub(super) fn may_contain_hash(&self, hash: u64) -> bool {
        self.stages.iter().any(|s| s.may_contain(hash))
    }
}

#[cfg(test)]
mod tests {
    use super::IdFilter;

    #[test]
    fn inserted_keys_are_always_found_and_others_rarely() {
        let mut f = IdFilter::new();
        // Far past the first stage, so growth is exercised.
        let n = 300_000u32;
        for i in 0..n {
            f.insert(format!("ent:user:{i}").as_bytes());
        }
        for i in 0..n {
            assert!(f.may_contain(format!("ent:user:{i}").as_bytes()), "{i}");
        }
        let false_positives = (0..100_000u32)
            .filter(|i| f.may_contain(format!("other:user:{i}").as_bytes()))
            .count();
        // Each stage is about 0.8 %; three stages at most add up to under 3 %.
        assert!(false_positives < 3_000, "{false_positives}");
    }
}
