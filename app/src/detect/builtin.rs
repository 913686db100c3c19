//! The rules every Cairn starts with: the 15 CIS AWS Foundations monitoring controls
//! (4.1–4.15) with their exact CloudWatch Logs patterns, and Cairn's own rules for what
//! attackers do in AWS accounts, each saying why it matters.

use super::{Language, RuleDef, Severity, Threshold};

const DAY: i64 = 86_400;

fn names(list: &[&str]) -> String {
    list.iter()
        .map(|n| format!("($.eventName = {n})"))
        .collect::<Vec<_>>()
        .join(" || ")
}

struct Cis {
    n: u8,
    title: &'static str,
    why: &'static str,
    severity: Severity,
    tags: &'static [&'static str],
}

fn cis(c: Cis, pattern: String) -> RuleDef {
    RuleDef {
        id: format!("cis-4.{}", c.n),
        title: format!("CIS 4.{}: {}", c.n, c.title),
        description: c.why.into(),
        language: Language::Pattern,
        body: pattern,
        severity: c.severity,
        tags: c.tags.iter().map(|t| (*t).to_owned()).collect(),
        threshold: None,
        group_by: vec!["principal".into()],
        window_secs: DAY,
        author: Some("CIS AWS Foundations Benchmark".into()),
        references: vec!["https://www.cisecurity.org/benchmark/amazon_web_services".into()],
        license: None,
    }
}

fn sigma(id: &str, severity: Severity, tags: &[&str], why: &str, yaml: &str) -> RuleDef {
    let title = yaml
        .lines()
        .find_map(|l| l.strip_prefix("title: "))
        .unwrap_or(id)
        .to_owned();
    RuleDef {
        id: id.into(),
        title,
        description: why.into(),
        language: Language::Sigma,
        body: yaml.trim_start().to_owned(),
        severity,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        threshold: None,
        group_by: vec!["principal".into()],
        window_secs: DAY,
        author: Some("Cairn".into()),
        references: vec![],
        license: None,
    }
}

fn threshold(mut r: RuleDef, count: u32, distinct: Option<&str>, window_secs: i64, group: &[&str]) -> RuleDef {
    r.threshold = Some(Threshold {
        count,
        distinct: distinct.map(str::to_owned),
        window_secs,
    });
    r.group_by = group.iter().map(|g| (*g).to_owned()).collect();
    r
}

