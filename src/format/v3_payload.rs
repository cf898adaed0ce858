//! v3 payloads: writing tar and tar + zstd, extracting tar, tar + zstd and indexed zstd
//! frames, and verifying every hash a file carries.
//!
//! Indexed zstd (baton's default): one zstd frame per payload file, then a protobuf frame
//! table (`IndexedFrameIndex`), then a 28-byte footer `u64 index_offset | u32 index_len |
//! u64 xxh64(index) | "C1ZIDX1\0"` (big-endian; offsets absolute).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use prost::Message;
use sha2::Digest;

use crate::error::{Error, Result};
use crate::format::v1::DecodeLimits;
use crate::format::v3::Header;
use crate::pb::c1::c1z::v3::{IndexedFrameIndex, PayloadEncoding};

/// Footer magic of the indexed encoding.
pub const INDEX_MAGIC: [u8; 8] = *b"C1ZIDX1\0";
/// Largest frame table accepted.
pub const MAX_INDEX_LEN: u64 = 64 << 20;
/// Longest payload file name accepted.
pub const MAX_NAME_LEN: usize = 4096;

/// Payload files of a directory, relative `/`-separated names in byte order.
fn payload_files(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let path = entry.map_err(|e| Error::io(dir, e))?.path();
            let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
            if meta.is_dir() {
                walk(root, &path, out)?;
            } else if meta.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .map_err(|_| Error::corrupt("payload", "path outside root"))?;
                let name = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((name, path));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort();
    Ok(out)
}

/// A normalized tar header for a regular file of `len` bytes (mode 0644, owner 0, mtime 0).
fn entry_header(len: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(len);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    header
}

/// Writes the files under `root` as a tar stream with normalized headers (mode 0644, owner
/// 0, mtime 0), so equal directories give equal bytes.
///
/// # Errors
/// I/O errors.
pub fn write_tar(root: &Path, out: impl Write) -> Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    for (name, path) in payload_files(root)? {
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        let mut header = entry_header(len);
        builder
            .append_data(&mut header, &name, file.take(len))
            .map_err(|e| Error::io(&path, e))?;
    }
    builder
        .into_inner()
        .map_err(|e| Error::io(root, e))?
        .flush()
        .map_err(|e| Error::io(root, e))?;
    Ok(())
}

/// A payload file's identity while it is unchanged (device, inode, length, modification
/// time): a compressed copy made earlier stands for the file only under the same identity.
/// A hard link (a RocksDB checkpoint) shares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileIdentity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
}

impl FileIdentity {
    /// The identity of a file, where the platform has inodes.
    #[must_use]
    pub fn of(meta: &std::fs::Metadata) -> Option<Self> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Some(FileIdentity {
                dev: meta.dev(),
                ino: meta.ino(),
                len: meta.len(),
                mtime: (meta.mtime(), meta.mtime_nsec()),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            None
        }
    }
}

/// Bytes of zero padding after `len` content bytes in a tar stream.
fn tar_padding(len: u64) -> usize {
    ((512 - len % 512) % 512) as usize
}

/// The frames of one payload file's tar entry body, compressed ahead of a save: where
/// they are, and the file content they stand for. [`write_tar_zstd`] splices them in only
/// for a file of the same identity whose content hashes the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressedBody {
    /// The frame file.
    pub path: PathBuf,
    /// The compressed file's identity while it was read.
    pub identity: FileIdentity,
    /// xxh64 (seed 0) of the file's content (without the tar padding).
    pub content_hash: u64,
}

/// xxh64 (seed 0) of the next `len` bytes of `file`; `None` if it is shorter.
fn content_hash(file: &mut File, len: u64) -> io::Result<Option<u64>> {
    let mut hash = xxhash_rust::xxh64::Xxh64::new(0);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            return Ok(None);
        }
        hash.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(Some(hash.digest()))
}

/// Bytes of an entry compressed as one frame: a good ratio, and a save waiting for the
/// compressor to pause waits for one frame at most.
const FRAME_CHUNK: usize = 4 << 20;

