//! Decode stage, part 2: split a JSON byte stream into record candidates without ever
//! holding the whole document.
//!
//! Handles every shape a CloudTrail file comes in:
//! - the delivery envelope `{"Records":[ ... ]}` (elements streamed one by one),
//! - the `LookupEvents` response `{"Events":[{"CloudTrailEvent":"..."}]}`,
//! - a bare JSON array of records,
//! - one record per line (or several top-level objects in a row),
//! - a single top-level object (a record, or a digest file, decided by the caller).
//!
//! Only one element (or one non-envelope top-level object) is buffered at a time, so
//! memory stays flat however large the file is.

use std::io::Read;

/// What the splitter found.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// An element of a `Records` array or of a top-level array.
    Record(&'a [u8]),
    /// An element of a `LookupEvents` response's `Events` array.
    LookupEvent(&'a [u8]),
    /// A whole top-level object that was not an envelope.
    Document(&'a [u8]),
}

#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("empty file: no JSON found")]
    Empty,
    #[error("invalid JSON at byte {offset}: {what}")]
    Syntax { offset: u64, what: &'static str },
    #[error("unexpected end of input at byte {0} (truncated file?)")]
    Truncated(u64),
    #[error("a single JSON value is larger than {limit} bytes (at byte {offset})")]
    TooLarge { offset: u64, limit: usize },
}

/// Largest single record (or non-envelope document) accepted.
pub const MAX_ITEM_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum ItemsOf {
    Records,
    Lookup,
}

/// Streams `reader` and calls `emit(item, byte_offset)` for every item found.
/// `emit` may stop the scan by returning an error of its own type.
pub fn split<R: Read, E>(
    mut reader: R,
    mut emit: impl FnMut(Item<'_>, u64) -> Result<(), E>,
) -> Result<Result<(), E>, SplitError> {
    let mut s = Scanner::default();
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SplitError::Io(e)),
        };
        if let Err(stop) = s.feed(&chunk[..n], &mut emit)? {
            return Ok(Err(stop));
        }
    }
    s.finish()?;
    Ok(Ok(()))
}

#[derive(Default)]
struct Scanner {
    /// Open containers, `{` or `[`.
    stack: Vec<u8>,
    in_string: bool,
    escape: bool,
    /// Bytes consumed before the current chunk.
    base: u64,
    /// Depth of the array whose elements are items, if inside one.
    items_depth: Option<usize>,
    items_of: Option<ItemsOf>,
    /// An element is being captured (start offset of the element).
    elem_start: Option<u64>,
    /// Capturing a whole top-level object (not known to be an envelope yet).
    doc_capture: bool,
    doc_start: u64,
    /// The top-level object turned out to be an envelope.
    top_is_envelope: bool,
    buf: Vec<u8>,
    /// Captured in the current chunk from this index.
    cap_from: usize,
    /// Key tracking at depth 1 of a top-level object.
    key_buf: Vec<u8>,
    key_overflow: bool,
    last_string_at_1: Vec<u8>,
    current_key: Vec<u8>,
    seen_any: bool,
}

impl Scanner {
    fn capturing(&self) -> bool {
        self.doc_capture || self.elem_start.is_some()
    }

