//! Blob files under `blobs/sha256/`: written through a hasher into a temporary file in
//! the store, verified, fsynced and renamed into place, so a reader (or a crash) never
//! sees a partial blob under its digest.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};

use tempfile::NamedTempFile;

use super::{LayoutStore, sync_dir};
use crate::oci::{Digest, Sha256Writer};
use crate::store::{BlobGc, BlobRead, BlobSink, BlobWrite, StagedBlob, StoreError, UnknownSink};

impl BlobRead for LayoutStore {
    fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        match fs::metadata(self.blob_dir().join(digest.hex())) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("reading", digest.to_string(), e)),
        }
    }

    fn blob_tail(&self, digest: &Digest, n: u64) -> Result<Option<Vec<u8>>, StoreError> {
        use std::io::{Seek, SeekFrom};
        let io = |e| StoreError::io("reading", digest.to_string(), e);
        let mut file = self.open_file(digest)?;
        let size = file.metadata().map_err(io)?.len();
        if size < n {
            return Ok(None);
        }
        file.seek(SeekFrom::Start(size - n)).map_err(io)?;
        let mut tail = Vec::with_capacity(n as usize);
        file.take(n).read_to_end(&mut tail).map_err(io)?;
        Ok(Some(tail))
    }

    fn read_blob(&self, digest: &Digest, max: u64) -> Result<Vec<u8>, StoreError> {
        let mut file = self.open_file(digest)?;
        let size = file
            .metadata()
            .map_err(|e| StoreError::io("reading", digest.to_string(), e))?
            .len();
        if size > max {
            return Err(StoreError::TooLarge {
                digest: digest.clone(),
                size,
                max,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.read_to_end(&mut bytes)
            .map_err(|e| StoreError::io("reading", digest.to_string(), e))?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(StoreError::Corrupt {
                expected: digest.clone(),
                expected_size: size,
                actual_digest: actual,
                actual_size: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send>, StoreError> {
        Ok(Box::new(self.open_file(digest)?))
    }
}

impl LayoutStore {
    fn open_file(&self, digest: &Digest) -> Result<File, StoreError> {
        File::open(self.blob_dir().join(digest.hex())).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::MissingBlob(digest.clone())
            } else {
                StoreError::io("reading", digest.to_string(), e)
            }
        })
    }
}

impl BlobWrite for LayoutStore {
    fn blob_writer(&self, digest: &Digest, size: u64) -> Result<Box<dyn BlobSink>, StoreError> {
        Ok(Box::new(self.file_sink(Some((digest.clone(), size)))?))
    }

    fn blob_writer_unknown(&self) -> Result<Box<dyn UnknownSink>, StoreError> {
        Ok(Box::new(self.file_sink(None)?))
    }
}

impl LayoutStore {
    fn file_sink(&self, expected: Option<(Digest, u64)>) -> Result<FileSink, StoreError> {
        self.ensure_created()?;
        let tmp = self.temp_file("blob-").map_err(|e| {
            StoreError::io(
                "creating a temporary file in",
                self.tmp_dir().display().to_string(),
                e,
            )
        })?;
        Ok(FileSink {
            tmp,
            hasher: Sha256Writer::default(),
            expected,
            dir: self.blob_dir(),
            durable: self.durable,
        })
    }
}

/// A temporary blob file fed through a hasher; `expected` is the digest and size it must
/// have, when known in advance.
struct FileSink {
    tmp: NamedTempFile,
    hasher: Sha256Writer,
    expected: Option<(Digest, u64)>,
    dir: std::path::PathBuf,
    durable: bool,
}

impl Write for FileSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some((digest, size)) = &self.expected
            && self.hasher.len() + buf.len() as u64 > *size
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("blob {digest} is longer than its announced {size} bytes"),
            ));
        }
        let n = self.tmp.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

