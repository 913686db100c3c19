//! Property tests for the parsers that read untrusted bytes: the streaming splitter
//! ([`split`]) and the decoder built on it ([`decode`]).
//!
//! Inputs start as valid files of generated records, in every shape Cairn reads (the
//! `Records` envelope, a `LookupEvents` response, a bare array, one record per line),
//! fed in reads of random sizes. Then they are damaged: cut short, a byte flipped,
//! garbage inserted, 100k open brackets, megabyte strings, NULs, invalid UTF-8, UTF-16.
//! Every case must finish within [`LIMIT`] (it runs on its own thread, so a hang fails
//! the case instead of the whole run), must not panic, and must hand out every record
//! that comes before the damage, intact and in order.
//!
//! Cases per property (4,536 in all): `split_round_trips_every_shape` 1000,
//! `split_keeps_what_comes_before_damage` 1000, `decode_keeps_events_before_damage` 512,
//! `decode_keeps_events_before_a_gzip_cut` 512, `split_and_decode_take_any_bytes` 1000,
//! `a_hostile_record_is_rejected_alone` 512. About 20 s in all in a debug build.

use super::decode::{self, Piece};
use super::split::{self, Item};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::Config;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

/// Longest a case may take before it counts as a hang: generous for a debug build on a
/// busy machine, where the slowest case takes well under a second; a parser that loops
/// or goes quadratic on these inputs takes far longer.
const LIMIT: Duration = Duration::from_secs(20);

/// Explicit case counts; a failure is reported (and shrunk) but not written to a
/// regressions file: a bug found here gets a named unit test beside its fix.
fn config(cases: u32) -> Config {
    Config {
        failure_persistence: None,
        ..Config::with_cases(cases)
    }
}

/// Runs `f` on a thread of its own (with the default stack, like the import's decoder
/// threads) and returns its result; the case fails if it panics or takes over [`LIMIT`].
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(v) => {
            let _ = handle.join();
            v
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("no answer within {LIMIT:?}: a hang"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => panic!("the parser's thread ended without an answer"),
        },
    }
}

/// Hands out its bytes in reads of the given sizes, in turn, as a pipe or a network body
/// may: the parsers must not care where one read ends.
struct Chunked {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    turn: usize,
}

impl Chunked {
    fn new(data: Vec<u8>, sizes: Vec<usize>) -> Chunked {
        Chunked {
            data,
            pos: 0,
            sizes,
            turn: 0,
        }
    }
}

