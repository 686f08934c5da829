//! What the measured figures come to: a login's billed time and price at 128 and 256 MB, and the
//! least any implementation could pay per request (floor 0, the cheapest GetItem and Publish)
//! beside the least with `lambda_http` and the SDK and what the functions measured.
use std::collections::BTreeMap;

use anyhow::Context;

use crate::builds::{
    FIRST_LOGIN, MB_PER_VCPU, PROFILE_GET, RETURNING_LOGIN, SEND_CODE, SEND_CODE_SNS,
};
use crate::measure::median;
use crate::sdk_cost;

/// Lambda arm64 price per GB-second (us-east-1, first tier).
pub const PRICE_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// What one DynamoDB round trip inside a region takes, for the cost estimate.
pub const ROUND_TRIP_MS: f64 = 4.0;
/// The SNS requests of one send-code with SMS through SNS: its Publish, which every 200 of that
/// row waited on (a Publish that fails answers 503, and the benchmark stops).
pub const PUBLISHES_PER_SEND: u32 = 1;
// Issue #13's targets for warm CPU per request.
const PROFILE_TARGET_MS: f64 = 0.25;
const LOGIN_TARGET_MS: f64 = 0.5;

/// The figures the costs are made of.
pub struct Measured<'a> {
    /// Warm CPU per request of each bench name (the median round).
    pub cpu_per_request: &'a BTreeMap<&'a str, f64>,
    /// Round trips to DynamoDB and DynamoDB requests of each metered request, by label.
    pub rounds: &'a BTreeMap<String, f64>,
    pub calls: &'a BTreeMap<String, u32>,
    /// Warm CPU per request of the cheapest floor of the run, and of floor 1.
    pub cheapest_floor: f64,
    pub single_threaded_floor: f64,
    pub sdk: &'a sdk_cost::Costs,
}

/// One row of the login cost table.
pub struct LoginCost {
    pub login: &'static str,
    pub cpu_ms: f64,
    pub round_trips: f64,
    pub memory_mb: f64,
    pub share: f64,
    pub billed_ms: f64,
    pub usd_per_million: f64,
}

/// One row of the least-possible table.
pub struct Least {
    pub label: &'static str,
    pub invocations: u32,
    pub requests: u32,
    pub sms: u32,
    pub least_ms: f64,
    pub with_libraries_ms: f64,
    pub measured_ms: f64,
    pub target_ms: f64,
}

impl Measured<'_> {
    fn cpu(&self, name: &str) -> anyhow::Result<f64> {
        self.cpu_per_request
            .get(name)
            .copied()
            .with_context(|| format!("no warm CPU measured for {name}"))
    }

    fn rounds(&self, label: &str) -> f64 {
        self.rounds.get(label).copied().unwrap_or(f64::NAN)
    }

    fn requests(&self, labels: &[&str]) -> anyhow::Result<u32> {
        labels
            .iter()
            .map(|l| {
                self.calls
                    .get(*l)
                    .copied()
                    .with_context(|| format!("no DynamoDB calls counted for {l}"))
            })
            .sum()
    }

    /// A login as production runs it: send-code publishing the SMS through SNS, and verify-code
    /// as a first login or a returning user's, at 128 and 256 MB.
    pub fn logins(&self) -> anyhow::Result<Vec<LoginCost>> {
        let send_cpu = self.cpu(SEND_CODE_SNS)?;
        let send_rounds = self.rounds(SEND_CODE) + f64::from(PUBLISHES_PER_SEND);
        let mut rows = Vec::new();
        // Which login, the bench name of its verify-code, the label of its DynamoDB usage.
        for (login, verify, usage) in [
            ("first", "verify-code", FIRST_LOGIN),
            ("returning user", RETURNING_LOGIN, RETURNING_LOGIN),
        ] {
            let verify_cpu = self.cpu(verify)?;
            let verify_rounds = self.rounds(usage);
            for memory_mb in [128.0, 256.0] {
                let share = memory_mb / MB_PER_VCPU;
                // Each of the two invocations is billed in whole milliseconds.
                let per_function =
                    |cpu: f64, rounds: f64| (cpu / share + rounds * ROUND_TRIP_MS).ceil();
                let billed_ms =
                    per_function(send_cpu, send_rounds) + per_function(verify_cpu, verify_rounds);
                rows.push(LoginCost {
                    login,
                    cpu_ms: send_cpu + verify_cpu,
                    round_trips: send_rounds + verify_rounds,
                    memory_mb,
                    share,
                    billed_ms,
                    usd_per_million: billed_ms / 1_000.0 * memory_mb / 1_024.0
                        * PRICE_PER_GB_SECOND
                        * 1e6,
                });
            }
        }
        Ok(rows)
    }

    /// The least any implementation pays for each request, beside what the functions paid.
    pub fn least(&self) -> anyhow::Result<Vec<Least>> {
        let least = Unit {
            invocation: self.cheapest_floor,
            request: median(&self.sdk.bare).min(median(&self.sdk.blocking)),
            sms: median(&self.sdk.publish_blocking),
        };
        let with_libraries = Unit {
            invocation: self.single_threaded_floor,
            request: median(&self.sdk.sdk),
            sms: median(&self.sdk.publish_sdk),
        };
        let send_cpu = self.cpu(SEND_CODE_SNS)?;
        let rows = [
            (
                "GET /v1/profile",
                1,
                self.requests(&[PROFILE_GET])?,
                0,
                self.cpu("profile")?,
                PROFILE_TARGET_MS,
            ),
            (
                "login: send-code + verify-code (a first login, as measured above)",
                2,
                self.requests(&[SEND_CODE, FIRST_LOGIN])?,
                PUBLISHES_PER_SEND,
                send_cpu + self.cpu("verify-code")?,
                LOGIN_TARGET_MS,
            ),
            (
                "login: send-code + verify-code (a returning user)",
                2,
                self.requests(&[SEND_CODE, RETURNING_LOGIN])?,
                PUBLISHES_PER_SEND,
                send_cpu + self.cpu(RETURNING_LOGIN)?,
                LOGIN_TARGET_MS,
            ),
        ];
        Ok(rows
            .into_iter()
            .map(
                |(label, invocations, requests, sms, measured_ms, target_ms)| Least {
                    label,
                    invocations,
                    requests,
                    sms,
                    least_ms: least.of(invocations, requests, sms),
                    with_libraries_ms: with_libraries.of(invocations, requests, sms),
                    measured_ms,
                    target_ms,
                },
            )
            .collect())
    }
}

