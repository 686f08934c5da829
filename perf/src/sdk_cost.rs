//! `perf sdk-cost`: the CPU one DynamoDB request costs a function through the AWS SDK, against
//! the same request signed with `aws-sigv4` (the SDK's own signing crate) and sent with hyper
//! directly, or with blocking `std` I/O: the part of a warm request's CPU that is the SDK's
//! orchestration (interceptors, endpoint rules, retries, timeouts, its HTTP layers), the part that
//! is the async runtime and HTTP library, and what the exchange itself costs; and whether
//! switching off the SDK's optional layers changes anything. Then the same for send-code's SNS
//! `Publish` (moto's server): through the sender send-code uses, and signed and sent with blocking
//! `std` I/O. One thread on a single-threaded runtime, as in the functions, the ways in turns; CPU
//! from that thread's own counter.
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::SystemTime;

use anyhow::Context;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::StalledStreamProtectionConfig;
use aws_sdk_dynamodb::config::endpoint::{Endpoint, EndpointFuture, Params, ResolveEndpoint};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use shared::config::{DEFAULT_SMS_TEMPLATE, SmsSender, SmsSettings};
use shared::domain::phone::parse_region;
use shared::domain::{OtpCode, PhoneNumber};
use shared::sms::Sms;

use crate::measure::{on_own_thread, thread_cpu_ms};
use crate::runtime_stub::read_message;

/// Calls per round, and rounds.
pub const CALLS: usize = 2_000;
pub const ROUNDS: usize = 5;

/// CPU per GetItem of each way of sending it, in milliseconds, one figure per round.
pub struct Costs {
    pub sdk: Vec<f64>,
    pub lean: Vec<f64>,
    /// Signed with `aws-sigv4` and sent with hyper: the exchange without the SDK.
    pub bare: Vec<f64>,
    /// The same signed request over blocking `std` I/O on one kept-alive connection: without an
    /// async runtime or an HTTP library either, as floor 0 talks to the Runtime API.
    pub blocking: Vec<f64>,
    /// One SMS through send-code's own sender (`shared::sms::Sms`, the SDK's SNS client).
    pub publish_sdk: Vec<f64>,
    /// The same `Publish` signed with `aws-sigv4` and sent with blocking `std` I/O.
    pub publish_blocking: Vec<f64>,
}

const HEADERS: [(&str, &str); 2] = [
    ("content-type", "application/x-amz-json-1.0"),
    ("x-amz-target", "DynamoDB_20120810.GetItem"),
];

/// The ways measured in turns, on a thread of its own: `endpoint` is DynamoDB's, `sns` moto's.
pub fn measure(endpoint: &str, sns: &str) -> anyhow::Result<Costs> {
    let endpoint = endpoint.to_owned();
    let sns = sns.to_owned();
    on_own_thread(move || async move { measure_on(&endpoint, &sns, &users_table()).await })
}

/// The users table's name, from the environment as the functions read it.
pub fn users_table() -> String {
    shared::config::TableNames::from_lookup(|name| std::env::var(name).ok()).users
}

