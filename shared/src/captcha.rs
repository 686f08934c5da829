//! The optional CAPTCHA on send-code: the token the provider's widget gave the browser, checked
//! with the provider's siteverify endpoint (Cloudflare Turnstile or hCaptcha, which take the same
//! form and answer the same JSON) before anything is counted or stored.
//!
//! The call goes through the AWS SDK's own HTTP stack (its hyper and rustls client and its
//! request orchestrator, already in every function), not a second HTTP client: see docs/design.md,
//! "The CAPTCHA check reuses the SDK's HTTP stack".
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime::client::orchestrator::operation::Operation;
use aws_smithy_runtime_api::client::http::HttpClient;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse, OrchestratorError};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::timeout::TimeoutConfig;
use serde::Deserialize;

use crate::config::{CaptchaProvider, CaptchaSettings, Secret};
use crate::error::{Chain, Error};

/// The longest token passed on to the provider: Turnstile's are up to 2,048 characters, and
/// hCaptcha's a few thousand; anything longer is refused without asking. With surrounding
/// whitespace it must still fit in a request body.
pub const MAX_TOKEN_LEN: usize = 8_192;

/// What a token is made of: printable ASCII, no spaces (`u8::is_ascii_graphic`).
pub const TOKEN_CHARS: &str = "!-~";

/// The token a send-code request carries, and where it came from.
#[derive(Clone, Copy)]
pub struct Answer<'a> {
    /// `captcha_token` of the request body.
    pub token: Option<&'a str>,
    /// The caller's address, which the provider may check the token against.
    pub remote_ip: Option<IpAddr>,
}

/// Tokens are single-use credentials: `Debug` never shows them.
impl fmt::Debug for Answer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer")
            .field("token", &self.token.map(|_| ".."))
            .field("remote_ip", &self.remote_ip)
            .finish()
    }
}

/// The check send-code makes, or none (`CAPTCHA_PROVIDER=none`).
pub struct Captcha {
    verifier: Option<Verifier>,
}

struct Verifier {
    provider: CaptchaProvider,
    secret: Secret,
    site_key: Option<String>,
    http: SharedHttpClient,
    siteverify: Operation<Form, Siteverify, BadAnswer>,
}

/// The siteverify form, `application/x-www-form-urlencoded`. It holds the secret: `Debug`
/// (which the SDK's orchestrator may log) never shows it.
struct Form(String);

impl fmt::Debug for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Form(..)")
    }
}

/// What both providers answer (the fields used here; both send more).
#[derive(Debug, Deserialize)]
struct Siteverify {
    success: bool,
    #[serde(rename = "error-codes", default)]
    error_codes: Vec<String>,
}

/// An answer that is not the documented JSON, or an HTTP error status.
#[derive(Debug, thiserror::Error)]
#[error("the CAPTCHA provider's answer: {0}")]
struct BadAnswer(String);

/// How long a check may take: it is made on a login's critical path, side by side with the first
/// DynamoDB read, and a provider that is slow is answered as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Error codes that say our side is wrong (the secret, the site key, the request), not the
/// token: a misconfiguration to log and answer as one, never the caller's fault.
const OUR_FAULT: &[&str] = &[
    "missing-input-secret",
    "invalid-input-secret",
    "sitekey-secret-mismatch",
    "invalid-sitekey",
    "bad-request",
];

/// Error codes that say the provider failed: worth a retry.
const THEIR_FAULT: &[&str] = &["internal-error"];

impl Captcha {
    pub fn from_config(settings: &CaptchaSettings) -> Self {
        let verifier = match (settings.provider, &settings.secret) {
            (CaptchaProvider::None, _) | (_, None) => None,
            (provider, Some(secret)) => {
                let http = provider_client();
                let siteverify = operation(&http, &settings.verify_url);
                Some(Verifier {
                    provider,
                    secret: secret.clone(),
                    site_key: settings.site_key.clone(),
                    http,
                    siteverify,
                })
            }
        };
        Self { verifier }
    }

    pub fn enabled(&self) -> bool {
        self.verifier.is_some()
    }