impl Read for Chunked {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let want = self.sizes[self.turn % self.sizes.len()].max(1);
        self.turn += 1;
        let n = want.min(out.len()).min(self.data.len() - self.pos);
        out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// `sizes` for reading `input`: megabytes read a few bytes at a time only make a case
/// slow, where the small cases exercise read boundaries just as well.
fn reads_for(input: &[u8], sizes: Vec<usize>) -> Vec<usize> {
    if input.len() > 1 << 16 {
        sizes.into_iter().map(|n| n.max(4096)).collect()
    } else {
        sizes
    }
}

fn read_sizes() -> impl Strategy<Value = Vec<usize>> {
    vec(
        prop_oneof![3 => 1usize..8, 2 => 8usize..4096, 1 => Just(1 << 20)],
        1..4,
    )
}

// ---------------------------------------------------------------------------------------
// Generated records and files.

/// Text that the parsers give a meaning to, mixed into generated values to confuse them.
const LOADED: &[&str] = &[
    "Records",
    "Events",
    "CloudTrailEvent",
    "logFiles",
    "digestStartTime",
    "eventTime",
    "]",
    "}",
    ",",
    "\"",
    "\\",
    "\\\"",
    "{\"Records\":[",
    "\u{0}",
    "\u{feff}",
    "é",
    "𝄞",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => ".{0,12}",
        2 => select(LOADED).prop_map(str::to_owned),
        1 => "[\\x00-\\x1f\"\\\\\\[\\]{},:]{0,8}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((text(), inner), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// What varies between generated records; the rest makes them valid CloudTrail records.
#[derive(Debug, Clone)]
struct Body {
    name: String,
    params: Value,
}

fn body() -> impl Strategy<Value = Body> {
    (text(), value()).prop_map(|(name, params)| Body { name, params })
}

fn event_id(i: usize) -> String {
    format!("5a1c0de0-0000-4000-8000-{i:012x}")
}

/// The dedup key `normalize` derives from [`event_id`] (a UUID's 16 bytes).
fn event_key(i: usize) -> Vec<u8> {
    uuid::Uuid::parse_str(&event_id(i))
        .expect("a UUID")
        .as_bytes()
        .to_vec()
}

fn record(i: usize, b: &Body) -> String {
    json!({
        "eventVersion": "1.08",
        "eventTime": "2024-01-01T00:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": b.name,
        "awsRegion": "us-east-1",
        "eventID": event_id(i),
        "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
        "requestParameters": b.params,
    })
    .to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Envelope,
    Lookup,
    Array,
    Lines,
}

fn shape() -> impl Strategy<Value = Shape> {
    select(vec![
        Shape::Envelope,
        Shape::Lookup,
        Shape::Array,
        Shape::Lines,
    ])
}

/// An item as the splitter hands it out, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Record(Vec<u8>),
    Lookup(Vec<u8>),
    Document(Vec<u8>),
}

impl From<Item<'_>> for Got {
    fn from(item: Item<'_>) -> Got {
        match item {
            Item::Record(b) => Got::Record(b.to_vec()),
            Item::LookupEvent(b) => Got::Lookup(b.to_vec()),
            Item::Document(b) => Got::Document(b.to_vec()),
        }
    }
}

/// A rendered file: its bytes, and each item with the offset it starts at.
#[derive(Debug, Clone)]
struct File {
    bytes: Vec<u8>,
    items: Vec<(Got, u64)>,
}

