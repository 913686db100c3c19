//! CloudWatch Logs JSON filter patterns (`{ $.errorCode = "AccessDenied*" }`), parsed and
//! evaluated as CloudWatch Logs does for metric filters:
//!
//! - Selectors: `$.a.b`, array elements `$.list[0]` (zero-based, also `[0][1]`), the
//!   wildcard `[*]` or `.*` (any element or field, one per selector), and `$.['a.b']` for a
//!   key holding a period. A selector that lands on an array or object, or on nothing,
//!   matches no comparison, `=` and `!=` alike; with a wildcard, any element that holds
//!   is enough.
//! - Strings: `=` and `!=`, quoted (`\"` and `\\` escaped) or bare. A `*` at the start
//!   and/or the end is a wildcard, one in the middle is itself; `*` alone is any value.
//!   Case matters. A string compares with a number or boolean as its JSON text.
//! - Numbers (optional sign, decimal, `e` exponent): `=`, `!=`, `<`, `>`, `<=`, `>=`,
//!   against JSON numbers only (a string holding digits is a string).
//! - `%regex%`: a regular expression searched anywhere in the value (`^` and `$` anchor),
//!   without groups, as CloudWatch allows.
//! - `IS NULL` (present and null), `NOT EXISTS` (absent), `IS TRUE`, `IS FALSE` (JSON
//!   booleans). A missing field makes every other comparison false, `!=` included.
//! - `&&` binds tighter than `||`; parentheses group.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} (at character {at})")]
pub struct PatternError {
    pub message: String,
    pub at: usize,
}

#[derive(Debug, Clone)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cond(Cond),
}

#[derive(Debug, Clone)]
pub struct Cond {
    pub selector: Vec<Step>,
    pub test: Test,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
    /// `[*]` or `.*`: any element or field.
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone)]
pub enum Test {
    Text { negate: bool, value: Text },
    Number { op: Op, value: f64 },
    Regex { negate: bool, re: regex::Regex },
    IsNull,
    NotExists,
    IsBool(bool),
}

/// A string value with its wildcards.
#[derive(Debug, Clone, PartialEq)]
pub enum Text {
    Any,
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
}

impl Text {
    fn of(s: &str) -> Text {
        if s == "*" {
            return Text::Any;
        }
        let lead = s.starts_with('*');
        let trail = s.len() > 1 && s.ends_with('*');
        let core = &s[usize::from(lead)..s.len() - usize::from(trail)];
        match (lead, trail) {
            (true, true) => Text::Contains(core.to_owned()),
            (true, false) => Text::Suffix(core.to_owned()),
            (false, true) => Text::Prefix(core.to_owned()),
            (false, false) => Text::Exact(core.to_owned()),
        }
    }

    pub fn matches(&self, v: &str) -> bool {
        match self {
            Text::Any => true,
            Text::Exact(s) => v == s,
            Text::Prefix(s) => v.starts_with(s.as_str()),
            Text::Suffix(s) => v.ends_with(s.as_str()),
            Text::Contains(s) => v.contains(s.as_str()),
        }
    }

    /// The exact strings this can equal, when it is a finite set.
    pub fn exact(&self) -> Option<&str> {
        match self {
            Text::Exact(s) => Some(s),
            _ => None,
        }
    }
}

