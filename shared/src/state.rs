//! Everything a function builds once per cold start and shares across requests.
use aws_sdk_dynamodb::Client;

use crate::auth::Tokens;
use crate::captcha::Captcha;
use crate::clock::Clock;
use crate::config::{Config, ConfigError, TokenKeys, derive_otp_secret};
use crate::domain::CodeHasher;
use crate::keys::{FetchError, KeySet, SecretSource};
// Where the bench and the tests have always found them.
pub use crate::sdk::{AWS_ROOTS_PEM, http_client, https_client, sdk_config};
use crate::sms::Sms;
use crate::store::Store;

pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub tokens: Tokens,
    pub hasher: CodeHasher,
    pub clock: Clock,
    pub sms: Sms,
    pub captcha: Captcha,
}

/// Why a function could not start: a setting, or the token keys' secret.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the token keys could not be read from Secrets Manager")]
    Keys(#[from] FetchError),
}

impl AppState {
    /// Reads the configuration (a missing `JWT_SECRET` fails the cold start here), builds the
    /// DynamoDB client from the standard AWS environment and reads the token keys.
    pub async fn from_env() -> Result<Self, InitError> {
        let config = Config::from_env()?;
        let client = dynamodb_client(config.dynamodb_endpoint.as_deref());
        Self::load(config, client).await
    }

    /// The state for `config`, reading the token keys from Secrets Manager if that is where
    /// they are (a failure fails the cold start, as a missing setting does).
    pub async fn load(config: Config, client: Client) -> Result<Self, InitError> {
        let clock = Clock::default();
        let (tokens, keys) = match &config.token_keys {
            TokenKeys::Local(secret) => (
                Tokens::new(secret, config.token_ttl_seconds),
                KeySet::single(secret.clone()),
            ),
            TokenKeys::SecretsManager { secret_id } => {
                let source =
                    SecretSource::new(secret_id, config.secrets_manager_endpoint.as_deref());
                Tokens::load(source, config.token_ttl_seconds, clock.now_s()).await?
            }
        };
        let otp_secret = match &config.otp_secret {
            Some(secret) => secret.clone(),
            None => derive_otp_secret(keys.otp_material()),
        };
        Ok(Self {
            store: Store::new(client, config.tables.clone()),
            tokens,
            hasher: CodeHasher::new(otp_secret.expose()),
            clock,
            sms: Sms::from_config(&config),
            captcha: Captcha::from_config(&config.captcha),
            config,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_builds_its_https_connector_from_the_aws_roots() {
        // The SDK builds the connector (and parses the roots, panicking on a bad one) when the
        // client is made; this is that moment, with the production settings.
        let client = dynamodb_client(None);
        assert!(client.config().http_client().is_some());
    }
}
