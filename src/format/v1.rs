//! v1 files: `C1ZF\0` + zstd of a SQLite database.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{Error, Result};
use crate::format::V1_MAGIC;

/// Decoder limits; the defaults are baton's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest decoded payload accepted, in bytes (default 10 GiB).
    pub max_decoded_size: u64,
    /// Largest zstd window accepted, as a power of two (default 27 = 128 MiB).
    pub max_window_log: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_decoded_size: 10 << 30,
            max_window_log: 27,
        }
    }
}

/// Encoder settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// zstd level. Default 1: on the org-420k benchmark's 248 MB RocksDB payload, level 3
    /// (baton's `SpeedDefault`) is 3 % smaller but takes 1.5 times the CPU and three
    /// times the memory (51 vs 17 MB with two threads). Every level reads the same.
    pub level: i32,
    /// zstd worker threads (0 = single-threaded; default: available cores).
    pub threads: u32,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        EncodeOptions {
            level: 1,
            threads: u32::try_from(cores).unwrap_or(1),
        }
    }
}

/// Window size a zstd frame header declares, or `None` if `header` is not a complete zstd
/// frame header (skippable frames and short input included; the decoder judges those).
fn declared_window(header: &[u8]) -> Option<u64> {
    if header.get(..4)? != [0x28, 0xB5, 0x2F, 0xFD] {
        return None;
    }
    let fhd = *header.get(4)?;
    let single_segment = fhd & 0x20 != 0;
    if !single_segment {
        let wd = *header.get(5)?;
        let log = 10 + u64::from(wd >> 3);
        let base = 1u64 << log;
        return Some(base + (base / 8) * u64::from(wd & 7));
    }
    // Single segment: the window is the content size.
    let dict_len = [0usize, 1, 2, 4][usize::from(fhd & 3)];
    let fcs_len = [1usize, 2, 4, 8][usize::from(fhd >> 6)];
    let at = 5 + dict_len;
    let raw = header.get(at..at + fcs_len)?;
    let mut v = 0u64;
    for (i, b) in raw.iter().enumerate() {
        v |= u64::from(*b) << (8 * i);
    }
    Some(if fcs_len == 2 { v + 256 } else { v })
}

fn corrupt_zstd(e: &io::Error) -> Error {
    Error::Corrupt {
        what: "zstd payload",
        reason: e.to_string(),
        source: None,
    }
}

/// Decodes the v1 file `src` into the SQLite file `dst` (not fsynced: a working copy);
/// returns the decoded size.
///
/// # Errors
/// [`Error::UnsupportedFormat`] for a wrong magic, [`Error::LimitExceeded`] for a declared
/// or actual size or a window over the limits, [`Error::Corrupt`] for bad zstd data.
pub fn decode(src: &Path, dst: &Path, limits: DecodeLimits) -> Result<u64> {
    let mut out = File::create(dst).map_err(|e| Error::io(dst, e))?;
    let n = decode_into(src, &mut out, dst, limits)?;
    out.flush().map_err(|e| Error::io(dst, e))?;
    Ok(n)
}

/// The decoded size the v1 file `src` declares in its first zstd frame header, if it does
/// (baton-sdk v0.25 and c1z write it; older baton files do not). Not checked: decoding
/// checks it against the limits and the actual content.
///
/// # Errors
/// [`Error::Io`] if `src` cannot be read.
pub fn declared_size(src: &Path) -> Result<Option<u64>> {
    let mut head = Vec::with_capacity(5 + 18);
    File::open(src)
        .and_then(|f| f.take(5 + 18).read_to_end(&mut head))
        .map_err(|e| Error::io(src, e))?;
    if head.get(..5) != Some(&V1_MAGIC[..]) {
        return Ok(None);
    }
    Ok(zstd::zstd_safe::get_frame_content_size(&head[5..])
        .ok()
        .flatten())
}

/// Decodes the v1 file `src` into `out` (`out_name` names it in write errors); returns
/// the decoded size.
///
/// # Errors
/// As [`decode`].
pub fn decode_to(
    src: &Path,
    out: &mut impl Write,
    out_name: &Path,
    limits: DecodeLimits,
) -> Result<u64> {
    decode_into(src, out, out_name, limits)
}

/// Decompresses the whole v1 file `src` without keeping the output, checking the zstd
/// checksum of every frame; returns the decoded size.
///
/// # Errors
/// As [`decode`].
pub fn verify(src: &Path, limits: DecodeLimits) -> Result<u64> {
    decode_into(src, &mut io::sink(), src, limits)
}

