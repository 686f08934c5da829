//! The AWS SDK's shared settings (region, credentials, timeouts, the HTTPS client and the roots
//! it trusts) and the boxed error type the adapters wrap causes in: a leaf every module may use,
//! that uses nothing of the crate.
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
}
