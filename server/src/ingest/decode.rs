//! Decode stage: bytes of one file or object in (gzip detected by its magic bytes, not by
//! its name), normalised events out, each handed over with its original record (which
//! the caller keeps in a block, see `blocks`). Records exported by other tools are taken
//! out of their envelopes first (see `envelope`); a CSV export is read a row at a time.

use super::envelope::{self, Found, Refused, Shape, Shapes, Unwrapped};
use super::normalize::{self, Event};
use super::split::{self, Item, SplitError};
use sha2::{Digest, Sha256};
use std::io::{BufReader, Read};

/// One stored-to-be event: the normalised columns, and where its original record is in
/// the block it travels with.
#[derive(Debug)]
pub struct Parsed {
    pub event: Event,
    /// The record's place in its chunk's block (set by whoever gathers the block).
    pub raw_slot: u32,
    /// The record's length in bytes, as delivered (what a copy of it weighs in a log
    /// group or a lake).
    pub raw_len: usize,
    /// What goes into the full-text index.
    pub text: String,
    /// The enabled rules this record matched.
    pub hits: Vec<app::detect::Hit>,
}

/// A record that could not be stored, and why.
#[derive(Debug, Clone)]
pub struct RecordReject {
    /// 1-based position of the record in its file.
    pub position: u64,
    /// Byte offset of the record in the (uncompressed) file.
    pub offset: u64,
    pub reason: String,
}

#[derive(Debug)]
pub enum Piece {
    Event(Parsed),
    Reject(RecordReject),
}

#[derive(Debug, Default)]
pub struct Decoded {
    /// SHA-256 of the file's bytes as stored (compressed if it is gzip).
    pub sha256: String,
    /// SHA-256 of the file's content once uncompressed: what a trail's digest file
    /// lists for it (`logFiles[].hashValue`).
    pub content_sha256: String,
    pub records: u64,
    /// The file is a log-file-integrity digest, not events.
    pub digest: bool,
    pub gzip: bool,
    /// Records read, by the shape they came in (see `envelope`).
    pub shapes: Shapes,
    /// Records rebuilt without some of their fields (Elastic documents that kept no
    /// original), and the first of them with what they lack.
    pub partial: u64,
    pub partial_records: Vec<RecordReject>,
}

/// Records rebuilt in part listed per file (all are counted).
const PARTIAL_KEPT: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{0}")]
    Split(#[from] SplitError),
    #[error("gzip stream: {0}")]
    Gzip(std::io::Error),
    #[error("cannot open: {0}")]
    Open(std::io::Error),
    #[error("compression failed: {0}")]
    Compress(std::io::Error),
    #[error("CSV: {0}")]
    Csv(String),
    #[error("import stopped")]
    Stopped,
}

struct HashRead<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Marker for a consumer that wants the decode to stop.
#[derive(Debug)]
pub struct Stop;

