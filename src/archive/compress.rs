//! Compression of archive streams (files, pipes): detection by magic bytes, decoding with
//! a decompression-bomb guard, and encoding for `save`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// How an archive stream is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// A plain tar.
    #[default]
    None,
    /// gzip (`.tar.gz`, `.tgz`).
    Gzip,
    /// zstd (`.tar.zst`).
    Zstd,
    /// xz (`.tar.xz`, `.txz`): slow to write, but what some air-gap procedures mandate.
    Xz,
    /// bzip2 (`.tar.bz2`, `.tbz2`).
    Bzip2,
}

impl Compression {
    /// The name used in messages and flags.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "tar",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
            Self::Xz => "xz",
            Self::Bzip2 => "bzip2",
        }
    }

    /// What a file name's extension asks for (`.tar.gz`, `.tgz`, `.tar.zst`, `.tzst`,
    /// `.tar.xz`, `.txz`, `.tar.bz2`, `.tbz2`), if anything.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        let ends = |exts: &[&str]| exts.iter().any(|e| lower.ends_with(e));
        if ends(&[".gz", ".tgz"]) {
            Some(Self::Gzip)
        } else if ends(&[".zst", ".tzst", ".zstd"]) {
            Some(Self::Zstd)
        } else if ends(&[".xz", ".txz"]) {
            Some(Self::Xz)
        } else if ends(&[".bz2", ".tbz2", ".tbz"]) {
            Some(Self::Bzip2)
        } else if lower.ends_with(".tar") {
            Some(Self::None)
        } else {
            None
        }
    }
}

/// Detect the compression from the first bytes of a stream (anything unknown is taken as
/// a plain tar, which the tar reader then checks).
pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if head.starts_with(b"BZh") && head.get(3).is_some_and(|c| (b'1'..=b'9').contains(c)) {
        Compression::Bzip2
    } else {
        Compression::None
    }
}

/// Decompressed output may exceed this many times the compressed input…
pub const BOMB_RATIO: u64 = 50;
/// …only while it stays under this many bytes (1 GiB). Past both, the stream is refused
/// as a decompression bomb. Real image archives compress 2–10×; a layer of zeros can
/// reach 1000×, but not beyond a gigabyte of real data.
pub const BOMB_FLOOR: u64 = 1 << 30;

/// Whether `output` bytes decoded from `input` compressed bytes is a bomb.
pub fn is_bomb(input: u64, output: u64) -> bool {
    output > BOMB_FLOOR && output > input.saturating_mul(BOMB_RATIO)
}

/// Counters shared between the raw reader and the decoder, to tell a bomb from other
/// decode errors.
#[derive(Clone, Debug, Default)]
pub struct Meter {
    input: Arc<AtomicU64>,
    output: Arc<AtomicU64>,
    bombed: Arc<AtomicBool>,
    decode_failed: Arc<AtomicBool>,
}

impl Meter {
    /// Compressed bytes read so far.
    pub fn input(&self) -> u64 {
        self.input.load(Ordering::Relaxed)
    }
    /// Decoded bytes produced so far.
    pub fn output(&self) -> u64 {
        self.output.load(Ordering::Relaxed)
    }
    /// Whether the decoder (not the tar reader) failed.
    pub fn decode_failed(&self) -> bool {
        self.decode_failed.load(Ordering::Relaxed)
    }
    /// Whether the bomb guard tripped.
    pub fn bombed(&self) -> bool {
        self.bombed.load(Ordering::Relaxed)
    }
}

struct CountIn<R> {
    inner: R,
    meter: Meter,
}

impl<R: Read> Read for CountIn<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.input.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

struct Guard<R> {
    inner: R,
    meter: Meter,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|_| {
            self.meter.decode_failed.store(true, Ordering::Relaxed);
        })?;
        let out = self.meter.output.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if is_bomb(self.meter.input(), out) {
            self.meter.bombed.store(true, Ordering::Relaxed);
            return Err(io::Error::other("decompression bomb"));
        }
        Ok(n)
    }
}

/// A decoded stream of an archive, with the compression found and the meter.
pub struct Decoded {
    /// The tar bytes.
    pub reader: Box<dyn Read + Send>,
    /// What the input was.
    pub compression: Compression,
    /// Byte counters of the decoding.
    pub meter: Meter,
}

/// Detect the input's compression and decode it. `Err` is an I/O error reading the first
/// bytes.
pub fn open(input: Box<dyn Read + Send>) -> Result<Decoded, io::Error> {
    let meter = Meter::default();
    let mut buffered = BufReader::with_capacity(
        1 << 16,
        CountIn {
            inner: input,
            meter: meter.clone(),
        },
    );
    let compression = detect(buffered.fill_buf()?);
    let reader: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(Guard {
            inner: flate2::bufread::MultiGzDecoder::new(buffered),
            meter: meter.clone(),
        }),
        Compression::Zstd => Box::new(Guard {
            inner: zstd::stream::read::Decoder::with_buffer(buffered)?,
            meter: meter.clone(),
        }),
        // Multi-stream, like xz(1) and bzip2(1) read concatenated files.
        Compression::Xz => Box::new(Guard {
            inner: liblzma::bufread::XzDecoder::new_multi_decoder(buffered),
            meter: meter.clone(),
        }),
        Compression::Bzip2 => Box::new(Guard {
            inner: bzip2::bufread::MultiBzDecoder::new(buffered),
            meter: meter.clone(),
        }),
    };
    Ok(Decoded {
        reader,
        compression,
        meter,
    })
}

