//! The real-sample tier: imports of CloudTrail files written by others, kept beside the
//! repository in `../shared/data` (or `$CAIRN_SAMPLES`). A clone alone has no samples, so
//! these are `#[ignore]`d in a plain `cargo test` and counted there as ignored;
//! `make samples` runs them (`-- --ignored`), and fails when the samples are missing.

mod common;

use common::{count, import, samples};

#[tokio::test]
#[ignore = "the real-sample tier: `make samples`"]
async fn invictus_dataset_exact_counts_and_idempotent() {
    let data = samples("invictus-ir-aws-dataset/CloudTrail");
    let tmp = tempfile::tempdir().unwrap();
    // Work on a copy so one file can be touched later.
    let copy = tmp.path().join("logs");
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir(&data).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    let pool = cairn::db::connect(&tmp.path().join("c.db")).await.unwrap();
    let s = import(&pool, std::slice::from_ref(&copy)).await;
    assert_eq!(
        (
            s.files,
            s.events_new,
            s.events_duplicate,
            s.records_rejected
        ),
        (55, 2900, 0, 0)
    );
    assert!(s.files_rejected.is_empty());
    assert_eq!(count(&pool, "SELECT count(*) FROM events").await, 2900);
    assert_eq!(
        count(&pool, "SELECT sum(events) FROM counts_minute").await,
        2900
    );
    assert_eq!(
        count(
            &pool,
            "SELECT sum(events) FROM counts_minute WHERE flags & 2"
        )
        .await,
        300
    );
    // The file names say 218007301253; the events say otherwise and win.
    assert_eq!(
        count(&pool, "SELECT count(*) FROM events e JOIN terms t ON t.id = e.account_id WHERE t.value = '123837392027'").await,
        2900
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM principals WHERE display_name = 'bert-jan'"
        )
        .await,
        1
    );

    // The simulated attacker's findings are one incident, from its first privilege
    // change to the key it made for another user, across many tactics.
    let incidents = app::db::incidents::list(&pool, None, None).await.unwrap();
    let story = incidents
        .iter()
        .find(|i| i.actor == "bert-jan")
        .expect("bert-jan's incident");
    assert!(story.steps.len() >= 10, "{story:#?}");
    for t in [
        "privilege-escalation",
        "discovery",
        "defense-evasion",
        "exfiltration",
        "persistence",
    ] {
        assert!(story.tactics().contains(&t), "{t} in {:?}", story.tactics());
    }
    assert!(incidents.iter().all(|i| i.steps.len() >= 2));

    // Again: every file is unchanged and skipped; nothing changes.
    let s = import(&pool, std::slice::from_ref(&copy)).await;
    assert_eq!((s.files, s.files_unchanged, s.events_new), (0, 55, 0));
    assert_eq!(count(&pool, "SELECT count(*) FROM events").await, 2900);

    // A touched file is read again and found to hold only known events.
    let first = std::fs::read_dir(&copy)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let body = std::fs::read(&first).unwrap();
    std::fs::write(&first, [body.as_slice(), b"\n"].concat()).unwrap();
    let s = import(&pool, std::slice::from_ref(&copy)).await;
    assert_eq!((s.files, s.files_unchanged, s.events_new), (1, 54, 0));
    assert!(s.events_duplicate > 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM events").await, 2900);
    assert_eq!(
        count(&pool, "SELECT sum(events) FROM counts_minute").await,
        2900
    );
}

#[tokio::test]
#[ignore = "the real-sample tier: `make samples`"]
async fn every_shape_of_the_samples_goes_in() {
    let stratus = samples("stratus-red-team-detonation-logs");
    let tmp = tempfile::tempdir().unwrap();
    let pool = cairn::db::connect(&tmp.path().join("c.db")).await.unwrap();
    // Bare arrays, the Records envelope and one gzip file hold the same 310 events.
    let s = import(
        &pool,
        &[
            stratus.join("original"),
            stratus.join("records"),
            stratus.join("stratus_all_techniques.json.gz"),
        ],
    )
    .await;
    assert_eq!(
        (s.events_new, s.events_duplicate, s.records_rejected),
        (310, 620, 0),
        "{s:?}"
    );
    // The index is JSON lines that are not CloudTrail records: each is rejected, with a reason.
    let s = import(&pool, &[stratus.join("stratus_all_techniques.index.jsonl")]).await;
    assert_eq!((s.events_new, s.records_rejected), (0, 310));
    assert!(
        s.rejected_records[0]
            .error
            .starts_with("not a CloudTrail record")
    );

    let guide = samples("aws-cloudtrail-user-guide-examples");
    // The LookupEvents response, as the API returns it.
    let responses: serde_json::Value = serde_json::from_slice(
        &std::fs::read(guide.join("lookup_events_cli_responses.json")).unwrap(),
    )
    .unwrap();
    let lookup = tmp.path().join("lookup.json");
    std::fs::write(
        &lookup,
        serde_json::to_vec(&responses[0]["response"]).unwrap(),
    )
    .unwrap();
    let s = import(&pool, &[lookup]).await;
    assert!(s.events_new > 0 && s.records_rejected == 0, "{s:?}");

    let panther = samples("panther-analysis-cloudtrail-tests");
    let s = import(&pool, &[panther.join("panther_cloudtrail_tests.json")]).await;
    // 464 records: 17 without eventTime and 2 with unreadable times are rejected;
    // duplicated eventIDs within an account count once.
    assert_eq!(s.records_rejected, 19, "{:?}", s.rejected_records);
    assert_eq!(s.events_new + s.events_duplicate, 464 - 19);
    assert!(
        s.rejected_records
            .iter()
            .any(|r| r.error.contains("redacted"))
    );
}

