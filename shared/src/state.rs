//! Everything a function builds once per cold start and shares across requests.
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::Client;

use crate::auth::Tokens;
use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::domain::CodeHasher;
use crate::sms::Sms;
use crate::store::Store;

pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub tokens: Tokens,
    pub hasher: CodeHasher,
    pub clock: Clock,
    pub sms: Sms,
}

impl AppState {
    /// Reads the configuration (a missing `JWT_SECRET` fails the cold start here) and builds the
    /// DynamoDB client from the standard AWS environment.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let client = dynamodb_client(config.dynamodb_endpoint.as_deref());
        Ok(Self::new(config, client))
    }

    pub fn new(config: Config, client: Client) -> Self {
        Self {
            store: Store::new(client, config.tables.clone()),
            tokens: Tokens::new(&config.jwt_secret, config.token_ttl_seconds),
            hasher: CodeHasher::new(config.otp_secret.expose()),
            clock: Clock::default(),
            sms: Sms::from_config(&config),
            config,
        }
    }
}

/// The settings every AWS client here is built from: the region and the role's credentials from
/// the environment Lambda gives every function (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`). Reading just those, instead of the SDK's full
/// provider chain (profile files, SSO, STS web identity, container and instance metadata), keeps
/// that code out of the binary and the cold start. Short timeouts and few retries: a client is
/// better served by a quick 503 than by a request that hangs until API Gateway's 30 seconds run
/// out.
pub fn sdk_config() -> SdkConfig {
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|_| "us-east-1".into());
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .build()
}

/// The DynamoDB client, at `endpoint` if given (DynamoDB Local).
pub fn dynamodb_client(endpoint: Option<&str>) -> Client {
    Client::from_conf(dynamodb_config(endpoint).build())
}

/// The settings [`dynamodb_client`] builds from, for a caller that adds to them (the bench
/// meters calls with an interceptor).
pub fn dynamodb_config(endpoint: Option<&str>) -> aws_sdk_dynamodb::config::Builder {
    let builder = aws_sdk_dynamodb::config::Builder::from(&sdk_config());
    match endpoint {
        Some(endpoint) => builder.endpoint_url(endpoint),
        None => builder,
    }
}
