//! baton's Pebble databases (engines `pebble`, `pebble2`, `pebble3`), read without Pebble:
//! the layers of `../shared/spec/format-pebble.md`, written from that document.
//!
//! The layers, bottom up: the directory (marker files, the format major version, the
//! current MANIFEST: [`PebbleDir::open`]), log records ([`record`]) and the MANIFEST replay
//! ([`manifest`]) telling which tables are live on which level; tables ([`table`]: footers,
//! checksummed and decompressed blocks; [`sst`]: index, properties, range deletions) with
//! their columnar ([`colblk`]) and row-based ([`rowblk`]) blocks; WAL replay ([`wal`]); the
//! merged, seekable view of every live key with a block cache ([`merge`]). On top, baton's
//! keyspace ([`keys`], [`records`]) behind c1z's `Reader` ([`store::PebbleStore`]),
//! read-only.

pub mod colblk;
mod file;
pub mod keys;
pub mod manifest;
pub mod merge;
pub mod record;
pub mod records;
pub mod rowblk;
pub mod sst;
pub mod store;
pub mod table;
pub mod wal;

pub use file::PebbleOptions;
pub use store::PebbleStore;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
pub use manifest::{InternalKey, Table, Version};

/// Format major versions Pebble v2 opens (`FormatMinSupported` to `FormatNewest`).
pub const FORMAT_MAJOR_VERSIONS: std::ops::RangeInclusive<u32> = 13..=24;

/// A Pebble database directory (an extracted v3 payload), its live version read.
#[derive(Clone, Debug)]
pub struct PebbleDir {
    /// The directory.
    pub path: PathBuf,
    /// The format major version (baton v0.25.0: 24).
    pub format_major_version: u32,
    /// The current MANIFEST's file name.
    pub manifest: String,
    /// The live version.
    pub version: Version,
    /// WAL file numbers at or above the version's log number, ascending (their records
    /// are not yet applied; baton's saved files have only empty ones).
    pub wals: Vec<u64>,
}

fn corrupt(reason: String) -> Error {
    Error::corrupt("pebble database", reason)
}

/// The winning value of each marker: `marker.<name>.<iteration>.<value>`, highest
/// iteration first.
fn markers(names: &[String]) -> Result<Vec<(String, u64, String)>> {
    let mut out: Vec<(String, u64, String)> = Vec::new();
    for n in names {
        let Some(rest) = n.strip_prefix("marker.") else {
            continue;
        };
        let mut parts = rest.splitn(3, '.');
        let (Some(name), Some(iter), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt(format!("malformed marker file '{n}'")));
        };
        let iter: u64 = iter
            .parse()
            .map_err(|_| corrupt(format!("malformed marker file '{n}'")))?;
        match out.iter_mut().find(|(m, _, _)| m == name) {
            Some(existing) if existing.1 >= iter => {}
            Some(existing) => *existing = (name.to_owned(), iter, value.to_owned()),
            None => out.push((name.to_owned(), iter, value.to_owned())),
        }
    }
    Ok(out)
}

/// The number of a `NNNNNN.<ext>` file name.
fn numbered(name: &str, ext: &str) -> Option<u64> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    (!stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

impl PebbleDir {
    /// Reads the directory's markers and current MANIFEST, and replays it.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the file at fault (a missing or malformed marker, a format
    /// major version Pebble does not open, a damaged MANIFEST, a live table whose file is
    /// missing); [`Error::Unsupported`] for features baton never writes (blob files);
    /// [`Error::Io`].
    pub fn open(path: &Path) -> Result<Self> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
            let entry = entry.map_err(|e| Error::io(path, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        let markers = markers(&names)?;
        let marker = |name: &str| {
            markers
                .iter()
                .find(|(m, _, _)| m == name)
                .map(|(_, _, v)| v.clone())
                .ok_or_else(|| corrupt(format!("no '{name}' marker file")))
        };
        let fmv_text = marker("format-version")?;
        let format_major_version: u32 = fmv_text
            .parse()
            .map_err(|_| corrupt(format!("format-version marker '{fmv_text}'")))?;
        if !FORMAT_MAJOR_VERSIONS.contains(&format_major_version) {
            return Err(Error::UnsupportedFormat {
                reason: format!(
                    "pebble format major version {format_major_version} (readable: {}..={})",
                    FORMAT_MAJOR_VERSIONS.start(),
                    FORMAT_MAJOR_VERSIONS.end()
                ),
            });
        }
        let manifest = marker("manifest")?;
        if !manifest.starts_with("MANIFEST-") || !names.contains(&manifest) {
            return Err(corrupt(format!(
                "manifest marker names missing file '{manifest}'"
            )));
        }
        let bytes =
            std::fs::read(path.join(&manifest)).map_err(|e| Error::io(path.join(&manifest), e))?;
        let records = record::read_records(&manifest, &bytes, 0)?;
        let version = manifest::replay(&manifest, &records)?;
        if version.comparator != "leveldb.BytewiseComparator" {
            return Err(Error::UnsupportedFormat {
                reason: format!("{manifest}: pebble comparator '{}'", version.comparator),
            });
        }
        for level in &version.levels {
            for table in level.values() {
                let file = format!("{:06}.sst", table.file_number());
                if !names.contains(&file) {
                    return Err(corrupt(format!(
                        "{manifest}: live table {} needs {file}, which is missing",
                        table.number
                    )));
                }
            }
        }
        let mut wals: Vec<u64> = names
            .iter()
            .filter_map(|n| numbered(n, "log"))
            .filter(|n| *n >= version.log_number)
            .collect();
        wals.sort_unstable();
        Ok(PebbleDir {
            path: path.to_owned(),
            format_major_version,
            manifest,
            version,
            wals,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn markers_take_the_highest_iteration_and_keep_dots_in_values() {
        let names: Vec<String> = [
            "marker.manifest.000001.MANIFEST-000001",
            "marker.manifest.000002.MANIFEST-000009",
            "marker.format-version.000001.024",
            "marker.x.000003.a.b.c",
            "000001.sst",
        ]
        .map(String::from)
        .to_vec();
        let m = markers(&names).unwrap();
        assert!(m.contains(&("manifest".into(), 2, "MANIFEST-000009".into())));
        assert!(m.contains(&("x".into(), 3, "a.b.c".into())));
        assert!(markers(&["marker.bad".to_owned()]).is_err());
        assert!(markers(&["marker.bad.x.y".to_owned()]).is_err());
        assert_eq!(numbered("000027.log", "log"), Some(27));
        assert_eq!(numbered("1234567.sst", "sst"), Some(1_234_567));
        assert_eq!(numbered("000027-001.log", "log"), None);
    }
}