/// Decodes one file or object. `on_piece` receives every event, with its original
/// record, and every rejected record, in file order; an `Err` here means the whole file
/// is unusable.
pub fn decode<R: Read>(
    reader: R,
    fallback_account: Option<&str>,
    rules: &app::detect::RuleSet,
    mut on_piece: impl FnMut(Piece, Option<&[u8]>) -> Result<(), Stop>,
) -> Result<Decoded, DecodeError> {
    let mut hashed = HashRead {
        inner: reader,
        hasher: Sha256::new(),
    };
    // Gzip is known by its first two bytes, however many reads the source takes to hand
    // them over: a reader may return one byte at a time.
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < magic.len() {
        match hashed.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DecodeError::Open(e)),
        }
    }
    let gzip = magic[..got] == [0x1f, 0x8b];
    let mut buffered = BufReader::with_capacity(256 * 1024, (&magic[..got]).chain(hashed));
    let mut out = Decoded {
        gzip,
        ..Decoded::default()
    };
    let mut records = Records {
        rules,
        fallback: fallback_account,
        position: 0,
    };
    let mut handle = |input: Input<'_>, offset: u64| -> Result<(), Stop> {
        let (raw, lookup) = match input {
            Input::Json(Item::Record(b)) => (b, false),
            Input::Json(Item::LookupEvent(b)) => (b, true),
            Input::Json(Item::Document(b)) => {
                if is_digest(b) {
                    out.digest = true;
                    return Ok(());
                }
                (b, false)
            }
            Input::Raw(b) => {
                return records.one(&mut out, offset, envelope::raw_column(b), &mut on_piece);
            }
        };
        if lookup {
            let found = normalize::lookup_element_record(raw)
                .map(|record| Found {
                    shape: Shape::CloudTrail,
                    record,
                    missing: Vec::new(),
                })
                .map_err(|e| Refused {
                    shape: Shape::CloudTrail,
                    reason: e.to_string(),
                });
            return records.one(&mut out, offset, found, &mut on_piece);
        }
        match envelope::unwrap(raw) {
            Unwrapped::One(found) => records.one(&mut out, offset, found, &mut on_piece),
            Unwrapped::Many(hits) => {
                for found in hits {
                    records.one(&mut out, offset, found, &mut on_piece)?;
                }
                Ok(())
            }
        }
    };
    let content_hash = if gzip {
        let mut gz = HashRead {
            inner: flate2::bufread::MultiGzDecoder::new(&mut buffered),
            hasher: Sha256::new(),
        };
        match body(&mut gz, &mut handle) {
            Ok(Ok(())) => {}
            Ok(Err(Stop)) => return Err(DecodeError::Stopped),
            Err(DecodeError::Split(SplitError::Io(io))) => return Err(DecodeError::Gzip(io)),
            Err(e) => return Err(e),
        }
        // The content's hash covers whatever follows the JSON (a newline, padding).
        std::io::copy(&mut gz, &mut std::io::sink()).map_err(DecodeError::Gzip)?;
        Some(hex::encode(gz.hasher.finalize()))
    } else {
        match body(&mut buffered, &mut handle) {
            Ok(Ok(())) => {}
            Ok(Err(Stop)) => return Err(DecodeError::Stopped),
            Err(e) => return Err(e),
        }
        None
    };
    // Hash whatever trails the JSON (gzip trailer, padding) so the digest covers the file.
    let mut rest = Vec::new();
    let _ = buffered.read_to_end(&mut rest);
    let (_, hashed) = buffered.into_inner().into_inner();
    out.sha256 = hex::encode(hashed.hasher.finalize());
    // A file that is not compressed is its own content.
    out.content_sha256 = content_hash.unwrap_or_else(|| out.sha256.clone());
    Ok(out)
}

/// The file's content: JSON (every CloudTrail shape and the envelopes of other tools), or
/// a CSV export (Splunk's, whose header names a `_raw` column), told apart by its first
/// character and first line.
fn body<R: Read>(
    mut reader: R,
    handle: &mut impl FnMut(Input<'_>, u64) -> Result<(), Stop>,
) -> Result<Result<(), Stop>, DecodeError> {
    // The first line (or 4 KiB) decides; it is then read again with the rest.
    // A failure there (a gzip stream cut short) comes after what was read of it, so the
    // records before it are still handed over.
    let mut head = Vec::with_capacity(4096);
    let failed = (&mut reader).take(4096).read_to_end(&mut head).err();
    let text = head
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(&head);
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    let line = text.split(|b| *b == b'\n').next().unwrap_or_default();
    let csv = first.is_some_and(|b| *b != b'{' && *b != b'[')
        && (memchr::memmem::find(line, b"_raw").is_some() || line.contains(&b','));
    // The splitter is handed the JSON after a byte-order mark.
    let bom = if head.starts_with(b"\xEF\xBB\xBF") && !csv { 3 } else { 0 };
    let mut head = std::io::Cursor::new(head);
    head.set_position(bom);
    let rest = head.chain(Then { failed, reader });
    if csv {
        return csv_rows(rest, handle);
    }
    Ok(split::split(rest, |item, offset| {
        handle(Input::Json(item), offset)
    })?)
}

/// Largest row of a CSV export. A row costs up to eight times its size in field ends
/// (a row of commas), so the bound is smaller than a JSON value's.
const CSV_ROW_BYTES: u64 = 16 << 20;

/// A CSV export's reader that fails once a row runs past [`CSV_ROW_BYTES`] (an unclosed
/// quote would otherwise make the rest of the file one field).
struct RowBound<R> {
    reader: R,
    read: u64,
    row_start: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for RowBound<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read.saturating_sub(self.row_start.get()) > CSV_ROW_BYTES {
            return Err(std::io::Error::other(format!(
                "a row at byte {} is larger than {} bytes (an unclosed quote?)",
                self.row_start.get(),
                CSV_ROW_BYTES
            )));
        }
        let n = self.reader.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// `reader`, after the failure met while reading ahead, if there was one.
struct Then<R> {
    failed: Option<std::io::Error>,
    reader: R,
}

impl<R: Read> Read for Then<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.failed.take() {
            Some(e) => Err(e),
            None => self.reader.read(buf),
        }
    }
}