/// Coverage over real logs: the trails their own events name are known; the two
/// Stratus evasions (a trail stopped, a trail's selectors emptied), each alone in its
/// account, are told as unrecorded time; in the invictus account, where a trail the logs
/// never name delivered events all along, no gap is claimed.
#[tokio::test]
#[ignore = "the real-sample tier: `make samples`"]
async fn coverage_of_the_samples_finds_the_evasions_and_claims_no_gap_events_contradict() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let (code, _, err) = common::cairn(
        &db,
        &[
            "import",
            samples("invictus-ir-aws-dataset/CloudTrail")
                .to_str()
                .unwrap(),
            samples("stratus-red-team-detonation-logs/records")
                .to_str()
                .unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = common::cairn(&db, &["coverage", "--json"], None);
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!((code, v["trails_known"].as_i64()), (1, Some(5)), "{v}");
    let gaps: Vec<(String, String, String)> = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| {
            a["gaps"].as_array().unwrap().iter().map(|g| {
                (
                    a["account"].as_str().unwrap().to_owned(),
                    g["sentence"].as_str().unwrap().to_owned(),
                    g["causes"].as_str().unwrap().to_owned(),
                )
            })
        })
        .collect();
    assert_eq!(
        gaps,
        [
            (
                "143434273843".to_owned(),
                "Management events in 143434273843 apiso-centralnorth-2r were not recorded since 2024-07-31 13:06:24 UTC: calls since then are invisible.".to_owned(),
                "began with StopLogging by christophe; trails known here: stratus-red-team-ct-stop-trail-buykxbqejv".to_owned()
            ),
            (
                "958312252124".to_owned(),
                "Management events in 958312252124 cn-northsouth-2r were not recorded since 2024-07-31 12:50:02 UTC: calls since then are invisible.".to_owned(),
                "began with PutEventSelectors by christophe; trails known here: stratus-red-team-ctes-trail-khlvciwdor".to_owned()
            ),
        ]
    );
}

