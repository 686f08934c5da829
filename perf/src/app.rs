//! The functions' handlers in this process, on the bench's own DynamoDB client (metered): they
//! make the users, codes and tokens the measured requests need, and each route's event.
use std::collections::BTreeMap;

use anyhow::{Context, bail};
use lambda_http::Body;
use serde_json::{Value, json};
use shared::api::openapi::Settings;
use shared::api::web::Site;
use shared::config::Config;
use shared::state::{AppState, dynamodb_config};
use shared::testing::{dispatch, random_phone};

use crate::builds::{
    FLOORS, RETURNING_LOGIN, SEND_CODE_SNS, WARM_RUNS, build_of, event, floor_events, function_env,
    send_event, verify_event,
};
use crate::meter::{Meter, Usage};

const SEND_CODE_SNS_ROUTE: &str = "POST /v1/auth/send-code, SMS through SNS";

/// The routes whose first answer after a cold start is measured, each with its function's bench
/// name.
pub const FIRST_ANSWER_ROUTES: [(&str, &str); 11] = [
    ("POST /v1/auth/send-code", "send-code"),
    (SEND_CODE_SNS_ROUTE, SEND_CODE_SNS),
    (
        "POST /v1/auth/send-code, invalid phone (no DynamoDB call)",
        "send-code",
    ),
    ("POST /v1/auth/verify-code, first login", "verify-code"),
    ("GET /v1/profile", "profile"),
    ("POST /v1/profile/invite-code", "profile"),
    ("GET /v1/profile/referrals", "profile"),
    ("POST /v1/auth/logout", "profile"),
    ("GET /", "web"),
    ("GET /docs", "web"),
    ("GET /openapi.json", "web"),
];

/// A request's label, its status and what DynamoDB did for it.
pub type Metered = (String, u16, Usage);

pub struct Bench {
    pub endpoint: String,
    state: AppState,
    site: Site,
    meter: Meter,
}

impl Bench {
    pub async fn new(endpoint: String) -> anyhow::Result<Self> {
        let env: BTreeMap<String, String> =
            function_env(&endpoint, "", "bench").into_iter().collect();
        let config = Config::from_lookup(|k| env.get(k).cloned())?;
        let meter = Meter::default();
        let site = Site::new(Settings {
            otp_digits: config.otp.digits,
            demo_mode: true,
            captcha: config.captcha.provider,
        });
        let client = aws_sdk_dynamodb::Client::from_conf(
            dynamodb_config(Some(&endpoint))
                .interceptor(meter.clone())
                .build(),
        );
        Ok(Self {
            endpoint,
            state: AppState::load(config, client).await?,
            site,
            meter,
        })
    }

    async fn call(&self, event: &str) -> anyhow::Result<(u16, Value)> {
        let resp = dispatch(&self.state, &self.site, event).await;
        let body = match resp.body() {
            Body::Empty => Value::Null,
            b => serde_json::from_slice(b.as_ref()).unwrap_or(Value::Null),
        };
        Ok((resp.status().as_u16(), body))
    }

    pub async fn code_for(&self, phone: &str) -> anyhow::Result<String> {
        let (status, body) = self.call(&send_event(phone)).await?;
        if status != 200 {
            bail!("send-code answered {status}: {body}");
        }
        Ok(body["code"].as_str().context("demo code")?.to_owned())
    }

    /// `n` returning users' logins: each phone has logged in once and has a new code pending.
    async fn returning_logins(&self, n: usize) -> anyhow::Result<Vec<String>> {
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            let (phone, _, _) = self.user().await?;
            let code = self.code_for(&phone).await?;
            events.push(verify_event(&phone, &code));
        }
        Ok(events)
    }

    /// A fresh user: (phone, token, invite code).
    pub async fn user(&self) -> anyhow::Result<(String, String, String)> {
        let phone = random_phone();
        let code = self.code_for(&phone).await?;
        let (_, body) = self.call(&verify_event(&phone, &code)).await?;
        Ok((
            phone,
            body["access_token"].as_str().context("token")?.to_owned(),
            body["profile"]["invite_code"]
                .as_str()
                .context("invite code")?
                .to_owned(),
        ))
    }

    /// Runs one request and reports what DynamoDB did for it.
    pub async fn metered(
        &self,
        label: &str,
        event: String,
        out: &mut Vec<Metered>,
    ) -> anyhow::Result<()> {
        self.meter.take();
        let (status, _) = self.call(&event).await?;
        out.push((label.to_owned(), status, self.meter.take()));
        Ok(())
    }

    /// One warm round's events for a row of the main table (a bench name): a first request, left
    /// out of the figures, then `WARM_RUNS` more.
    pub async fn warm_events(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let n = WARM_RUNS + 1;
        if FLOORS.iter().any(|(floor, _)| *floor == name) {
            Ok(floor_events())
        } else if name == RETURNING_LOGIN {
            self.returning_logins(n).await
        } else {
            self.main_requests(build_of(name), n).await
        }
    }

    /// The main request of each function, prepared `n` times (each needs its own phone or code).
    pub async fn main_requests(&self, function: &str, n: usize) -> anyhow::Result<Vec<String>> {
        let mut events = Vec::with_capacity(n);
        match function {
            "send-code" => {
                for _ in 0..n {
                    events.push(send_event(&random_phone()));
                }
            }
            "verify-code" => {
                for _ in 0..n {
                    let phone = random_phone();
                    let code = self.code_for(&phone).await?;
                    events.push(verify_event(&phone, &code));
                }
            }
            "profile" => {
                let (_, token, _) = self.user().await?;
                for _ in 0..n {
                    events.push(event("GET", "/v1/profile", Some(&token), None));
                }
            }
            _ => {
                for _ in 0..n {
                    events.push(event("GET", "/openapi.json", None, None));
                }
            }
        }
        Ok(events)
    }

    pub async fn first_answer_event(&self, label: &str) -> anyhow::Result<String> {
        Ok(match label {
            "POST /v1/auth/send-code" | SEND_CODE_SNS_ROUTE => send_event(&random_phone()),
            "POST /v1/auth/send-code, invalid phone (no DynamoDB call)" => send_event("+7 000"),
            "POST /v1/auth/verify-code, first login" => {
                let phone = random_phone();
                let code = self.code_for(&phone).await?;
                verify_event(&phone, &code)
            }
            "GET /v1/profile" => event("GET", "/v1/profile", Some(&self.user().await?.1), None),
            "POST /v1/profile/invite-code" => {
                let (_, token, _) = self.user().await?;
                let (_, _, friend) = self.user().await?;
                let body = json!({ "invite_code": friend });
                event("POST", "/v1/profile/invite-code", Some(&token), Some(body))
            }
            "GET /v1/profile/referrals" => {
                let token = self.user().await?.1;
                event("GET", "/v1/profile/referrals", Some(&token), None)
            }
            "POST /v1/auth/logout" => {
                event("POST", "/v1/auth/logout", Some(&self.user().await?.1), None)
            }
            path => event("GET", path.trim_start_matches("GET "), None, None),
        })
    }
}
