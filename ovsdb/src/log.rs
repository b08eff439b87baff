//! The standalone on-disk database format of ovsdb(5).
//!
//! A file is a sequence of records, each a header line
//! `OVSDB JSON <length> <sha1-hex>\n` followed by `<length>` bytes: one JSON
//! text and a newline, whose SHA-1 the header carries. The first record is
//! the schema; each later record is a transaction
//! `{"<table>": {"<uuid>": {<changed columns>} | null}, "_date": <ms>,
//! "_comment": "..."}` — the format `ovsdb-tool` and `ovsdb-server` write,
//! so the files are interchangeable with theirs both ways.
//!
//! Durability: [`LogFile::append`] writes the record and fsyncs before it
//! returns; the server acknowledges a transaction only after that. On
//! [`LogFile::open`], a torn or corrupt tail (short record, bad header,
//! checksum mismatch, invalid JSON) is detected, logged with
//! `tracing::warn!`, and truncated; every complete record before it is
//! kept. [`LogFile::compact`] rewrites the file as schema + one snapshot
//! record through a temporary file, `rename` and a directory fsync, so a
//! crash leaves either the old or the new file.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use sha1::{Digest, Sha1};

use crate::db::Database;
use crate::error::Error;
use crate::schema::DatabaseSchema;
use crate::txn::Commit;

/// Upper bound of one record's length we accept when reading (a record
/// claiming more is treated as corruption).
pub const MAX_RECORD_LEN: u64 = 1 << 31;

/// Compaction threshold: grown by this many bytes since the last snapshot...
const COMPACT_MIN_GROWTH: u64 = 10 * 1024 * 1024;
/// ...and to at least this multiple of the snapshot size.
const COMPACT_FACTOR: u64 = 4;

/// An open standalone database file.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    snapshot_size: u64,
    schema: Arc<DatabaseSchema>,
}

/// Encodes one record (header + JSON + newline).
pub fn encode_record(v: &Value) -> Vec<u8> {
    let mut data = v.to_string().into_bytes();
    data.push(b'\n');
    let sha = Sha1::digest(&data);
    let mut out = format!("OVSDB JSON {} {}\n", data.len(), hex::encode(sha)).into_bytes();
    out.extend_from_slice(&data);
    out
}

/// Result of scanning a log's bytes.
#[derive(Debug)]
pub struct Scan {
    /// The complete, valid records.
    pub records: Vec<Value>,
    /// Byte offset just past the last valid record.
    pub valid_len: u64,
    /// Why scanning stopped early, if it did.
    pub error: Option<String>,
}

/// Splits a log's bytes into records, stopping at the first incomplete or
/// corrupt one.
pub fn scan_records(buf: &[u8]) -> Scan {
    let mut records = Vec::new();
    let mut pos: usize = 0;
    let mut error = None;
    while pos < buf.len() {
        match parse_record(buf.get(pos..).unwrap_or(&[])) {
            Ok((v, used)) => {
                records.push(v);
                pos += used;
            }
            Err(e) => {
                error = Some(format!("offset {pos}: {e}"));
                break;
            }
        }
    }
    Scan {
        records,
        valid_len: pos as u64,
        error,
    }
}

fn parse_record(buf: &[u8]) -> Result<(Value, usize), String> {
    let nl = buf
        .iter()
        .take(200)
        .position(|&b| b == b'\n')
        .ok_or("header line incomplete")?;
    let header =
        std::str::from_utf8(buf.get(..nl).unwrap_or(&[])).map_err(|_| "header is not UTF-8")?;
    let rest = header.strip_prefix("OVSDB ").ok_or("bad header magic")?;
    let mut parts = rest.split(' ');
    let magic = parts.next().ok_or("bad header")?;
    if magic != "JSON" {
        return Err(format!("unexpected magic {magic}"));
    }
    let len: u64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or("bad length in header")?;
    let sha_hex = parts.next().ok_or("missing sha1 in header")?;
    if parts.next().is_some() || sha_hex.len() != 40 {
        return Err("malformed header".into());
    }
    if len > MAX_RECORD_LEN {
        return Err("record length too large".into());
    }
    let start = nl + 1;
    let end = start.checked_add(len as usize).ok_or("length overflow")?;
    let data = buf.get(start..end).ok_or("record truncated")?;
    let sha = hex::encode(Sha1::digest(data));
    if !sha.eq_ignore_ascii_case(sha_hex) {
        return Err(format!("sha1 mismatch: expected {sha_hex}, got {sha}"));
    }
    let v: Value = serde_json::from_slice(data).map_err(|e| format!("invalid JSON: {e}"))?;
    Ok((v, end))
}