fn decode_into(src: &Path, out: &mut impl Write, dst: &Path, limits: DecodeLimits) -> Result<u64> {
    let mut input = File::open(src).map_err(|e| Error::io(src, e))?;
    let mut head = [0u8; 5 + 18];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(src, e)),
        }
    }
    if crate::format::sniff(&head[..got])? != Some(crate::format::Format::V1) {
        return Err(Error::UnsupportedFormat {
            reason: "not a v1 (C1ZF) file".into(),
        });
    }
    let frame = &head[5..got];
    if frame.is_empty() {
        // The magic alone: no frame, zero bytes decoded, a new empty database (as baton).
        return Ok(0);
    }
    if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(frame)
        && size > limits.max_decoded_size
    {
        return Err(Error::LimitExceeded {
            what: "declared decoded size",
            actual: size,
            limit: limits.max_decoded_size,
        });
    }
    let max_window = 1u64 << limits.max_window_log;
    if let Some(window) = declared_window(frame)
        && window > max_window
    {
        return Err(Error::LimitExceeded {
            what: "zstd window size",
            actual: window,
            limit: max_window,
        });
    }
    input
        .seek(SeekFrom::Start(5))
        .map_err(|e| Error::io(src, e))?;
    let mut decoder = zstd::stream::read::Decoder::new(input).map_err(|e| Error::io(src, e))?;
    decoder
        .window_log_max(limits.max_window_log)
        .map_err(|e| Error::io(src, e))?;
    let mut limited = decoder.take(limits.max_decoded_size.saturating_add(1));
    let written = copy_classified(&mut limited, out, dst, max_window)?;
    if written > limits.max_decoded_size {
        return Err(Error::LimitExceeded {
            what: "decoded size",
            actual: written,
            limit: limits.max_decoded_size,
        });
    }
    Ok(written)
}

/// `io::copy` that tells decoder errors (corrupt input) from write errors (the disk).
fn copy_classified(
    src: &mut impl Read,
    dst: &mut impl Write,
    dst_path: &Path,
    max_window: u64,
) -> Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A later frame declaring a larger window than the first one did.
            Err(e) if e.to_string().contains("too much memory") => {
                return Err(Error::LimitExceeded {
                    what: "zstd window size",
                    actual: max_window + 1,
                    limit: max_window,
                });
            }
            Err(e) => return Err(corrupt_zstd(&e)),
        };
        dst.write_all(&buf[..n])
            .map_err(|e| Error::io(dst_path, e))?;
        total += n as u64;
    }
}

/// Writes `C1ZF\0` + one zstd frame of the SQLite file `db` (with its content size and a
/// checksum) to `out`.
///
/// # Errors
/// I/O errors, or [`Error::Corrupt`] if `db` changes size while being read.
pub fn encode(db: &Path, out: &mut impl Write, opts: EncodeOptions) -> Result<()> {
    let input = File::open(db).map_err(|e| Error::io(db, e))?;
    let size = input.metadata().map_err(|e| Error::io(db, e))?.len();
    let wrap = |e: io::Error| Error::io(db, e);
    let mut enc = encoder(out, size, opts).map_err(wrap)?;
    let copied = io::copy(
        &mut BufReader::with_capacity(1 << 20, input).take(size),
        &mut enc,
    )
    .map_err(wrap)?;
    if copied != size {
        return Err(Error::corrupt(
            "sqlite database",
            "the database file shrank while it was being saved",
        ));
    }
    enc.finish().map_err(wrap)?;
    Ok(())
}

/// Writes `C1ZF\0` + one zstd frame of the SQLite database image `db` to `out`, as
/// [`encode`] does for a file.
///
/// # Errors
/// I/O errors.
pub fn encode_bytes(db: &[u8], out: &mut impl Write, opts: EncodeOptions) -> Result<()> {
    let wrap = |e: io::Error| Error::io(Path::new("<memory>"), e);
    let mut enc = encoder(out, db.len() as u64, opts).map_err(wrap)?;
    enc.write_all(db).map_err(wrap)?;
    enc.finish().map_err(wrap)?;
    Ok(())
}

/// `C1ZF\0` written, and a zstd encoder for a frame of `size` bytes after it.
fn encoder<W: Write>(
    mut out: W,
    size: u64,
    opts: EncodeOptions,
) -> io::Result<zstd::stream::write::Encoder<'static, W>> {
    out.write_all(&V1_MAGIC)?;
    let mut enc = zstd::stream::write::Encoder::new(out, opts.level)?;
    enc.include_checksum(true)?;
    enc.include_contentsize(true)?;
    enc.set_pledged_src_size(Some(size))?;
    if opts.threads > 0 {
        enc.multithread(opts.threads)?;
    }
    Ok(enc)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn window_descriptor_is_decoded() {
        // 0x68 = exponent 13, mantissa 0 → 2^23 (8 MiB), as in baton's old files.
        assert_eq!(
            declared_window(&[0x28, 0xB5, 0x2F, 0xFD, 0x04, 0x68]),
            Some(8 << 20)
        );
        // Single segment with a 1-byte FCS of 200.
        assert_eq!(
            declared_window(&[0x28, 0xB5, 0x2F, 0xFD, 0x20, 200]),
            Some(200)
        );
        assert_eq!(declared_window(&[0x28, 0xB5]), None);
    }
}