/// Detection quality on labelled real records: every built-in rule mapped to the
/// Panther rules that test the same thing (their should / should-not-match events, mocked
/// tests left out), and which Stratus Red Team techniques raise a finding with the
/// built-in rules plus the Sigma rules. The table it prints is the README's.
#[tokio::test]
#[ignore = "the real-sample tier: `make samples`"]
async fn detection_quality_on_labelled_records() {
    use app::detect::{Known, RuleSet, builtin};
    use std::collections::{BTreeMap, BTreeSet};
    let sigma_dir = samples("sigma-cloudtrail-rules/rules");
    let mut defs = builtin::all();
    let imported = cairn::detections::cli::read_sigma(&sigma_dir);
    let refused: Vec<_> = imported
        .iter()
        .filter(|r| r.result.is_err())
        .map(|r| r.file.clone())
        .collect();
    assert!(
        refused.is_empty(),
        "every Sigma rule of the folder applies: {refused:?}"
    );
    defs.extend(imported.into_iter().filter_map(|r| r.result.ok()));
    assert_eq!(defs.len(), builtin::all().len() + 57);
    let (set, broken) = RuleSet::new(defs);
    assert!(broken.is_empty(), "{broken:?}");
    // Every record is tried with and without the rules' index, and on the whole record:
    // the index and the partial parse change nothing.
    let ids_of = |raw: &[u8]| -> BTreeSet<String> {
        let known = Known {
            principal: "p",
            account: "a",
            region: None,
        };
        let plain: BTreeSet<String> = set
            .evaluate(raw, None, &known)
            .into_iter()
            .map(|h| set.rules[h.rule as usize].def.id.clone())
            .collect();
        if let Ok(event) = cairn::ingest::normalize::normalize(raw, None) {
            let indexed: BTreeSet<String> = set
                .evaluate(raw, event.rule_keys().as_ref(), &known)
                .into_iter()
                .map(|h| set.rules[h.rule as usize].def.id.clone())
                .collect();
            assert_eq!(indexed, plain, "{}", String::from_utf8_lossy(raw));
        }
        // Nor does parsing only the candidates' fields: every rule on the whole record.
        if let Ok(whole) = serde_json::from_slice::<serde_json::Value>(raw) {
            let every: Vec<usize> = (0..set.rules.len()).collect();
            let all: BTreeSet<String> = set
                .evaluate_parsed(&every, &whole, &known)
                .into_iter()
                .map(|h| set.rules[h.rule as usize].def.id.clone())
                .collect();
            assert_eq!(all, plain, "{}", String::from_utf8_lossy(raw));
        }
        plain
    };

    // Panther: (our rule, the Panther rules it answers for).
    let panther = samples("panther-analysis-cloudtrail-tests");
    let records: serde_json::Value = serde_json::from_slice(
        &std::fs::read(panther.join("panther_cloudtrail_tests.json")).unwrap(),
    )
    .unwrap();
    let records = records["Records"].as_array().unwrap();
    let index: Vec<serde_json::Value> =
        std::fs::read_to_string(panther.join("panther_cloudtrail_tests.index.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let mapping: &[(&str, &[&str])] = &[
        ("cis-4.1", &["AWS.CloudTrail.UnauthorizedAPICall"]),
        ("cis-4.3", &["AWS.Root.Activity"]),
        (
            "cis-4.5",
            &["AWS.CloudTrail.Created", "AWS.CloudTrail.Stopped"],
        ),
        ("cis-4.7", &["AWS.KMS.CustomerManagedKeyLoss"]),
        ("cis-4.10", &["AWS.EC2.SecurityGroupModified"]),
        ("cis-4.11", &["AWS.EC2.NetworkACLModified"]),
        ("cis-4.12", &["AWS.EC2.GatewayModified"]),
        ("cis-4.13", &["AWS.EC2.RouteTableModified"]),
        ("cis-4.14", &["AWS.EC2.VPCModified"]),
        ("cairn-root-activity", &["AWS.Root.Activity"]),
        ("cairn-logging-stopped", &["AWS.CloudTrail.Stopped"]),
        (
            "cairn-logging-reduced",
            &["AWS.CloudTrail.EventSelectorsDisabled"],
        ),
        (
            "cairn-bucket-made-public",
            &["AWS.S3.DeletePublicAccessBlock"],
        ),
        (
            "cairn-snapshot-shared",
            &[
                "AWS.CloudTrail.SnapshotMadePublic",
                "AWS.RDS.SnapshotShared",
            ],
        ),
        (
            "cairn-access-key-for-another-user",
            &["AWS.IAM.Backdoor.User.Keys"],
        ),
        (
            "cairn-security-service-disabled",
            &["AWS.ConfigService.DisabledDeleted"],
        ),
        (
            "cairn-instance-credentials-outside",
            &["AWS.CloudTrail.IMDSCredentialExfiltration"],
        ),
    ];
    let mut table: BTreeMap<&str, (u32, u32, u32, u32)> = BTreeMap::new();
    for (ours, theirs) in mapping {
        let row = table.entry(ours).or_default();
        for entry in index.iter().filter(|e| {
            theirs.contains(&e["rule_id"].as_str().unwrap_or("")) && e["has_mocks"] == false
        }) {
            let raw =
                serde_json::to_vec(&records[entry["record_index"].as_u64().unwrap() as usize])
                    .unwrap();
            let fired = ids_of(&raw).contains(*ours);
            let test = entry["test"].as_str().unwrap_or_default();
            match (entry["expected"].as_bool().unwrap(), fired) {
                (true, true) => row.0 += 1,
                (true, false) => {
                    row.1 += 1;
                    println!("missed by {ours}: {test}");
                }
                (false, true) => {
                    row.2 += 1;
                    println!("matched by {ours}, not by Panther: {test}");
                }
                (false, false) => row.3 += 1,
            }
        }
    }
    println!("| rule | should match: found / missed | should not: matched / left alone |");
    for (rule, (tp, missed, fp, tn)) in &table {
        println!("| `{rule}` | {tp} / {missed} | {fp} / {tn} |");
    }
    let got: Vec<(&str, (u32, u32, u32, u32))> = table.into_iter().collect();
    let expected: Vec<(&str, (u32, u32, u32, u32))> = EXPECTED_PANTHER.to_vec();
    assert_eq!(got, expected);

    // Stratus Red Team: which techniques raise at least one finding.
    let stratus = samples("stratus-red-team-detonation-logs");
    let mut gz = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::MultiGzDecoder::new(
            std::fs::File::open(stratus.join("stratus_all_techniques.json.gz")).unwrap(),
        ),
        &mut gz,
    )
    .unwrap();
    let all: serde_json::Value = serde_json::from_str(&gz).unwrap();
    let all = all["Records"].as_array().unwrap();
    // Imported with the built-in and Sigma rules enabled: what findings say, thresholds included.
    let tmp = tempfile::tempdir().unwrap();
    let pool = cairn::db::connect(&tmp.path().join("c.db")).await.unwrap();
    for r in cairn::detections::cli::read_sigma(&sigma_dir) {
        let def = r.result.unwrap();
        app::db::rules::save(
            &pool,
            &def,
            true,
            "sigma",
            Some(&r.file),
            "test",
            "imported",
            0,
        )
        .await
        .unwrap();
    }
    let s = import(&pool, &[stratus.join("stratus_all_techniques.json.gz")]).await;
    assert_eq!(s.events_new, 310);
    let mut technique_of: BTreeMap<String, String> = BTreeMap::new();
    let mut by_technique: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in std::fs::read_to_string(stratus.join("stratus_all_techniques.index.jsonl"))
        .unwrap()
        .lines()
    {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = e["technique"].as_str().unwrap().to_owned();
        let id = all[e["record_index"].as_u64().unwrap() as usize]["eventID"]
            .as_str()
            .unwrap()
            .to_owned();
        technique_of.insert(id, t.clone());
        by_technique.entry(t).or_default();
    }
    let findings = app::db::findings::list(&pool, &Default::default())
        .await
        .unwrap();
    for f in &findings {
        for id in app::db::findings::cloudtrail_ids(&pool, f.id, 1000)
            .await
            .unwrap()
        {
            if let Some(t) = technique_of.get(&id) {
                by_technique.get_mut(t).unwrap().insert(f.rule.clone());
            }
        }
    }
    pool.close().await;
    assert_eq!(by_technique.len(), 35);
    println!("| technique | rules that matched |");
    for (t, rules) in &by_technique {
        println!(
            "| `{t}` | {} |",
            if rules.is_empty() {
                "—".into()
            } else {
                rules.iter().cloned().collect::<Vec<_>>().join(", ")
            }
        );
    }
    let without: Vec<&str> = by_technique
        .iter()
        .filter(|(_, r)| r.is_empty())
        .map(|(t, _)| t.as_str())
        .collect();
    println!("without a finding: {}", without.len());
    assert_eq!(without, EXPECTED_STRATUS_WITHOUT);
}