fn fsync_dir(path: &Path) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    File::open(&dir)?.sync_all()?;
    Ok(())
}

impl LogFile {
    /// Creates a new database file holding only the schema. Fails if the
    /// file exists.
    pub fn create(path: impl AsRef<Path>, schema: &DatabaseSchema) -> Result<LogFile, Error> {
        let path = path.as_ref().to_path_buf();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(format!("{}: {e}", path.display())))?;
        let rec = encode_record(&schema.to_json());
        file.write_all(&rec)?;
        file.sync_all()?;
        fsync_dir(&path)?;
        let size = rec.len() as u64;
        Ok(LogFile {
            path,
            file,
            size,
            snapshot_size: size,
            schema: Arc::new(schema.clone()),
        })
    }

    /// Opens an existing database file and replays it. A corrupt or torn
    /// tail is truncated (with a warning); a bad schema record or a record
    /// that does not apply to the schema is an error.
    pub fn open(path: impl AsRef<Path>) -> Result<(LogFile, Database), Error> {
        let path = path.as_ref().to_path_buf();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("{}: {e}", path.display())))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        let scan = scan_records(&buf);
        let mut recs = scan.records.into_iter();
        let Some(schema_json) = recs.next() else {
            return Err(Error::new(
                "syntax error",
                format!(
                    "{}: cannot read schema record: {}",
                    path.display(),
                    scan.error.as_deref().unwrap_or("file is empty")
                ),
            ));
        };
        let schema = DatabaseSchema::from_json(&schema_json)?;
        let mut db = Database::new(schema);
        for (i, r) in recs.enumerate() {
            db.apply_log_record(r_ref(&r)).map_err(|e| {
                Error::new(
                    e.error.clone(),
                    format!(
                        "{}: transaction record {} does not apply: {}",
                        path.display(),
                        i + 1,
                        e
                    ),
                )
            })?;
        }
        if let Some(err) = &scan.error {
            tracing::warn!(
                "{}: {}; truncating {} bytes of corrupt or incomplete data at the end of the log",
                path.display(),
                err,
                buf.len() as u64 - scan.valid_len
            );
            file.set_len(scan.valid_len)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::Start(scan.valid_len))?;
        let schema = Arc::clone(db.schema());
        let size = scan.valid_len;
        Ok((
            LogFile {
                path,
                file,
                size,
                snapshot_size: size,
                schema,
            },
            db,
        ))
    }

    /// Opens `path` if it exists, otherwise creates it with `schema`.
    pub fn open_or_create(
        path: impl AsRef<Path>,
        schema: &DatabaseSchema,
    ) -> Result<(LogFile, Database), Error> {
        let path = path.as_ref();
        if path.exists() {
            Self::open(path)
        } else {
            let lf = Self::create(path, schema)?;
            let db = Database::with_schema(Arc::clone(&lf.schema));
            Ok((lf, db))
        }
    }

    /// Appends a commit's log record and fsyncs. A commit that changed only
    /// ephemeral columns (`log_record` null) writes nothing.
    pub fn append(&mut self, commit: &Commit) -> Result<(), Error> {
        if commit.log_record.is_null() {
            return Ok(());
        }
        self.append_record(&commit.log_record)
    }

    /// Appends one raw record and fsyncs.
    pub fn append_record(&mut self, rec: &Value) -> Result<(), Error> {
        self.write_record(rec)?;
        self.sync()
    }

    /// Writes a commit's record without fsync (group commit: write several,
    /// then [`sync`](Self::sync) once before acknowledging all of them).
    pub fn write(&mut self, commit: &Commit) -> Result<(), Error> {
        if commit.log_record.is_null() {
            return Ok(());
        }
        self.write_record(&commit.log_record)
    }

    /// Writes one raw record without fsync.
    pub fn write_record(&mut self, rec: &Value) -> Result<(), Error> {
        let bytes = encode_record(rec);
        if let Err(e) = self.file.write_all(&bytes) {
            // Do not leave a partial record behind for the next append.
            let _ = self.file.set_len(self.size);
            let _ = self.file.seek(SeekFrom::Start(self.size));
            return Err(Error::io(format!(
                "{}: write failed: {e}",
                self.path.display()
            )));
        }
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Makes everything written so far durable (fdatasync).
    pub fn sync(&mut self) -> Result<(), Error> {
        self.file
            .sync_data()
            .map_err(|e| Error::io(format!("{}: fsync failed: {e}", self.path.display())))
    }

    /// Rewrites the file as the schema plus one snapshot record of `db`,
    /// atomically (temporary file, fsync, rename, directory fsync).
    pub fn compact(&mut self, db: &Database) -> Result<(), Error> {
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut out = encode_record(&db.schema().to_json());
        out.extend(encode_record(
            &db.snapshot_record(Some("compacting database online"), wall_ms()),
        ));
        {
            let mut f =
                File::create(&tmp).map_err(|e| Error::io(format!("{}: {e}", tmp.display())))?;
            f.write_all(&out)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        fsync_dir(&self.path)?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)?;
        file.seek(SeekFrom::End(0))?;
        self.file = file;
        self.size = out.len() as u64;
        self.snapshot_size = self.size;
        self.schema = Arc::clone(db.schema());
        Ok(())
    }

    /// True when the log has grown enough since the last snapshot to be
    /// worth compacting (more than 10 MB and 4x, like ovsdb-server).
    pub fn should_compact(&self) -> bool {
        self.size >= self.snapshot_size.saturating_add(COMPACT_MIN_GROWTH)
            && self.size >= self.snapshot_size.saturating_mul(COMPACT_FACTOR)
    }

    /// Current file size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema stored in the file.
    pub fn schema(&self) -> &Arc<DatabaseSchema> {
        &self.schema
    }
}