/// `records` in `shape`, with `sep` (whitespace) around the elements and `extra` as
/// the value of keys around the envelope's array.
fn render(shape: Shape, records: &[Vec<u8>], sep: &str, extra: &Value) -> File {
    let (open, close) = match shape {
        Shape::Envelope => (
            format!(r#"{{"Meta":{extra},{sep}"Records":{sep}["#),
            format!(r#"]{sep},"Tail":{extra}}}"#),
        ),
        Shape::Lookup => (
            format!(r#"{{"NextToken":"t",{sep}"Events":{sep}["#),
            format!("]{sep}}}"),
        ),
        Shape::Array => ("[".to_owned(), "]".to_owned()),
        Shape::Lines => (String::new(), String::new()),
    };
    let mut bytes = open.into_bytes();
    let mut items = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if i > 0 && shape != Shape::Lines {
            bytes.extend_from_slice(format!("{sep},").as_bytes());
        }
        bytes.extend_from_slice(sep.as_bytes());
        let at = bytes.len() as u64;
        let item = match shape {
            Shape::Lookup => Got::Lookup(lookup_element(i, r)),
            Shape::Lines => Got::Document(r.clone()),
            Shape::Envelope | Shape::Array => Got::Record(r.clone()),
        };
        bytes.extend_from_slice(match &item {
            Got::Record(b) | Got::Lookup(b) | Got::Document(b) => b,
        });
        items.push((item, at));
        if shape == Shape::Lines {
            bytes.extend_from_slice(format!("{sep}\n").as_bytes());
        }
    }
    if shape != Shape::Lines {
        bytes.extend_from_slice(sep.as_bytes());
    }
    bytes.extend_from_slice(close.as_bytes());
    File { bytes, items }
}

/// A `LookupEvents` element carrying `record` as its `CloudTrailEvent` string, escaped
/// byte by byte so that a record that is not UTF-8 stays so.
fn lookup_element(i: usize, record: &[u8]) -> Vec<u8> {
    let mut v = format!(
        r#"{{"EventId":"{}","EventName":"x","CloudTrailEvent":""#,
        event_id(i)
    )
    .into_bytes();
    for &b in record {
        match b {
            b'"' => v.extend_from_slice(b"\\\""),
            b'\\' => v.extend_from_slice(b"\\\\"),
            0..0x20 => v.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => v.push(b),
        }
    }
    v.extend_from_slice(b"\"}");
    v
}

fn whitespace() -> impl Strategy<Value = String> {
    "[ \t\r\n]{0,3}"
}

/// A valid file of `n` generated records.
fn file(n: std::ops::Range<usize>) -> impl Strategy<Value = (Shape, Vec<Body>, File)> {
    (shape(), vec(body(), n), whitespace(), value()).prop_map(|(shape, bodies, sep, extra)| {
        let records: Vec<Vec<u8>> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| record(i, b).into_bytes())
            .collect();
        let f = render(shape, &records, &sep, &extra);
        (shape, bodies, f)
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("in memory");
    e.finish().expect("in memory")
}

fn utf16(bytes: &[u8], big_endian: bool) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = if big_endian {
        vec![0xfe, 0xff]
    } else {
        vec![0xff, 0xfe]
    };
    for unit in text.encode_utf16() {
        out.extend_from_slice(&if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        });
    }
    out
}

// ---------------------------------------------------------------------------------------
// Damage.

#[derive(Debug, Clone)]
enum Damage {
    /// The file ends here.
    Cut,
    /// One byte changes (xor with a non-zero mask); nothing at the very end.
    Flip(u8),
    /// Bytes are inserted: JSON punctuation, NULs, invalid UTF-8, anything.
    Insert(Vec<u8>),
    /// `n` unclosed `[` or `{` are inserted (a recursive parser overflows its stack).
    Nest(usize, u8),
    /// A string is opened and runs for `n` bytes before the rest of the file.
    LongString(usize),
    /// The rest of the file is re-encoded as UTF-16LE behind a byte order mark.
    Utf16Rest,
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        2 => Just(Damage::Cut),
        2 => (1u8..=255).prop_map(Damage::Flip),
        2 => vec(
            prop_oneof![any::<u8>(), select(b"{}[]\",:\\\0\xff\xfe".to_vec())],
            1..16
        )
        .prop_map(Damage::Insert),
        1 => (prop_oneof![Just(100_000usize), 1usize..2000], select(vec![b'[', b'{']))
            .prop_map(|(n, b)| Damage::Nest(n, b)),
        1 => prop_oneof![1usize..4096, (1usize << 20)..(2 << 20)].prop_map(Damage::LongString),
        1 => Just(Damage::Utf16Rest),
    ]
}

fn apply(bytes: &[u8], at: usize, d: &Damage) -> Vec<u8> {
    let (head, rest) = bytes.split_at(at);
    let mut out = head.to_vec();
    match d {
        Damage::Cut => return out,
        Damage::Flip(mask) => {
            out.extend_from_slice(rest);
            if let Some(b) = out.get_mut(at) {
                *b ^= mask;
            }
            return out;
        }
        Damage::Insert(junk) => out.extend_from_slice(junk),
        Damage::Nest(n, b) => out.extend(std::iter::repeat_n(*b, *n)),
        Damage::LongString(n) => {
            out.push(b'"');
            out.extend(std::iter::repeat_n(b'x', *n));
        }
        Damage::Utf16Rest => {
            out.extend_from_slice(&utf16(rest, false));
            return out;
        }
    }
    out.extend_from_slice(rest);
    out
}

