//! The apply journal on disk: JSON lines, appended and synced one record at a time, guarded by an
//! exclusive advisory lock so two posture processes never write the same journal.
//!
//! The format, parsing and replay are pure and live in `posture_core::apply::journal`; this
//! module only moves bytes.
//!
//! # Guarantees
//! - [`JournalFile::append`] returns only after the record reached the disk (`sync_data`).
//! - Opening a journal whose last line was torn by a crash reports the torn line and cuts it
//!   off, so the next record starts on a line of its own.
//! - A corrupt line anywhere else is an error naming the line; nothing is cut.
//!
//! # Caveats
//! The lock is advisory (`flock`-style): it keeps posture processes apart, not other programs.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use posture_core::apply::journal::{
    JournalError, JournalHeader, ParsedJournal, Record, encode_line, encode_record_at,
    parse_journal,
};

#[derive(Debug, thiserror::Error)]
pub enum JournalIoError {
    #[error("failed to create journal {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to open journal {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journal {path} is in use by another posture process")]
    Locked { path: PathBuf },
    #[error("failed to read journal {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write journal {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to parse journal {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: JournalError,
    },
}

/// An open, locked journal ready for appending, or one that will be created with its first
/// record (see [`JournalFile::create_on_first_record`]).
#[derive(Debug)]
pub struct JournalFile {
    file: Option<File>,
    path: PathBuf,
    /// The header to write when the file is created on the first record.
    pending: Option<JournalHeader>,
}

impl JournalFile {
    /// A new journal that is created (with its header) only when the first record is appended,
    /// so a run that stops before it writes anything (another cluster, a lock held, the
    /// cluster unreachable) leaves no journal behind to refuse the next try. A journal already
    /// at `path` is refused now, as [`JournalFile::create`] would.
    pub fn create_on_first_record(
        path: &Path,
        header: &JournalHeader,
    ) -> Result<Self, JournalIoError> {
        if path.exists() {
            return Err(JournalIoError::Create {
                path: path.to_owned(),
                source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            });
        }
        Ok(Self {
            file: None,
            path: path.to_owned(),
            pending: Some(header.clone()),
        })
    }

    /// True once the journal exists on disk.
    pub fn is_created(&self) -> bool {
        self.file.is_some()
    }

    /// Creates a new journal (refusing to overwrite one) and writes its header.
    pub fn create(path: &Path, header: &JournalHeader) -> Result<Self, JournalIoError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|source| JournalIoError::Create {
                path: path.to_owned(),
                source,
            })?;
        let mut journal = Self::locked(file, path)?;
        journal.write_line(&encode_line(header))?;
        Ok(journal)
    }

    /// Opens an existing journal for appending: parses it, cuts a torn last line off (reported in
    /// [`ParsedJournal::torn_tail`]) and positions at the end.
    pub fn open(path: &Path) -> Result<(Self, ParsedJournal), JournalIoError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| JournalIoError::Open {
                path: path.to_owned(),
                source,
            })?;
        let mut journal = Self::locked(file, path)?;
        let mut bytes = Vec::new();
        journal
            .file_mut()
            .read_to_end(&mut bytes)
            .map_err(|source| journal.read_error(source))?;
        let parsed = parse_journal(&bytes).map_err(|source| JournalIoError::Parse {
            path: path.to_owned(),
            source,
        })?;
        if parsed.torn_tail.is_some() {
            let file = journal.file_mut();
            let cut = file
                .set_len(parsed.committed_len as u64)
                .and_then(|()| file.sync_data());
            cut.map_err(|source| journal.write_error(source))?;
        }
        let end = journal.file_mut().seek(SeekFrom::End(0));
        end.map_err(|source| journal.write_error(source))?;
        Ok((journal, parsed))
    }

    /// Appends one record and waits until it is on disk; a journal made with
    /// [`JournalFile::create_on_first_record`] is created first.
    pub fn append(&mut self, record: &Record) -> Result<(), JournalIoError> {
        if let Some(header) = self.pending.take() {
            *self = Self::create(&self.path.clone(), &header)?;
        }
        self.write_line(&encode_record_at(record, &crate::apply::stamp()))
    }

    fn file_mut(&mut self) -> &mut File {
        self.file
            .as_mut()
            .expect("an opened journal has its file; a pending one is created before use")
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn locked(file: File, path: &Path) -> Result<Self, JournalIoError> {
        match file.try_lock() {
            Ok(()) => Ok(Self {
                file: Some(file),
                path: path.to_owned(),
                pending: None,
            }),
            Err(TryLockError::WouldBlock) => Err(JournalIoError::Locked {
                path: path.to_owned(),
            }),
            Err(TryLockError::Error(source)) => Err(JournalIoError::Open {
                path: path.to_owned(),
                source,
            }),
        }
    }

    fn write_line(&mut self, line: &str) -> Result<(), JournalIoError> {
        let file = self.file_mut();
        let written = file
            .write_all(line.as_bytes())
            .and_then(|()| file.sync_data());
        written.map_err(|source| self.write_error(source))
    }

    fn read_error(&self, source: std::io::Error) -> JournalIoError {
        JournalIoError::Read {
            path: self.path.clone(),
            source,
        }
    }

    fn write_error(&self, source: std::io::Error) -> JournalIoError {
        JournalIoError::Write {
            path: self.path.clone(),
            source,
        }
    }
}