fn r_ref(v: &Value) -> &Value {
    v
}

/// Wall-clock milliseconds since the Unix epoch (for `_date` only).
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn record_format_matches_ovsdb5() {
        let r = encode_record(&json!({"a": 1}));
        let text = String::from_utf8(r.clone()).unwrap();
        // 8 bytes of JSON + newline; SHA-1 of those 8 bytes.
        let body = "{\"a\":1}\n";
        assert_eq!(
            text,
            format!(
                "OVSDB JSON {} {}\n{body}",
                body.len(),
                hex::encode(Sha1::digest(body.as_bytes()))
            )
        );
        let s = scan_records(&r);
        assert_eq!(s.records, vec![json!({"a": 1})]);
        assert_eq!(s.valid_len, r.len() as u64);
    }

    #[test]
    fn scan_stops_at_bad_records() {
        let mut buf = encode_record(&json!(1));
        let good = buf.len() as u64;
        for bad in [
            &b"OVSDB JSON 99999999999 0000\n"[..],
            b"OVSDB CLUSTER 2 da39a3ee5e6b4b0d3255bfef95601890afd80709\n{}",
            b"garbage\n",
            b"OVSDB JSON 3 0000000000000000000000000000000000000000\n{}\n",
            b"OVSDB JSON",
        ] {
            let mut b = buf.clone();
            b.extend_from_slice(bad);
            let s = scan_records(&b);
            assert_eq!(s.records.len(), 1);
            assert_eq!(s.valid_len, good);
            assert!(s.error.is_some());
        }
        buf.extend(encode_record(&json!("x")));
        assert_eq!(scan_records(&buf).records.len(), 2);
    }
}