/// The CIS controls.
pub fn cis_controls() -> Vec<RuleDef> {
    use Severity::*;
    vec![
        cis(
            Cis { n: 1, title: "unauthorized API calls", severity: Medium, tags: &["attack.discovery", "attack.t1580"],
                why: "Calls refused for lack of permission are how an intruder probes what stolen credentials can do, and how a misconfigured application shows itself." },
            r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }"#.into(),
        ),
        cis(
            Cis { n: 2, title: "console sign-in without MFA", severity: High, tags: &["attack.initial-access", "attack.t1078.004"],
                why: "A console password alone is one phishing page away from an intruder; every IAM user who can sign in should use MFA." },
            r#"{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }"#.into(),
        ),
        cis(
            Cis { n: 3, title: "root account usage", severity: Critical, tags: &["attack.privilege-escalation", "attack.t1078.004"],
                why: "The root user can do anything, cannot be limited by policy, and should not be used for everyday work: any use is worth a look." },
            r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }"#.into(),
        ),
        cis(
            Cis { n: 4, title: "IAM policy changes", severity: Medium, tags: &["attack.privilege-escalation", "attack.t1098"],
                why: "Changing who may do what is how an intruder grants itself more and keeps it." },
            format!("{{ {} }}", names(&["DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy", "PutGroupPolicy", "PutRolePolicy", "PutUserPolicy", "CreatePolicy", "DeletePolicy", "CreatePolicyVersion", "DeletePolicyVersion", "AttachRolePolicy", "DetachRolePolicy", "AttachUserPolicy", "DetachUserPolicy", "AttachGroupPolicy", "DetachGroupPolicy"])),
        ),
        cis(
            Cis { n: 5, title: "CloudTrail configuration changes", severity: High, tags: &["attack.defense-impairment", "attack.t1562.008"],
                why: "Stopping or narrowing the trail blinds every later investigation; intruders do it first." },
            format!("{{ {} }}", names(&["CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging"])),
        ),
        cis(
            Cis { n: 6, title: "console authentication failures", severity: Medium, tags: &["attack.credential-access", "attack.t1110"],
                why: "Failed console sign-ins in numbers are password guessing." },
            r#"{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }"#.into(),
        ),
        cis(
            Cis { n: 7, title: "disabling or scheduled deletion of customer-managed KMS keys", severity: High, tags: &["attack.impact", "attack.t1485"],
                why: "Data encrypted under a deleted key is lost for good: disabling or deleting keys is sabotage or ransom." },
            r#"{ ($.eventSource = kms.amazonaws.com) && (($.eventName = DisableKey) || ($.eventName = ScheduleKeyDeletion)) }"#.into(),
        ),
        cis(
            Cis { n: 8, title: "S3 bucket policy changes", severity: Medium, tags: &["attack.exfiltration", "attack.t1537"],
                why: "A bucket policy or ACL decides who outside can read the data; replication can copy it elsewhere." },
            format!("{{ ($.eventSource = s3.amazonaws.com) && ({}) }}", names(&["PutBucketAcl", "PutBucketPolicy", "PutBucketCors", "PutBucketLifecycle", "PutBucketReplication", "DeleteBucketPolicy", "DeleteBucketCors", "DeleteBucketLifecycle", "DeleteBucketReplication"])),
        ),
        cis(
            Cis { n: 9, title: "AWS Config configuration changes", severity: High, tags: &["attack.defense-impairment", "attack.t1562"],
                why: "AWS Config records how resources change; stopping it hides what an intruder reconfigures." },
            format!("{{ ($.eventSource = config.amazonaws.com) && ({}) }}", names(&["StopConfigurationRecorder", "DeleteDeliveryChannel", "PutDeliveryChannel", "PutConfigurationRecorder"])),
        ),
        cis(
            Cis { n: 10, title: "security group changes", severity: Medium, tags: &["attack.defense-impairment", "attack.t1562.007"],
                why: "Security groups are the firewall of every instance; opening one exposes what it protects." },
            format!("{{ {} }}", names(&["AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "CreateSecurityGroup", "DeleteSecurityGroup"])),
        ),
        cis(
            Cis { n: 11, title: "network ACL changes", severity: Low, tags: &["attack.defense-impairment", "attack.t1562.007"],
                why: "Network ACLs filter whole subnets; a changed entry can open them." },
            format!("{{ {} }}", names(&["CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl", "DeleteNetworkAclEntry", "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation"])),
        ),
        cis(
            Cis { n: 12, title: "network gateway changes", severity: Medium, tags: &["attack.exfiltration", "attack.t1048"],
                why: "Gateways are the ways in and out of a network; a new one is a new path for data to leave." },
            format!("{{ {} }}", names(&["CreateCustomerGateway", "DeleteCustomerGateway", "AttachInternetGateway", "CreateInternetGateway", "DeleteInternetGateway", "DetachInternetGateway"])),
        ),
        cis(
            Cis { n: 13, title: "route table changes", severity: Low, tags: &["attack.exfiltration", "attack.t1048"],
                why: "Routes decide where traffic goes; a changed route can send it through an intruder's path." },
            format!("{{ {} }}", names(&["CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation", "DeleteRouteTable", "DeleteRoute", "DisassociateRouteTable"])),
        ),
        cis(
            Cis { n: 14, title: "VPC changes", severity: Medium, tags: &["attack.exfiltration", "attack.t1048"],
                why: "Peering and VPC changes join networks that were kept apart." },
            format!("{{ {} }}", names(&["CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "AcceptVpcPeeringConnection", "CreateVpcPeeringConnection", "DeleteVpcPeeringConnection", "RejectVpcPeeringConnection", "AttachClassicLinkVpc", "DetachClassicLinkVpc", "DisableVpcClassicLink", "EnableVpcClassicLink"])),
        ),
        cis(
            Cis { n: 15, title: "AWS Organizations changes", severity: High, tags: &["attack.defense-impairment", "attack.t1484"],
                why: "An account that leaves the organization leaves its guardrails, and a changed policy lifts them for every account." },
            format!("{{ ($.eventSource = organizations.amazonaws.com) && ({}) }}", names(&["AcceptHandshake", "AttachPolicy", "CreateAccount", "CreateOrganizationalUnit", "CreatePolicy", "DeclineHandshake", "DeleteOrganization", "DeleteOrganizationalUnit", "DeletePolicy", "DetachPolicy", "DisablePolicyType", "EnablePolicyType", "InviteAccountToOrganization", "LeaveOrganization", "MoveAccount", "RemoveAccountFromOrganization", "UpdatePolicy", "UpdateOrganizationalUnit"])),
        ),
    ]
}

/// Cairn's own rules.
pub fn cairn_rules() -> Vec<RuleDef> {
    use Severity::*;
    vec![
        sigma("cairn-root-activity", Critical, &["attack.privilege-escalation", "attack.t1078.004"],
            "Anything the root user does, sign-ins and failed calls included (not what AWS services do for it). Root credentials cannot be limited by any policy; they belong in a safe, and their use means either a rare break-glass task or an intruder.",
            r#"
title: Root user activity
logsource: {product: aws, service: cloudtrail}
detection:
  root:
    userIdentity.type: Root
  service:
    - eventType: AwsServiceEvent
    - userIdentity.invokedBy|exists: true
  condition: root and not service
"#),
        sigma("cairn-console-signin-without-mfa", High, &["attack.initial-access", "attack.t1078.004"],
            "A successful console sign-in of an IAM user or the root user without MFA, including records that do not say whether MFA was used. CIS 4.2 only counts IAM users whose record says `No`; a root password without MFA is worse.",
            r#"
title: Console sign-in without MFA
logsource: {product: aws, service: cloudtrail}
detection:
  signin:
    eventName: ConsoleLogin
    responseElements.ConsoleLogin: Success
    userIdentity.type:
      - IAMUser
      - Root
  mfa:
    additionalEventData.MFAUsed: 'Yes'
  condition: signin and not mfa
"#),
        sigma("cairn-logging-stopped", Critical, &["attack.defense-impairment", "attack.t1562.008"],
            "A trail stopped or deleted: from then on nothing is recorded, which is what an intruder wants before acting. Failed attempts are left to CIS 4.1.",
            r#"
title: CloudTrail logging stopped or trail deleted
logsource: {product: aws, service: cloudtrail}
detection:
  sel:
    eventSource: cloudtrail.amazonaws.com
    eventName:
      - StopLogging
      - DeleteTrail
      - DeleteEventDataStore
      - StopEventDataStoreIngestion
    errorCode: null
  condition: sel
"#),
        sigma("cairn-logging-reduced", High, &["attack.defense-impairment", "attack.t1562.008"],
            "Event selectors or trail settings changed so that less is recorded: management events off, read-only or write-only, event sources or names left out by advanced selectors, a multi-Region trail made single-Region, global service events or log file validation turned off. Quieter than stopping the trail, and as blinding.",
            r#"
title: CloudTrail recording reduced
logsource: {product: aws, service: cloudtrail}
detection:
  selectors:
    eventSource: cloudtrail.amazonaws.com
    eventName: PutEventSelectors
    errorCode: null
  reduce_management:
    requestParameters.eventSelectors.includeManagementEvents: 'false'
  reduce_readwrite:
    requestParameters.eventSelectors.readWriteType:
      - ReadOnly
      - WriteOnly
  reduce_excluded:
    requestParameters.eventSelectors.excludeManagementEventSources|contains: '*'
  reduce_advanced_not_equals:
    requestParameters.advancedEventSelectors.fieldSelectors.notEquals|contains: '*'
  reduce_advanced_not_starts:
    requestParameters.advancedEventSelectors.fieldSelectors.notStartsWith|contains: '*'
  update:
    eventSource: cloudtrail.amazonaws.com
    eventName: UpdateTrail
    errorCode: null
  update_reduces:
    - requestParameters.isMultiRegionTrail: 'false'
    - requestParameters.includeGlobalServiceEvents: 'false'
    - requestParameters.enableLogFileValidation: 'false'
  condition: (selectors and 1 of reduce_*) or (update and update_reduces)
"#),
        sigma("cairn-security-group-open-to-world", High, &["attack.initial-access", "attack.t1190"],
            "A security group rule that admits any address (0.0.0.0/0 or ::/0, on any port): whatever listens behind it is now on the internet, and scanners find it within minutes.",
            r#"
title: Security group opened to the whole internet
logsource: {product: aws, service: cloudtrail}
detection:
  call:
    eventSource: ec2.amazonaws.com
    eventName:
      - AuthorizeSecurityGroupIngress
      - ModifySecurityGroupRules
    errorCode: null
  open:
    - requestParameters.ipPermissions.items.ipRanges.items.cidrIp|endswith: '/0'
    - requestParameters.ipPermissions.items.ipv6Ranges.items.cidrIpv6|endswith: '/0'
    - requestParameters.cidrIp|endswith: '/0'
    - requestParameters.ModifySecurityGroupRulesRequest.SecurityGroupRule.SecurityGroupRule.CidrIpv4|endswith: '/0'
    - requestParameters.ModifySecurityGroupRulesRequest.SecurityGroupRule.SecurityGroupRule.CidrIpv6|endswith: '/0'
  condition: call and open
"#),
        sigma("cairn-bucket-made-public", High, &["attack.exfiltration", "attack.t1530"],
            "A bucket opened to everyone: a policy granting `*`, an ACL granting all users or all authenticated AWS users, or the public access block removed or weakened (bucket or account). Public buckets are the commonest cloud data leak. A policy whose statement is limited by a condition may not be public after all: the finding shows the policy.",
            r#"
title: S3 bucket made public
logsource: {product: aws, service: cloudtrail}
detection:
  s3:
    eventSource: s3.amazonaws.com
    errorCode: null
  policy_call:
    eventName: PutBucketPolicy
  policy_open:
    - requestParameters.bucketPolicy.Statement.Principal: '*'
    - requestParameters.bucketPolicy.Statement.Principal.AWS: '*'
  acl_call:
    eventName:
      - PutBucketAcl
      - PutObjectAcl
      - CreateBucket
  acl_open:
    - requestParameters.AccessControlPolicy.AccessControlList.Grant.Grantee.URI|endswith:
        - /global/AllUsers
        - /global/AuthenticatedUsers
    - requestParameters.x-amz-acl:
        - public-read
        - public-read-write
        - authenticated-read
    - requestParameters.x-amz-grant-read|contains: acs.amazonaws.com/groups/global/
    - requestParameters.x-amz-grant-full-control|contains: acs.amazonaws.com/groups/global/
  block_removed:
    eventName:
      - DeleteBucketPublicAccessBlock
      - DeletePublicAccessBlock
      - DeleteAccountPublicAccessBlock
  block_call:
    eventName:
      - PutBucketPublicAccessBlock
      - PutPublicAccessBlock
      - PutAccountPublicAccessBlock
  block_weakened:
    - requestParameters.PublicAccessBlockConfiguration.BlockPublicAcls: 'false'
    - requestParameters.PublicAccessBlockConfiguration.IgnorePublicAcls: 'false'
    - requestParameters.PublicAccessBlockConfiguration.BlockPublicPolicy: 'false'
    - requestParameters.PublicAccessBlockConfiguration.RestrictPublicBuckets: 'false'
  condition: s3 and ((policy_call and policy_open) or (acl_call and acl_open) or block_removed or (block_call and block_weakened))
"#),
        sigma("cairn-snapshot-shared", High, &["attack.exfiltration", "attack.t1537"],
            "An EBS snapshot, AMI or RDS snapshot shared with another account or made public: the copy can be restored outside your control, with all the data on it.",
            r#"
title: Snapshot or image shared with another account
logsource: {product: aws, service: cloudtrail}
detection:
  ok:
    errorCode: null
  ebs:
    eventName: ModifySnapshotAttribute
    requestParameters.createVolumePermission.add.items|contains: '*'
  ami:
    eventName: ModifyImageAttribute
    requestParameters.launchPermission.add.items|contains: '*'
  rds:
    eventName:
      - ModifyDBSnapshotAttribute
      - ModifyDBClusterSnapshotAttribute
    requestParameters.attributeName: restore
    requestParameters.valuesToAdd|contains: '*'
  condition: ok and (ebs or ami or rds)
"#),
        sigma("cairn-access-key-for-another-user", High, &["attack.persistence", "attack.t1098.001"],
            "An access key made for a different user than the caller: a classic way to keep access (a second key on someone else's user survives the intruder's own key being revoked).",
            r#"
title: Access key created for another user
logsource: {product: aws, service: cloudtrail}
detection:
  sel:
    eventSource: iam.amazonaws.com
    eventName: CreateAccessKey
    errorCode: null
    requestParameters.userName|exists: true
  own:
    requestParameters.userName|fieldref|cased: userIdentity.userName
  condition: sel and not own
"#),
        threshold(
            sigma("cairn-bulk-secret-reads", High, &["attack.credential-access", "attack.t1555.006"],
                "Five or more secret reads (`GetSecretValue`, `BatchGetSecretValue`, or SSM parameters read with decryption) by one principal within 10 minutes: someone collecting credentials rather than an application reading its own.",
                r#"
title: Secrets read in bulk
logsource: {product: aws, service: cloudtrail}
detection:
  secrets:
    eventSource: secretsmanager.amazonaws.com
    eventName:
      - GetSecretValue
      - BatchGetSecretValue
  parameters:
    eventSource: ssm.amazonaws.com
    eventName:
      - GetParameter
      - GetParameters
      - GetParametersByPath
    requestParameters.withDecryption: 'true'
  condition: secrets or parameters
"#),
            5, None, 600, &["principal"],
        ),
        threshold(
            sigma("cairn-admin-console-user", High, &["attack.persistence", "attack.t1136.003"],
                "A user created, given a console password and an administrator policy within a day: a new way in with full power, the usual first persistence step.",
                r#"
title: New IAM user with console access and administrator policy
logsource: {product: aws, service: cloudtrail}
detection:
  iam:
    eventSource: iam.amazonaws.com
    errorCode: null
  steps:
    - eventName: CreateUser
    - eventName: CreateLoginProfile
    - eventName: AttachUserPolicy
      requestParameters.policyArn|endswith: /AdministratorAccess
  condition: iam and steps
"#),
            3, Some("eventName"), DAY, &["requestParameters.userName"],
        ),
        sigma("cairn-security-service-disabled", High, &["attack.defense-impairment", "attack.t1562.001"],
            "GuardDuty, AWS Config, Security Hub, Access Analyzer or Macie turned off or cut off from their administrator: the services that would notice the rest go quiet.",
            r#"
title: Security monitoring disabled
logsource: {product: aws, service: cloudtrail}
detection:
  ok:
    errorCode: null
  guardduty:
    eventSource: guardduty.amazonaws.com
    eventName:
      - DeleteDetector
      - DisassociateFromMasterAccount
      - DisassociateFromAdministratorAccount
      - DeleteMembers
      - StopMonitoringMembers
      - DisassociateMembers
  guardduty_update:
    eventSource: guardduty.amazonaws.com
    eventName: UpdateDetector
    requestParameters.enable: 'false'
  config:
    eventSource: config.amazonaws.com
    eventName:
      - StopConfigurationRecorder
      - DeleteConfigurationRecorder
      - DeleteDeliveryChannel
  securityhub:
    eventSource: securityhub.amazonaws.com
    eventName:
      - DisableSecurityHub
      - BatchDisableStandards
      - DisassociateFromMasterAccount
      - DisassociateFromAdministratorAccount
      - DeleteMembers
  analyzer:
    eventSource: access-analyzer.amazonaws.com
    eventName: DeleteAnalyzer
  macie:
    eventSource:
      - macie2.amazonaws.com
      - macie.amazonaws.com
    eventName: DisableMacie
  condition: ok and (guardduty or guardduty_update or config or securityhub or analyzer or macie)
"#),
        sigma("cairn-instance-credentials-outside", High, &["attack.credential-access", "attack.t1552.005"],
            "An EC2 instance's role credentials (their sessions carry `ec2RoleDelivery`, or are named after the instance, `i-…`) used from a public address that is not the instance's own AWS path: credentials taken from the instance metadata service and used elsewhere. Calls through AWS services, VPC endpoints and private addresses are left out; an instance calling from its own public address also shows here, so check the address against the instance.",
            r#"
title: Instance role credentials used outside the instance
logsource: {product: aws, service: cloudtrail}
detection:
  instance_role:
    userIdentity.type: AssumedRole
  delivered:
    - userIdentity.sessionContext.ec2RoleDelivery|exists: true
    - userIdentity.arn|re: ':assumed-role/[^/]+/i-[0-9a-f]{8,17}$'
  address:
    sourceIPAddress|re: '^([0-9]{1,3}\.){3}[0-9]{1,3}$|^[0-9a-fA-F:]+:[0-9a-fA-F:]*$'
  private:
    sourceIPAddress|cidr:
      - 10.0.0.0/8
      - 172.16.0.0/12
      - 192.168.0.0/16
      - 100.64.0.0/10
      - 127.0.0.0/8
      - 169.254.0.0/16
      - fc00::/7
      - fe80::/10
      - ::1/128
  through_aws:
    - userIdentity.invokedBy|exists: true
    - vpcEndpointId|exists: true
    - eventName: RegisterManagedInstance
  condition: instance_role and delivered and address and not private and not through_aws
"#),
        threshold(
            sigma("cairn-access-denied-burst", Medium, &["attack.discovery", "attack.t1580"],
                "Twenty refused calls by one principal within five minutes: credentials being tried against everything to see what they allow.",
                r#"
title: Burst of refused calls
logsource: {product: aws, service: cloudtrail}
detection:
  refused:
    - errorCode|startswith: AccessDenied
    - errorCode|endswith: UnauthorizedOperation
  condition: refused
"#),
            20, None, 300, &["principal"],
        ),
        threshold(
            sigma("cairn-console-brute-force", High, &["attack.credential-access", "attack.t1110"],
                "Five failed console sign-ins from one address within ten minutes: password guessing or spraying.",
                r#"
title: Failed console sign-ins from one address
logsource: {product: aws, service: cloudtrail}
detection:
  failed:
    eventName: ConsoleLogin
    errorMessage: Failed authentication
  failed_field:
    eventName: ConsoleLogin
    responseElements.ConsoleLogin: Failure
  condition: failed or failed_field
"#),
            5, None, 600, &["source_ip"],
        ),
    ]
}

/// The anomaly detectors Cairn runs over its summaries, by the name a rule's body gives.
pub const ANOMALY_DETECTORS: &[&str] = &[
    "s3-first-bulk-read",
    "s3-over-baseline",
    "s3-new-network",
    "s3-presigned-burst",
    "shared-outside",
    "call-rate",
    "error-rate",
    "aws-insight",
];

fn anomaly(id: &str, title: &str, severity: Severity, tags: &[&str], why: &str, detector: &str) -> RuleDef {
    RuleDef {
        id: id.into(),
        title: title.into(),
        description: why.into(),
        language: Language::Anomaly,
        body: detector.into(),
        severity,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        threshold: None,
        group_by: vec!["principal".into()],
        window_secs: 3_600,
        author: Some("Cairn".into()),
        references: vec!["https://attack.mitre.org/techniques/T1530/".into()],
        license: None,
    }
}

/// Cairn's anomaly rules: S3 reads judged against each reader's own history, data
/// shared outside, and Insights-style call-rate and error-rate episodes.
pub fn anomaly_rules() -> Vec<RuleDef> {
    use Severity::*;
    vec![
        anomaly("cairn-exfil-first-bulk-read", "Bulk read of a bucket never read before", High,
            &["attack.collection", "attack.exfiltration", "attack.t1530"],
            "A principal read at least 100 objects or 1 GB in an hour from a bucket it had never read before. Someone who just got access and empties a bucket looks like this. Cairn learns for 7 days from its first S3 read before it judges, so an import's first week makes no such finding.",
            "s3-first-bulk-read"),
        anomaly("cairn-exfil-over-baseline", "S3 reads far above the reader's own baseline", High,
            &["attack.collection", "attack.exfiltration", "attack.t1530"],
            "A principal read more than 4 times its own baseline in an hour, and at least 100 objects or 1 GB. The baseline is its busiest hour at the same hour of the week (±1 hour) over the previous 14 days once it has 14 days of history, else its busiest hour over the days it has (at least 3). A weekly job sets its own baseline after its first week.",
            "s3-over-baseline"),
        anomaly("cairn-exfil-new-network", "S3 reads from a network the reader never used", Medium,
            &["attack.exfiltration", "attack.t1530", "attack.t1078.004"],
            "A principal with at least 3 days of S3 reads read 10 objects or 100 MB from a network (the address's /16, or /48 for IPv6) it had never read from. Stolen credentials used from elsewhere look like this.",
            "s3-new-network"),
        anomaly("cairn-exfil-presigned-burst", "Burst of presigned-URL reads", Medium,
            &["attack.exfiltration", "attack.t1567"],
            "At least 100 object reads in an hour through presigned URLs (signed in the query string), more than 4 times the principal's busiest hour of them over the previous 14 days. A presigned URL can be handed to anyone: a burst of them is data leaving through links.",
            "s3-presigned-burst"),
        RuleDef {
            references: vec!["https://attack.mitre.org/techniques/T1537/".into()],
            window_secs: 86_400,
            ..anomaly("cairn-data-shared-outside", "Data shared with an account outside the organization", High,
                &["attack.exfiltration", "attack.t1537"],
                "An EBS snapshot, AMI or RDS snapshot shared with, a KMS grant to, bucket replication to, or a bucket or key policy allowing an account Cairn holds no events of. The organization, to Cairn, is the accounts whose events it holds: a copy shared outside them can be restored where you cannot see it. One finding per principal and day.",
                "shared-outside")
        },
        RuleDef {
            group_by: vec!["account".into(), "region".into(), "eventSource".into(), "eventName".into()],
            window_secs: 60,
            references: vec!["https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-insights-events-with-cloudtrail.html".into()],
            ..anomaly("cairn-insight-call-rate", "Call rate out of its usual range", Medium,
                &["attack.impact"],
                "Per account, Region and API call: a minute with more write management calls than 3 times the busiest minute of the 7 days before, and at least 10, as CloudTrail Insights' call-rate type judges. An episode lasts while such minutes follow each other within 5 minutes; its severity follows how far the rate left its baseline (100 times the average: high, 10 times: medium). An account is judged once Cairn holds 3 days of its events. A spike of RunInstances or CreateAccessKey from one principal is the kind of thing it finds.",
                "call-rate")
        },
        RuleDef {
            group_by: vec!["account".into(), "region".into(), "eventSource".into(), "eventName".into()],
            window_secs: 60,
            references: vec!["https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-insights-events-with-cloudtrail.html".into()],
            ..anomaly("cairn-insight-error-rate", "Error rate out of its usual range", Medium,
                &["attack.discovery"],
                "Per account, Region and API call: a minute with more management calls returning an error than 3 times the busiest minute of the 7 days before, and at least 10, as CloudTrail Insights' error-rate type judges. A burst of AccessDenied on GetSecretValue or ListBuckets is someone trying what a credential can reach.",
                "error-rate")
        },
        RuleDef {
            group_by: vec!["sharedEventID".into()],
            window_secs: 60,
            references: vec!["https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-insights-events-with-cloudtrail.html".into()],
            author: Some("AWS CloudTrail Insights".into()),
            ..anomaly("cairn-aws-insight", "AWS CloudTrail Insights event", Low,
                &[],
                "An Insights event delivered by a trail with CloudTrail Insights on (the CloudTrail-Insight folder of its bucket). Its Start and End records, joined by sharedEventID, are one finding with AWS's own figures, so they can be set beside the episodes Cairn finds.",
                "aws-insight")
        },
    ]
}

/// Every built-in rule.
pub fn all() -> Vec<RuleDef> {
    let mut v = cis_controls();
    v.extend(cairn_rules());
    v.extend(anomaly_rules());
    v
}