/// Parses a filter pattern. Only JSON patterns (in braces) are accepted: term and
/// space-delimited patterns do not apply to CloudTrail records.
pub fn parse(src: &str) -> Result<Expr, PatternError> {
    let mut p = Parser { s: src, i: 0 };
    p.ws();
    p.expect("{", "a JSON filter pattern starts with {")?;
    let e = p.or()?;
    p.ws();
    p.expect("}", "expected && , || or the closing }")?;
    p.ws();
    if p.i < src.len() {
        return Err(p.err("nothing may follow the closing }"));
    }
    Ok(e)
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.i..]
    }
    fn err(&self, m: &str) -> PatternError {
        PatternError {
            message: m.to_owned(),
            at: self.s[..self.i].chars().count() + 1,
        }
    }
    fn ws(&mut self) {
        let t = self.rest().trim_start();
        self.i = self.s.len() - t.len();
    }
    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.rest().starts_with(tok) {
            self.i += tok.len();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, tok: &str, m: &str) -> Result<(), PatternError> {
        if self.eat(tok) { Ok(()) } else { Err(self.err(m)) }
    }
    fn or(&mut self) -> Result<Expr, PatternError> {
        let mut items = vec![self.and()?];
        while self.eat("||") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::Or(items) })
    }
    fn and(&mut self) -> Result<Expr, PatternError> {
        let mut items = vec![self.unary()?];
        while self.eat("&&") {
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(items) })
    }
    fn unary(&mut self) -> Result<Expr, PatternError> {
        if self.eat("(") {
            let e = self.or()?;
            self.expect(")", "expected )")?;
            return Ok(e);
        }
        self.cond().map(Expr::Cond)
    }
    fn keyword(&mut self, word: &str) -> bool {
        self.ws();
        let r = self.rest();
        if r.len() >= word.len()
            && r[..word.len()].eq_ignore_ascii_case(word)
            && !r[word.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            self.i += word.len();
            true
        } else {
            false
        }
    }
    fn cond(&mut self) -> Result<Cond, PatternError> {
        self.ws();
        let selector = self.selector()?;
        let test = if self.keyword("IS") {
            if self.keyword("NULL") {
                Test::IsNull
            } else if self.keyword("TRUE") {
                Test::IsBool(true)
            } else if self.keyword("FALSE") {
                Test::IsBool(false)
            } else if self.keyword("NOT") {
                return Err(self.err("IS NOT is not supported by CloudWatch Logs"));
            } else {
                return Err(self.err("expected NULL, TRUE or FALSE after IS"));
            }
        } else if self.keyword("NOT") {
            if self.keyword("EXISTS") {
                Test::NotExists
            } else {
                return Err(self.err("expected EXISTS after NOT"));
            }
        } else if self.keyword("EXISTS") {
            return Err(self.err("EXISTS is not supported by CloudWatch Logs: use = *"));
        } else {
            let op = self.op()?;
            self.value(op)?
        };
        Ok(Cond { selector, test })
    }
    fn op(&mut self) -> Result<Op, PatternError> {
        for (tok, op) in [
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if self.eat(tok) {
                return Ok(op);
            }
        }
        Err(self.err("expected =, !=, <, >, <=, >=, IS or NOT EXISTS"))
    }
    fn selector(&mut self) -> Result<Vec<Step>, PatternError> {
        if !self.rest().starts_with('$') {
            return Err(self.err("a selector starts with $."));
        }
        self.i += 1;
        let mut steps = Vec::new();
        loop {
            let r = self.rest();
            if let Some(r2) = r.strip_prefix(".['") {
                let Some(end) = r2.find("']") else {
                    return Err(self.err("unclosed ['"));
                };
                steps.push(Step::Key(r2[..end].to_owned()));
                self.i += 3 + end + 2;
            } else if r.starts_with(".*") {
                steps.push(Step::Any);
                self.i += 2;
            } else if let Some(r2) = r.strip_prefix('.') {
                let n = r2
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '@' || c == ':'))
                    .unwrap_or(r2.len());
                if n == 0 {
                    self.i += 1;
                    return Err(self.err("expected a property name after ."));
                }
                steps.push(Step::Key(r2[..n].to_owned()));
                self.i += 1 + n;
            } else if let Some(r2) = r.strip_prefix('[') {
                let Some(end) = r2.find(']') else {
                    return Err(self.err("unclosed ["));
                };
                let inner = r2[..end].trim();
                if steps.is_empty() {
                    return Err(self.err("an array element must follow a property"));
                }
                if inner == "*" {
                    steps.push(Step::Any);
                } else {
                    let n: usize = inner
                        .parse()
                        .map_err(|_| self.err("an array index is a number or *"))?;
                    steps.push(Step::Index(n));
                }
                self.i += 1 + end + 1;
            } else {
                break;
            }
        }
        if steps.is_empty() {
            return Err(self.err("a selector names a property: $.name"));
        }
        if steps.iter().filter(|s| **s == Step::Any).count() > 1 {
            return Err(self.err("at most one wildcard in a selector"));
        }
        Ok(steps)
    }
    fn value(&mut self, op: Op) -> Result<Test, PatternError> {
        self.ws();
        let r = self.rest().to_owned();
        let r = r.as_str();
        let negate = op == Op::Ne;
        let texty = matches!(op, Op::Eq | Op::Ne);
        let text_op = |p: &Self| -> Result<(), PatternError> {
            if texty { Ok(()) } else { Err(p.err("<, >, <= and >= compare numbers")) }
        };
        if let Some(r2) = r.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = r2.char_indices();
            let mut end = None;
            while let Some((k, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, e)) => out.push(e),
                        None => break,
                    },
                    '"' => {
                        end = Some(k);
                        break;
                    }
                    c => out.push(c),
                }
            }
            let Some(end) = end else {
                return Err(self.err("unclosed quoted string"));
            };
            text_op(self)?;
            self.i += 1 + end + 1;
            return Ok(Test::Text {
                negate,
                value: Text::of(&out),
            });
        }
        if let Some(r2) = r.strip_prefix('%') {
            let Some(end) = r2.find('%') else {
                return Err(self.err("unclosed %regex%"));
            };
            let body = &r2[..end];
            text_op(self)?;
            if body.contains(['(', ')']) {
                return Err(self.err("( and ) are not supported in a regular expression"));
            }
            let re = regex::RegexBuilder::new(body)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| self.err(&format!("regular expression: {e}")))?;
            self.i += 1 + end + 1;
            return Ok(Test::Regex { negate, re });
        }
        let n = r
            .find(|c: char| c.is_whitespace() || c == ')' || c == '}')
            .unwrap_or(r.len());
        let mut tok = &r[..n];
        for stop in ["&&", "||"] {
            if let Some(k) = tok.find(stop) {
                tok = &tok[..k];
            }
        }
        if tok.is_empty() {
            return Err(self.err("expected a value"));
        }
        self.i += tok.len();
        if let Some(v) = number(tok) {
            return Ok(Test::Number { op, value: v });
        }
        text_op(self)?;
        Ok(Test::Text {
            negate,
            value: Text::of(tok),
        })
    }
}

