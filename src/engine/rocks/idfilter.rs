//! A growable Bloom filter over the grant-id keys of one sync run.
//!
//! Bulk grant writes (expansion) check that every new id is absent before writing blind.
//! Asking RocksDB costs a bloom probe per level-0 table, and tables pile up while
//! compaction is paused, so the check came to dominate large expansions. This filter
//! answers "certainly absent" for almost every new id in memory; only its rare "maybe"
//! answers go to the database.
//!
//! Each stage is a split-block Bloom filter (as in Parquet): an id sets one bit in each
//! of the eight 32-bit words of one 32-byte block, so an insert or a lookup touches one
//! cache line rather than one per probe.

/// Bits per id in each stage: about 0.1 % false positives per full stage.
const BITS_PER_ID: usize = 16;
/// Ids the first stage holds.
const MIN_CAPACITY: usize = 1 << 16;
/// How much larger each new stage is: few stages keep lookups (which probe every stage)
/// cheap.
const GROWTH: usize = 2;
/// Odd multipliers that pick one bit per word of a block.
const SALT: [u32; 8] = [
    0x47b6_137b,
    0x4497_4d91,
    0x8824_ad5b,
    0xa2b7_289d,
    0x7054_95c7,
    0x2df1_424b,
    0x9efc_4947,
    0x5c6b_fb31,
];

/// One fixed-size stage.
struct Stage {
    blocks: Vec<[u32; 8]>,
    ids: usize,
    capacity: usize,
}

impl Stage {
    fn new(capacity: usize) -> Self {
        let blocks = (capacity * BITS_PER_ID).div_ceil(256).max(1);
        Stage {
            blocks: vec![[0; 8]; blocks],
            ids: 0,
            capacity,
        }
    }

    /// The block of `hash` (its high half, scaled to the block count) and the bit each
    /// word of it holds (from its low half).
    fn locate(&self, hash: u64) -> (usize, [u32; 8]) {
        let block = (((hash >> 32) * self.blocks.len() as u64) >> 32) as usize;
        let low = hash as u32;
        (block, SALT.map(|s| 1 << (low.wrapping_mul(s) >> 27)))
    }

    fn insert(&mut self, hash: u64) {
        let (block, mask) = self.locate(hash);
        if let Some(words) = self.blocks.get_mut(block) {
            for (w, m) in words.iter_mut().zip(mask) {
                *w |= m;
            }
        }
        self.ids += 1;
    }

    fn may_contain(&self, hash: u64) -> bool {
        let (block, mask) = self.locate(hash);
        self.blocks
            .get(block)
            .is_some_and(|words| words.iter().zip(mask).all(|(w, m)| w & m == m))
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

/// Ids whose hashes a filter keeps, so that a full stage can be replaced by one
/// [`REBUILD_GROWTH`] times larger holding them all (8 bytes an id while kept).
const KEEP_HASHES: usize = 1 << 20;
/// How much larger a rebuilt stage is.
const REBUILD_GROWTH: usize = 4;

/// A scalable Bloom filter: when a stage is full, a new one [`GROWTH`] times its size takes the
/// inserts, so the false-positive rate stays bounded however many ids arrive. While it
/// has seen at most [`KEEP_HASHES`] ids it keeps their hashes and rebuilds instead: one
/// stage, so a lookup touches one cache line rather than one per stage.
pub(super) struct IdFilter {
    stages: Vec<Stage>,
    /// Every inserted hash, until there are more than [`KEEP_HASHES`].
    hashes: Option<Vec<u64>>,
}

impl IdFilter {
    /// An empty filter; stages are added as ids arrive.
    pub(super) fn new() -> Self {
        IdFilter {
            stages: Vec::new(),
            hashes: Some(Vec::new()),
        }
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
            match (&self.hashes, self.stages.last()) {
                (_, None) => self.stages.push(Stage::new(MIN_CAPACITY)),
                (Some(kept), Some(last)) => {
                    let mut stage = Stage::new(last.capacity * REBUILD_GROWTH);
                    for &h in kept {
                        stage.insert(h);
                    }
                    self.stages = vec![stage];
                }
                (None, Some(last)) => {
                    let capacity = last.capacity * GROWTH;
                    self.stages.push(Stage::new(capacity));
                }
            }
        }
        if let Some(stage) = self.stages.last_mut() {
            stage.insert(hash);
        }
        if let Some(kept) = &mut self.hashes {
            if kept.len() < KEEP_HASHES {
                kept.push(hash);
            } else {
                self.hashes = None;
            }
        }
    }

    /// Keys inserted so far (repeats included).
    pub(super) fn len(&self) -> usize {
        self.stages.iter().map(|s| s.ids).sum()
    }

    /// Stages a lookup probes.
    #[cfg(test)]
    fn stages(&self) -> usize {
        self.stages.len()
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
        // Each full stage is about 0.1 % (0.23 % measured over all three stages).
        assert!(false_positives < 1_000, "{false_positives}");
        // Rebuilt while small: one stage holds every id.
        assert_eq!((f.stages(), f.len()), (1, n as usize));
    }

    #[test]
    fn past_the_kept_hashes_stages_are_added_and_nothing_is_lost() {
        let mut f = IdFilter::new();
        // Rebuilt into a 4M-id stage at 1M ids (the last hashes kept), then a second stage.
        let n = (1 << 22) + super::MIN_CAPACITY;
        for i in 0..n {
            f.insert_hash(IdFilter::hash(&i.to_le_bytes()));
        }
        assert!(f.hashes.is_none());
        assert_eq!(f.stages(), 2);
        assert_eq!(f.len(), n);
        assert!((0..n).all(|i| f.may_contain_hash(IdFilter::hash(&i.to_le_bytes()))));
    }
}