/// Compresses the body of a file's tar entry (its bytes, zero-padded to the 512-byte
/// block) into zstd frames of `FRAME_CHUNK` bytes each at `out`, for
/// [`write_tar_zstd`] to splice in. Returns what the frames stand for; `None` if the file
/// changed while it was read or `cancelled` said so (checked before each frame), and then
/// `out` is removed. One file; [`BodyCompressor`] does many with one set of
/// buffers.
///
/// # Errors
/// I/O errors.
pub fn compress_entry_body(
    path: &Path,
    out: &Path,
    level: i32,
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<CompressedBody>> {
    BodyCompressor::new(level).compress(path, out, cancelled)
}

/// [`compress_entry_body`] for file after file, keeping its zstd context and buffers (a
/// few MiB) from one to the next instead of allocating, and faulting in, fresh ones.
pub struct BodyCompressor {
    level: i32,
    context: Option<zstd::bulk::Compressor<'static>>,
    chunk: Vec<u8>,
    frame: Vec<u8>,
}

impl std::fmt::Debug for BodyCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyCompressor")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl BodyCompressor {
    /// A compressor at zstd `level`; nothing is allocated until the first file.
    #[must_use]
    pub fn new(level: i32) -> Self {
        BodyCompressor {
            level,
            context: None,
            chunk: Vec::new(),
            frame: Vec::new(),
        }
    }

    /// See [`compress_entry_body`].
    ///
    /// # Errors
    /// I/O errors.
    pub fn compress(
        &mut self,
        path: &Path,
        out: &Path,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Option<CompressedBody>> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        let Some(before) = FileIdentity::of(&meta) else {
            return Ok(None);
        };
        let written = self
            .write_frames(&mut file, meta.len(), out, cancelled)
            .map_err(|e| Error::io(out, e))?;
        let after = file.metadata().map_err(|e| Error::io(path, e))?;
        if let Some(content_hash) = written
            && FileIdentity::of(&after) == Some(before)
        {
            return Ok(Some(CompressedBody {
                path: out.to_owned(),
                identity: before,
                content_hash,
            }));
        }
        let _ = std::fs::remove_file(out);
        Ok(None)
    }

    /// Writes the frames of `len` bytes of `file` (and the tar padding) to `out`; returns
    /// the content's xxh64, `None` if the file was shorter or `cancelled` said so.
    fn write_frames(
        &mut self,
        file: &mut File,
        len: u64,
        out: &Path,
        cancelled: &dyn Fn() -> bool,
    ) -> io::Result<Option<u64>> {
        let mut sink = File::create(out)?;
        // One-shot frames compress in place (the streaming encoder copies its input into
        // a window and matches across the seam); a stream of frames decodes to their
        // concatenation.
        let zc = match &mut self.context {
            Some(zc) => zc,
            None => {
                let mut zc = zstd::bulk::Compressor::new(self.level)?;
                zc.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
                self.context.insert(zc)
            }
        };
        let (chunk, frame) = (&mut self.chunk, &mut self.frame);
        let padding = tar_padding(len);
        chunk.reserve(FRAME_CHUNK + 512);
        let mut hash = xxhash_rust::xxh64::Xxh64::new(0);
        let mut left = len;
        loop {
            if cancelled() {
                return Ok(None);
            }
            let want = FRAME_CHUNK.min(usize::try_from(left).unwrap_or(usize::MAX));
            chunk.clear();
            (&mut *file).take(want as u64).read_to_end(chunk)?;
            if chunk.len() < want {
                // Shorter than its length: changed.
                return Ok(None);
            }
            hash.update(chunk);
            left -= want as u64;
            if left == 0 {
                chunk.resize(want + padding, 0);
            }
            frame.clear();
            frame.reserve(zstd::zstd_safe::compress_bound(chunk.len()));
            zc.compress_to_buffer(chunk.as_slice(), frame)?;
            sink.write_all(frame)?;
            if left == 0 {
                break;
            }
        }
        sink.flush()?;
        Ok(Some(hash.digest()))
    }
}

/// A zstd stream whose frames may be interleaved with frames compressed earlier: a
/// concatenation of frames decodes to the concatenation of their contents.
struct FrameSplicer<W: Write> {
    encoder: Option<zstd::stream::write::Encoder<'static, W>>,
    raw: Option<W>,
    opts: crate::format::v1::EncodeOptions,
}