/// The headers a POST of `body` to `endpoint` carries: `headers`, and the signature for `service`
/// made now.
fn sign_post(
    endpoint: &str,
    service: &str,
    headers: &[(&'static str, &'static str)],
    body: &[u8],
    identity: &Identity,
    region: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()?
        .into();
    let signable = SignableRequest::new(
        "POST",
        endpoint,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    Ok(headers
        .iter()
        .copied()
        .chain(instructions.headers())
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

/// `host:port` of an endpoint URL such as `http://127.0.0.1:8000/`.
pub fn authority(endpoint: &str) -> &str {
    endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .trim_end_matches('/')
}

/// A kept-alive connection to one endpoint that sends signed POSTs with blocking `std` I/O.
struct Blocking<'a> {
    endpoint: &'a str,
    /// `host:port`, the `host` header the request is signed with.
    authority: &'a str,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl<'a> Blocking<'a> {
    fn connect(endpoint: &'a str) -> anyhow::Result<Self> {
        let authority = authority(endpoint);
        let writer = TcpStream::connect(authority)?;
        writer.set_nodelay(true)?;
        Ok(Self {
            endpoint,
            authority,
            reader: BufReader::new(writer.try_clone()?),
            writer,
        })
    }

    /// POSTs `body` with `headers`, signed for `service`, as one HTTP/1.1 request, and returns the
    /// answer's body, which must come with a 200.
    fn post(
        &mut self,
        service: &str,
        headers: &[(&'static str, &'static str)],
        body: &[u8],
        identity: &Identity,
        region: &str,
    ) -> anyhow::Result<Vec<u8>> {
        let mut request = format!("POST / HTTP/1.1\r\nhost: {}\r\n", self.authority);
        for (name, value) in sign_post(self.endpoint, service, headers, body, identity, region)? {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        let mut request = request.into_bytes();
        request.extend_from_slice(body);
        self.writer.write_all(&request)?;
        let (status, bytes) = read_message(&mut self.reader)?
            .with_context(|| format!("{} closed the connection", self.endpoint))?;
        anyhow::ensure!(status.starts_with("HTTP/1.1 200"), "{}", status.trim_end());
        Ok(bytes)
    }
}

/// The same client as the functions' with the knobs that come to mind first all off at once: if
/// they were the cost, its row would show it.
fn lean_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        shared::state::dynamodb_config(Some(endpoint))
            .retry_config(RetryConfig::disabled())
            .timeout_config(TimeoutConfig::disabled())
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .endpoint_resolver(Fixed(endpoint.to_owned()))
            .build(),
    )
}

/// The credentials the functions read, for signing by hand.
fn identity() -> Identity {
    Credentials::new(
        std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "local".into()),
        std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "local".into()),
        None,
        None,
        "environment",
    )
    .into()
}

/// send-code's SMS both ways: its sender as production configures it (prepared), the phone and
/// text it sends, and the same Publish as the form SNS's query protocol takes.
struct Publish {
    sms: Sms,
    phone: PhoneNumber,
    text: String,
    form: Vec<u8>,
}

impl Publish {
    fn new(sns: &str) -> anyhow::Result<Self> {
        // send-code's SMS: its sender as production configures it, and its text.
        let settings = SmsSettings {
            sender: SmsSender::Sns,
            sender_id: None,
            origination_number: None,
            template: DEFAULT_SMS_TEMPLATE.into(),
            sns_endpoint: Some(sns.to_owned()),
        };
        let ru = parse_region("RU").context("region RU")?;
        let phone =
            PhoneNumber::parse(SMS_PHONE, ru).map_err(|_| anyhow::anyhow!("{SMS_PHONE}"))?;
        let code = OtpCode::parse("4821", 4).context("a 4-digit code")?;
        let text = shared::sms::message(&settings, &code, 300);
        let sms = Sms::Sns {
            settings,
            sender: Default::default(),
        };
        sms.prepare();
        // The form SNS's query protocol takes, with the attribute send-code's sender sets.
        let mut form = reqwest::Url::parse("http://form.invalid/")?;
        form.query_pairs_mut().extend_pairs([
            ("Action", "Publish"),
            ("Version", "2010-03-31"),
            ("PhoneNumber", phone.as_str()),
            ("Message", &text),
            ("MessageAttributes.entry.1.Name", "AWS.SNS.SMS.SMSType"),
            ("MessageAttributes.entry.1.Value.DataType", "String"),
            (
                "MessageAttributes.entry.1.Value.StringValue",
                "Transactional",
            ),
        ]);
        Ok(Self {
            sms,
            phone,
            text,
            form: form.query().unwrap_or_default().as_bytes().to_vec(),
        })
    }
}

/// [`get_nobody`]'s request as JSON, for the ways that send it without the SDK.
fn get_nobody_body(table: &str) -> Bytes {
    Bytes::from(
        serde_json::json!({
            "TableName": table,
            "Key": {"id": {"S": "nobody"}},
            "ConsistentRead": true,
        })
        .to_string(),
    )
}