/// Valid JSON as far as the splitter can tell (balanced, strings closed) that the
/// record parser may refuse. The big ones (megabytes, 100k deep) are one case in nine:
/// each costs a tenth of a second in a debug build.
fn poison() -> impl Strategy<Value = Vec<u8>> {
    let string = |n: usize| [&b"\""[..], &vec![b'x'; n], b"\""].concat();
    let escapes = |n: usize| format!("\"{}\"", r#"\u0000\"\\"#.repeat(n)).into_bytes();
    let arrays = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes();
    let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n)).into_bytes();
    prop_oneof![
        // Long strings, plain and all escapes.
        2 => (1usize..65_536).prop_map(string),
        2 => (1usize..2000).prop_map(escapes),
        // Deep nesting, closed: past any recursion limit.
        2 => (1usize..3000).prop_map(arrays),
        2 => (1usize..3000).prop_map(objects),
        // Raw control bytes and invalid UTF-8 inside a string.
        2 => vec(prop_oneof![Just(0u8), 0x80u8..=0xff, 1u8..0x20], 1..64)
            .prop_map(|junk| [&br#"{"s":""#[..], &junk, br#""}"#].concat()),
        // Escapes that are not characters, or not escapes.
        2 => select(vec![
            &br#""\ud800""#[..],
            br#""\udc00\ud800""#,
            br#""\u00""#,
            br#""\x41""#,
            br#"{"\ud83d":1}"#,
        ])
        .prop_map(<[u8]>::to_vec),
        // The big ones.
        1 => prop_oneof![
            ((1usize << 20)..(2 << 20)).prop_map(string),
            (20_000usize..50_000).prop_map(escapes),
            Just(100_000).prop_map(arrays),
            Just(100_000).prop_map(objects),
        ],
    ]
}

/// Record `i` with `poison` as its request parameters, byte for byte.
fn poisoned(i: usize, b: &Body, poison: &[u8]) -> Vec<u8> {
    let marker = Value::String("\u{1}poison\u{1}".into());
    let r = record(
        i,
        &Body {
            name: b.name.clone(),
            params: marker.clone(),
        },
    );
    let marker = marker.to_string();
    let at = r.find(&marker).expect("the marker is there");
    [
        &r.as_bytes()[..at],
        poison,
        &r.as_bytes()[at + marker.len()..],
    ]
    .concat()
}

/// Bytes of every kind: random, JSON-ish, and valid files made invalid by their
/// encoding or compression.
fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    let jsonish = vec(
        select(b"{}[]\",:\\ \n\t0123456789aeflnrstu-.\0\xff".to_vec()),
        0..4096,
    );
    let valid = || file(0..6).prop_map(|(_, _, f)| f.bytes);
    prop_oneof![
        vec(any::<u8>(), 0..2048),
        jsonish.clone(),
        // Known envelopes followed by junk.
        (
            select(vec![
                &b"{\"Records\":["[..],
                b"{\"Events\":[",
                b"[",
                b"{\"a\":"
            ]),
            jsonish
        )
            .prop_map(|(head, tail)| [head, &tail[..]].concat()),
        valid().prop_map(|b| utf16(&b, false)),
        valid().prop_map(|b| utf16(&b, true)),
        valid().prop_map(|b| [&b"\xef\xbb\xbf"[..], &b[..]].concat()),
        valid().prop_map(|b| b.iter().flat_map(|&c| [c, 0]).collect()),
        // Gzip: flipped, cut, with junk after it, twice over, and its magic on junk.
        (valid(), any::<Index>(), 1u8..=255).prop_map(|(b, at, mask)| {
            let mut z = gzip(&b);
            let i = at.index(z.len());
            z[i] ^= mask;
            z
        }),
        (valid(), any::<Index>()).prop_map(|(b, at)| {
            let z = gzip(&b);
            z[..at.index(z.len() + 1)].to_vec()
        }),
        (valid(), vec(any::<u8>(), 1..64)).prop_map(|(b, junk)| [gzip(&b), junk].concat()),
        valid().prop_map(|b| gzip(&gzip(&b))),
        vec(any::<u8>(), 0..512).prop_map(|junk| [&[0x1f, 0x8b][..], &junk].concat()),
    ]
}

// ---------------------------------------------------------------------------------------
// Running the parsers.

type SplitRun = (Vec<(Got, u64)>, Result<(), String>);