    fn feed<E>(
        &mut self,
        data: &[u8],
        emit: &mut impl FnMut(Item<'_>, u64) -> Result<(), E>,
    ) -> Result<Result<(), E>, SplitError> {
        self.cap_from = 0;
        let mut i = 0;
        while i < data.len() {
            if self.in_string {
                // Jump to the next quote or backslash.
                if self.escape {
                    self.escape = false;
                    if self.track_key() {
                        self.push_key(data[i]);
                    }
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &data[i..]) {
                    None => {
                        if self.track_key() {
                            for &b in &data[i..] {
                                self.push_key(b);
                            }
                        }
                        i = data.len();
                    }
                    Some(k) => {
                        if self.track_key() {
                            for &b in &data[i..i + k] {
                                self.push_key(b);
                            }
                        }
                        i += k;
                        if data[i] == b'\\' {
                            self.escape = true;
                            if self.track_key() {
                                self.push_key(b'\\');
                            }
                        } else {
                            self.in_string = false;
                            if self.stack.len() == 1 && self.stack[0] == b'{' {
                                self.last_string_at_1 = if self.key_overflow {
                                    Vec::new()
                                } else {
                                    std::mem::take(&mut self.key_buf)
                                };
                                self.key_buf.clear();
                            }
                        }
                        i += 1;
                    }
                }
                continue;
            }
            let b = data[i];
            let offset = self.base + i as u64;
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {}
                b'"' => {
                    self.start_value_if_needed(i);
                    self.in_string = true;
                    self.key_buf.clear();
                    self.key_overflow = false;
                }
                b'{' | b'[' => {
                    let depth = self.stack.len();
                    if depth == 0 {
                        self.seen_any = true;
                        if b == b'{' {
                            self.doc_capture = true;
                            self.doc_start = offset;
                            self.top_is_envelope = false;
                            self.buf.clear();
                            self.cap_from = i;
                        } else {
                            self.items_depth = Some(1);
                            self.items_of = Some(ItemsOf::Records);
                        }
                    } else if depth == 1
                        && b == b'['
                        && self.stack[0] == b'{'
                        && self.doc_capture
                        && !self.top_is_envelope
                    {
                        let of = match self.current_key.as_slice() {
                            b"Records" => Some(ItemsOf::Records),
                            b"Events" => Some(ItemsOf::Lookup),
                            _ => None,
                        };
                        if let Some(of) = of {
                            // An envelope: stop capturing the document, stream its items.
                            self.doc_capture = false;
                            self.top_is_envelope = true;
                            self.buf.clear();
                            self.items_depth = Some(2);
                            self.items_of = Some(of);
                        }
                    } else {
                        self.start_value_if_needed(i);
                    }
                    self.stack.push(b);
                }
                b'}' | b']' => {
                    let open = if b == b'}' { b'{' } else { b'[' };
                    match self.stack.last() {
                        Some(&top) if top == open => {}
                        _ => {
                            return Err(SplitError::Syntax {
                                offset,
                                what: "unbalanced bracket",
                            });
                        }
                    }
                    // Closing the items array ends the current element first.
                    if Some(self.stack.len()) == self.items_depth && b == b']' {
                        if let Err(e) = self.finish_element(data, i, emit)? {
                            return Ok(Err(e));
                        }
                        self.items_depth = None;
                        self.items_of = None;
                    }
                    self.stack.pop();
                    if self.stack.is_empty() && b == b'}' {
                        if self.doc_capture {
                            self.buf.extend_from_slice(&data[self.cap_from..=i]);
                            self.cap_from = i + 1;
                            self.doc_capture = false;
                            let start = self.doc_start;
                            let r = emit(Item::Document(&self.buf), start);
                            self.buf.clear();
                            if let Err(e) = r {
                                return Ok(Err(e));
                            }
                        }
                        self.top_is_envelope = false;
                        self.current_key.clear();
                    }
                }
                b',' => {
                    if Some(self.stack.len()) == self.items_depth {
                        if let Err(e) = self.finish_element(data, i, emit)? {
                            return Ok(Err(e));
                        }
                    }
                }
                b':' => {
                    if self.stack.len() == 1 && self.stack[0] == b'{' {
                        self.current_key = std::mem::take(&mut self.last_string_at_1);
                    }
                }
                _ => {
                    if self.stack.is_empty() {
                        return Err(SplitError::Syntax {
                            offset,
                            what: "expected a JSON object or array at the top level",
                        });
                    }
                    self.start_value_if_needed(i);
                }
            }
            i += 1;
        }
        if self.capturing() && self.cap_from < data.len() {
            let from = self.cap_from;
            self.buf.extend_from_slice(&data[from..]);
            if self.buf.len() > MAX_ITEM_BYTES {
                let offset = self.elem_start.unwrap_or(self.doc_start);
                return Err(SplitError::TooLarge {
                    offset,
                    limit: MAX_ITEM_BYTES,
                });
            }
        }
        self.base += data.len() as u64;
        Ok(Ok(()))
    }

    fn track_key(&self) -> bool {
        self.stack.len() == 1 && self.stack[0] == b'{' && !self.key_overflow
    }

    fn push_key(&mut self, b: u8) {
        if self.key_buf.len() < 64 {
            self.key_buf.push(b);
        } else {
            self.key_overflow = true;
        }
    }

    /// A value begins at `data[i]`: if it is directly inside the items array, start
    /// capturing an element.
    fn start_value_if_needed(&mut self, i: usize) {
        if Some(self.stack.len()) == self.items_depth && self.elem_start.is_none() {
            self.elem_start = Some(self.base + i as u64);
            self.buf.clear();
            self.cap_from = i;
        }
    }

