//! gzip on every core: the stream is cut into 1 MiB chunks, each compressed on its own
//! thread into an independent gzip member, and the members written in order (as pigz
//! does). Concatenated members are one valid gzip stream for `gzip -d`, Go's reader
//! (`docker load`) and our own loader (`MultiGzDecoder`). Written here because no
//! maintained crate offers a parallel gzip writer on flate2's zlib-rs backend; memory stays
//! bounded (one chunk in flight per core, plus one).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::thread::JoinHandle;

/// Bytes per gzip member. Members restart the 32 KiB deflate window, so anything far
/// larger than that costs next to nothing in ratio.
const CHUNK: usize = 1 << 20;

/// Bytes of a chunk compressed first, to tell incompressible chunks early.
const PROBE: usize = 64 << 10;

/// A gzip writer that compresses chunks in parallel; call [`ParallelGzip::finish`].
pub struct ParallelGzip<W: Write> {
    out: W,
    chunk: Vec<u8>,
    in_flight: VecDeque<JoinHandle<io::Result<Vec<u8>>>>,
    max_in_flight: usize,
    level: u32,
    members: usize,
}

impl<W: Write> ParallelGzip<W> {
    /// Compress into `out` at `level`.
    pub fn new(out: W, level: u32) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            out,
            chunk: Vec::with_capacity(CHUNK),
            in_flight: VecDeque::new(),
            max_in_flight: cores + 1,
            level,
            members: 0,
        }
    }

    fn dispatch(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        let level = self.level;
        self.in_flight.push_back(std::thread::spawn(move || {
            // A sample that does not shrink means the chunk will not either (a layer of
            // random or already-compressed data): store it without the attempt.
            if chunk.len() >= 2 * PROBE && gzip(&chunk[..PROBE], level)?.len() >= PROBE {
                return gzip(&chunk, 0);
            }
            let member = gzip(&chunk, level)?;
            // Incompressible input (random data, already-compressed files) comes out larger
            // than it went in: store such a chunk instead, which costs only its CRC.
            if member.len() >= chunk.len() {
                gzip(&chunk, 0)
            } else {
                Ok(member)
            }
        }));
        self.members += 1;
        while self.in_flight.len() >= self.max_in_flight {
            self.drain_one()?;
        }
        Ok(())
    }

    fn drain_one(&mut self) -> io::Result<()> {
        if let Some(job) = self.in_flight.pop_front() {
            let member = job
                .join()
                .map_err(|_| io::Error::other("a gzip worker thread panicked"))??;
            self.out.write_all(&member)?;
        }
        Ok(())
    }

    /// Compress what is left, write every member in order, and return the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.chunk.is_empty() || self.members == 0 {
            self.dispatch()?;
        }
        while !self.in_flight.is_empty() {
            self.drain_one()?;
        }
        Ok(self.out)
    }
}

/// `data` as one gzip member at `level` (0: stored).
fn gzip(data: &[u8], level: u32) -> io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 2 + 64),
        flate2::Compression::new(level),
    );
    enc.write_all(data)?;
    enc.finish()
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..n]);
        if self.chunk.len() == CHUNK {
            self.dispatch()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Members are written as they complete; a partial chunk stays until it fills or
        // `finish`, so a flush mid-stream only flushes what is already compressed.
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn roundtrip(data: &[u8]) {
        let mut w = ParallelGzip::new(Vec::new(), 2);
        for piece in data.chunks(70_000) {
            w.write_all(piece).unwrap();
        }
        let gz = w.finish().unwrap();
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn members_decode_to_the_input() {
        roundtrip(b"");
        roundtrip(b"hello");
        let big: Vec<u8> = (0..(3 * CHUNK + 12345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        roundtrip(&big);
        let random: Vec<u8> = (0..(2 * CHUNK + 7))
            .map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        roundtrip(&random);
    }
}