impl<W: Write> FrameSplicer<W> {
    fn encoder(&mut self) -> io::Result<&mut zstd::stream::write::Encoder<'static, W>> {
        if self.encoder.is_none() {
            let raw = self
                .raw
                .take()
                .ok_or_else(|| io::Error::other("no output"))?;
            let mut enc = zstd::stream::write::Encoder::new(raw, self.opts.level)?;
            enc.include_checksum(true)?;
            if self.opts.threads > 0 {
                enc.multithread(self.opts.threads)?;
            }
            self.encoder = Some(enc);
        }
        self.encoder
            .as_mut()
            .ok_or_else(|| io::Error::other("no encoder"))
    }

    /// Ends the current frame and copies the frames in `path` to the output.
    fn splice(&mut self, path: &Path) -> io::Result<()> {
        if let Some(enc) = self.encoder.take() {
            self.raw = Some(enc.finish()?);
        }
        let raw = self
            .raw
            .as_mut()
            .ok_or_else(|| io::Error::other("no output"))?;
        io::copy(&mut File::open(path)?, raw)?;
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        match self.encoder.take() {
            Some(enc) => enc.finish(),
            None => self.raw.take().ok_or_else(|| io::Error::other("no output")),
        }
    }
}

impl<W: Write> Write for FrameSplicer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.encoder()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match (&mut self.encoder, &mut self.raw) {
            (Some(enc), _) => enc.flush(),
            (None, Some(raw)) => raw.flush(),
            (None, None) => Ok(()),
        }
    }
}

/// Writes the files under `root` as tar + zstd, the same tar stream as [`write_tar`].
/// The body of a file for which `precompressed` returns frames (made by
/// [`compress_entry_body`] for the file's identity) is copied from them instead of being
/// compressed again, if the file's content still hashes as it did then; otherwise it is
/// compressed here.
///
/// # Errors
/// I/O errors.
pub fn write_tar_zstd(
    root: &Path,
    out: impl Write,
    opts: crate::format::v1::EncodeOptions,
    precompressed: &dyn Fn(&FileIdentity) -> Option<CompressedBody>,
) -> Result<()> {
    let splicer = FrameSplicer {
        encoder: None,
        raw: Some(out),
        opts,
    };
    let mut builder = tar::Builder::new(splicer);
    builder.mode(tar::HeaderMode::Deterministic);
    for (name, path) in payload_files(root)? {
        let mut file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(&path, e))?;
        let len = meta.len();
        let mut header = entry_header(len);
        let frames = match FileIdentity::of(&meta).and_then(|id| precompressed(&id)) {
            // The identity can survive a rewrite in place (same length, mtime restored):
            // only frames of the same content stand for the file.
            Some(body) => {
                let hash = content_hash(&mut file, len).map_err(|e| Error::io(&path, e))?;
                file.seek(SeekFrom::Start(0))
                    .map_err(|e| Error::io(&path, e))?;
                (hash == Some(body.content_hash)).then_some(body.path)
            }
            None => None,
        };
        match frames {
            Some(frames) => {
                // The header alone (an empty body needs no padding), then the body's frame.
                builder
                    .append_data(&mut header, &name, io::empty())
                    .map_err(|e| Error::io(&path, e))?;
                builder
                    .get_mut()
                    .splice(&frames)
                    .map_err(|e| Error::io(&frames, e))?;
            }
            None => builder
                .append_data(&mut header, &name, file.take(len))
                .map_err(|e| Error::io(&path, e))?,
        }
    }
    builder
        .into_inner()
        .and_then(FrameSplicer::finish)
        .and_then(|mut w| w.flush())
        .map_err(|e| Error::io(root, e))?;
    Ok(())
}

/// A reader that fails once more than `budget` bytes have come through.
struct Budget<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self
            .left
            .checked_sub(n as u64)
            .ok_or_else(|| io::Error::other(OverBudget { limit: self.limit }))?;
        Ok(n)
    }
}

/// Records a member's path; a second member of the same path is refused (no writer makes
/// one, and extracting it would silently replace the first).
fn unique_member(seen: &mut std::collections::HashSet<PathBuf>, rel: &Path) -> Result<()> {
    if seen.insert(rel.to_owned()) {
        Ok(())
    } else {
        Err(Error::corrupt(
            "v3 payload",
            format!("member '{}' appears twice", rel.display()),
        ))
    }
}

/// A member path made safe: only normal components, no `..`, no root, no prefix.
fn safe_relative(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => {
                return Err(Error::corrupt(
                    "v3 payload",
                    format!(
                        "member path '{}' escapes the extraction directory",
                        path.display()
                    ),
                ));
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(Error::corrupt("v3 payload", "empty member path"));
    }
    Ok(out)
}

/// The error a [`Budget`] reader fails with once the decoded payload passes its limit.
#[derive(Debug, thiserror::Error)]
#[error("decoded payload exceeds the limit of {limit} bytes")]
struct OverBudget {
    limit: u64,
}