/// Reads a journal without locking or changing it (for status and rollback previews).
pub fn read_journal(path: &Path) -> Result<ParsedJournal, JournalIoError> {
    let bytes = std::fs::read(path).map_err(|source| JournalIoError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_journal(&bytes).map_err(|source| JournalIoError::Parse {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use posture_core::ObjectRef;
    use posture_core::apply::journal::{JOURNAL_SCHEMA, Operation, TornTail};
    use posture_core::plan::ClusterIdentity;

    fn header() -> JournalHeader {
        JournalHeader {
            schema: JOURNAL_SCHEMA.into(),
            plan_sha256: "abc".into(),
            cluster: ClusterIdentity {
                server: "https://k3s:6443".into(),
                kube_system_uid: "uid".into(),
            },
        }
    }

    fn intent(change: &str) -> Record {
        Record::Intent {
            stage: "s".into(),
            change: change.into(),
            object: ObjectRef::new("policy/v1", "PodDisruptionBudget", Some("ns"), "pdb"),
            operation: Operation::Delete { uid: None },
            rollback: false,
        }
    }

    #[test]
    fn records_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("apply.journal");
        {
            let mut journal = JournalFile::create(&path, &header()).expect("creates");
            journal.append(&intent("s#1")).expect("appends");
            journal
                .append(&Record::StageComplete { stage: "s".into() })
                .expect("appends");
        }
        let (mut journal, parsed) = JournalFile::open(&path).expect("opens");
        assert_eq!(parsed.header, header());
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(parsed.torn_tail, None);
        journal.append(&intent("s#2")).expect("appends");
        drop(journal);
        assert_eq!(read_journal(&path).expect("reads").records.len(), 3);
    }

    #[test]
    fn every_record_carries_the_time_it_was_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("apply.journal");
        let mut journal = JournalFile::create(&path, &header()).expect("creates");
        journal.append(&intent("s#1")).expect("appends");
        drop(journal);
        let text = std::fs::read_to_string(&path).expect("reads");
        let record: serde_json::Value =
            serde_json::from_str(text.lines().nth(1).expect("a record line")).expect("json");
        let time = record["time"].as_str().expect("a time");
        assert!(time.parse::<jiff::Timestamp>().is_ok(), "{time}");
        assert_eq!(
            read_journal(&path).expect("reads").records,
            vec![intent("s#1")]
        );
    }

    #[test]
    fn create_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("apply.journal");
        drop(JournalFile::create(&path, &header()).expect("creates"));
        assert!(matches!(
            JournalFile::create(&path, &header()),
            Err(JournalIoError::Create { .. })
        ));
    }

    #[test]
    fn a_torn_last_line_is_reported_and_cut_off() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("apply.journal");
        {
            let mut journal = JournalFile::create(&path, &header()).expect("creates");
            journal.append(&intent("s#1")).expect("appends");
        }
        let mut raw = OpenOptions::new().append(true).open(&path).expect("raw");
        raw.write_all(b"{\"record\":\"Appl").expect("torn write");
        drop(raw);
        let (mut journal, parsed) = JournalFile::open(&path).expect("opens");
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.torn_tail, Some(TornTail { line: 3, bytes: 15 }));
        journal.append(&intent("s#2")).expect("appends");
        drop(journal);
        let again = read_journal(&path).expect("reads");
        assert_eq!(again.records.len(), 2);
        assert_eq!(again.torn_tail, None);
    }

    #[test]
    fn corruption_elsewhere_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("apply.journal");
        let mut text = encode_line(&header());
        text.push_str("garbage\n");
        text.push_str(&encode_line(&intent("s#1")));
        std::fs::write(&path, text).expect("writes");
        match JournalFile::open(&path) {
            Err(JournalIoError::Parse {
                source: JournalError::Corrupt { line, .. },
                ..
            }) => assert_eq!(line, 2),
            other => panic!("expected corruption at line 2, got {other:?}"),
        }
    }

    #[test]
    fn a_second_writer_is_locked_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("apply.journal");
        let _first = JournalFile::create(&path, &header()).expect("creates");
        assert!(matches!(
            JournalFile::open(&path),
            Err(JournalIoError::Locked { .. })
        ));
    }
}