    /// Builds the HTTPS connector now (reading the system's root certificates), in a function's
    /// init rather than in its first request; nothing when the check is off.
    pub fn prepare(&self) {
        if let Some(v) = &self.verifier {
            let components = RuntimeComponentsBuilder::new("captcha");
            if let Err(e) = v
                .http
                .validate_base_client_config(&components, &ConfigBag::base())
            {
                tracing::warn!(error = %e, "the CAPTCHA provider's HTTPS client could not be prepared");
            }
        }
    }

    /// What can be said of an answer without asking the provider: nothing when the check is off;
    /// a missing token is `CaptchaRequired`, one too long to be real `CaptchaRefused`. Made before
    /// any I/O, so such requests cost nothing.
    pub fn precheck(&self, answer: Answer<'_>) -> Result<(), Error> {
        self.token(answer).map(|_| ())
    }

    fn token<'a>(&self, answer: Answer<'a>) -> Result<Option<(&Verifier, &'a str)>, Error> {
        let Some(v) = &self.verifier else {
            return Ok(None);
        };
        let field = answer.token.unwrap_or_default();
        let token = field.trim();
        if token.is_empty() {
            return Err(Error::CaptchaRequired);
        }
        // Tokens are printable ASCII (base64url, dots, dashes); anything else, or a field longer
        // than any token a provider issues (the bound the OpenAPI document states), is none.
        if field.chars().count() > MAX_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
            tracing::info!(
                provider = v.provider.name(),
                "captcha token refused unchecked: not a token"
            );
            return Err(Error::CaptchaRefused);
        }
        Ok(Some((v, token)))
    }

    /// Checks the caller's answer: `Ok` when the check is off or the provider accepted the token.
    /// Besides [`Captcha::precheck`]'s refusals, one the provider refused is `CaptchaRefused`, a
    /// provider that cannot be reached or answers nonsense `CaptchaUnavailable`, and one that
    /// says our secret or site key is wrong `Internal`.
    #[tracing::instrument(skip_all)]
    pub async fn check(&self, answer: Answer<'_>) -> Result<(), Error> {
        let Some((v, token)) = self.token(answer)? else {
            return Ok(());
        };
        let mut form = vec![
            (
                "secret",
                std::str::from_utf8(v.secret.expose()).unwrap_or_default(),
            ),
            ("response", token),
        ];
        let remote_ip = answer.remote_ip.map(|ip| ip.to_string());
        if let Some(ip) = &remote_ip {
            form.push(("remoteip", ip));
        }
        if let (CaptchaProvider::Hcaptcha, Some(key)) = (v.provider, &v.site_key) {
            form.push(("sitekey", key));
        }
        let started = std::time::Instant::now();
        let verdict = v.siteverify.invoke(Form(encode(&form))).await;
        let ms = started.elapsed().as_millis();
        let answer = match verdict {
            Ok(answer) => answer,
            Err(e) => {
                tracing::error!(provider = v.provider.name(), ms, error = %Chain(&e), "captcha provider unavailable");
                return Err(Error::CaptchaUnavailable(Box::new(e)));
            }
        };
        if answer.success {
            tracing::info!(provider = v.provider.name(), ms, "captcha passed");
            return Ok(());
        }
        let codes = answer.error_codes.join(",");
        let any = |list: &[&str]| {
            answer
                .error_codes
                .iter()
                .any(|c| list.contains(&c.as_str()))
        };
        if any(OUR_FAULT) {
            tracing::error!(
                provider = v.provider.name(),
                codes,
                "captcha provider refused our configuration"
            );
            Err(Error::Internal(
                format!("the CAPTCHA provider refused our request: {codes}").into(),
            ))
        } else if any(THEIR_FAULT) {
            tracing::error!(
                provider = v.provider.name(),
                codes,
                "captcha provider failed"
            );
            Err(Error::CaptchaUnavailable(
                format!("the CAPTCHA provider failed: {codes}").into(),
            ))
        } else {
            tracing::info!(provider = v.provider.name(), codes, ms, "captcha refused");
            Err(Error::CaptchaRefused)
        }
    }
}

impl fmt::Debug for Captcha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let provider = self.verifier.as_ref().map(|v| v.provider.name());
        f.debug_struct("Captcha")
            .field("provider", &provider)
            .finish()
    }
}

