//! v3 files: `C1Z3\0` + big-endian u32 manifest length + manifest + payload.
//!
//! This build reads the envelope header and manifest (enough to identify a file and its
//! engine); payload extraction arrives with the RocksDB engine.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use prost::Message;

use crate::error::{Error, Result};
use crate::format::V3_MAGIC;
use crate::pb::c1::c1z::v3::{C1zManifestV3, PayloadEncoding};

/// Largest manifest accepted (baton's limit, on read and on write).
pub const MAX_MANIFEST_LEN: u32 = 16 << 20;

/// Engine names baton writes for its Pebble engine.
pub const PEBBLE_ENGINES: [&str; 3] = ["pebble3", "pebble2", "pebble"];

/// The decoded head of a v3 file.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// The manifest.
    pub manifest: C1zManifestV3,
    /// Its encoded length.
    pub manifest_len: u32,
    /// Absolute offset of the payload (9 + manifest length).
    pub payload_offset: u64,
    /// Total file size.
    pub file_size: u64,
}

impl Header {
    /// The payload encoding's name (`tar_zstd`, `tar`, `indexed_zstd`, or `unspecified`).
    #[must_use]
    pub fn payload_encoding_name(&self) -> &'static str {
        payload_encoding_name(self.manifest.payload_encoding)
    }
}

/// The lowercase name of a `PayloadEncoding` value.
#[must_use]
pub fn payload_encoding_name(value: i32) -> &'static str {
    match PayloadEncoding::try_from(value) {
        Ok(PayloadEncoding::TarZstd) => "tar_zstd",
        Ok(PayloadEncoding::Tar) => "tar",
        Ok(PayloadEncoding::IndexedZstd) => "indexed_zstd",
        Ok(PayloadEncoding::Unspecified) => "unspecified",
        Err(_) => "unknown",
    }
}

/// Reads and validates the header and manifest of the v3 file at `path`.
///
/// # Errors
/// [`Error::UnsupportedFormat`] for another magic, [`Error::LimitExceeded`] for a manifest
/// over 16 MiB, [`Error::Corrupt`] for a manifest past the end of the file, an undecodable
/// manifest or an empty engine name.
pub fn read_header(path: &Path) -> Result<Header> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let file_size = f.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut head = [0u8; 9];
    f.read_exact(&mut head)
        .map_err(|_| Error::corrupt("v3 header", "file shorter than the 9-byte header"))?;
    if head[..5] != V3_MAGIC {
        return Err(Error::UnsupportedFormat {
            reason: "not a v3 (C1Z3) file".into(),
        });
    }
    let manifest_len = u32::from_be_bytes([head[5], head[6], head[7], head[8]]);
    if manifest_len > MAX_MANIFEST_LEN {
        return Err(Error::LimitExceeded {
            what: "v3 manifest length",
            actual: u64::from(manifest_len),
            limit: u64::from(MAX_MANIFEST_LEN),
        });
    }
    let payload_offset = 9 + u64::from(manifest_len);
    if payload_offset > file_size {
        return Err(Error::corrupt(
            "v3 manifest",
            format!(
                "manifest length {manifest_len} runs past the end of the file ({file_size} bytes)"
            ),
        ));
    }
    let mut bytes = vec![0u8; manifest_len as usize];
    f.read_exact(&mut bytes).map_err(|e| Error::io(path, e))?;
    let manifest = C1zManifestV3::decode(bytes.as_slice()).map_err(|e| Error::Corrupt {
        what: "v3 manifest",
        reason: "not a valid C1ZManifestV3 message".into(),
        source: Some(Box::new(e)),
    })?;
    if manifest.engine.is_empty() {
        return Err(Error::corrupt("v3 manifest", "empty engine name"));
    }
    Ok(Header {
        manifest,
        manifest_len,
        payload_offset,
        file_size,
    })
}

/// Writes a v3 file: magic, manifest length, manifest, then the files under
/// `payload_root` in `encoding` (`tar_zstd` or `tar`; baton's indexed encoding is read
/// but not written).
///
/// # Errors
/// [`Error::Unsupported`] for the indexed encoding; [`Error::LimitExceeded`] for a manifest
/// over 16 MiB; I/O errors.
pub fn write(
    out: &mut impl std::io::Write,
    manifest: &C1zManifestV3,
    payload_root: &Path,
    opts: crate::format::v1::EncodeOptions,
) -> Result<()> {
    write_with(out, manifest, payload_root, opts, &|_| None)
}

/// [`write`](fn@write), splicing in payload file bodies compressed earlier (see
/// [`crate::format::v3_payload::write_tar_zstd`]).
///
/// # Errors
/// As [`write`](fn@write).
pub fn write_with(
    out: &mut impl std::io::Write,
    manifest: &C1zManifestV3,
    payload_root: &Path,
    opts: crate::format::v1::EncodeOptions,
    precompressed: &dyn Fn(
        &crate::format::v3_payload::FileIdentity,
    ) -> Option<crate::format::v3_payload::CompressedBody>,
) -> Result<()> {
    let bytes = manifest.encode_to_vec();
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|n| *n <= MAX_MANIFEST_LEN)
        .ok_or(Error::LimitExceeded {
            what: "v3 manifest length",
            actual: bytes.len() as u64,
            limit: u64::from(MAX_MANIFEST_LEN),
        })?;
    let io = |e| Error::io(payload_root, e);
    out.write_all(&V3_MAGIC).map_err(io)?;
    out.write_all(&len.to_be_bytes()).map_err(io)?;
    out.write_all(&bytes).map_err(io)?;
    match PayloadEncoding::try_from(manifest.payload_encoding) {
        Ok(PayloadEncoding::Tar) => crate::format::v3_payload::write_tar(payload_root, out),
        Ok(PayloadEncoding::TarZstd) => {
            crate::format::v3_payload::write_tar_zstd(payload_root, out, opts, precompressed)
        }
        _ => Err(Error::Unsupported {
            engine: "v3",
            operation: "writing this payload encoding",
        }),
    }
}
