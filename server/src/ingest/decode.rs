//! Decode stage: bytes of one file or object in (gzip detected by its magic bytes, not by
//! its name), normalised events out, each handed over with its original record (which
//! the caller keeps in a block, see `blocks`).

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
}

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
    let mut position = 0u64;
    let mut handle = |item: Item<'_>, offset: u64| -> Result<(), Stop> {
        let (raw, lookup) = match item {
            Item::Record(b) => (b, false),
            Item::LookupEvent(b) => (b, true),
            Item::Document(b) => {
                if is_digest(b) {
                    out.digest = true;
                    return Ok(());
                }
                (b, false)
            }
        };
        position += 1;
        out.records += 1;
        let reject = |reason: String| {
            Piece::Reject(RecordReject {
                position,
                offset,
                reason,
            })
        };
        let record = if lookup {
            match normalize::lookup_element_record(raw) {
                Ok(r) => r,
                Err(e) => return on_piece(reject(e.to_string()), None),
            }
        } else {
            std::borrow::Cow::Borrowed(raw)
        };
        match normalize::normalize(&record, fallback_account) {
            Ok(event) => {
                let hits = rules.evaluate(
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
    };
    let content_hash = if gzip {
        let mut gz = HashRead {
            inner: flate2::bufread::MultiGzDecoder::new(&mut buffered),
            hasher: Sha256::new(),
        };
        let result = split::split(&mut gz, &mut handle).map_err(|e| match e {
            SplitError::Io(io) => DecodeError::Gzip(io),
            other => DecodeError::Split(other),
        });
        match result {
            Ok(Ok(())) => {}
            Ok(Err(Stop)) => return Err(DecodeError::Stopped),
            Err(e) => return Err(e),
        }
        // The content's hash covers whatever follows the JSON (a newline, padding).
        std::io::copy(&mut gz, &mut std::io::sink()).map_err(DecodeError::Gzip)?;
        Some(hex::encode(gz.hasher.finalize()))
    } else {
        match split::split(&mut buffered, &mut handle).map_err(DecodeError::Split) {
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
        assert_eq!(d.content_sha256, hex::encode(Sha256::digest(body.as_bytes())));
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