fn split_all(input: Vec<u8>, sizes: Vec<usize>) -> SplitRun {
    bounded(move || {
        let mut got = Vec::new();
        let r = split::split(Chunked::new(input, sizes), |item, at| {
            got.push((Got::from(item), at));
            Ok::<(), std::convert::Infallible>(())
        });
        (got, r.map(|_| ()).map_err(|e| e.to_string()))
    })
}

/// A piece as the decoder hands it out: an event by its dedup key, or a reject.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Event(Vec<u8>),
    Reject { position: u64, reason: String },
}

#[derive(Debug)]
struct DecodeRun {
    pieces: Vec<Out>,
    /// Records counted, whether gzip was seen, and whether it was a digest; or the error.
    result: Result<(u64, bool, bool), String>,
}

fn decode_all(input: Vec<u8>, sizes: Vec<usize>) -> DecodeRun {
    bounded(move || {
        let mut pieces = Vec::new();
        let r = decode::decode(Chunked::new(input, sizes), None, &Default::default(), |p, _| {
            pieces.push(match p {
                Piece::Event(e) => Out::Event(e.event.event_key),
                Piece::Reject(r) => Out::Reject {
                    position: r.position,
                    reason: r.reason,
                },
            });
            Ok(())
        });
        DecodeRun {
            pieces,
            result: r
                .map(|d| (d.records, d.gzip, d.digest))
                .map_err(|e| e.to_string()),
        }
    })
}

/// What holds for any decode: every record counted is handed out once, in file order.
fn check_decode_invariants(run: &DecodeRun) -> Result<(), TestCaseError> {
    for (i, p) in run.pieces.iter().enumerate() {
        if let Out::Reject { position, .. } = p {
            prop_assert_eq!(*position, i as u64 + 1, "rejects carry their position");
        }
    }
    if let Ok((records, _, _)) = run.result {
        prop_assert_eq!(records, run.pieces.len() as u64);
    }
    Ok(())
}

fn expected_events(k: usize) -> Vec<Out> {
    (0..k).map(|i| Out::Event(event_key(i))).collect()
}

// ---------------------------------------------------------------------------------------
// The properties.

