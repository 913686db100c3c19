//! AWS clients for a source: credentials from the standard chain (environment, profile,
//! SSO, instance or task role), optionally a role assumed on top with an external ID;
//! endpoints from the `AWS_ENDPOINT_URL*` variables or the source's own; retries with
//! backoff and jitter on throttling, 5xx answers and dropped connections.

use crate::sync::sources::Source;
use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::SharedCredentialsProvider;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use std::time::Duration;

/// How hard calls are retried. Tests shorten the waits.
#[derive(Debug, Clone)]
pub struct Tuning {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
        }
    }
}

/// The Region used to find where a bucket lives, and for sources that name none.
pub const HOME_REGION: &str = "us-east-1";

/// The HTTP client every AWS client uses: rustls with `ring`.
pub fn http_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The SDK configuration of `source` in `region`.
pub async fn config(source: &Source, region: &str, tuning: &Tuning) -> SdkConfig {
    let http = http_client();
    let row = &source.row;
    let mut loader = aws_config::defaults(BehaviorVersion::v2026_01_12())
        .http_client(http)
        .region(Region::new(region.to_owned()))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(tuning.max_attempts.max(1))
                .with_initial_backoff(tuning.initial_backoff)
                .with_max_backoff(tuning.max_backoff),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                // Above the 20 s of an SQS long poll.
                .read_timeout(Duration::from_secs(40))
                .operation_attempt_timeout(Duration::from_secs(120))
                .build(),
        );
    if let Some(p) = &row.profile {
        loader = loader.profile_name(p);
    }
    if let Some(e) = &row.endpoint_url {
        loader = loader.endpoint_url(e);
    }
    let base = loader.load().await;
    let Some(role) = &row.role_arn else {
        return base;
    };
    let mut assume = AssumeRoleProvider::builder(role)
        .session_name(row.session_name.clone().unwrap_or_else(|| "cairn".into()));
    if let Some(x) = &source.external_id {
        assume = assume.external_id(x);
    }
    let provider = assume.configure(&base).build().await;
    base.into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

/// Whether S3 is reached at an endpoint of the person's choosing (an emulator or an
/// S3-compatible store), which wants path-style addressing.
pub fn custom_s3_endpoint(source: &Source) -> bool {
    source.row.endpoint_url.is_some()
        || ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

pub fn s3(config: &SdkConfig, source: &Source) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(custom_s3_endpoint(source))
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

pub fn sqs(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

/// An SDK error as one line: the service's code and message when it sent them, else
/// the transport's reason.
pub fn describe<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
    match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_owned(),
        _ => transport(&DisplayErrorContext(e).to_string()),
    }
}

/// A transport failure in a line: the SDK's chain of causes without its debug dump.
fn transport(full: &str) -> String {
    if full.contains("loading credentials") || full.contains("no credentials") {
        return "no AWS credentials found (environment variables, --profile, SSO, instance or \
                task role)"
            .into();
    }
    // The SDK ends the chain with the debug form of the error, in parentheses.
    let dump = [
        "DispatchFailure(",
        "TimeoutError(",
        "ResponseError(",
        "ConstructionFailure(",
        "ServiceError(",
    ]
    .iter()
    .filter_map(|m| full.find(&format!(" ({m}")))
    .min();
    let first = &full[..dump.unwrap_or(full.len())];
    let mut short: String = first.chars().take(300).collect();
    if short.len() < first.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    #[test]
    fn transport_failures_read_in_a_line() {
        let imds = "dispatch failure: other: an error occurred while loading credentials: failed \
                    to load IMDS session token (DispatchFailure(DispatchFailure { source: … }))";
        assert!(super::transport(imds).starts_with("no AWS credentials found"));
        let refused = "dispatch failure: io error: client error (Connect): tcp connect error: \
                       Connection refused (os error 111) (DispatchFailure(…))";
        assert_eq!(
            super::transport(refused),
            "dispatch failure: io error: client error (Connect): tcp connect error: Connection \
             refused (os error 111)"
        );
    }
}