/// An encoder for `save`; call [`Encoder::finish`] to write the trailer.
pub enum Encoder<W: Write> {
    /// No compression.
    Plain(W),
    /// gzip, compressed on every core (see `pgzip`).
    Gzip(super::pgzip::ParallelGzip<W>),
    /// zstd, compressed on every core.
    Zstd(zstd::stream::write::Encoder<'static, W>),
    /// xz.
    Xz(liblzma::write::XzEncoder<W>),
    /// bzip2.
    Bzip2(bzip2::write::BzEncoder<W>),
}

impl<W: Write> Encoder<W> {
    /// Wrap `out` in the encoder for `c`.
    pub fn new(out: W, c: Compression) -> io::Result<Self> {
        Ok(match c {
            Compression::None => Self::Plain(out),
            // Level 1, the fastest: chunks that would not shrink (random or already
            // compressed data) are stored instead (see `pgzip`), so nothing grows.
            Compression::Gzip => Self::Gzip(super::pgzip::ParallelGzip::new(out, 1)),
            Compression::Zstd => {
                // zstd's own worker threads, one per core: the stream stays one frame
                // sequence any zstd reads.
                let mut e = zstd::stream::write::Encoder::new(out, 3)?;
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                e.multithread(cores as u32)?;
                Self::Zstd(e)
            }
            // xz's default preset 6; multi-threaded xz would need liblzma's parallel build.
            Compression::Xz => Self::Xz(liblzma::write::XzEncoder::new(out, 6)),
            Compression::Bzip2 => Self::Bzip2(bzip2::write::BzEncoder::new(
                out,
                bzip2::Compression::default(),
            )),
        })
    }

    /// Finish the stream and return the inner writer, flushed.
    pub fn finish(self) -> io::Result<W> {
        let mut w = match self {
            Self::Plain(w) => w,
            Self::Gzip(e) => e.finish()?,
            Self::Zstd(e) => e.finish()?,
            Self::Xz(e) => e.finish()?,
            Self::Bzip2(e) => e.finish()?,
        };
        w.flush()?;
        Ok(w)
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(w) => w.write(buf),
            Self::Gzip(w) => w.write(buf),
            Self::Zstd(w) => w.write(buf),
            Self::Xz(w) => w.write(buf),
            Self::Bzip2(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(w) => w.flush(),
            Self::Gzip(w) => w.flush(),
            Self::Zstd(w) => w.flush(),
            Self::Xz(w) => w.flush(),
            Self::Bzip2(w) => w.flush(),
        }
    }
}

/// A reader of a stored layer's uncompressed tar, whatever its media type says.
pub fn layer_reader(
    media_type: &str,
    raw: Box<dyn Read + Send>,
) -> io::Result<Box<dyn Read + Send>> {
    Ok(
        if media_type.ends_with("+zstd") || media_type.ends_with(".zstd") {
            Box::new(zstd::stream::read::Decoder::new(raw)?)
        } else if media_type.ends_with("gzip") {
            Box::new(flate2::read::MultiGzDecoder::new(raw))
        } else {
            raw
        },
    )
}

/// What a compressed layer decodes to, learned while its bytes stream into the store.
#[derive(Debug, PartialEq, Eq)]
pub enum Diff {
    /// The sha256 of the uncompressed tar (to compare with the diff_id).
    Digest(crate::oci::Digest),
    /// The layer decodes past the bomb limit.
    Bomb {
        /// Compressed bytes.
        input: u64,
        /// Decoded bytes when the guard tripped.
        output: u64,
    },
    /// The layer does not decode.
    Corrupt(String),
}

#[derive(Default)]
struct HashSink(crate::oci::Sha256Writer);

impl Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum LayerDecoder {
    Gzip(Box<flate2::write::MultiGzDecoder<HashSink>>),
    Zstd(zstd::stream::write::Decoder<'static, HashSink>),
}

/// Hashes the decoded content of a gzip or zstd layer fed to it in pieces (a write-side
/// decoder next to the store's sink), with the same bomb guard as the archive stream.
pub struct DiffHasher {
    compression: Compression,
    decoder: LayerDecoder,
    input: u64,
    outcome: Option<Diff>,
}

impl DiffHasher {
    /// A hasher for a blob whose first bytes are `head`, if they are gzip or zstd.
    pub fn for_head(head: &[u8]) -> Option<Self> {
        let decoder = match detect(head) {
            Compression::Gzip => LayerDecoder::Gzip(Box::new(flate2::write::MultiGzDecoder::new(
                HashSink::default(),
            ))),
            Compression::Zstd => {
                LayerDecoder::Zstd(zstd::stream::write::Decoder::new(HashSink::default()).ok()?)
            }
            _ => return None,
        };
        let compression = match decoder {
            LayerDecoder::Gzip(_) => Compression::Gzip,
            LayerDecoder::Zstd(_) => Compression::Zstd,
        };
        Some(Self {
            compression,
            decoder,
            input: 0,
            outcome: None,
        })
    }