/// Per built-in rule, on the Panther tests it answers for: (found, missed, matched
/// though it should not, left alone).
const EXPECTED_PANTHER: &[(&str, (u32, u32, u32, u32))] = &[
    ("cairn-access-key-for-another-user", (3, 0, 0, 2)),
    ("cairn-bucket-made-public", (1, 0, 0, 3)),
    ("cairn-instance-credentials-outside", (2, 0, 1, 7)),
    ("cairn-logging-reduced", (1, 0, 0, 2)),
    ("cairn-logging-stopped", (1, 0, 0, 2)),
    ("cairn-root-activity", (2, 0, 3, 1)),
    ("cairn-security-service-disabled", (1, 0, 0, 2)),
    ("cairn-snapshot-shared", (3, 0, 1, 2)),
    ("cis-4.1", (1, 0, 1, 1)),
    ("cis-4.10", (1, 0, 1, 1)),
    ("cis-4.11", (1, 0, 1, 1)),
    ("cis-4.12", (1, 0, 1, 1)),
    ("cis-4.13", (1, 0, 1, 1)),
    ("cis-4.14", (1, 0, 1, 1)),
    ("cis-4.3", (2, 0, 3, 1)),
    ("cis-4.5", (2, 0, 3, 1)),
    ("cis-4.7", (3, 0, 1, 1)),
];

/// The Stratus Red Team techniques no rule finds.
const EXPECTED_STRATUS_WITHOUT: &[&str] = &[
    "aws.defense-evasion.dns-delete-logs",
    "aws.execution.ec2-user-data",
    "aws.execution.ssm-start-session",
    "aws.lateral-movement.ec2-instance-connect",
    "aws.persistence.iam-backdoor-role",
    "aws.persistence.iam-create-user-login-profile",
    "aws.persistence.lambda-backdoor-function",
    "aws.persistence.lambda-overwrite-code",
    "aws.persistence.rolesanywhere-create-trust-anchor",
    "aws.persistence.sts-federation-token",
];

/// Every record of a folder of delivery files, in file order.
fn records_in(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            v["Records"].as_array().unwrap().clone()
        })
        .collect()
}

#[tokio::test]
#[ignore = "the real-sample tier: `make samples`"]
async fn exports_of_the_real_records_give_the_same_events() {
    let mut records = records_in(&samples("invictus-ir-aws-dataset/CloudTrail"));
    assert_eq!(records.len(), 2900);
    records.extend(records_in(&samples(
        "stratus-red-team-detonation-logs/records",
    )));
    common::exports_give_the_same_events(&records).await;
}
