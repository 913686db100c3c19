//! Free-text search: which parts of a record go into the full-text index, how a search
//! box entry becomes an FTS5 query, and which fields of a record a search matched.
//!
//! A search is a list of words; an event matches when every word matches it. A word
//! matches as a case-insensitive substring of some of the event's interned values (event
//! name, source, Region, user agent, error code), of its principal (key, name, ARN) or
//! of one of its resources' ARNs; or, through the FTS5 index, as a run of whole words
//! (the last one a prefix) anywhere in the rest of the record: source IP, access key,
//! error message, request parameters, response elements, additional event data, service
//! event details, session context and so on. Addresses and keys are in the index rather
//! than matched as substrings so that finding them reads only the events that have them.

use crate::model::Match;
use serde_json::Value;

/// Most words a search is split into; the rest are ignored.
pub const MAX_WORDS: usize = 8;

/// Top-level record fields left out of the full-text index: either interned and matched
/// as substrings instead, or without words worth finding (times, flags, versions, ids
/// with a lookup of their own).
pub const TOP_SKIP: [&str; 17] = [
    "eventVersion",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "userAgent",
    "errorCode",
    "requestID",
    "eventID",
    "sharedEventID",
    "eventType",
    "eventCategory",
    "managementEvent",
    "readOnly",
    "recipientAccountId",
    "tlsDetails",
    "resources",
];

/// Fields of `userIdentity` left out (the principal covers them).
pub const IDENTITY_SKIP: [&str; 7] = [
    "arn",
    "accountId",
    "type",
    "creationDate",
    "mfaAuthenticated",
    "sessionCredentialFromConsole",
    "credentialId",
];

/// Fields left out wherever they are: opaque per-request tokens and transfer sizes.
pub const ANY_SKIP: [&str; 6] = [
    "x-amz-id-2",
    "SignatureVersion",
    "CipherSuite",
    "AuthenticationMethod",
    "bytesTransferredIn",
    "bytesTransferredOut",
];

/// Longest string value indexed (longer ones are cut, at a character boundary).
pub const MAX_VALUE_CHARS: usize = 1024;
/// Most text indexed per event.
pub const MAX_TEXT_BYTES: usize = 8192;

/// Whether the value under `key` is indexed, given where it is: `depth` 1 is a
/// top-level field; `in_identity` is true under `userIdentity`.
pub fn indexed(key: &str, depth: usize, in_identity: bool) -> bool {
    if ANY_SKIP.contains(&key) {
        return false;
    }
    if depth == 1 && TOP_SKIP.contains(&key) {
        return false;
    }
    !(in_identity && IDENTITY_SKIP.contains(&key))
}

/// The words of a search as the index tokenises them (runs of letters and digits,
/// lower-cased), one list of tokens per whitespace-separated word; words without any
/// letter or digit are dropped.
pub fn words(q: &str) -> Vec<Word> {
    q.split_whitespace()
        .filter_map(|w| {
            let tokens = tokens(w);
            (!tokens.is_empty()).then(|| Word {
                text: w.to_lowercase(),
                tokens,
            })
        })
        .take(MAX_WORDS)
        .collect()
}

/// One word of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word as typed, lower-cased (for substring matches).
    pub text: String,
    /// Its tokens (for the full-text index).
    pub tokens: Vec<String>,
}

/// A word's last token is taken as a prefix only from this length on: shorter ones
/// (the `7` of an address) are whole, which is both what is meant and far cheaper than
/// expanding every token that starts with them.
pub const MIN_PREFIX: usize = 3;

impl Word {
    /// Whether the last token is taken as a prefix.
    pub fn prefix(&self) -> bool {
        self.tokens
            .last()
            .is_some_and(|t| t.chars().count() >= MIN_PREFIX)
    }

    /// The FTS5 expression for this word: its tokens as one phrase, the last a prefix
    /// (see [`MIN_PREFIX`]). Tokens hold only letters and digits, so quoting them is
    /// enough.
    pub fn fts(&self) -> String {
        let star = if self.prefix() { "*" } else { "" };
        format!("\"{}\"{star}", self.tokens.join(" "))
    }

