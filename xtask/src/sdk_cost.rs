//! `xtask sdk-cost`: the CPU one DynamoDB request costs a function through the AWS SDK, against
//! the same request signed with `aws-sigv4` (the SDK's own signing crate) and sent with hyper
//! directly: the part of a warm request's CPU that is the SDK's orchestration (interceptors,
//! endpoint rules, retries, timeouts, its HTTP layers) and not the exchange itself, and whether
//! switching off the SDK's optional layers changes that. One thread on a single-threaded
//! runtime, as in the functions, the three in turns; CPU from that thread's own counter.
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
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::bench::{each_round, median};

const CALLS: usize = 2_000;
const ROUNDS: usize = 5;

/// CPU time this thread has used, in milliseconds (`/proc/thread-self/schedstat`, nanoseconds).
fn thread_cpu_ms() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let ns: f64 = stat
        .split_whitespace()
        .next()
        .context("schedstat is empty")?
        .parse()?;
    Ok(ns / 1e6)
}

/// CPU per GetItem of each way of sending it, in milliseconds, one figure per round.
pub struct Costs {
    pub sdk: Vec<f64>,
    pub lean: Vec<f64>,
    /// Signed with `aws-sigv4` and sent with hyper: the exchange without the SDK.
    pub bare: Vec<f64>,
}

impl Costs {
    /// The comparison as a Markdown table.
    pub fn table(&self) -> String {
        format!(
            "| one GetItem | CPU per call, median of {ROUNDS} rounds of {CALLS} | each round |\n\
             | --- | ---: | --- |\n\
             | through the SDK, as the functions build it | {:.3} ms | {} |\n\
             | the same without retries, timeouts, stalled-stream protection and endpoint rules | {:.3} ms | {} |\n\
             | signed with `aws-sigv4`, sent with hyper | {:.3} ms | {} |\n",
            median(&self.sdk),
            each_round(&self.sdk),
            median(&self.lean),
            each_round(&self.lean),
            median(&self.bare),
            each_round(&self.bare)
        )
    }
}

/// The three ways measured in turns, on a thread of its own.
pub fn measure(endpoint: &str) -> anyhow::Result<Costs> {
    let endpoint = endpoint.to_owned();
    let table = shared::config::TableNames::from_lookup(|name| std::env::var(name).ok()).users;
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(measure_on(&endpoint, &table))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the measuring thread panicked"))?
}

pub fn run() -> anyhow::Result<()> {
    let endpoint =
        std::env::var("DYNAMODB_ENDPOINT").context("run through scripts/with-dynamodb.sh")?;
    println!("{}", measure(&endpoint)?.table());
    Ok(())
}

async fn measure_on(endpoint: &str, table: &str) -> anyhow::Result<Costs> {
    let sdk = shared::state::dynamodb_client(Some(endpoint));
    // The knobs that come to mind first, all off at once: if they were the cost, this row would
    // show it.
    let lean = aws_sdk_dynamodb::Client::from_conf(
        shared::state::dynamodb_config(Some(endpoint))
            .retry_config(RetryConfig::disabled())
            .timeout_config(TimeoutConfig::disabled())
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .endpoint_resolver(Fixed(endpoint.to_owned()))
            .build(),
    );
    // Signed for the region the SDK client was built for (`state::sdk_config`).
    let region = sdk
        .config()
        .region()
        .map(ToString::to_string)
        .unwrap_or_default();
    let raw = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let credentials = Credentials::new(
        std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "local".into()),
        std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "local".into()),
        None,
        None,
        "environment",
    )
    .into();
    let body = Bytes::from(
        serde_json::json!({
            "TableName": table,
            "Key": {"id": {"S": "nobody"}},
            "ConsistentRead": true,
        })
        .to_string(),
    );
    let one_raw = || async {
        let params = v4::SigningParams::builder()
            .identity(&credentials)
            .region(&region)
            .name("dynamodb")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let headers = [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "DynamoDB_20120810.GetItem"),
        ];
        let signable = SignableRequest::new(
            "POST",
            endpoint,
            headers.into_iter(),
            SignableBody::Bytes(&body),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        let mut request = http::Request::post(endpoint);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut request = request.body(Full::new(body.clone()))?;
        instructions.apply_to_request_http1x(&mut request);
        let response = raw.request(request).await?;
        anyhow::ensure!(response.status().is_success(), "{}", response.status());
        let bytes = response.into_body().collect().await?.to_bytes();
        let _: serde_json::Value = serde_json::from_slice(&bytes)?;
        anyhow::Ok(())
    };
    let one_sdk = |client: &aws_sdk_dynamodb::Client| {
        let get = client
            .get_item()
            .table_name(table)
            .key("id", AttributeValue::S("nobody".into()))
            .consistent_read(true);
        async move {
            get.send().await?;
            anyhow::Ok(())
        }
    };
    // Each opens its connection before it is measured.
    one_raw().await?;
    one_sdk(&sdk).await?;
    one_sdk(&lean).await?;
    let mut ms: [Vec<f64>; 3] = Default::default();
    for _ in 0..ROUNDS {
        for (variant, ms) in ms.iter_mut().enumerate() {
            let start = thread_cpu_ms()?;
            for _ in 0..CALLS {
                match variant {
                    0 => one_sdk(&sdk).await?,
                    1 => one_sdk(&lean).await?,
                    _ => one_raw().await?,
                }
            }
            ms.push((thread_cpu_ms()? - start) / CALLS as f64);
        }
    }
    let [sdk, lean, bare] = ms;
    Ok(Costs { sdk, lean, bare })
}

/// One endpoint for every request, instead of the SDK's rules evaluated per request.
#[derive(Debug)]
struct Fixed(String);

impl ResolveEndpoint for Fixed {
    fn resolve_endpoint<'a>(&'a self, _: &'a Params) -> EndpointFuture<'a> {
        EndpointFuture::ready(Ok(Endpoint::builder().url(self.0.clone()).build()))
    }
}
