//! A docker-archive written to a file with its layers decoded on every core at once.
//!
//! Decoding stored gzip layers is nearly all of a docker-archive save's work, and one
//! stream decodes on one core. In a file, every entry's offset is known before the first
//! byte once the layers' sizes are (gzip trailers, or the counting pass): the tar is laid
//! out in one pass that leaves a gap for each layer's data, then the gaps are filled in
//! parallel with positioned writes, each layer still hashed and checked against its
//! diff_id. Only files: a pipe cannot be written out of order.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::ArchiveError;
use super::docker_save::{HashRead, LayerEntry, LayerSink};
use crate::oci::{Descriptor, Digest};
use crate::store::BlobRead;

/// Buffer of the layout pass and of each filling thread.
const CHUNK: usize = 1 << 20;

/// A buffered writer at an explicit position in a file, which can leave gaps.
pub(super) struct PositionedWriter<'f> {
    file: &'f File,
    buf: Vec<u8>,
    /// The file offset of `buf[0]`.
    start: u64,
}

impl<'f> PositionedWriter<'f> {
    pub(super) fn new(file: &'f File) -> Self {
        Self {
            file,
            buf: Vec::with_capacity(CHUNK),
            start: 0,
        }
    }

    /// Where the next byte goes.
    fn position(&self) -> u64 {
        self.start + self.buf.len() as u64
    }

    /// Leave `n` bytes unwritten (zero until filled: a hole in the file).
    fn skip(&mut self, n: u64) -> io::Result<()> {
        self.flush()?;
        self.start += n;
        Ok(())
    }
}

impl Write for PositionedWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.write_all_at(&self.buf, self.start)?;
        self.start += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// A layer's gap: where its data starts, and what it must be.
struct Gap {
    offset: u64,
    path: String,
    layer: Descriptor,
    id: Digest,
    size: u64,
    guessed: bool,
    index: usize,
    decode: bool,
}

impl Gap {
    fn entry(&self) -> LayerEntry<'_> {
        LayerEntry {
            path: self.path.clone(),
            layer: &self.layer,
            id: &self.id,
            size: self.size,
            guessed: self.guessed,
            index: self.index,
            decode: self.decode,
        }
    }
}

/// Lays out layer entries as a header and a gap, and remembers the gaps.
#[derive(Default)]
pub(super) struct Gaps(Vec<Gap>);

impl<'f> LayerSink<PositionedWriter<'f>> for Gaps {
    fn put(
        &mut self,
        builder: &mut tar::Builder<PositionedWriter<'f>>,
        entry: LayerEntry<'_>,
    ) -> Result<(), ArchiveError> {
        let mut header = super::file_header(entry.size);
        header.set_path(&entry.path).map_err(ArchiveError::Write)?;
        header.set_cksum();
        let w = builder.get_mut();
        w.write_all(header.as_bytes())
            .map_err(ArchiveError::Write)?;
        let offset = w.position();
        // tar pads every entry's data to a 512-byte block; the gap's tail stays zero.
        w.skip(entry.size.next_multiple_of(512))
            .map_err(ArchiveError::Write)?;
        self.0.push(Gap {
            offset,
            path: entry.path,
            layer: entry.layer.clone(),
            id: entry.id.clone(),
            size: entry.size,
            guessed: entry.guessed,
            index: entry.index,
            decode: entry.decode,
        });
        Ok(())
    }
}

impl Gaps {
    /// Fill every gap of `file`; the first failure stops the others and is returned (the
    /// file is then unusable). Up to four threads per core take the layers, the most
    /// compressed bytes (the most decoding) first: with more layers in flight than cores,
    /// the scheduler evens out layers that decode at different speeds, as it does for the
    /// floor (every layer decoded at once). Measured no faster than one per core on eight
    /// even layers (benches/save.sh); it is for uneven ones.
    pub(super) fn fill(
        mut self,
        store: &(dyn BlobRead + Sync),
        file: &File,
    ) -> Result<(), ArchiveError> {
        self.0.sort_by_key(|g| std::cmp::Reverse(g.layer.size));
        let threads = 4 * std::thread::available_parallelism().map_or(1, |n| n.get());
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let first_error: Mutex<Option<(usize, ArchiveError)>> = Mutex::new(None);
        let gaps = &self.0;
        std::thread::scope(|scope| {
            for _ in 0..threads.min(gaps.len()) {
                scope.spawn(|| {
                    let mut buf = vec![0u8; CHUNK];
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(gap) = gaps.get(i) else { break };
                        if let Err(e) = fill_one(store, file, gap, &mut buf, &failed) {
                            failed.store(true, Ordering::Relaxed);
                            let mut slot = first_error.lock().expect("no thread panics holding it");
                            // The entry earliest in the archive wins, so the error does not
                            // depend on which thread finished first.
                            if slot
                                .as_ref()
                                .is_none_or(|(j, _)| gap.offset < gaps[*j].offset)
                            {
                                *slot = Some((i, e));
                            }
                        }
                    }
                });
            }
        });
        match first_error
            .into_inner()
            .expect("no thread panics holding it")
        {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }
}

/// Decode one layer into its gap, hashing it on the way; gives up when another failed.
fn fill_one(
    store: &dyn BlobRead,
    file: &File,
    gap: &Gap,
    buf: &mut [u8],
    failed: &AtomicBool,
) -> Result<(), ArchiveError> {
    let entry = gap.entry();
    let mut r = HashRead::new(entry.reader(store)?);
    let mut at = gap.offset;
    loop {
        if failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let n = r
            .read(buf)
            .map_err(|e| super::layers::decode_error(&gap.layer, e))?;
        if n == 0 {
            break;
        }
        file.write_all_at(&buf[..n], at)
            .map_err(ArchiveError::Write)?;
        at += n as u64;
    }
    let (actual, n) = r.finish();
    entry.verify(actual, n)
}
