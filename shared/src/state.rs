//! Everything a function builds once per cold start and shares across requests.
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};

use crate::auth::Tokens;
use crate::captcha::Captcha;
use crate::clock::Clock;
use crate::config::{Config, ConfigError, TokenKeys, derive_otp_secret};
use crate::domain::CodeHasher;
use crate::keys::{FetchError, KeySet, SecretSource};
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
        .http_client(http_client())
        .build()
}

/// The roots AWS service endpoints' certificates chain to: Amazon Root CA 1-4 and the Starfield
/// root that cross-signs them (Amazon Trust Services), copied from Mozilla's CA set.
pub const AWS_ROOTS_PEM: &str = include_str!("aws-roots.pem");

/// The SDK's own HTTPS client (hyper + rustls on aws-lc, as its default), trusting
/// [`AWS_ROOTS_PEM`] instead of the system's CA store. The only servers these functions talk to
/// over TLS are AWS endpoints, and the default reads and parses every file of the system store at
/// cold start: about two thirds of a function's init CPU (`make profile`; docs/performance.md).
/// Five roots compiled in are parsed in microseconds, and trusting only them is also the
/// narrower trust.
pub fn http_client() -> SharedHttpClient {
    https_client(AWS_ROOTS_PEM.as_bytes())
}

/// The client [`http_client`] is, trusting only the roots in `roots_pem`: for the bench, which
/// measures the TLS handshake against a local server whose chain it made itself.
pub fn https_client(roots_pem: &[u8]) -> SharedHttpClient {
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(roots_pem);
    let context = TlsContext::builder().with_trust_store(trust).build();
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::AwsLc,
    ));
    match context {
        Ok(context) => builder.tls_context(context).build_https(),
        // Not reached: `build` fails only for a TLS provider this build does not have.
        Err(_) => builder.build_https(),
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
#[allow(clippy::unwrap_used)]
mod tests {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    use super::*;

    fn aws_roots() -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(AWS_ROOTS_PEM.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn the_aws_roots_are_the_five_amazon_trust_services_roots_of_mozillas_set() {
        let roots = aws_roots();
        assert_eq!(roots.len(), 5);
        for der in &roots {
            let anchor = webpki::anchor_from_trusted_cert(der).unwrap();
            let in_mozillas_set = webpki_roots::TLS_SERVER_ROOTS.iter().any(|known| {
                known.subject == anchor.subject
                    && known.subject_public_key_info == anchor.subject_public_key_info
            });
            assert!(in_mozillas_set, "not a Mozilla root: {:?}", anchor.subject);
        }
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            let named = roots.iter().any(|der| {
                let anchor = webpki::anchor_from_trusted_cert(der).unwrap();
                anchor
                    .subject
                    .windows(name.len())
                    .any(|w| w == name.as_bytes())
            });
            assert!(named, "{name} is missing");
        }
    }

    #[tokio::test]
    async fn a_client_builds_its_https_connector_from_the_aws_roots() {
        // The SDK builds the connector (and parses the roots, panicking on a bad one) when the
        // client is made; this is that moment, with the production settings.
        let client = dynamodb_client(None);
        assert!(client.config().http_client().is_some());
    }
}