    /// The same expression with the last token's prefix spelt out as the indexed tokens
    /// it stands for: one phrase per token, any of them. An FTS5 prefix query merges the
    /// lists of every token it covers over the whole index on each run, whatever range
    /// it is asked about; whole tokens are looked up within the range.
    pub fn fts_with(&self, last: &[String]) -> String {
        if last.is_empty() {
            return format!("\"{}\"", self.tokens.join(" "));
        }
        let head = &self.tokens[..self.tokens.len().saturating_sub(1)];
        last.iter()
            .map(|t| {
                let mut phrase: Vec<&str> = head.iter().map(String::as_str).collect();
                phrase.push(t);
                format!("\"{}\"", phrase.join(" "))
            })
            .collect::<Vec<_>>()
            .join(" OR ")
    }

    /// Whether `text` contains the word: as a substring, or as a run of whole tokens
    /// (the last one a prefix), which is what the index matches.
    pub fn found_in(&self, text: &str) -> bool {
        let lower = text.to_lowercase();
        if lower.contains(&self.text) {
            return true;
        }
        let have = tokens(&lower);
        let n = self.tokens.len();
        if have.len() < n {
            return false;
        }
        let prefix = self.prefix();
        have.windows(n).any(|w| {
            w[..n - 1] == self.tokens[..n - 1]
                && if prefix {
                    w[n - 1].starts_with(&self.tokens[n - 1])
                } else {
                    w[n - 1] == self.tokens[n - 1]
                }
        })
    }
}

/// Tokens a lookup phrase takes at most.
const LOOKUP_TOKENS: usize = 16;

/// The FTS5 phrase that finds the records holding `value` in an indexed field (an
/// address, an access key), to be checked against the field itself: its first tokens
/// as the index holds them. Values are indexed cut at [`MAX_VALUE_CHARS`], so a token
/// the cut fell inside is left out; `None` when no whole token is left.
pub fn lookup_phrase(value: &str) -> Option<String> {
    let (cut, rest) = match value.char_indices().nth(MAX_VALUE_CHARS) {
        Some((i, _)) => (&value[..i], &value[i..]),
        None => (value, ""),
    };
    let mut tokens = tokens(cut);
    let split_inside = cut.chars().last().is_some_and(char::is_alphanumeric)
        && rest.chars().next().is_some_and(char::is_alphanumeric);
    if split_inside {
        tokens.pop();
    }
    tokens.truncate(LOOKUP_TOKENS);
    (!tokens.is_empty()).then(|| format!("\"{}\"", tokens.join(" ")))
}

/// Runs of letters and digits, lower-cased.
pub fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Text of up to `max` characters around the first place `word` is found in `value`.
fn snippet(value: &str, word: &Word, max: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= max {
        return value.to_string();
    }
    let lower = value.to_lowercase();
    let at = lower
        .find(&word.text)
        .or_else(|| lower.find(word.tokens.first().map(String::as_str).unwrap_or("")))
        .map(|b| lower[..b].chars().count())
        .unwrap_or(0);
    let start = at
        .saturating_sub(max / 3)
        .min(chars.len().saturating_sub(max));
    let end = (start + max).min(chars.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(&chars[start..end]);
    if end < chars.len() {
        out.push('…');
    }
    out
}

/// The fields of `record` that the search's words were found in, by JSON path, with the
/// text around the match: at most `limit`, in record order.
pub fn matched_fields(record: &Value, words: &[Word], limit: usize) -> Vec<Match> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    walk(record, &mut path, words, limit, &mut out);
    out
}

fn walk(v: &Value, path: &mut Vec<String>, words: &[Word], limit: usize, out: &mut Vec<Match>) {
    if out.len() >= limit {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                path.push(k.clone());
                walk(child, path, words, limit, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                path.push(format!("[{i}]"));
                walk(child, path, words, limit, out);
                path.pop();
            }
        }
        Value::String(s) => check(s, path, words, out),
        Value::Number(n) => check(&n.to_string(), path, words, out),
        Value::Bool(_) | Value::Null => {}
    }
}