/// A read error of the payload stream: the budget's limit, or damaged tar or zstd data.
fn tar_error(e: &io::Error) -> Error {
    if let Some(over) = e.get_ref().and_then(|i| i.downcast_ref::<OverBudget>()) {
        return Error::LimitExceeded {
            what: "decoded payload size",
            actual: over.limit + 1,
            limit: over.limit,
        };
    }
    Error::Corrupt {
        what: "v3 payload",
        reason: format!("bad tar or zstd data: {e}"),
        source: None,
    }
}

/// Copies a member's bytes to `target`: a read error is the payload's (damage, or the
/// budget), a write error the destination's (a full disk, say).
fn copy_member(entry: &mut impl Read, out: &mut File, target: &Path) -> Result<()> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(tar_error(&e)),
        };
        out.write_all(&buf[..n]).map_err(|e| Error::io(target, e))?;
    }
}

/// Extracts a tar stream into `dst`: regular files and directories only (links, devices
/// and anything else are refused), never outside `dst`.
/// With `dst = None` the members are read and checked but not written (verification).
fn extract_tar(stream: impl Read, dst: Option<&Path>) -> Result<()> {
    let mut archive = tar::Archive::new(stream);
    let mut files = std::collections::HashSet::new();
    for entry in archive.entries().map_err(|e| tar_error(&e))? {
        let mut entry = entry.map_err(|e| tar_error(&e))?;
        let path = entry.path().map_err(|e| tar_error(&e))?.into_owned();
        let rel = safe_relative(&path)?;
        if entry.header().entry_type() != tar::EntryType::Directory {
            unique_member(&mut files, &rel)?;
        }
        match (entry.header().entry_type(), dst) {
            (tar::EntryType::Directory, Some(dst)) => {
                let target = dst.join(&rel);
                std::fs::create_dir_all(&target).map_err(|e| Error::io(&target, e))?;
            }
            (tar::EntryType::Directory, None) => {}
            (tar::EntryType::Regular | tar::EntryType::Continuous, Some(dst)) => {
                let target = dst.join(&rel);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                }
                let mut out = File::create(&target).map_err(|e| Error::io(&target, e))?;
                copy_member(&mut entry, &mut out, &target)?;
            }
            (tar::EntryType::Regular | tar::EntryType::Continuous, None) => {
                io::copy(&mut entry, &mut io::sink()).map_err(|e| tar_error(&e))?;
            }
            (other, _) => {
                return Err(Error::corrupt(
                    "v3 payload",
                    format!(
                        "member '{}' has a refused type ({other:?}): only files and directories",
                        path.display()
                    ),
                ));
            }
        }
    }
    // Read past the end-of-archive blocks to the end of the stream, so zstd checks the
    // frame's checksum and a truncated frame is noticed.
    let mut rest = archive.into_inner();
    let trailing = io::copy(&mut rest, &mut io::sink()).map_err(|e| tar_error(&e))?;
    if trailing > 0 && trailing % 512 != 0 {
        return Err(Error::corrupt(
            "v3 payload",
            format!("{trailing} stray bytes after the tar archive"),
        ));
    }
    Ok(())
}

/// The decoded tar stream of a tar or tar + zstd payload, failing past the decoded-size
/// budget.
fn tar_stream(path: &Path, header: &Header, limits: DecodeLimits) -> Result<Box<dyn Read>> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    file.seek(SeekFrom::Start(header.payload_offset))
        .map_err(|e| Error::io(path, e))?;
    let limit = limits.max_decoded_size;
    if header.manifest.payload_encoding == PayloadEncoding::Tar as i32 {
        return Ok(Box::new(Budget {
            inner: BufReader::new(file),
            left: limit,
            limit,
        }));
    }
    let mut dec = zstd::stream::read::Decoder::new(file).map_err(|e| Error::io(path, e))?;
    dec.window_log_max(limits.max_window_log)
        .map_err(|e| Error::io(path, e))?;
    Ok(Box::new(Budget {
        inner: dec,
        left: limit,
        limit,
    }))
}