/// What one invocation, one DynamoDB request and one SMS cost, in CPU milliseconds.
struct Unit {
    invocation: f64,
    request: f64,
    sms: f64,
}

impl Unit {
    /// The cost of a request made of that many of each.
    fn of(&self, invocations: u32, requests: u32, sms: u32) -> f64 {
        f64::from(invocations) * self.invocation
            + f64::from(requests) * self.request
            + f64::from(sms) * self.sms
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_request_costs_its_invocations_requests_and_sms_each_at_its_unit() {
        let unit = Unit {
            invocation: 0.1,
            request: 0.01,
            sms: 0.001,
        };
        assert!((unit.of(2, 5, 1) - 0.251).abs() < 1e-12);
        assert!((unit.of(1, 2, 0) - 0.12).abs() < 1e-12);
    }

    #[test]
    fn a_login_is_billed_per_function_in_whole_milliseconds_with_its_round_trips() {
        let cpu = BTreeMap::from([
            (SEND_CODE_SNS, 0.5),
            ("verify-code", 0.7),
            (RETURNING_LOGIN, 0.6),
            ("profile", 0.2),
        ]);
        let rounds = BTreeMap::from([
            (SEND_CODE.to_owned(), 2.0),
            (FIRST_LOGIN.to_owned(), 3.0),
            (RETURNING_LOGIN.to_owned(), 2.0),
        ]);
        let one = |ms: f64| vec![ms; 3];
        let sdk = sdk_cost::Costs {
            sdk: one(0.1),
            lean: one(0.09),
            bare: one(0.05),
            blocking: one(0.04),
            publish_sdk: one(0.2),
            publish_blocking: one(0.06),
        };
        let calls = BTreeMap::from([
            (PROFILE_GET.to_owned(), 2),
            (SEND_CODE.to_owned(), 3),
            (FIRST_LOGIN.to_owned(), 4),
            (RETURNING_LOGIN.to_owned(), 3),
        ]);
        let measured = Measured {
            cpu_per_request: &cpu,
            rounds: &rounds,
            calls: &calls,
            cheapest_floor: 0.01,
            single_threaded_floor: 0.03,
            sdk: &sdk,
        };
        let logins = measured.logins().unwrap();
        assert_eq!(logins.len(), 4);
        let first = &logins[0];
        assert_eq!((first.login, first.memory_mb), ("first", 128.0));
        // send-code: 0.5 ms CPU at 128/1769 of a vCPU plus 3 round trips (2 + the Publish);
        // verify-code: 0.7 ms plus 3 round trips; each rounded up on its own.
        let share = 128.0 / MB_PER_VCPU;
        let billed = (0.5 / share + 12.0).ceil() + (0.7 / share + 12.0).ceil();
        assert_eq!(first.billed_ms, billed);
        assert_eq!(first.round_trips, 6.0);
        assert!((first.cpu_ms - 1.2).abs() < 1e-12);
        let least = measured.least().unwrap();
        // The profile GET: one invocation at the cheapest floor and two GetItems without the SDK.
        assert!((least[0].least_ms - (0.01 + 2.0 * 0.04)).abs() < 1e-12);
        assert!((least[0].with_libraries_ms - (0.03 + 2.0 * 0.1)).abs() < 1e-12);
        assert_eq!(least[1].requests, 7);
        assert_eq!(least[2].measured_ms, 0.5 + 0.6);
    }
}