impl FileSink {
    /// Verify against `expected` (if any), fsync, and stage under the actual digest.
    fn stage(self) -> Result<(Digest, u64, Box<dyn StagedBlob>), StoreError> {
        let actual_size = self.hasher.len();
        let actual = self.hasher.finish();
        if let Some((digest, size)) = self.expected
            && (actual != digest || actual_size != size)
        {
            return Err(StoreError::Corrupt {
                expected: digest,
                expected_size: size,
                actual_digest: actual,
                actual_size,
            });
        }
        if self.durable {
            self.tmp
                .as_file()
                .sync_all()
                .map_err(|e| StoreError::io("syncing", actual.to_string(), e))?;
        }
        // Close the file but keep (and on drop, delete) the path: a pull may hold many
        // staged blobs at once and must not hold a descriptor for each.
        let staged = Staged {
            path: self.tmp.into_temp_path(),
            digest: actual.clone(),
            dir: self.dir,
            durable: self.durable,
        };
        Ok((actual, actual_size, Box::new(staged)))
    }
}

impl BlobSink for FileSink {
    fn finish(self: Box<Self>) -> Result<Box<dyn StagedBlob>, StoreError> {
        self.stage().map(|(_, _, staged)| staged)
    }

    fn written(&self) -> u64 {
        self.hasher.len()
    }

    fn restart(&mut self) -> Result<(), StoreError> {
        let what = || {
            self.expected
                .as_ref()
                .map_or("blob".to_string(), |(d, _)| d.to_string())
        };
        let file = self.tmp.as_file_mut();
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
            .map_err(|e| StoreError::io("restarting", what(), e))?;
        self.hasher = Sha256Writer::default();
        Ok(())
    }
}

impl UnknownSink for FileSink {
    fn finish(self: Box<Self>) -> Result<(Digest, u64, Box<dyn StagedBlob>), StoreError> {
        self.stage()
    }
}

struct Staged {
    path: tempfile::TempPath,
    digest: Digest,
    dir: std::path::PathBuf,
    durable: bool,
}

impl StagedBlob for Staged {
    fn publish(self: Box<Self>) -> Result<(), StoreError> {
        let what = self.digest.to_string();
        self.path
            .persist(self.dir.join(self.digest.hex()))
            .map_err(|e| StoreError::io("storing", what, e.error))?;
        if self.durable {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

impl BlobGc for LayoutStore {
    fn list_blobs(&self) -> Result<Vec<(Digest, u64)>, StoreError> {
        let dir = self.blob_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io("reading", dir.display().to_string(), e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| StoreError::io("reading", dir.display().to_string(), e))?;
            let name = entry.file_name();
            // Files that are not named by a digest are not blobs (and not ours to delete).
            let Ok(digest) = format!("sha256:{}", name.to_string_lossy()).parse::<Digest>() else {
                continue;
            };
            let len = entry
                .metadata()
                .map_err(|e| StoreError::io("reading", digest.to_string(), e))?
                .len();
            out.push((digest, len));
        }
        out.sort();
        Ok(out)
    }

    fn delete_blob(&self, digest: &Digest) -> Result<(), StoreError> {
        match fs::remove_file(self.blob_dir().join(digest.hex())) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("removing", digest.to_string(), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::BlobRead;

    #[test]
    fn a_sink_continues_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let store = LayoutStore::open(dir.path()).unwrap();
        let d = Digest::of(b"hello world");
        // Written in two parts (a resumed download): hashed as one.
        let mut sink = store.blob_writer(&d, 11).unwrap();
        sink.write_all(b"hello").unwrap();
        assert_eq!(sink.written(), 5);
        sink.write_all(b" world").unwrap();
        sink.commit().unwrap();
        assert_eq!(store.read_blob(&d, 100).unwrap(), b"hello world");

        // Wrong bytes, then a restart: only what follows the restart counts.
        let d = Digest::of(b"second");
        let mut sink = store.blob_writer(&d, 6).unwrap();
        sink.write_all(b"xxxx").unwrap();
        sink.restart().unwrap();
        assert_eq!(sink.written(), 0);
        sink.write_all(b"second").unwrap();
        sink.commit().unwrap();
        assert_eq!(store.read_blob(&d, 100).unwrap(), b"second");
    }
}