/// Extracts the payload of the v3 file `path` into the directory `dst`.
///
/// # Errors
/// [`Error::Corrupt`] for bad framing, hashes, tar members or paths;
/// [`Error::LimitExceeded`]; [`Error::UnsupportedFormat`] for an unknown encoding.
pub fn extract(path: &Path, header: &Header, dst: &Path, limits: DecodeLimits) -> Result<()> {
    std::fs::create_dir_all(dst).map_err(|e| Error::io(dst, e))?;
    match PayloadEncoding::try_from(header.manifest.payload_encoding) {
        Ok(PayloadEncoding::Tar | PayloadEncoding::TarZstd | PayloadEncoding::Unspecified) => {
            extract_tar(tar_stream(path, header, limits)?, Some(dst))
        }
        Ok(PayloadEncoding::IndexedZstd) => {
            let index = read_index(path, header)?;
            let total: u64 = index
                .entries
                .iter()
                .map(|e| u64::try_from(e.raw_size).unwrap_or(0))
                .sum();
            if total > limits.max_decoded_size {
                return Err(Error::LimitExceeded {
                    what: "decoded payload size",
                    actual: total,
                    limit: limits.max_decoded_size,
                });
            }
            let mut files = std::collections::HashSet::new();
            for entry in &index.entries {
                let rel = safe_relative(Path::new(&entry.name))?;
                unique_member(&mut files, &rel)?;
                let target = dst.join(rel);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                }
                let mut out = File::create(&target).map_err(|e| Error::io(&target, e))?;
                check_frame(path, entry, limits, Some((&mut out, &target)), false)?;
            }
            Ok(())
        }
        Err(_) => Err(Error::UnsupportedFormat {
            reason: format!(
                "unknown v3 payload encoding {}",
                header.manifest.payload_encoding
            ),
        }),
    }
}

/// Reads and validates the frame table of an indexed payload.
///
/// # Errors
/// [`Error::Corrupt`] naming what does not hold.
pub fn read_index(path: &Path, header: &Header) -> Result<IndexedFrameIndex> {
    let bad = |reason: String| Error::corrupt("indexed payload", reason);
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    if header.file_size < header.payload_offset + 28 {
        return Err(bad("file too short for the 28-byte footer".into()));
    }
    let mut footer = [0u8; 28];
    file.seek(SeekFrom::Start(header.file_size - 28))
        .map_err(|e| Error::io(path, e))?;
    file.read_exact(&mut footer)
        .map_err(|e| Error::io(path, e))?;
    if footer[20..] != INDEX_MAGIC {
        return Err(bad("footer magic is not C1ZIDX1".into()));
    }
    let be64 = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap_or([0; 8]));
    let index_offset = be64(&footer[0..8]);
    let index_len = u64::from(u32::from_be_bytes(
        footer[8..12].try_into().unwrap_or([0; 4]),
    ));
    let index_hash = be64(&footer[12..20]);
    if index_len > MAX_INDEX_LEN {
        return Err(Error::LimitExceeded {
            what: "frame index length",
            actual: index_len,
            limit: MAX_INDEX_LEN,
        });
    }
    if index_offset < header.payload_offset
        || index_offset.checked_add(index_len + 28) != Some(header.file_size)
    {
        return Err(bad(format!(
            "frame index at {index_offset} (+{index_len}) does not end at the footer of a {}-byte file",
            header.file_size
        )));
    }
    let mut bytes = vec![0u8; usize::try_from(index_len).unwrap_or(0)];
    file.seek(SeekFrom::Start(index_offset))
        .map_err(|e| Error::io(path, e))?;
    file.read_exact(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if xxhash_rust::xxh64::xxh64(&bytes, 0) != index_hash {
        return Err(bad("frame index hash mismatch".into()));
    }
    let index = IndexedFrameIndex::decode(bytes.as_slice()).map_err(|e| Error::Corrupt {
        what: "indexed payload",
        reason: "frame index is not a valid IndexedFrameIndex".into(),
        source: Some(Box::new(e)),
    })?;
    let mut names = std::collections::HashSet::new();
    for e in &index.entries {
        let end = u64::try_from(e.frame_offset)
            .ok()
            .zip(u64::try_from(e.compressed_size).ok())
            .and_then(|(o, n)| o.checked_add(n));
        let ok = !e.name.is_empty()
            && e.name.len() <= MAX_NAME_LEN
            && names.insert(e.name.as_str())
            && e.raw_size >= 0
            && e.compressed_size > 0
            && u64::try_from(e.frame_offset).is_ok_and(|o| o >= header.payload_offset)
            && end.is_some_and(|end| end <= index_offset)
            && e.raw_sha256.len() == 32;
        if !ok {
            return Err(bad(format!(
                "frame '{}' has an invalid table entry",
                e.name
            )));
        }
    }
    Ok(index)
}

