//! Row-based blocks (`../shared/spec/format-pebble.md` §6.12): the LevelDB block layout
//! Pebble's table formats v1–v4 use for every block, v5 for the metaindex and v5/v6 for
//! the properties. Entries share a prefix with the previous key; a restart array ends the
//! block.

use crate::error::{Error, Result};

fn bad(what: impl std::fmt::Display) -> Error {
    Error::corrupt("pebble block", format!("row-based block: {what}"))
}

fn uvarint32(bytes: &[u8], at: &mut usize) -> Result<usize> {
    let mut rest = bytes.get(*at..).ok_or_else(|| bad("entry past the end"))?;
    let before = rest.len();
    let v = prost::encoding::decode_varint(&mut rest).map_err(|_| bad("malformed varint"))?;
    *at += before - rest.len();
    u32::try_from(v)
        .map(|v| v as usize)
        .map_err(|_| bad("varint over 32 bits"))
}

/// Every entry of a row-based block: `(key, value)` as stored (keys of data, index and
/// range-deletion blocks are internal keys; of metaindex and properties, names).
///
/// # Errors
/// [`Error::Corrupt`] for a malformed block: a restart array past the block, a shared
/// prefix longer than the previous key, an entry past the entries' end.
pub fn entries(bytes: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let n = bytes.len();
    if n < 4 {
        return Err(bad("shorter than its restart count"));
    }
    let restarts = u32::from_le_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]);
    let restart_bytes = (restarts as usize)
        .checked_mul(4)
        .filter(|b| b + 4 <= n)
        .ok_or_else(|| bad(format!("{restarts} restarts in {n} bytes")))?;
    let end = n - 4 - restart_bytes;
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut at = 0;
    while at < end {
        let shared = uvarint32(bytes, &mut at)?;
        let unshared = uvarint32(bytes, &mut at)?;
        let value_len = uvarint32(bytes, &mut at)?;
        let prev = out.last().map_or(&[][..], |(k, _)| k.as_slice());
        if shared > prev.len() {
            return Err(bad("shared prefix longer than the previous key"));
        }
        let key_end = at.checked_add(unshared).filter(|e| *e <= end);
        let value_end = key_end.and_then(|k| k.checked_add(value_len).filter(|e| *e <= end));
        let (Some(key_end), Some(value_end)) = (key_end, value_end) else {
            return Err(bad("entry past the end of the entries"));
        };
        let mut key = Vec::with_capacity(shared + unshared);
        key.extend_from_slice(&prev[..shared]);
        key.extend_from_slice(&bytes[at..key_end]);
        out.push((key, bytes[key_end..value_end].to_vec()));
        at = value_end;
    }
    Ok(out)
}

/// Splits an internal key (user key ‖ 8-byte little-endian trailer).
///
/// # Errors
/// [`Error::Corrupt`] for a key shorter than its trailer.
pub fn split_internal_key(key: &[u8]) -> Result<(&[u8], u64)> {
    if key.len() < 8 {
        return Err(bad("internal key shorter than its trailer"));
    }
    let (user, trailer) = key.split_at(key.len() - 8);
    let mut t = [0u8; 8];
    t.copy_from_slice(trailer);
    Ok((user, u64::from_le_bytes(t)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Builds a block the way LevelDB's writer does, with a restart every `interval` keys.
    pub(crate) fn build(entries: &[(&[u8], &[u8])], interval: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut restarts = Vec::new();
        let mut prev: &[u8] = &[];
        for (i, (k, v)) in entries.iter().enumerate() {
            let shared = if i % interval == 0 {
                restarts.push(out.len() as u32);
                0
            } else {
                k.iter().zip(prev).take_while(|(a, b)| a == b).count()
            };
            for n in [shared, k.len() - shared, v.len()] {
                prost::encoding::encode_varint(n as u64, &mut out);
            }
            out.extend_from_slice(&k[shared..]);
            out.extend_from_slice(v);
            prev = k;
        }
        for r in &restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
        out
    }

    #[test]
    fn shared_prefixes_rebuild_the_keys() {
        let rows: Vec<(&[u8], &[u8])> = vec![
            (b"apple", b"1"),
            (b"applesauce", b"22"),
            (b"apricot", b""),
            (b"banana", b"4444"),
        ];
        for interval in [1, 2, 16] {
            let block = build(&rows, interval);
            let got = entries(&block).unwrap();
            let want: Vec<(Vec<u8>, Vec<u8>)> =
                rows.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
            assert_eq!(got, want, "restart interval {interval}");
        }
        assert!(entries(&[1, 0, 0]).is_err());
        assert!(entries(&[0, 0, 0, 0]).unwrap().is_empty());
        // A shared prefix on the first entry has no key to share with.
        assert!(entries(&[3, 0, 0, 0, 0, 0, 0]).is_err());
        let (user, trailer) = split_internal_key(&[b'k', 0x01, 2, 0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!((user, trailer), (&b"k"[..], 0x0201));
        assert!(split_internal_key(b"short").is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = entries(&bytes);
        }

        #[test]
        fn built_blocks_round_trip(mut keys in proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 0..12), 0..30), interval in 1usize..20) {
            let keys: Vec<Vec<u8>> = std::mem::take(&mut keys).into_iter().collect();
            let rows: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (k.as_slice(), k.as_slice())).collect();
            let got = entries(&build(&rows, interval)).unwrap();
            prop_assert_eq!(got.len(), keys.len());
            for (g, k) in got.iter().zip(&keys) {
                prop_assert_eq!(&g.0, k);
                prop_assert_eq!(&g.1, k);
            }
        }
    }
}