fn check(text: &str, path: &[String], words: &[Word], out: &mut Vec<Match>) {
    if let Some(w) = words.iter().find(|w| w.found_in(text)) {
        let mut field = String::new();
        for p in path {
            if !field.is_empty() && !p.starts_with('[') {
                field.push('.');
            }
            field.push_str(p);
        }
        out.push(Match {
            field,
            text: snippet(text, w, 120),
        });
    }
}

#[cfg(test)]
mod lookup_tests {
    use super::lookup_phrase;

    #[test]
    fn lookups_match_what_the_index_holds() {
        assert_eq!(lookup_phrase("203.0.113.9").as_deref(), Some("\"203 0 113 9\""));
        assert_eq!(lookup_phrase("<>"), None);
        // Cut inside one long token: nothing left to look up with.
        assert_eq!(lookup_phrase(&"x".repeat(6000)), None);
        // Cut after whole tokens: those are enough to find it.
        let long = format!("{} {}", "A".repeat(300), "<b>bold</b>".repeat(200));
        let p = lookup_phrase(&long).unwrap();
        assert!(p.starts_with(&format!("\"{} b bold b b", "a".repeat(300))), "{p}");
        assert_eq!(p.matches(' ').count(), 15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn words_and_expressions() {
        let w = words("  203.0.113.5  \"prod-data\" ::  ");
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].fts(), "\"203 0 113 5\"");
        assert_eq!(w[1].fts(), "\"prod data\"*");
        let spelt = w[1].fts_with(&["database".into(), "datum".into()]);
        assert_eq!(spelt, "\"prod database\" OR \"prod datum\"");
        assert_eq!(w[1].fts_with(&[]), "\"prod data\"");
        assert!(words(":: -- **").is_empty());
        assert_eq!(words(&"a ".repeat(20)).len(), MAX_WORDS);
    }

    #[test]
    fn found_as_substring_or_token_run() {
        let w = &words("prod-dat")[0];
        assert!(w.found_in("arn:aws:s3:::PROD-DATA/x"));
        assert!(w.found_in("prod data lake"));
        assert!(!w.found_in("production data"));
        assert!(!words("prod-da")[0].found_in("prod data lake"));
        let ip = &words("10.0.0")[0];
        assert!(ip.found_in("10.0.0.12"));
        assert!(!ip.found_in("10.1.0.0"));
        // A short last token is whole: .7 is not .70.
        let ip = &words("185.220.101.7")[0];
        assert!(ip.found_in("x 185.220.101.7 y"));
        assert!(!ip.found_in("185 220 101 70"));
        assert!(words("ReadOnlyAcc")[0].found_in("arn:aws:iam::aws:policy/ReadOnlyAccess"));
    }

    #[test]
    fn matched_fields_name_their_path() {
        let rec = json!({"eventName": "PutObject",
            "requestParameters": {"bucketName": "prod-data", "tags": [{"v": "x prod-data y"}]}});
        let m = matched_fields(&rec, &words("PROD-DATA"), 5);
        assert_eq!(
            m.iter().map(|m| m.field.as_str()).collect::<Vec<_>>(),
            [
                "requestParameters.bucketName",
                "requestParameters.tags[0].v"
            ]
        );
        assert_eq!(m[0].text, "prod-data");
        let long = "a".repeat(300) + "needle" + &"b".repeat(300);
        let m = matched_fields(&json!({"k": long}), &words("needle"), 1);
        assert!(m[0].text.contains("needle") && m[0].text.starts_with('…'));
        assert!(m[0].text.chars().count() <= 122);
    }

    #[test]
    fn skip_rules() {
        assert!(!indexed("eventName", 1, false));
        assert!(indexed("eventName", 2, false));
        assert!(!indexed("arn", 2, true));
        assert!(indexed("arn", 3, false));
        assert!(!indexed("x-amz-id-2", 3, false));
    }
}
