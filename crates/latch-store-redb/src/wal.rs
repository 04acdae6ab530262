//! The write-ahead log: what makes a write durable before it is acknowledged, at the cost of a
//! small sequential append instead of a copy-on-write commit of B-tree pages.
//!
//! Each record is `len (u32 LE) ‖ lsn (u64 LE) ‖ crc32 (u32 LE) over lsn and payload ‖ payload`.
//! A crash can leave a torn last record; reading stops at the first record whose length or
//! checksum does not hold, and the file is cut there (that record was never acknowledged,
//! because acknowledgement waits for the fsync).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

const HEADER: usize = 16;
/// A record larger than this is treated as damage, not as a record.
const MAX_RECORD: usize = 16 << 20;

/// A record read back: its number and payload.
pub(crate) struct Record {
    pub(crate) lsn: u64,
    pub(crate) payload: Vec<u8>,
}

/// An append-only log file.
pub(crate) struct Wal {
    file: File,
    /// Bytes in the file.
    len: u64,
    /// The sequence number the next record gets.
    next_lsn: u64,
    /// Reused for appends.
    buf: Vec<u8>,
}

impl Wal {
    /// Opens (or creates, mode 0600) the log at `path`; returns it with the intact records.
    pub(crate) fn open(path: &Path) -> io::Result<(Self, Vec<Record>)> {
        let mut o = OpenOptions::new();
        o.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut file = o.open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (records, good) = parse(&bytes);
        if good < bytes.len() {
            file.set_len(good as u64)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::End(0))?;
        let next_lsn = records.last().map_or(1, |r| r.lsn + 1);
        Ok((
            Self {
                file,
                len: good as u64,
                next_lsn,
                buf: Vec::new(),
            },
            records,
        ))
    }

    /// Makes sure the next record's number is above `lsn` (the last one checkpointed).
    pub(crate) fn skip_to(&mut self, lsn: u64) {
        self.next_lsn = self.next_lsn.max(lsn + 1);
    }

    /// Appends the records and waits until they are on disk; returns the last record's number.
    pub(crate) fn append(&mut self, payloads: &[Vec<u8>]) -> io::Result<u64> {
        self.buf.clear();
        for p in payloads {
            let lsn = self.next_lsn;
            self.next_lsn += 1;
            let len = u32::try_from(p.len()).map_err(|_| io::Error::other("record too large"))?;
            self.buf.extend_from_slice(&len.to_le_bytes());
            self.buf.extend_from_slice(&lsn.to_le_bytes());
            self.buf.extend_from_slice(&crc(lsn, p).to_le_bytes());
            self.buf.extend_from_slice(p);
        }
        self.file.write_all(&self.buf)?;
        self.file.sync_data()?;
        self.len += self.buf.len() as u64;
        Ok(self.next_lsn - 1)
    }

    /// Bytes in the log.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The number of the last record appended (0 if none ever was).
    pub(crate) fn last_lsn(&self) -> u64 {
        self.next_lsn - 1
    }

    /// Where the log ends now, to undo an append with [`Wal::truncate_to`].
    pub(crate) fn mark(&self) -> (u64, u64) {
        (self.len, self.next_lsn)
    }

    /// Cuts the log back to `mark` (records whose transaction failed to commit).
    pub(crate) fn truncate_to(&mut self, mark: (u64, u64)) -> io::Result<()> {
        self.file.set_len(mark.0)?;
        self.file.seek(SeekFrom::Start(mark.0))?;
        self.file.sync_all()?;
        self.len = mark.0;
        self.next_lsn = mark.1;
        Ok(())
    }

    /// Empties the log once everything in it is checkpointed.
    pub(crate) fn reset(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.sync_all()?;
        self.len = 0;
        Ok(())
    }
}

fn crc(lsn: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&lsn.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// The intact records and the length of the intact prefix.
fn parse(bytes: &[u8]) -> (Vec<Record>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(h) = bytes.get(at..at + HEADER) {
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let mut lsn_bytes = [0u8; 8];
        lsn_bytes.copy_from_slice(&h[4..12]);
        let lsn = u64::from_le_bytes(lsn_bytes);
        let sum = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
        if len > MAX_RECORD {
            break;
        }
        let Some(p) = bytes.get(at + HEADER..at + HEADER + len) else {
            break;
        };
        if crc(lsn, p) != sum || out.last().is_some_and(|r: &Record| r.lsn >= lsn) {
            break;
        }
        out.push(Record {
            lsn,
            payload: p.to_vec(),
        });
        at += HEADER + len;
    }
    (out, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w");
        let (mut w, r) = Wal::open(&path).unwrap();
        assert!(r.is_empty());
        assert_eq!(w.append(&[b"one".to_vec(), b"two".to_vec()]).unwrap(), 2);
        assert_eq!(w.append(&[b"three".to_vec()]).unwrap(), 3);
        drop(w);
        // A torn write: half of a fourth record.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[9, 0, 0, 0, 4, 0]).unwrap();
        drop(f);
        let (mut w, r) = Wal::open(&path).unwrap();
        let payloads: Vec<_> = r.iter().map(|r| (r.lsn, r.payload.as_slice())).collect();
        assert_eq!(payloads, [(1, &b"one"[..]), (2, b"two"), (3, b"three")]);
        assert_eq!(w.append(&[b"four".to_vec()]).unwrap(), 4);
        drop(w);
        let (_, r) = Wal::open(&path).unwrap();
        assert_eq!(r.len(), 4);
    }

    #[test]
    fn a_flipped_bit_ends_the_log_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w");
        let (mut w, _) = Wal::open(&path).unwrap();
        w.append(&[b"a".to_vec(), b"b".to_vec()]).unwrap();
        drop(w);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let (w, r) = Wal::open(&path).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(w.len(), (HEADER + 1) as u64);
    }

    #[test]
    fn reset_empties_and_numbers_keep_growing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = Wal::open(&dir.path().join("w")).unwrap();
        w.append(&[b"a".to_vec()]).unwrap();
        w.reset().unwrap();
        assert_eq!(w.len(), 0);
        assert_eq!(w.append(&[b"b".to_vec()]).unwrap(), 2);
        w.skip_to(10);
        assert_eq!(w.append(&[b"c".to_vec()]).unwrap(), 11);
    }
}