/// Decodes one frame into `out`, checking its size, xxh64 and (when `sha256`) SHA-256.
fn check_frame(
    path: &Path,
    entry: &crate::pb::c1::c1z::v3::IndexedFrameEntry,
    limits: DecodeLimits,
    mut out: Option<(&mut File, &Path)>,
    sha256: bool,
) -> Result<()> {
    let bad = |reason: &str| {
        Error::corrupt(
            "indexed payload",
            format!("frame '{}': {reason}", entry.name),
        )
    };
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    file.seek(SeekFrom::Start(
        u64::try_from(entry.frame_offset).unwrap_or(0),
    ))
    .map_err(|e| Error::io(path, e))?;
    let frame = file.take(u64::try_from(entry.compressed_size).unwrap_or(0));
    let mut dec = zstd::stream::read::Decoder::new(frame).map_err(|e| Error::io(path, e))?;
    dec.window_log_max(limits.max_window_log)
        .map_err(|e| Error::io(path, e))?;
    let raw_size = u64::try_from(entry.raw_size).unwrap_or(0);
    let mut limited = dec.take(raw_size + 1);
    let mut xxh = xxhash_rust::xxh64::Xxh64::new(0);
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(bad(&format!("zstd error: {e}"))),
        };
        total += n as u64;
        xxh.update(&buf[..n]);
        if sha256 {
            sha.update(&buf[..n]);
        }
        if let Some((file, target)) = out.as_mut() {
            file.write_all(&buf[..n])
                .map_err(|e| Error::io(*target, e))?;
        }
    }
    if total != raw_size {
        return Err(bad(&format!(
            "decoded {total} bytes, the table says {raw_size}"
        )));
    }
    if xxh.digest() != entry.raw_xxh64 {
        return Err(bad("xxh64 mismatch"));
    }
    if sha256 && sha.finalize().as_slice() != entry.raw_sha256.as_slice() {
        return Err(bad("sha256 mismatch"));
    }
    Ok(())
}

/// One checked part of a file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CheckedPart {
    /// What was checked (`frame index`, `manifest`, a frame's name, `zstd stream`, ...).
    pub part: String,
    /// The hashes checked.
    pub checks: &'static str,
}

/// Verifies every hash the v3 file carries: for indexed payloads the footer hash of the
/// frame table, the manifest hash and each frame's size, xxh64 and SHA-256; for tar + zstd
/// the zstd checksum and the tar structure; for tar the tar structure.
///
/// # Errors
/// [`Error::Corrupt`] naming the first part that fails.
pub fn verify(path: &Path, header: &Header, limits: DecodeLimits) -> Result<Vec<CheckedPart>> {
    let mut parts = Vec::new();
    match PayloadEncoding::try_from(header.manifest.payload_encoding) {
        Ok(PayloadEncoding::IndexedZstd) => {
            let index = read_index(path, header)?;
            parts.push(CheckedPart {
                part: "frame index".into(),
                checks: "xxh64, layout",
            });
            if index.manifest_xxh64 != 0 {
                let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
                let mut manifest = vec![0u8; header.manifest_len as usize];
                file.seek(SeekFrom::Start(9))
                    .map_err(|e| Error::io(path, e))?;
                file.read_exact(&mut manifest)
                    .map_err(|e| Error::io(path, e))?;
                if xxhash_rust::xxh64::xxh64(&manifest, 0) != index.manifest_xxh64 {
                    return Err(Error::corrupt("indexed payload", "manifest xxh64 mismatch"));
                }
                parts.push(CheckedPart {
                    part: "manifest".into(),
                    checks: "xxh64",
                });
            }
            for entry in &index.entries {
                check_frame(path, entry, limits, None, true)?;
                parts.push(CheckedPart {
                    part: entry.name.clone(),
                    checks: "size, xxh64, sha256",
                });
            }
        }
        Ok(PayloadEncoding::Tar | PayloadEncoding::TarZstd | PayloadEncoding::Unspecified) => {
            extract_tar(tar_stream(path, header, limits)?, None)?;
            let checks = if header.manifest.payload_encoding == PayloadEncoding::Tar as i32 {
                "tar structure"
            } else {
                "zstd checksum, tar structure"
            };
            parts.push(CheckedPart {
                part: "payload".into(),
                checks,
            });
        }
        Err(_) => {
            return Err(Error::UnsupportedFormat {
                reason: format!(
                    "unknown v3 payload encoding {}",
                    header.manifest.payload_encoding
                ),
            });
        }
    }
    Ok(parts)
}
