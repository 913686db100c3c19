//! Demo data: realistic, deterministic CloudTrail delivery files. Each file is generated
//! on demand from (seed, end time, file number), so a million events never sit in
//! memory, and the files go through the same import pipeline as real ones.

pub mod bench;
pub mod cli;
pub mod load;

use crate::ingest::pipeline::Source;
use crate::ingest::source::{FileJob, parse_layout};
use chrono::{DateTime, Datelike, Timelike, Utc};
use flate2::{Compression, write::GzEncoder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::io::{Cursor, Read, Write};

pub const ACCOUNTS: [&str; 3] = ["111111111111", "222222222222", "333333333333"];
const ACCOUNT_WEIGHTS: [u32; 3] = [6, 3, 1];
pub const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const REGION_WEIGHTS: [u32; 3] = [6, 3, 1];
/// Events per delivery file on average (as seen in real trails).
const EVENTS_PER_FILE: u64 = 150;
const WINDOW_MS: i64 = 5 * 60_000;

#[derive(Debug, Clone)]
pub struct DemoSpec {
    pub events: u64,
    pub days: u32,
    pub seed: u64,
    /// The newest delivery; events end here.
    pub end_ms: i64,
    counts: std::sync::OnceLock<Vec<u64>>,
}

impl DemoSpec {
    pub fn new(events: u64, days: u32, seed: u64, end_ms: i64) -> DemoSpec {
        DemoSpec {
            events,
            days,
            seed,
            end_ms,
            counts: std::sync::OnceLock::new(),
        }
    }

    pub fn files(&self) -> u64 {
        self.events.div_ceil(EVENTS_PER_FILE).max(1)
    }

    fn span_ms(&self) -> i64 {
        i64::from(self.days.max(1)) * 86_400_000
    }

    /// Delivery window (start ms) of file `j`; files spread evenly over the span.
    fn window_of(&self, j: u64) -> i64 {
        let windows = (self.span_ms() / WINDOW_MS).max(1) as u64;
        let files = self.files();
        let w = if files <= 1 {
            windows - 1
        } else {
            j * (windows - 1) / (files - 1)
        };
        self.end_ms - self.span_ms() + w as i64 * WINDOW_MS
    }

    fn events_in(&self, j: u64) -> u64 {
        let counts = self.counts.get_or_init(|| self.spread());
        counts.get(j as usize).copied().unwrap_or(0)
    }

    /// Events per file following a working week: busy afternoons (UTC), quiet nights,
    /// quieter weekends. The total is exactly `events`.
    fn spread(&self) -> Vec<u64> {
        let files = self.files();
        let weights: Vec<f64> = (0..files)
            .map(|j| {
                let t = ms_to_dt(self.window_of(j));
                let hour = f64::from(t.hour()) + f64::from(t.minute()) / 60.0;
                let day = 0.25 + (-(hour - 14.0).powi(2) / 18.0).exp();
                let weekend = matches!(t.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
                day * if weekend { 0.4 } else { 1.0 }
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut counts: Vec<u64> = weights
            .iter()
            .map(|w| (w / total * self.events as f64).floor() as u64)
            .collect();
        let mut left = self.events - counts.iter().sum::<u64>();
        let (mut j, n) = (0, counts.len());
        while left > 0 {
            counts[j % n] += 1;
            left -= 1;
            j += 7;
        }
        counts
    }

    fn rng(&self, j: u64, salt: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(
            self.seed
                ^ (self.end_ms as u64).rotate_left(17)
                ^ j.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ salt,
        )
    }

    fn stream_of(&self, j: u64) -> (&'static str, &'static str) {
        let mut r = self.rng(j, 1);
        (
            ACCOUNTS[pick(&mut r, &ACCOUNT_WEIGHTS)],
            REGIONS[pick(&mut r, &REGION_WEIGHTS)],
        )
    }

    /// The AWSLogs key of file `j`.
    pub fn key(&self, j: u64) -> String {
        let (acct, region) = self.stream_of(j);
        let t = ms_to_dt(self.window_of(j) + WINDOW_MS);
        let mut r = self.rng(j, 2);
        let suffix: String = (0..16)
            .map(|_| {
                let c = r.random_range(0..62u8);
                (match c {
                    0..=9 => b'0' + c,
                    10..=35 => b'A' + c - 10,
                    _ => b'a' + c - 36,
                }) as char
            })
            .collect();
        format!(
            "AWSLogs/{acct}/CloudTrail/{region}/{:04}/{:02}/{:02}/{acct}_CloudTrail_{region}_{:04}{:02}{:02}T{:02}{:02}Z_{suffix}.json.gz",
            t.year(),
            t.month(),
            t.day(),
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute()
        )
    }

    /// The incidents planted in this data set: (file number, incident).
    fn incidents(&self) -> Vec<(u64, Incident)> {
        let f = self.files();
        let at = |frac: f64| ((f as f64 - 1.0) * frac) as u64;
        vec![
            (at(0.35), Incident::RootLoginNoMfa),
            (at(0.60), Incident::AccessDeniedBurst),
            (at(0.92), Incident::SecurityGroupOpen),
            (at(0.95), Incident::BulkDownload),
            (at(0.97), Incident::StopLogging),
        ]
    }

    /// The gzipped body of file `j`.
    pub fn file_body(&self, j: u64) -> Vec<u8> {
        let (acct, region) = self.stream_of(j);
        let window = self.window_of(j);
        let mut r = self.rng(j, 3);
        let mut g = Gen {
            spec: self,
            acct,
            region,
            rng: &mut r,
            j,
            seq: 0,
            window,
            out: Vec::new(),
        };
        let n = self.events_in(j);
        // Incidents come on top of the ordinary events.
        let bulk = (self.events / 500).clamp(20, 2000);
        for (file, inc) in self.incidents() {
            if file == j {
                g.incident(inc, bulk);
            }
        }
        let target = g.out.len() as u64 + n;
        while (g.out.len() as u64) < target {
            g.ordinary();
        }
        g.out.truncate(target as usize);
        let records: Vec<Value> = std::mem::take(&mut g.out);
        let body = json!({ "Records": records });
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        let _ = serde_json::to_writer(&mut enc, &body);
        let _ = enc.flush();
        enc.finish().unwrap_or_default()
    }

    /// The file list, as the import pipeline sees it.
    pub fn jobs(&self) -> Vec<FileJob> {
        (0..self.files())
            .map(|j| {
                let display = self.key(j);
                FileJob {
                    path: j.to_string().into(),
                    layout: parse_layout(&display),
                    display,
                    size: self.events_in(j) * 120,
                    modified_ms: self.end_ms,
                }
            })
            .collect()
    }

    /// Writes every file under `dir` in the AWSLogs layout (for benchmarks).
    pub fn write_files(&self, dir: &std::path::Path) -> std::io::Result<u64> {
        let mut bytes = 0;
        for j in 0..self.files() {
            let path = dir.join(self.key(j));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let body = self.file_body(j);
            bytes += body.len() as u64;
            std::fs::write(path, body)?;
        }
        Ok(bytes)
    }
}

/// Demo files as an import source.
pub struct DemoSource(pub DemoSpec);

impl Source for DemoSource {
    fn name(&self) -> &str {
        "demo"
    }
    fn open(&self, job: &FileJob) -> std::io::Result<Box<dyn Read + Send + '_>> {
        let j: u64 = job
            .path
            .to_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other("not a demo file"))?;
        Ok(Box::new(Cursor::new(self.0.file_body(j))))
    }
}

#[derive(Clone, Copy)]
enum Incident {
    RootLoginNoMfa,
    AccessDeniedBurst,
    SecurityGroupOpen,
    BulkDownload,
    StopLogging,
}

fn pick(r: &mut impl Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut x = r.random_range(0..total.max(1));
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    0
}

fn ms_to_dt(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn iso(ms: i64) -> String {
    ms_to_dt(ms).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[derive(Clone, Copy)]
enum Actor {
    User(&'static str, &'static str, &'static str),
    Session(&'static str, &'static str),
    Service(&'static str),
}

/// People and machines, most active first (skewed like real accounts).
const ACTORS: &[(Actor, u32)] = &[
    (Actor::Service("ec2.amazonaws.com"), 30),
    (Actor::Session("DeployRole", "ci-runner"), 26),
    (
        Actor::User(
            "ci-deploy",
            "203.0.113.10",
            "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64 command/deploy",
        ),
        20,
    ),
    (Actor::Session("AdminRole", "alice"), 16),
    (Actor::Service("lambda.amazonaws.com"), 12),
    (
        Actor::User(
            "alice",
            "198.51.100.23",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15",
        ),
        10,
    ),
    (Actor::Session("ReadOnlyRole", "bob"), 9),
    (
        Actor::User(
            "terraform",
            "203.0.113.44",
            "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 aws-sdk-go-v2/1.26.0",
        ),
        8,
    ),
    (Actor::Service("config.amazonaws.com"), 7),
    (
        Actor::User(
            "bob",
            "198.51.100.77",
            "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64",
        ),
        6,
    ),
    (Actor::Session("DataPipelineRole", "etl-job"), 6),
    (Actor::Service("autoscaling.amazonaws.com"), 5),
    (
        Actor::User(
            "carol",
            "192.0.2.15",
            "Boto3/1.34.69 md/Botocore#1.34.69 Python/3.12.2",
        ),
        4,
    ),
    (Actor::Session("AdminRole", "bob"), 4),
    (
        Actor::User(
            "dave",
            "192.0.2.88",
            "aws-sdk-java/2.25.6 Linux/5.10 OpenJDK_64-Bit_Server_VM/21",
        ),
        3,
    ),
    (Actor::Session("SecurityAuditRole", "erin"), 3),
    (
        Actor::User(
            "erin",
            "198.51.100.140",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36",
        ),
        2,
    ),
    (Actor::Service("cloudtrail.amazonaws.com"), 2),
    (
        Actor::User(
            "backup-bot",
            "203.0.113.90",
            "aws-sdk-go/1.51.2 (go1.22.1; linux; amd64)",
        ),
        2,
    ),
    (Actor::Session("BreakGlassRole", "dave"), 1),
    (
        Actor::User(
            "intern",
            "192.0.2.201",
            "aws-cli/2.13.0 Python/3.11.4 Windows/10 exe/AMD64",
        ),
        1,
    ),
];

#[derive(Clone, Copy)]
struct Action {
    source: &'static str,
    name: &'static str,
    read_only: bool,
    data: bool,
}

const fn a(source: &'static str, name: &'static str, read_only: bool) -> Action {
    Action {
        source,
        name,
        read_only,
        data: false,
    }
}

const PEOPLE_ACTIONS: &[(Action, u32)] = &[
    (a("ec2.amazonaws.com", "DescribeInstances", true), 20),
    (a("s3.amazonaws.com", "ListBuckets", true), 8),
    (a("iam.amazonaws.com", "ListRoles", true), 6),
    (a("iam.amazonaws.com", "GetRole", true), 5),
    (a("cloudtrail.amazonaws.com", "DescribeTrails", true), 4),
    (a("ec2.amazonaws.com", "DescribeSecurityGroups", true), 8),
    (a("lambda.amazonaws.com", "ListFunctions20150331", true), 5),
    (a("sts.amazonaws.com", "GetCallerIdentity", true), 10),
    (a("kms.amazonaws.com", "Decrypt", true), 6),
    (a("ssm.amazonaws.com", "GetParameter", true), 6),
    (a("ec2.amazonaws.com", "RunInstances", false), 2),
    (a("ec2.amazonaws.com", "TerminateInstances", false), 1),
    (a("ec2.amazonaws.com", "CreateTags", false), 3),
    (a("iam.amazonaws.com", "AttachRolePolicy", false), 1),
    (a("iam.amazonaws.com", "PutRolePolicy", false), 1),
    (a("iam.amazonaws.com", "CreateAccessKey", false), 1),
    (
        a(
            "lambda.amazonaws.com",
            "UpdateFunctionCode20150331v2",
            false,
        ),
        2,
    ),
    (a("s3.amazonaws.com", "PutBucketPolicy", false), 1),
    (a("cloudformation.amazonaws.com", "DescribeStacks", true), 6),
    (a("logs.amazonaws.com", "DescribeLogGroups", true), 4),
    (
        Action {
            source: "s3.amazonaws.com",
            name: "GetObject",
            read_only: true,
            data: true,
        },
        18,
    ),
    (
        Action {
            source: "s3.amazonaws.com",
            name: "PutObject",
            read_only: false,
            data: true,
        },
        8,
    ),
    (
        Action {
            source: "lambda.amazonaws.com",
            name: "Invoke",
            read_only: false,
            data: true,
        },
        6,
    ),
];

/// What the AccessDenied burst keeps trying.
const DENIED: [Action; 3] = [
    a("iam.amazonaws.com", "ListUsers", true),
    a("secretsmanager.amazonaws.com", "GetSecretValue", true),
    a("s3.amazonaws.com", "GetBucketPolicy", true),
];

const SERVICE_ACTIONS: &[(Action, u32)] = &[
    (a("kms.amazonaws.com", "Decrypt", true), 10),
    (a("sts.amazonaws.com", "AssumeRole", true), 8),
    (a("ec2.amazonaws.com", "DescribeInstanceStatus", true), 6),
    (a("logs.amazonaws.com", "CreateLogStream", false), 4),
    (
        a(
            "autoscaling.amazonaws.com",
            "DescribeAutoScalingGroups",
            true,
        ),
        3,
    ),
    (a("config.amazonaws.com", "PutEvaluations", false), 2),
];

const BUCKETS: &[&str] = &[
    "prod-app-assets",
    "prod-customer-data",
    "build-artifacts",
    "team-shared",
    "logs-archive",
];
const FUNCTIONS: &[&str] = &[
    "thumbnailer",
    "billing-export",
    "auth-hook",
    "etl-transform",
];
const ERRORS: &[(&str, &str)] = &[
    (
        "AccessDenied",
        "User is not authorized to perform this operation",
    ),
    (
        "Client.UnauthorizedOperation",
        "You are not authorized to perform this operation.",
    ),
    ("ThrottlingException", "Rate exceeded"),
    (
        "NoSuchEntity",
        "The role with name legacy-role cannot be found.",
    ),
    ("ResourceNotFoundException", "Function not found"),
];

struct Gen<'a, R: Rng> {
    spec: &'a DemoSpec,
    acct: &'static str,
    region: &'static str,
    rng: &'a mut R,
    j: u64,
    seq: u64,
    window: i64,
    out: Vec<Value>,
}

impl<R: Rng> Gen<'_, R> {
    fn event_id(&mut self) -> String {
        let mut h = ChaCha8Rng::seed_from_u64(
            self.spec.seed
                ^ (self.spec.end_ms as u64)
                ^ self.j.wrapping_mul(0x2545_F491_4F6C_DD1D)
                ^ self.seq.rotate_left(40),
        );
        self.seq += 1;
        let b: [u8; 16] = h.random();
        uuid::Builder::from_random_bytes(b).into_uuid().to_string()
    }

    fn time(&mut self) -> i64 {
        self.window + self.rng.random_range(0..WINDOW_MS)
    }

    /// A user's long-term key (`AKIA`) is the same in every file, as a real user keeps
    /// one for months; a session's (`ASIA`) is new with each file's sessions.
    fn access_key(&self, who: &str, prefix: &str) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let session = if prefix == "AKIA" { 0 } else { self.j };
        for b in who
            .bytes()
            .chain(self.acct.bytes())
            .chain(session.to_le_bytes())
        {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        format!("{prefix}{:016X}", h)
    }

    fn identity(&mut self, actor: Actor) -> (Value, String, String) {
        let acct = self.acct;
        match actor {
            Actor::User(name, ip, ua) => (
                json!({
                    "type": "IAMUser", "principalId": format!("AIDA{}", name.to_uppercase()),
                    "arn": format!("arn:aws:iam::{acct}:user/{name}"), "accountId": acct,
                    "accessKeyId": self.access_key(name, "AKIA"), "userName": name
                }),
                ip.to_string(),
                ua.to_string(),
            ),
            Actor::Session(role, who) => {
                let key = self.access_key(&format!("{role}/{who}"), "ASIA");
                // The AssumeRole call that issued this session comes first in the file.
                if !self
                    .out
                    .iter()
                    .any(|e| e["responseElements"]["credentials"]["accessKeyId"] == key.as_str())
                {
                    self.assume_role(role, who, &key);
                }
                let (ip, ua) = ACTORS
                    .iter()
                    .find_map(|(a, _)| match a {
                        Actor::User(n, ip, ua) if *n == who => {
                            Some((ip.to_string(), ua.to_string()))
                        }
                        _ => None,
                    })
                    .unwrap_or_else(|| {
                        (
                            "10.0.12.34".into(),
                            "aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22".into(),
                        )
                    });
                (
                    json!({
                        "type": "AssumedRole", "principalId": format!("AROA{}:{who}", role.to_uppercase()),
                        "arn": format!("arn:aws:sts::{acct}:assumed-role/{role}/{who}"), "accountId": acct,
                        "accessKeyId": key,
                        "sessionContext": {
                            "sessionIssuer": {"type": "Role", "principalId": format!("AROA{}", role.to_uppercase()),
                                "arn": format!("arn:aws:iam::{acct}:role/{role}"), "accountId": acct, "userName": role},
                            "attributes": {"creationDate": iso(self.window), "mfaAuthenticated": "false"}
                        }
                    }),
                    ip,
                    ua,
                )
            }
            Actor::Service(svc) => (
                json!({"type": "AWSService", "invokedBy": svc}),
                svc.to_string(),
                svc.to_string(),
            ),
        }
    }

    fn assume_role(&mut self, role: &str, who: &str, key: &str) {
        let acct = self.acct;
        let (ui, ip, ua) = match ACTORS
            .iter()
            .find(|(a, _)| matches!(a, Actor::User(n, _, _) if *n == who))
        {
            Some((actor, _)) => self.identity(*actor),
            None => self.identity(Actor::Service("codebuild.amazonaws.com")),
        };
        let t = self.window;
        let id = self.event_id();
        let request_id = self.event_id();
        self.out.push(json!({
            "eventVersion": "1.08", "userIdentity": ui, "eventTime": iso(t),
            "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", "awsRegion": self.region,
            "sourceIPAddress": ip, "userAgent": ua,
            "requestParameters": {"roleArn": format!("arn:aws:iam::{acct}:role/{role}"), "roleSessionName": who, "durationSeconds": 3600},
            "responseElements": {
                "credentials": {"accessKeyId": key, "sessionToken": "<redacted>", "expiration": iso(t + 3_600_000)},
                "assumedRoleUser": {"assumedRoleId": format!("AROA{}:{who}", role.to_uppercase()), "arn": format!("arn:aws:sts::{acct}:assumed-role/{role}/{who}")}
            },
            "requestID": request_id, "eventID": id, "readOnly": true,
            "resources": [{"accountId": acct, "type": "AWS::IAM::Role", "ARN": format!("arn:aws:iam::{acct}:role/{role}")}],
            "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": acct, "eventCategory": "Management"
        }));
    }

    fn record(
        &mut self,
        actor: Actor,
        act: &Action,
        t: i64,
        error: Option<(&str, &str)>,
        params: Value,
        extra: &[(&str, Value)],
    ) {
        let (ui, ip, ua) = self.identity(actor);
        let request_id = self.event_id();
        let event_id = self.event_id();
        let mut rec = json!({
            "eventVersion": "1.09", "userIdentity": ui, "eventTime": iso(t),
            "eventSource": act.source, "eventName": act.name, "awsRegion": self.region,
            "sourceIPAddress": ip, "userAgent": ua, "requestParameters": params,
            "responseElements": Value::Null, "requestID": request_id, "eventID": event_id,
            "readOnly": act.read_only, "eventType": "AwsApiCall", "managementEvent": !act.data,
            "recipientAccountId": self.acct, "eventCategory": if act.data { "Data" } else { "Management" },
        });
        if let Some((code, msg)) = error {
            rec["errorCode"] = json!(code);
            rec["errorMessage"] = json!(msg);
        }
        for (k, v) in extra {
            rec[*k] = v.clone();
        }
        self.out.push(rec);
    }

    fn params_for(&mut self, act: &Action) -> Value {
        let acct = self.acct;
        match (act.source, act.name) {
            ("s3.amazonaws.com", "GetObject" | "PutObject") => {
                let b = BUCKETS[self.rng.random_range(0..BUCKETS.len())];
                let k = format!(
                    "data/{:04}/part-{:05}.parquet",
                    self.rng.random_range(0..50),
                    self.rng.random_range(0..400)
                );
                json!({"bucketName": b, "key": k, "Host": format!("{b}.s3.amazonaws.com")})
            }
            ("lambda.amazonaws.com", _) => {
                let f = FUNCTIONS[self.rng.random_range(0..FUNCTIONS.len())];
                json!({"functionName": format!("arn:aws:lambda:{}:{acct}:function:{f}", self.region)})
            }
            ("ec2.amazonaws.com", "RunInstances" | "TerminateInstances" | "CreateTags") => {
                let id = format!("i-0{:016x}", self.rng.random::<u64>() % 4096);
                json!({"instancesSet": {"items": [{"instanceId": id}]}})
            }
            ("iam.amazonaws.com", "AttachRolePolicy" | "PutRolePolicy" | "GetRole") => {
                let role = ["AppRole", "DeployRole", "legacy-role"][self.rng.random_range(0..3)];
                json!({"roleName": role, "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"})
            }
            ("iam.amazonaws.com", "CreateAccessKey") => json!({"userName": "ci-deploy"}),
            ("s3.amazonaws.com", "PutBucketPolicy") => {
                json!({"bucketName": "team-shared", "bucketPolicy": {"Version": "2012-10-17"}})
            }
            ("kms.amazonaws.com", _) => {
                json!({"keyId": "alias/app-secrets", "encryptionAlgorithm": "SYMMETRIC_DEFAULT"})
            }
            ("ssm.amazonaws.com", _) => {
                json!({"name": "/prod/db/password", "withDecryption": true})
            }
            _ => Value::Null,
        }
    }

    fn ordinary(&mut self) {
        let weights: Vec<u32> = ACTORS.iter().map(|(_, w)| *w).collect();
        let actor = ACTORS[pick(self.rng, &weights)].0;
        let table = if matches!(actor, Actor::Service(_)) {
            SERVICE_ACTIONS
        } else {
            PEOPLE_ACTIONS
        };
        let w: Vec<u32> = table.iter().map(|(_, w)| *w).collect();
        let act = &table[pick(self.rng, &w)].0;
        // Console users sign in now and then.
        if let Actor::User("alice" | "erin", _, _) = actor {
            if self.rng.random_ratio(1, 40) {
                let t = self.time();
                let login = a("signin.amazonaws.com", "ConsoleLogin", false);
                self.record(actor, &login, t, None, Value::Null, &[
                    ("eventType", json!("AwsConsoleSignIn")),
                    ("responseElements", json!({"ConsoleLogin": "Success"})),
                    ("additionalEventData", json!({"MFAUsed": "Yes", "LoginTo": "https://console.aws.amazon.com/", "MobileVersion": "No"})),
                ]);
                return;
            }
        }
        let error = if self.rng.random_ratio(3, 100) {
            Some(ERRORS[self.rng.random_range(0..ERRORS.len())])
        } else {
            None
        };
        let t = self.time();
        let params = self.params_for(act);
        let mut extra = Vec::new();
        if act.data && act.name == "GetObject" {
            let bytes = self.rng.random_range(1_000..5_000_000u64);
            extra.push((
                "additionalEventData",
                json!({"bytesTransferredIn": 0, "bytesTransferredOut": bytes}),
            ));
        }
        if act.data {
            if let Some(b) = params["bucketName"].as_str() {
                let k = params["key"].as_str().unwrap_or("");
                extra.push(("resources", json!([
                    {"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{b}/{k}")},
                    {"accountId": self.acct, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{b}")}
                ])));
            }
        }
        self.record(actor, act, t, error, params, &extra);
    }

    /// Plants an incident; returns how many events it used.
    fn incident(&mut self, inc: Incident, budget: u64) -> u64 {
        let before = self.out.len();
        let acct = self.acct;
        let t0 = self.window + 60_000;
        match inc {
            Incident::RootLoginNoMfa => {
                let ui = json!({"type": "Root", "principalId": acct, "arn": format!("arn:aws:iam::{acct}:root"), "accountId": acct});
                let id = self.event_id();
                let rid = self.event_id();
                self.out.push(json!({
                    "eventVersion": "1.08", "userIdentity": ui, "eventTime": iso(t0),
                    "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "awsRegion": "us-east-1",
                    "sourceIPAddress": "45.155.205.233", "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
                    "requestParameters": null, "responseElements": {"ConsoleLogin": "Success"},
                    "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "No"},
                    "requestID": rid, "eventID": id, "readOnly": false, "eventType": "AwsConsoleSignIn",
                    "managementEvent": true, "recipientAccountId": acct, "eventCategory": "Management"
                }));
            }
            Incident::AccessDeniedBurst => {
                let n = 60u64.min(budget * 3);
                for i in 0..n {
                    let act = DENIED[(i % 3) as usize];
                    let t = t0 + i as i64 * 2_000;
                    self.record(ACTORS[20].0, &act, t, Some(("AccessDenied", "User: arn:aws:iam::111111111111:user/intern is not authorized to perform this action")), json!({"secretId": "prod/db", "bucketName": "prod-customer-data"}), &[]);
                }
            }
            Incident::SecurityGroupOpen => {
                let act = a("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", false);
                self.record(Actor::Session("AdminRole", "bob"), &act, t0, None, json!({
                    "groupId": "sg-0a1b2c3d4e5f60718",
                    "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}
                }), &[("responseElements", json!({"_return": true}))]);
            }
            Incident::BulkDownload => {
                let n = budget;
                let act = Action {
                    source: "s3.amazonaws.com",
                    name: "GetObject",
                    read_only: true,
                    data: true,
                };
                for i in 0..n {
                    let key = format!("exports/customers/2026/batch-{i:05}.csv.gz");
                    let t = t0 + (i as i64 * 120_000 / n as i64);
                    let b = "prod-customer-data";
                    self.record(Actor::Session("DataPipelineRole", "contractor-temp"), &act, t, None,
                        json!({"bucketName": b, "key": key}),
                        &[
                            ("sourceIPAddress", json!("185.220.101.7")),
                            ("userAgent", json!("aws-cli/2.9.0 Python/3.9.11 Linux/5.15 exe/x86_64 command/s3.cp")),
                            ("additionalEventData", json!({"bytesTransferredIn": 0, "bytesTransferredOut": 52_428_800})),
                            ("resources", json!([{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{b}/{key}")}, {"accountId": acct, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{b}")}])),
                        ]);
                }
            }
            Incident::StopLogging => {
                let act = a("cloudtrail.amazonaws.com", "StopLogging", false);
                self.record(
                    Actor::Session("BreakGlassRole", "dave"),
                    &act,
                    t0,
                    None,
                    json!({"name": format!("arn:aws:cloudtrail:us-east-1:{acct}:trail/org-trail")}),
                    &[],
                );
            }
        }
        (self.out.len() - before) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(events: u64) -> DemoSpec {
        DemoSpec::new(events, 3, 7, 1_750_000_000_000)
    }

    #[test]
    fn deterministic_and_sized() {
        let s = spec(3000);
        assert_eq!(s.files(), 20);
        assert_eq!(s.file_body(5), s.file_body(5));
        assert_eq!(s.key(5), s.key(5));
        let total: usize = (0..s.files())
            .map(|j| {
                let body = s.file_body(j);
                let mut d = flate2::read::GzDecoder::new(&body[..]);
                let mut text = String::new();
                d.read_to_string(&mut text).unwrap();
                let v: Value = serde_json::from_str(&text).unwrap();
                v["Records"].as_array().unwrap().len()
            })
            .sum();
        // Five planted incidents (and the AssumeRole calls behind their three sessions)
        // come on top of the requested events.
        assert_eq!(total, 3000 + 1 + 60 + 1 + 20 + 1 + 3);
    }

    #[test]
    fn keys_follow_the_awslogs_layout() {
        let s = spec(500);
        for j in 0..s.files() {
            let l = parse_layout(&s.key(j));
            assert_eq!(l.kind, crate::ingest::source::LogKind::CloudTrail);
        }
    }
}