/// The Publish `form`, signed with `aws-sigv4` and sent with blocking `std` I/O.
fn publish_blocking(
    moto: &mut Blocking<'_>,
    form: &[u8],
    identity: &Identity,
    region: &str,
) -> anyhow::Result<()> {
    let bytes = moto.post(
        "sns",
        &[("content-type", "application/x-www-form-urlencoded")],
        form,
        identity,
        region,
    )?;
    // What the sender needs of the answer: that it is a Publish's, with its message id.
    anyhow::ensure!(
        bytes.windows(11).any(|w| w == b"<MessageId>"),
        "not a Publish answer"
    );
    Ok(())
}

async fn measure_on(endpoint: &str, sns: &str, table: &str) -> anyhow::Result<Costs> {
    let sdk = shared::state::dynamodb_client(Some(endpoint));
    let lean = lean_client(endpoint);
    // Signed for the region the SDK client was built for (`state::sdk_config`).
    let region = sdk
        .config()
        .region()
        .map(ToString::to_string)
        .unwrap_or_default();
    let raw = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let identity = identity();
    let body = get_nobody_body(table);
    let one_raw = || async {
        let mut request = http::Request::post(endpoint);
        for (name, value) in sign_post(endpoint, "dynamodb", &HEADERS, &body, &identity, &region)? {
            request = request.header(name, value);
        }
        let response = raw.request(request.body(Full::new(body.clone()))?).await?;
        anyhow::ensure!(response.status().is_success(), "{}", response.status());
        let bytes = response.into_body().collect().await?.to_bytes();
        let _: serde_json::Value = serde_json::from_slice(&bytes)?;
        anyhow::Ok(())
    };
    let mut dynamodb = Blocking::connect(endpoint)?;
    let mut one_blocking = || -> anyhow::Result<()> {
        let bytes = dynamodb.post("dynamodb", &HEADERS, &body, &identity, &region)?;
        let _: serde_json::Value = serde_json::from_slice(&bytes)?;
        Ok(())
    };

    let Publish {
        sms,
        phone,
        text,
        form: publish_body,
    } = Publish::new(sns)?;
    let mut moto = Blocking::connect(sns)?;
    let mut one_publish_blocking =
        || publish_blocking(&mut moto, &publish_body, &identity, &region);

    // Each opens its connection before it is measured.
    one_raw().await?;
    one_blocking()?;
    get_nobody(&sdk, table).await?;
    get_nobody(&lean, table).await?;
    sms.send(&phone, &text).await?;
    one_publish_blocking()?;
    let mut ms: [Vec<f64>; 6] = Default::default();
    for _ in 0..ROUNDS {
        for (variant, ms) in ms.iter_mut().enumerate() {
            let start = thread_cpu_ms()?;
            for _ in 0..CALLS {
                match variant {
                    0 => get_nobody(&sdk, table).await?,
                    1 => get_nobody(&lean, table).await?,
                    2 => one_raw().await?,
                    3 => one_blocking()?,
                    4 => sms.send(&phone, &text).await?,
                    _ => one_publish_blocking()?,
                }
            }
            ms.push((thread_cpu_ms()? - start) / CALLS as f64);
        }
    }
    let [sdk, lean, bare, blocking, publish_sdk, publish_blocking] = ms;
    Ok(Costs {
        sdk,
        lean,
        bare,
        blocking,
        publish_sdk,
        publish_blocking,
    })
}

/// The request measured here and in `tls_cost`: a consistent GetItem of a key no item has.
pub async fn get_nobody(client: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<()> {
    client
        .get_item()
        .table_name(table)
        .key("id", AttributeValue::S("nobody".into()))
        .consistent_read(true)
        .send()
        .await?;
    Ok(())
}

/// Where the measured SMS go (moto accepts any valid number).
const SMS_PHONE: &str = "+79991234567";

/// One endpoint for every request, instead of the SDK's rules evaluated per request.
#[derive(Debug)]
struct Fixed(String);

impl ResolveEndpoint for Fixed {
    fn resolve_endpoint<'a>(&'a self, _: &'a Params) -> EndpointFuture<'a> {
        EndpointFuture::ready(Ok(Endpoint::builder().url(self.0.clone()).build()))
    }
}
