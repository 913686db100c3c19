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
            samples("invictus-ir-aws-dataset/CloudTrail").to_str().unwrap(),
            samples("stratus-red-team-detonation-logs/records").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = common::cairn(&db, &["coverage", "--json"], None);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!((code, v["trails_known"].as_i64()), (1, Some(5)), "{v}");
    let gaps: Vec<(String, String, String)> = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| {
            a["gaps"].as_array().unwrap().iter().map(|g| {
                (a["account"].as_str().unwrap().to_owned(), g["sentence"].as_str().unwrap().to_owned(), g["causes"].as_str().unwrap().to_owned())
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
