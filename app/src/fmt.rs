//! Formatting shared by server and browser (UTC throughout).

use chrono::DateTime;

/// `2026-11-23 19:52:07`
pub fn time(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// RFC 3339 for `<time datetime>`.
pub fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// `2026-11-23T19:52` for URLs and `datetime-local` inputs.
pub fn minute(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// `2026-11-23 19:52`, as the range inputs take it.
pub fn minute_text(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// Short axis label: time of day within a day, date otherwise.
pub fn axis(ms: i64, span_ms: i64) -> String {
    let Some(t) = DateTime::from_timestamp_millis(ms) else {
        return String::new();
    };
    if span_ms <= 2 * 86_400_000 {
        t.format("%m-%d %H:%M").to_string()
    } else {
        t.format("%Y-%m-%d").to_string()
    }
}

/// `1,234,567`
pub fn count(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Decimal sizes as S3 and the bill count them: `512 B`, `4.2 KB`, `18.3 GB`, `1.2 TB`.
pub fn bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    let units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{} B", n as i64)
    } else if v >= 100.0 {
        format!("{v:.0} {}", units[u])
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// `5 min`, `1 h`, `1 d`
pub fn duration(ms: i64) -> String {
    match ms {
        m if m % 86_400_000 == 0 => format!("{} d", m / 86_400_000),
        m if m % 3_600_000 == 0 => format!("{} h", m / 3_600_000),
        m => format!("{} min", m / 60_000),
    }
}

/// Dollars: cents from $1 up, four decimals below (a few thousand events cost fractions
/// of a cent), `< $0.0001` for less.
pub fn usd(x: f64) -> String {
    if x == 0.0 {
        "$0.00".into()
    } else if x.abs() < 0.0001 {
        "< $0.0001".into()
    } else if x.abs() < 1.0 {
        format!("${x:.4}")
    } else {
        let cents = (x * 100.0).round() as i64;
        format!("${}.{:02}", count(cents / 100), (cents % 100).abs())
    }
}

/// How long ago, roughly: `under a minute`, `12 min`, `5 h`, `3 d`.
pub fn age(ms: i64) -> String {
    match ms {
        m if m < 60_000 => "under a minute".into(),
        m if m < 2 * 3_600_000 => format!("{} min", m / 60_000),
        m if m < 2 * 86_400_000 => format!("{} h", m / 3_600_000),
        m => format!("{} d", m / 86_400_000),
    }
}

/// At most `max` characters of `s`, with an ellipsis when cut: for headings, where the
/// whole (possibly hostile, possibly huge) value is shown elsewhere on the page.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_at_a_glance() {
        assert_eq!(super::bytes(0), "0 B");
        assert_eq!(super::bytes(999), "999 B");
        assert_eq!(super::bytes(4_200), "4.2 KB");
        assert_eq!(super::bytes(400_000_000), "400 MB");
        assert_eq!(super::bytes(18_300_000_000), "18.3 GB");
        assert_eq!(super::bytes(-5), "0 B");
    }

    use super::*;

    #[test]
    fn clips_on_characters() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("ééééé", 2), "éé…");
        assert_eq!(clip("", 0), "");
    }

    #[test]
    fn formats() {
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(count(-1000), "-1,000");
        assert_eq!(time(0), "1970-01-01 00:00:00");
        assert_eq!(minute(60_000), "1970-01-01T00:01");
        assert_eq!(duration(3_600_000), "1 h");
    }
}

/// Text for `<title>`: leptos_meta writes the title into the server-rendered page without
/// escaping it, so anything taken from an event loses its angle brackets here (and is cut
/// to a sensible length).
pub fn title(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| match c {
            '<' => '‹',
            '>' => '›',
            c if c.is_control() => ' ',
            c => c,
        })
        .take(120)
        .collect();
    cleaned
}

#[cfg(test)]
mod title_tests {
    #[test]
    fn titles_cannot_close_the_title_element() {
        assert_eq!(
            super::title("</title><script>x</script>"),
            "‹/title›‹script›x‹/script›"
        );
    }
}