/// What the file's content hands over: a JSON value the splitter found, or a record
/// kept as text in a column of a CSV export.
enum Input<'a> {
    Json(Item<'a>),
    Raw(&'a [u8]),
}

/// A CSV export with a `_raw` column: each row's `_raw` is a record. Read a row at a
/// time.
fn csv_rows<R: Read>(
    reader: R,
    handle: &mut impl FnMut(Input<'_>, u64) -> Result<(), Stop>,
) -> Result<Result<(), Stop>, DecodeError> {
    // The reader fails once a row has run past its bound.
    let row_start = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let reader = RowBound {
        reader,
        read: 0,
        row_start: row_start.clone(),
    };
    let mut rows = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(reader);
    let column = rows
        .byte_headers()
        .map_err(|e| DecodeError::Csv(e.to_string()))?
        .iter()
        .position(|h| h == b"_raw")
        .ok_or_else(|| {
            DecodeError::Csv("no _raw column in the header: not an export of records".into())
        })?;
    let mut row = csv::ByteRecord::new();
    loop {
        match rows.read_byte_record(&mut row) {
            Ok(false) => return Ok(Ok(())),
            Ok(true) => {
                let offset = row.position().map_or(0, |p| p.byte());
                row_start.set(offset);
                if let Err(stop) = handle(Input::Raw(row.get(column).unwrap_or_default()), offset) {
                    return Ok(Err(stop));
                }
            }
            Err(e) => return Err(DecodeError::Csv(e.to_string())),
        }
    }
}

/// Receives each piece of a file, with the original record of an event.
type OnPiece<'a> = dyn FnMut(Piece, Option<&[u8]>) -> Result<(), Stop> + 'a;

/// Where the records of one file stand while it is read.
struct Records<'r> {
    rules: &'r app::detect::RuleSet,
    fallback: Option<&'r str>,
    /// 1-based position of the last record handed over.
    position: u64,
}

impl Records<'_> {
    // One record out of its envelope: normalised, matched against the rules and handed
    // over, or rejected with the reason.
    fn one(
        &mut self,
        out: &mut Decoded,
        offset: u64,
        found: Result<Found<'_>, Refused>,
        on_piece: &mut OnPiece<'_>,
    ) -> Result<(), Stop> {
        self.position += 1;
        out.records += 1;
        let position = self.position;
        let reject = |reason: String| {
            Piece::Reject(RecordReject {
                position,
                offset,
                reason,
            })
        };
        let found = match found {
            Ok(f) => f,
            Err(refused) => {
                out.shapes.count(refused.shape);
                return on_piece(reject(refused.reason), None);
            }
        };
        out.shapes.count(found.shape);
        let record = found.record;
        match normalize::normalize(&record, self.fallback) {
            Ok(event) => {
                if !found.missing.is_empty() {
                    out.partial += 1;
                    if out.partial_records.len() < PARTIAL_KEPT {
                        out.partial_records.push(RecordReject {
                            position,
                            offset,
                            reason: format!(
                                "rebuilt from the Elastic fields (no event.original): not recovered: {}",
                                found.missing.join(", ")
                            ),
                        });
                    }
                }
                let hits = self.rules.evaluate(
                    &record,
                    event.rule_keys().as_ref(),
                    &app::detect::Known {
                        principal: &event.principal.key,
                        account: &event.account,
                        region: event.region.as_deref(),
                    },
                );
                let parsed = Parsed {
                    event,
                    raw_slot: 0,
                    raw_len: record.len(),
                    text: super::text::search_text(&record),
                    hits,
                };
                on_piece(Piece::Event(parsed), Some(&record))
            }
            Err(e) => on_piece(reject(e.to_string()), None),
        }
    }
}