    /// gzip or zstd.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    fn output(&self) -> u64 {
        match &self.decoder {
            LayerDecoder::Gzip(d) => d.get_ref().0.len(),
            LayerDecoder::Zstd(d) => d.get_ref().0.len(),
        }
    }

    /// Feed the next compressed bytes.
    pub fn update(&mut self, buf: &[u8]) {
        if self.outcome.is_some() {
            return;
        }
        self.input += buf.len() as u64;
        let res = match &mut self.decoder {
            LayerDecoder::Gzip(d) => d.write_all(buf),
            LayerDecoder::Zstd(d) => d.write_all(buf),
        };
        if let Err(e) = res {
            self.outcome = Some(Diff::Corrupt(e.to_string()));
        } else if is_bomb(self.input, self.output()) {
            self.outcome = Some(Diff::Bomb {
                input: self.input,
                output: self.output(),
            });
        }
    }

    /// What the layer decoded to.
    pub fn finish(self) -> Diff {
        if let Some(o) = self.outcome {
            return o;
        }
        let sink = match self.decoder {
            LayerDecoder::Gzip(d) => d.finish(),
            LayerDecoder::Zstd(mut d) => d.flush().map(|_| d.into_inner()),
        };
        match sink {
            Ok(s) => Diff::Digest(s.0.finish()),
            Err(e) => Diff::Corrupt(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_magic() {
        assert_eq!(detect(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Compression::Zstd);
        assert_eq!(detect(b"\xfd7zXZ\0rest"), Compression::Xz);
        assert_eq!(detect(b"BZh91AY&SY"), Compression::Bzip2);
        assert_eq!(detect(b"BZhx"), Compression::None);
        assert_eq!(detect(b"manifest.json\0"), Compression::None);
        assert_eq!(detect(b""), Compression::None);
    }

    #[test]
    fn extension_picks_compression() {
        assert_eq!(
            Compression::from_file_name("a.tar.gz"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::from_file_name("a.TGZ"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::from_file_name("a.tar.zst"),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::from_file_name("a.tar"),
            Some(Compression::None)
        );
        assert_eq!(Compression::from_file_name("a"), None);
    }

    #[test]
    fn diff_hasher_hashes_decoded_layers() {
        let tar = vec![3u8; 300_000];
        for c in [Compression::Gzip, Compression::Zstd] {
            let mut e = Encoder::new(Vec::new(), c).unwrap();
            e.write_all(&tar).unwrap();
            let bytes = e.finish().unwrap();
            let mut h = DiffHasher::for_head(&bytes).unwrap();
            for chunk in bytes.chunks(1000) {
                h.update(chunk);
            }
            assert_eq!(
                h.finish(),
                Diff::Digest(crate::oci::Digest::of(&tar)),
                "{c:?}"
            );
            let mut h = DiffHasher::for_head(&bytes).unwrap();
            h.update(&bytes[..bytes.len() / 2]);
            // gzip notices the missing trailer; a cut zstd frame hashes to something else.
            let cut = h.finish();
            assert_ne!(cut, Diff::Digest(crate::oci::Digest::of(&tar)), "{c:?}");
        }
        assert!(DiffHasher::for_head(b"plain tar").is_none());
    }

    #[test]
    fn bomb_needs_both_ratio_and_size() {
        assert!(!is_bomb(1, BOMB_FLOOR));
        assert!(is_bomb(1, BOMB_FLOOR + 1));
        assert!(!is_bomb(BOMB_FLOOR, BOMB_FLOOR * 2));
        assert!(is_bomb(BOMB_FLOOR / 100, BOMB_FLOOR * 2));
    }

    #[test]
    fn round_trips_and_flags_truncation() {
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let mut e = Encoder::new(Vec::new(), c).unwrap();
            e.write_all(&[7u8; 100_000]).unwrap();
            let bytes = e.finish().unwrap();
            let mut d = open(Box::new(io::Cursor::new(bytes.clone()))).ok().unwrap();
            assert_eq!(d.compression, c);
            let mut out = Vec::new();
            d.reader.read_to_end(&mut out).unwrap();
            assert_eq!(out.len(), 100_000);
            if c != Compression::None {
                let cut = bytes[..bytes.len() - 4].to_vec();
                let mut d = open(Box::new(io::Cursor::new(cut))).ok().unwrap();
                assert!(d.reader.read_to_end(&mut Vec::new()).is_err(), "{c:?}");
            }
        }
    }
}
