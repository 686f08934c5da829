//! Everything a function builds once per cold start and shares across requests.
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;

use crate::auth::Tokens;
use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::domain::CodeHasher;
use crate::store::Store;

pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub tokens: Tokens,
    pub hasher: CodeHasher,
    pub clock: Clock,
}

impl AppState {
    /// Reads the configuration (a missing `JWT_SECRET` fails the cold start here) and builds the
    /// DynamoDB client from the standard AWS environment.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let client = dynamodb_client(&config).await;
        Ok(Self::new(config, client))
    }

    pub fn new(config: Config, client: Client) -> Self {
        Self {
            store: Store::new(client, config.tables.clone()),
            tokens: Tokens::new(&config.jwt_secret, config.token_ttl_seconds),
            hasher: CodeHasher::new(config.otp_secret.expose()),
            clock: Clock::default(),
            config,
        }
    }
}

/// Short timeouts and few retries: a Lambda behind API Gateway has 30 seconds at most, and a
/// client is better served by a quick 503 than by a request that hangs.
pub async fn dynamodb_client(config: &Config) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if let Some(endpoint) = &config.dynamodb_endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    Client::new(&loader.load().await)
}