/// Characters escaped in a path segment that holds a key or ARN (slashes stay: the
/// routes take the rest of the path).
pub const PATH_TAIL: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The principal page of a principal key.
pub fn principal_href(key: &str) -> String {
    format!(
        "/principals/{}",
        percent_encoding::utf8_percent_encode(key, PATH_TAIL)
    )
}

/// The page of a source IP address (or the service name AWS records in its place).
pub fn ip_href(addr: &str) -> String {
    format!(
        "/ips/{}",
        percent_encoding::utf8_percent_encode(addr, PATH_SEGMENT)
    )
}

/// The page of an access key.
pub fn access_key_href(key: &str) -> String {
    format!(
        "/access-keys/{}",
        percent_encoding::utf8_percent_encode(key, PATH_SEGMENT)
    )
}

/// Characters escaped in a single path segment (slashes too).
/// A detection rule's page.
pub fn rule_href(id: &str) -> String {
    format!("/rules/{}", percent_encoding::utf8_percent_encode(id, PATH_SEGMENT))
}

const PATH_SEGMENT: &percent_encoding::AsciiSet = &PATH_TAIL.add(b'/');

/// `href` with `query` appended, when there is one.
pub fn with_query(href: String, query: &str) -> String {
    if query.is_empty() {
        href
    } else {
        format!("{href}?{query}")
    }
}

/// A value split for cutting in the middle: the tail that tells similar values apart
/// is kept whole, the head gives way. The tail is what follows the last space, else the
/// last slash, when that is short (`command/iam.create-access-key`, a session name, an
/// object's file name); a value without either (a host name, a key) is cut at its end.
pub fn head_tail(s: &str) -> (String, String) {
    const SHORT: usize = 40;
    let chars: Vec<char> = s.chars().collect();
    let near_end = |sep: char| {
        chars
            .iter()
            .rposition(|c| *c == sep)
            .filter(|i| *i > 0 && chars.len() - i <= SHORT)
    };
    match near_end(' ').or_else(|| near_end('/')) {
        Some(cut) if chars.len() > 24 => {
            (chars[..cut].iter().collect(), chars[cut..].iter().collect())
        }
        _ => (s.to_string(), String::new()),
    }
}

/// A label and the qualifier appended to it (`alice · 111122223333`): the part from
/// the first ` · ` on gives way first.
pub fn label_suffix(s: &str) -> (&str, &str) {
    match s.find(" · ") {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

#[cfg(test)]
mod head_tail_tests {
    use super::head_tail;

    #[test]
    fn the_telling_end_stays_whole() {
        let ua = "aws-cli/2.13.5 Python/3.11.4 Linux/5.15 exe/x86_64 prompt/off command/iam.create-access-key";
        let (h, t) = head_tail(ua);
        assert_eq!(t, " command/iam.create-access-key");
        assert_eq!(format!("{h}{t}"), ua);
        assert_eq!(head_tail("alice"), ("alice".to_string(), String::new()));
        let (_, t) = head_tail("AdminRole/alice-admin-session-0042");
        assert_eq!(t, "/alice-admin-session-0042");
        // Nothing to keep apart: cut at the end.
        let host = "secretsmanager.amazonaws.com";
        assert_eq!(head_tail(host), (host.to_string(), String::new()));
        assert_eq!(
            super::label_suffix("alice · 111122223333"),
            ("alice", " · 111122223333")
        );
    }
}

/// The resource page of an ARN.
pub fn resource_href(arn: &str) -> String {
    format!(
        "/resources/{}",
        percent_encoding::utf8_percent_encode(arn, PATH_TAIL)
    )
}

#[cfg(test)]
mod href_tests {
    #[test]
    fn keys_stay_legible_in_paths() {
        assert_eq!(
            super::principal_href("arn:aws:sts::1:assumed-role/R/s@x.com"),
            "/principals/arn:aws:sts::1:assumed-role/R/s@x.com"
        );
        assert_eq!(
            super::resource_href("a b?c#d%"),
            "/resources/a%20b%3Fc%23d%25"
        );
    }
}