    fn finish_element<E>(
        &mut self,
        data: &[u8],
        i: usize,
        emit: &mut impl FnMut(Item<'_>, u64) -> Result<(), E>,
    ) -> Result<Result<(), E>, SplitError> {
        let Some(start) = self.elem_start.take() else {
            return Ok(Ok(()));
        };
        let from = self.cap_from;
        self.buf.extend_from_slice(&data[from..i]);
        self.cap_from = i;
        let trimmed = trim_ascii_end(&self.buf);
        let item = match self.items_of {
            Some(ItemsOf::Lookup) => Item::LookupEvent(trimmed),
            _ => Item::Record(trimmed),
        };
        let r = emit(item, start);
        self.buf.clear();
        Ok(r)
    }

    fn finish(&self) -> Result<(), SplitError> {
        if !self.stack.is_empty() || self.in_string {
            return Err(SplitError::Truncated(self.base));
        }
        if !self.seen_any {
            return Err(SplitError::Empty);
        }
        Ok(())
    }
}

fn trim_ascii_end(b: &[u8]) -> &[u8] {
    let mut end = b.len();
    while end > 0 && b[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    &b[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Owned {
        R(String),
        L(String),
        D(String),
    }

    fn run(input: &str) -> Result<Vec<Owned>, SplitError> {
        // Feed in tiny chunks to exercise chunk boundaries.
        struct Tiny<'a>(&'a [u8]);
        impl Read for Tiny<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(3).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        let r: Result<(), ()> = split(Tiny(input.as_bytes()), |item, _| {
            out.push(match item {
                Item::Record(b) => Owned::R(String::from_utf8_lossy(b).into_owned()),
                Item::LookupEvent(b) => Owned::L(String::from_utf8_lossy(b).into_owned()),
                Item::Document(b) => Owned::D(String::from_utf8_lossy(b).into_owned()),
            });
            Ok(())
        })?;
        assert!(r.is_ok());
        Ok(out)
    }

    #[test]
    fn envelope_is_streamed() {
        let got = run(r#" {"Records": [ {"a":"x,]}"} , {"b":[1,2]} ]} "#).unwrap();
        assert_eq!(
            got,
            vec![
                Owned::R(r#"{"a":"x,]}"}"#.into()),
                Owned::R(r#"{"b":[1,2]}"#.into())
            ]
        );
    }

    #[test]
    fn envelope_key_after_other_keys_and_escapes() {
        let got = run(r#"{"x\"y":"Records","Records":[{"k":"\\"}],"z":1}"#).unwrap();
        assert_eq!(got, vec![Owned::R(r#"{"k":"\\"}"#.into())]);
    }

    #[test]
    fn bare_array_and_scalars() {
        let got = run(r#"[{"a":1}, 5, "s"]"#).unwrap();
        assert_eq!(
            got,
            vec![
                Owned::R(r#"{"a":1}"#.into()),
                Owned::R("5".into()),
                Owned::R(r#""s""#.into())
            ]
        );
    }

    #[test]
    fn lookup_events_shape() {
        let got = run(r#"{"NextToken":"t","Events":[{"CloudTrailEvent":"{\"a\":1}"}]}"#).unwrap();
        assert_eq!(
            got,
            vec![Owned::L(r#"{"CloudTrailEvent":"{\"a\":1}"}"#.into())]
        );
    }

    #[test]
    fn json_lines_are_documents() {
        let got = run("{\"a\":1}\n{\"b\":{\"Records\":[1]}}\n").unwrap();
        assert_eq!(
            got,
            vec![
                Owned::D(r#"{"a":1}"#.into()),
                Owned::D(r#"{"b":{"Records":[1]}}"#.into())
            ]
        );
    }

    #[test]
    fn empty_records_and_empty_input() {
        assert_eq!(run(r#"{"Records":[]}"#).unwrap(), vec![]);
        assert!(matches!(run("  \n"), Err(SplitError::Empty)));
        assert!(matches!(run(""), Err(SplitError::Empty)));
    }

    #[test]
    fn broken_input_is_reported() {
        assert!(matches!(
            run(r#"{"Records":[{"a":1}"#),
            Err(SplitError::Truncated(_))
        ));
        assert!(matches!(
            run(r#"{"a":"unterminated"#),
            Err(SplitError::Truncated(_))
        ));
        assert!(matches!(run(r#"{"a":1]"#), Err(SplitError::Syntax { .. })));
        assert!(matches!(run("hello"), Err(SplitError::Syntax { .. })));
    }
}