/// A number as CloudWatch writes them: optional sign, digits with an optional decimal
/// part, and an optional `e` exponent with optional sign.
fn number(tok: &str) -> Option<f64> {
    let b = tok.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > s
    };
    let int = digits(&mut i);
    let mut frac = false;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        frac = digits(&mut i);
    }
    if !int && !frac {
        return None;
    }
    if i < b.len() && b[i] == b'e' {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    tok.trim_start_matches('+').parse().ok()
}

/// Values a selector reaches: `None` when it reaches nothing; containers are kept (a
/// comparison with one is false).
fn select<'v>(v: &'v Value, steps: &[Step], out: &mut Vec<&'v Value>) {
    let Some((first, rest)) = steps.split_first() else {
        out.push(v);
        return;
    };
    match (first, v) {
        (Step::Key(k), Value::Object(m)) => {
            if let Some(c) = m.get(k) {
                select(c, rest, out);
            }
        }
        (Step::Index(i), Value::Array(a)) => {
            if let Some(c) = a.get(*i) {
                select(c, rest, out);
            }
        }
        (Step::Any, Value::Array(a)) => a.iter().for_each(|c| select(c, rest, out)),
        (Step::Any, Value::Object(m)) => m.values().for_each(|c| select(c, rest, out)),
        _ => {}
    }
}