/// Whether a top-level object is a log-file-integrity digest: one with `digestStartTime`
/// or `logFiles` among its own keys. The words alone are not enough: a record may name
/// them deeper down or as a value (a request parameter, an S3 prefix), and is a record.
fn is_digest(doc: &[u8]) -> bool {
    // Most documents are records that never mention either: skip the parse for them.
    if memchr::memmem::find(doc, b"\"digestStartTime\"").is_none()
        && memchr::memmem::find(doc, b"\"logFiles\"").is_none()
    {
        return false;
    }
    #[derive(serde::Deserialize)]
    struct Top {
        #[serde(default, rename = "digestStartTime")]
        start: Option<serde::de::IgnoredAny>,
        #[serde(default, rename = "logFiles")]
        files: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Top>(doc).is_ok_and(|t| t.start.is_some() || t.files.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn run(bytes: &[u8]) -> Result<(Decoded, Vec<Piece>), DecodeError> {
        let mut pieces = Vec::new();
        let d = decode(bytes, None, &Default::default(), |p, _| {
            pieces.push(p);
            Ok(())
        })?;
        Ok((d, pieces))
    }

    const REC: &str = r#"{"eventTime":"2024-01-01T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","eventID":"00000000-0000-0000-0000-000000000001","recipientAccountId":"111122223333"}"#;

    fn gz(s: &str) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(s.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_is_detected_by_magic() {
        let body = format!(r#"{{"Records":[{REC},{{"eventName":"NoTime"}}]}}"#);
        let (d, pieces) = run(&gz(&body)).unwrap();
        assert!(d.gzip);
        assert_eq!(d.records, 2);
        assert!(matches!(pieces[0], Piece::Event(_)));
        match &pieces[1] {
            Piece::Reject(r) => {
                assert_eq!(r.position, 2);
                assert_eq!(r.reason, "no eventTime");
            }
            other => panic!("expected a reject, got {other:?}"),
        }
    }

    #[test]
    fn truncated_gzip_is_a_file_error() {
        let body = format!(r#"{{"Records":[{REC},{REC},{REC}]}}"#);
        let full = gz(&body);
        let cut = &full[..full.len() / 2];
        assert!(matches!(
            run(cut),
            Err(DecodeError::Gzip(_)) | Err(DecodeError::Split(_))
        ));
    }

    #[test]
    fn lookup_events_response() {
        let inner = serde_json::to_string(REC).unwrap();
        let body = format!(r#"{{"Events":[{{"EventId":"x","CloudTrailEvent":{inner}}}]}}"#);
        let (_, pieces) = run(body.as_bytes()).unwrap();
        assert_eq!(pieces.len(), 1);
        assert!(matches!(&pieces[0], Piece::Event(p) if p.event.name == "ListUsers"));
    }

    #[test]
    fn one_record_per_line_and_digest() {
        let body = format!("{REC}\n{REC}\n");
        let (d, pieces) = run(body.as_bytes()).unwrap();
        assert_eq!((d.records, pieces.len()), (2, 2));
        let (d, pieces) =
            run(br#"{"awsAccountId":"1","digestStartTime":"x","logFiles":[]}"#).unwrap();
        assert!(d.digest);
        assert!(pieces.is_empty());
    }

    /// Hands out one byte per read, as any `Read` may.
    struct ByteByByte<'a>(&'a [u8]);

    impl Read for ByteByByte<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(1).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn gzip_is_detected_when_read_a_byte_at_a_time() {
        let body = format!(r#"{{"Records":[{REC}]}}"#);
        let file = gz(&body);
        let mut events = 0;
        let d = decode(ByteByByte(&file), None, &Default::default(), |p, _| {
            events += usize::from(matches!(p, Piece::Event(_)));
            Ok(())
        })
        .unwrap();
        assert_eq!((d.gzip, d.records, events), (true, 1, 1));
        // The hash still covers every byte, the two read ahead included.
        assert_eq!(d.sha256, hex::encode(Sha256::digest(&file)));
        // The content's hash is the one a trail's digest file lists: of the JSON itself.
        assert_eq!(
            d.content_sha256,
            hex::encode(Sha256::digest(body.as_bytes()))
        );
    }

    #[test]
    fn a_record_that_mentions_digest_words_is_not_a_digest() {
        let nested = REC.replacen('{', r#"{"requestParameters":{"logFiles":[]},"#, 1);
        let valued = REC.replacen(
            '{',
            r#"{"requestParameters":{"prefix":"digestStartTime"},"#,
            1,
        );
        let (d, pieces) = run(format!("{nested}\n{valued}\n").as_bytes()).unwrap();
        assert!(!d.digest);
        assert_eq!(d.records, 2);
        assert!(pieces.iter().all(|p| matches!(p, Piece::Event(_))));
        // A digest says so at its top level, whatever order its keys come in.
        let (d, pieces) = run(br#"{"logFiles":[{"s3Object":"x"}],"awsAccountId":"1"}"#).unwrap();
        assert!(d.digest && pieces.is_empty());
    }

    #[test]
    fn invalid_json_is_a_file_error_and_empty_records_is_fine() {
        assert!(run(b"{\"Records\":[{\"a\":1}").is_err());
        assert!(run(b"").is_err());
        let (d, pieces) = run(br#"{"Records":[]}"#).unwrap();
        assert_eq!((d.records, pieces.len()), (0, 0));
    }
}