proptest! {
    #![proptest_config(config(1000))]

    /// Valid files of every shape, read in any pieces, give back exactly their records,
    /// byte for byte, at their offsets.
    #[test]
    fn split_round_trips_every_shape(
        (shape, _bodies, f) in file(0..10),
        sizes in read_sizes(),
    ) {
        let (got, r) = split_all(f.bytes.clone(), sizes);
        if shape == Shape::Lines && f.items.is_empty() {
            prop_assert!(r.is_err(), "an empty file is an error");
        } else {
            prop_assert_eq!(r, Ok(()));
        }
        prop_assert_eq!(got, f.items);
    }

    /// Whatever happens to a file after its record `k` starts, records `0..k` come out
    /// whole, first and in order.
    #[test]
    fn split_keeps_what_comes_before_damage(
        (_shape, _bodies, f) in file(1..10),
        k in any::<Index>(),
        at in any::<Index>(),
        d in damage(),
        sizes in read_sizes(),
    ) {
        let k = k.index(f.items.len());
        let start = f.items[k].1 as usize;
        let at = start + at.index(f.bytes.len() - start + 1);
        let input = apply(&f.bytes, at, &d);
        let sizes = reads_for(&input, sizes);
        let (got, _) = split_all(input, sizes);
        prop_assert!(got.len() >= k, "{} items before the damage, {} out", k, got.len());
        prop_assert_eq!(&got[..k], &f.items[..k]);
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// The same through the decoder: the events of records `0..k` come out first, plain
    /// or gzip-compressed (damaged before compression).
    #[test]
    fn decode_keeps_events_before_damage(
        (_shape, _bodies, f) in file(1..8),
        k in any::<Index>(),
        at in any::<Index>(),
        d in damage(),
        compress in any::<bool>(),
        sizes in read_sizes(),
    ) {
        let k = k.index(f.items.len());
        let start = f.items[k].1 as usize;
        let at = start + at.index(f.bytes.len() - start + 1);
        let mut input = apply(&f.bytes, at, &d);
        let sizes = reads_for(&input, sizes);
        if compress {
            input = gzip(&input);
        }
        let run = decode_all(input, sizes);
        check_decode_invariants(&run)?;
        prop_assert!(run.pieces.len() >= k, "{:?}", run);
        prop_assert_eq!(&run.pieces[..k], &expected_events(k)[..], "{:?}", run.result);
    }

    /// A gzip file cut short anywhere after the point its first `k` records were flushed
    /// still gives their events before it fails. (A byte flipped inside the compressed
    /// stream is only in `split_and_decode_take_any_bytes`: the gzip reader drops what
    /// it inflated in the read that meets the damage, so events just before it may not
    /// come out. The file fails whole either way, and the import keeps none of its
    /// events.)
    #[test]
    fn decode_keeps_events_before_a_gzip_cut(
        (_shape, _bodies, f) in file(1..8),
        k in any::<Index>(),
        cut in any::<Index>(),
        sizes in read_sizes(),
    ) {
        let k = k.index(f.items.len());
        let start = f.items[k].1 as usize;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&f.bytes[..start]).expect("in memory");
        e.flush().expect("in memory");
        let flushed = e.get_ref().len();
        e.write_all(&f.bytes[start..]).expect("in memory");
        let whole = e.finish().expect("in memory");
        let cut = flushed + cut.index(whole.len() - flushed + 1);
        let run = decode_all(whole[..cut].to_vec(), sizes);
        check_decode_invariants(&run)?;
        prop_assert!(run.pieces.len() >= k, "{:?}", run);
        prop_assert_eq!(&run.pieces[..k], &expected_events(k)[..], "{:?}", run.result);
        if cut == whole.len() {
            prop_assert_eq!(run.result.map(|(n, gz, _)| (n, gz)), Ok((f.items.len() as u64, true)));
        }
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// Any bytes at all, and valid files in the wrong encoding or with a broken gzip
    /// layer: the parsers answer (an error is fine) and the decoder stays consistent.
    #[test]
    fn split_and_decode_take_any_bytes(
        input in any_bytes(),
        sizes in read_sizes(),
    ) {
        let _ = split_all(input.clone(), sizes.clone());
        let run = decode_all(input, sizes);
        check_decode_invariants(&run)?;
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// One record that is valid-looking but hostile inside (a megabyte string, 100k-deep
    /// nesting, NULs, invalid UTF-8, lone surrogates) is stored or rejected on its own:
    /// every other record of the file still becomes its event.
    #[test]
    fn a_hostile_record_is_rejected_alone(
        (shape, bodies, _f) in file(1..6),
        bad in any::<Index>(),
        poison in poison(),
        sep in whitespace(),
        compress in any::<bool>(),
        sizes in read_sizes(),
    ) {
        let bad = bad.index(bodies.len());
        let records: Vec<Vec<u8>> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if i == bad {
                    poisoned(i, b, &poison)
                } else {
                    record(i, b).into_bytes()
                }
            })
            .collect();
        let f = render(shape, &records, &sep, &Value::Null);
        let sizes = reads_for(&f.bytes, sizes);
        let (got, r) = split_all(f.bytes.clone(), sizes.clone());
        prop_assert_eq!(r, Ok(()));
        prop_assert_eq!(&got, &f.items);
        let input = if compress { gzip(&f.bytes) } else { f.bytes };
        let run = decode_all(input, sizes);
        check_decode_invariants(&run)?;
        prop_assert_eq!(run.pieces.len(), bodies.len(), "{:?}", run.result);
        for (i, p) in run.pieces.iter().enumerate() {
            if i != bad {
                prop_assert_eq!(p, &Out::Event(event_key(i)));
            }
        }
    }
}