fn scalar_text(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(std::borrow::Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

impl Cond {
    fn holds_on(&self, v: &Value) -> bool {
        match &self.test {
            Test::NotExists => false,
            Test::IsNull => v.is_null(),
            Test::IsBool(b) => v.as_bool() == Some(*b),
            Test::Text { negate, value } => match scalar_text(v) {
                Some(t) => value.matches(&t) != *negate,
                None => false,
            },
            Test::Regex { negate, re } => match scalar_text(v) {
                Some(t) => re.is_match(&t) != *negate,
                None => false,
            },
            Test::Number { op, value } => match v.as_f64() {
                Some(x) => match op {
                    Op::Eq => x == *value,
                    Op::Ne => x != *value,
                    Op::Lt => x < *value,
                    Op::Gt => x > *value,
                    Op::Le => x <= *value,
                    Op::Ge => x >= *value,
                },
                None => false,
            },
        }
    }

    pub fn eval(&self, record: &Value) -> bool {
        let mut found = Vec::new();
        select(record, &self.selector, &mut found);
        if let Test::NotExists = self.test {
            return found.is_empty();
        }
        found.into_iter().any(|v| self.holds_on(v))
    }

    /// The top-level field this condition reads, when it is a plain property path.
    pub fn path(&self) -> Option<String> {
        let mut parts = Vec::new();
        for s in &self.selector {
            match s {
                Step::Key(k) => parts.push(k.as_str()),
                _ => return None,
            }
        }
        Some(parts.join("."))
    }
}

impl Expr {
    pub fn eval(&self, record: &Value) -> bool {
        match self {
            Expr::And(items) => items.iter().all(|e| e.eval(record)),
            Expr::Or(items) => items.iter().any(|e| e.eval(record)),
            Expr::Cond(c) => c.eval(record),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(p: &str, v: &Value) -> bool {
        parse(p).unwrap_or_else(|e| panic!("{p}: {e}")).eval(v)
    }

    fn sample() -> Value {
        json!({
            "eventType": "UpdateTrail",
            "sourceIPAddress": "111.111.111.111",
            "arrayKey": ["value", "another value"],
            "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
            "SomeObject": null,
            "ThisFlag": true,
            "cluster.name": "c"
        })
    }

    /// The examples CloudWatch Logs publishes for its JSON patterns, all matching.
    #[test]
    fn published_examples_match() {
        let v = sample();
        for p in [
            r#"{ $.eventType = "UpdateTrail" }"#,
            r#"{ $.sourceIPAddress != 123.123.* }"#,
            r#"{ $.arrayKey[0] = "value" }"#,
            r#"{ $.eventType = %Trail% }"#,
            r#"{ $.arrayKey[*] = %val.{2}% }"#,
            r#"{ $.* = %111\.111\.111\.1[0-9]{1,2}% }"#,
            r#"{ $.['cluster.name'] = "c" }"#,
            r#"{ $.SomeObject IS NULL }"#,
            r#"{ $.SomeOtherObject NOT EXISTS }"#,
            r#"{ $.objectList[1].id = 2 }"#,
            r#"{ $.ThisFlag IS TRUE }"#,
            r#"{ $.objectList[*].id = 2 }"#,
        ] {
            assert!(m(p, &v), "{p} should match");
        }
    }

    /// What the published semantics say must not match.
    #[test]
    fn published_semantics_refuse() {
        let v = sample();
        for p in [
            r#"{ $.sourceIPAddress != 111.111.* }"#,
            r#"{ $.arrayKey[1] = "value" }"#,
            r#"{ $.eventType IS NULL }"#,
            r#"{ $.eventType NOT EXISTS }"#,
            r#"{ $.SomeOtherObject IS NULL }"#,
            r#"{ $.SomeObject NOT EXISTS }"#,
            r#"{ $.arrayKey = "value" }"#,
            r#"{ $.arrayKey != "value" }"#,
            r#"{ $.objectList[1].number = 2 }"#,
            r#"{ $.ThisFlag IS FALSE }"#,
            r#"{ $.eventType = "updatetrail" }"#,
            r#"{ $.eventType = Up*ail }"#,
            r#"{ $.arrayKey[5] = "value" }"#,
        ] {
            assert!(!m(p, &v), "{p} should not match");
        }
        // `{"users": [1, 2, 3]}`: neither = nor != holds on an array.
        let users = json!({"users": [1, 2, 3]});
        assert!(!m("{$.users = 1}", &users));
        assert!(!m("{$.users != 1}", &users));
    }

    #[test]
    fn compound_precedence() {
        let v = json!({
            "user": {"id": 1, "email": "John.Stiles@example.com"},
            "users": [{"id": 2, "email": "John.Doe@example.com"}, {"id": 3, "email": "Jane.Doe@example.com"}],
            "actions": ["GET", "PUT", "DELETE"],
            "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]]
        });
        assert!(m(r#"{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }"#, &v));
        assert!(!m(r#"{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }"#, &v));
        assert!(m(
            r#"{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch" && $.actions[2] = "nonmatch" }"#,
            &v
        ));
        assert!(!m(
            r#"{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch") && $.actions[2] = "nonmatch" }"#,
            &v
        ));
        assert!(m("{ $.user.email = John.Stiles@example.com || $.coordinates[0][1] = nonmatch && $.actions[2] = nonmatch }", &v));
        assert!(m("{ $.coordinates[1][2] = 6 }", &v));
        let (e1, e2) = (json!({"foo": "bar"}), json!({"foo": "baz"}));
        assert!(m("{$.foo = bar}", &e1) && !m("{$.foo = bar}", &e2));
        assert!(m("{$.foo = bar || $.foo = baz }", &e1) && m("{$.foo = bar || $.foo = baz }", &e2));
    }

    #[test]
    fn numbers() {
        let v = json!({"latency": 700, "numbers": [0.001, 5], "refresh": 60, "s": "42", "errorCode": 400});
        for p in [
            "{ $.latency >= 500 }",
            "{ $.numbers[1] < 10e3 }",
            "{ $.numbers[0] < 10e-3 }",
            "{ $.latency > +100 }",
            "{ $.refresh >= 60 }",
            "{ $.refresh <= 60.0 }",
            "{ $.errorCode = 400}",
            "{ $.errorCode != 500 }",
            "{ $.latency = * }",
            "{ $.latency = -5 || $.latency > 1e+2 }",
        ] {
            assert!(m(p, &v), "{p} should match");
        }
        for p in ["{ $.s > 10 }", "{ $.latency < 500 }", "{ $.missing != 5 }", "{ $.missing < 5 }"] {
            assert!(!m(p, &v), "{p} should not match");
        }
    }

    /// A missing field makes `!=` false, as CloudWatch Logs tests it.
    #[test]
    fn missing_field_is_false_for_not_equal() {
        let v = json!({"errorCode": "AccessDenied", "userIdentity": {"accountId": "anonymous"}});
        assert!(!m(
            r#"{($.errorCode = "AccessDenied") && ($.userIdentity.invokedBy != "cloudfront.amazonaws.com")}"#,
            &v
        ));
    }

    #[test]
    fn errors_say_where() {
        for (p, needle) in [
            ("$.a = 1", "starts with {"),
            ("{ $.a = 1", "closing }"),
            ("{ $.a EXISTS }", "EXISTS is not supported"),
            ("{ $.a IS NOT NULL }", "IS NOT"),
            ("{ $.a = %(x)% }", "( and )"),
            ("{ a = 1 }", "starts with $."),
            ("{ $.a < abc }", "compare numbers"),
            ("{ $.a[*].b[*] = 1 }", "one wildcard"),
            (r#"{ $.a = "x }"#, "unclosed"),
            ("{ $.a = 1 } x", "nothing may follow"),
        ] {
            let e = parse(p).expect_err(p);
            assert!(e.message.contains(needle), "{p}: {e}");
        }
    }

    /// The CIS controls' exact patterns parse, and decide as they should.
    #[test]
    fn cis_patterns() {
        let unauthorized = r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }"#;
        assert!(m(unauthorized, &json!({"errorCode": "Client.UnauthorizedOperation"})));
        assert!(m(unauthorized, &json!({"errorCode": "AccessDeniedException"})));
        assert!(!m(unauthorized, &json!({"errorCode": "ThrottlingException"})));
        let no_mfa = r#"{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }"#;
        let login = |mfa: Option<&str>| {
            let mut v = json!({"eventName": "ConsoleLogin", "userIdentity": {"type": "IAMUser"},
                "responseElements": {"ConsoleLogin": "Success"}, "additionalEventData": {}});
            if let Some(x) = mfa {
                v["additionalEventData"]["MFAUsed"] = json!(x);
            }
            v
        };
        assert!(m(no_mfa, &login(Some("No"))));
        assert!(!m(no_mfa, &login(Some("Yes"))));
        assert!(!m(no_mfa, &login(None)));
        let root = r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }"#;
        assert!(m(root, &json!({"userIdentity": {"type": "Root"}, "eventType": "AwsApiCall"})));
        assert!(!m(root, &json!({"userIdentity": {"type": "Root", "invokedBy": "s3.amazonaws.com"}, "eventType": "AwsApiCall"})));
        assert!(m("{ ($.eventName = ConsoleLogin) && ($.errorMessage = \"Failed authentication\") }",
            &json!({"eventName": "ConsoleLogin", "errorMessage": "Failed authentication"})));
    }
}
