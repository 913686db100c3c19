//! The rules' index (`app::detect::RecordKeys`) only skips work: on any record, whatever
//! JSON its indexed fields hold (text in any case, numbers,
//! fractions, booleans, null, arrays, objects, empty, absent), the rules that match with
//! the index are exactly those that match without it. 1,000 cases, about a second.

use app::detect::{Known, Language, RuleDef, RuleSet, builtin};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;
use serde_json::{Map, Value, json};

fn cased(s: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![Just(s.to_owned()), Just(s.to_lowercase()), Just(s.to_uppercase())]
}

/// A value for an indexed field: mostly names the rules are about, in any case, and
/// every other JSON type.
fn field(words: &'static [&'static str]) -> impl Strategy<Value = Option<Value>> {
    let word = select(words).prop_flat_map(cased);
    prop_oneof![
        6 => word.clone().prop_map(|w| Some(Value::String(w))),
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => Just(Some(json!(""))),
        1 => Just(Some(json!(12))),
        1 => Just(Some(json!(1.5))),
        1 => Just(Some(json!(true))),
        1 => word.clone().prop_map(|w| Some(json!([w]))),
        1 => word.prop_map(|w| Some(json!({ "v": w }))),
    ]
}

const NAMES: &[&str] = &[
    "StopLogging",
    "DeleteTrail",
    "ConsoleLogin",
    "PutBucketPolicy",
    "AuthorizeSecurityGroupIngress",
    "GetSecretValue",
    "CreateAccessKey",
    "PutEventSelectors",
    "GetObject",
    "12",
];
const SOURCES: &[&str] = &[
    "cloudtrail.amazonaws.com",
    "s3.amazonaws.com",
    "signin.amazonaws.com",
    "iam.amazonaws.com",
    "ec2.amazonaws.com",
];
const ERRORS: &[&str] = &["AccessDenied", "Client.UnauthorizedOperation", "ThrottlingException", "true"];
const TYPES: &[&str] = &["Root", "IAMUser", "AssumedRole", "AWSService"];
const AGENTS: &[&str] = &["TruffleHog", "aws-cli/2.15 Python/3.11", "Boto3/1.34 trufflehog-scan", "12"];
const ARNS: &[&str] = &[
    "arn:aws:sts::111122223333:assumed-role/web/i-0123456789abcdef0",
    "arn:aws:sts::111122223333:assumed-role/aws:ec2-instance/i-0123456789abcdef0",
    "arn:aws:iam::111122223333:user/a",
];
const DELIVERIES: &[&str] = &["2.0", "1.0"];

fn rules() -> RuleSet {
    let mut defs = builtin::all();
    let sigma = |id: &str, detection: &str| {
        RuleDef::new(
            id,
            id,
            Language::Sigma,
            &format!("title: {id}\nlogsource: {{product: aws, service: cloudtrail}}\ndetection:\n{detection}"),
        )
    };
    defs.push(sigma("null-error", "  sel:\n    eventName: GetObject\n    errorCode: null\n  condition: sel\n"));
    defs.push(sigma("not-source", "  sel:\n    eventName: StopLogging\n  src:\n    eventSource: cloudtrail.amazonaws.com\n  condition: sel and not src\n"));
    defs.push(sigma("error-exists", "  sel:\n    errorCode|exists: true\n    eventName|startswith: get\n  condition: sel\n"));
    defs.push(sigma("agent", "  sel:\n    userAgent|contains: trufflehog\n  condition: sel\n"));
    defs.push(sigma("imds", "  sel:\n    userIdentity.arn|re: '.+:assumed-role/aws:.+'\n  f:\n    sourceIPAddress: AWS Internal\n  condition: sel and not f\n"));
    defs.push(sigma("cased", "  sel:\n    eventName|cased: ConsoleLogin\n  condition: sel\n"));
    defs.push(RuleDef::new("number", "number", Language::Pattern, r#"{ $.eventName = 12 || $.errorCode IS TRUE }"#));
    let (set, broken) = RuleSet::new(defs);
    assert!(broken.is_empty(), "{broken:?}");
    set
}

proptest! {
    #![proptest_config(Config { failure_persistence: None, ..Config::with_cases(1000) })]
    #[test]
    fn the_index_changes_no_match(
        name in field(NAMES),
        source in field(SOURCES),
        error in field(ERRORS),
        kind in field(TYPES),
        arn in field(ARNS),
        agent in field(AGENTS),
        delivery in field(DELIVERIES),
        session_is_object in prop::bool::weighted(0.9),
        identity_is_object in prop::bool::weighted(0.9),
        ip in select(&["203.0.113.7", "10.1.2.3", "AWS Internal"][..]),
        escaped in any::<bool>(),
    ) {
        thread_local!(static SET: RuleSet = rules());
        let mut record = Map::new();
        record.insert("eventVersion".into(), json!("1.09"));
        record.insert("eventTime".into(), json!("2026-01-02T03:04:05Z"));
        record.insert("eventID".into(), json!("6f1c7f0e-0d5c-4e55-9a38-5c1b2e0e8b11"));
        record.insert("recipientAccountId".into(), json!("111122223333"));
        record.insert("sourceIPAddress".into(), json!(ip));
        let mut identity = Map::new();
        for (k, v) in [("type", kind), ("arn", arn)] {
            if let Some(v) = v {
                identity.insert(k.into(), v);
            }
        }
        let mut session = Map::new();
        if let Some(d) = delivery {
            session.insert("ec2RoleDelivery".into(), d);
        }
        identity.insert(
            "sessionContext".into(),
            if session_is_object { Value::Object(session) } else { json!([Value::Object(session)]) },
        );
        record.insert(
            "userIdentity".into(),
            if identity_is_object { Value::Object(identity) } else { json!([Value::Object(identity)]) },
        );
        for (k, v) in [("eventName", name), ("eventSource", source), ("errorCode", error), ("userAgent", agent)] {
            if let Some(v) = v {
                record.insert(k.into(), v);
            }
        }
        let mut raw = serde_json::to_string(&Value::Object(record)).expect("serializes");
        if escaped {
            raw = raw.replace("Logging", "\\u004cogging");
        }
        let Ok(event) = crate::ingest::normalize::normalize(raw.as_bytes(), None) else {
            return Ok(());
        };
        let known = Known { principal: "p", account: "111122223333", region: None };
        SET.with(|set| {
            let ids = |keys| -> Vec<String> {
                set.evaluate(raw.as_bytes(), keys, &known).into_iter().map(|h| set.rules[h.rule as usize].def.id.clone()).collect()
            };
            let keys = event.rule_keys();
            let indexed = ids(keys.as_ref());
            prop_assert_eq!(&indexed, &ids(None), "{}", raw);
            // Parsing only the candidates' fields changes nothing either: every rule on
            // the whole record matches the same.
            let whole: Value = serde_json::from_str(&raw).expect("the test's record parses");
            let every: Vec<usize> = (0..set.rules.len()).collect();
            let all: Vec<String> = set
                .evaluate_parsed(&every, &whole, &known)
                .into_iter()
                .map(|h| set.rules[h.rule as usize].def.id.clone())
                .collect();
            prop_assert_eq!(indexed, all, "{}", raw);
            Ok(())
        })?;
    }
}