/// The SDK's HTTPS client (hyper and rustls on aws-lc, as [`crate::state::http_client`]), but
/// trusting the system's root certificates: the providers' endpoints are not AWS's, and their
/// certificate authorities are theirs to change. Only send-code with a CAPTCHA builds it.
fn provider_client() -> SharedHttpClient {
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::default())
        .build();
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::AwsLc,
    ));
    match context {
        Ok(context) => builder.tls_context(context).build_https(),
        // Not reached: `build` fails only for a TLS provider this build does not have.
        Err(_) => builder.build_https(),
    }
}

/// The siteverify call: one POST of the form, no retry (a token is single-use: a retry after a
/// lost answer would be refused as a duplicate), a short timeout.
fn operation(http: &SharedHttpClient, url: &str) -> Operation<Form, Siteverify, BadAnswer> {
    // The endpoint is the scheme and host; the path goes on the request, as the SDK appends a
    // slash to an endpoint's own path.
    let (origin, path) = split_url(url);
    Operation::builder()
        .service_name("captcha")
        .operation_name("siteverify")
        .http_client(http.clone())
        .endpoint_url(&origin)
        .no_auth()
        .no_retry()
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(CHECK_TIMEOUT)
                .operation_timeout(CHECK_TIMEOUT)
                .build(),
        )
        .serializer(move |form: Form| {
            let mut request = HttpRequest::new(SdkBody::from(form.0));
            request.set_method("POST")?;
            request.set_uri(path.as_str())?;
            request
                .headers_mut()
                .insert("content-type", "application/x-www-form-urlencoded");
            request.headers_mut().insert("accept", "application/json");
            Ok(request)
        })
        .deserializer(|response: &HttpResponse| {
            let status = response.status().as_u16();
            if !response.status().is_success() {
                return Err(OrchestratorError::operation(BadAnswer(format!(
                    "HTTP {status}"
                ))));
            }
            let body = response.body().bytes().unwrap_or_default();
            serde_json::from_slice::<Siteverify>(body)
                .map_err(|e| OrchestratorError::operation(BadAnswer(e.to_string())))
        })
        .build()
}

/// `https://host[:port]/path` as (`https://host[:port]`, `/path`).
fn split_url(url: &str) -> (String, String) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => (
            url[..after_scheme + i].to_owned(),
            url[after_scheme + i..].to_owned(),
        ),
        None => (url.to_owned(), "/".to_owned()),
    }
}

/// `application/x-www-form-urlencoded`, as the WHATWG URL standard writes it: letters, digits and
/// `*-._` as they are, space as `+`, every other byte as `%XX`.
fn encode(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        escape(name, &mut out);
        out.push('=');
        escape(value, &mut out);
    }
    out
}

fn escape(text: &str, out: &mut String) {
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_urlencoded_as_browsers_encode_it() {
        assert_eq!(
            encode(&[
                ("secret", "s3cr3t"),
                ("response", "a b+c/d=é"),
                ("remoteip", "2001:db8::1")
            ]),
            "secret=s3cr3t&response=a+b%2Bc%2Fd%3D%C3%A9&remoteip=2001%3Adb8%3A%3A1"
        );
    }

    #[test]
    fn a_verify_url_splits_into_the_endpoint_and_the_path() {
        assert_eq!(
            split_url("https://challenges.cloudflare.com/turnstile/v0/siteverify"),
            (
                "https://challenges.cloudflare.com".to_owned(),
                "/turnstile/v0/siteverify".to_owned()
            )
        );
        assert_eq!(
            split_url("http://127.0.0.1:8080"),
            ("http://127.0.0.1:8080".to_owned(), "/".to_owned())
        );
    }

    #[test]
    fn neither_the_secret_nor_a_token_shows_in_debug_output() {
        let form = Form(encode(&[("secret", "top-secret"), ("response", "tok")]));
        assert!(!format!("{form:?}").contains("top-secret"));
        let answer = Answer {
            token: Some("single-use-token"),
            remote_ip: None,
        };
        assert!(!format!("{answer:?}").contains("single-use-token"));
    }

    #[tokio::test]
    async fn with_the_check_off_every_answer_passes_without_a_call() {
        let off = Captcha::from_config(&CaptchaSettings::default());
        assert!(!off.enabled());
        let answer = Answer {
            token: None,
            remote_ip: None,
        };
        assert!(off.check(answer).await.is_ok());
    }
}
