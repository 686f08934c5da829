//! The report's shape, checked against `bench/results.md` with figures made up for the test.
#![allow(clippy::unwrap_used)]
use std::time::Duration;

use super::*;
use crate::app::FIRST_ANSWER_ROUTES;
use crate::builds::{
    FIRST_LOGIN, PROFILE_GET, RETURNING_LOGIN, SEND_CODE, SEND_CODE_SNS, main_rows,
};
use crate::memory::Soak;
use crate::meter::Usage;
use crate::throttle::QuotaUse;

/// Headings, each table's header, and how many rows each table has.
fn structure(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = markdown.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let next_is_rule = lines.get(i + 1).is_some_and(|l| l.starts_with("| ---"));
        if line.starts_with('#') || next_is_rule {
            out.push((*line).to_owned());
        } else if line.starts_with("| ---") {
            let rows = lines[i + 1..]
                .iter()
                .take_while(|l| l.starts_with('|'))
                .count();
            out.push(format!("{rows} rows"));
        }
    }
    out
}

fn sample() -> Report {
    let rows: Vec<MainRow> = main_rows()
        .into_iter()
        .map(|(label, name)| MainRow {
            label,
            name,
            arm64_bytes: None,
            native_bytes: 1 << 20,
        })
        .collect();
    let ms = |v: f64| vec![v; 3];
    let mut inits: Inits = rows
        .iter()
        .map(|r| (r.name.to_owned(), (ms(1.0), ms(0.9))))
        .collect();
    inits.insert(PROFILE_KEYS_READ.to_owned(), (ms(2.0), ms(1.5)));
    let warm = rows
        .iter()
        .map(|r| {
            let w = Warm {
                warm_ms: ms(0.5),
                cpu_rounds: ms(0.2),
                cpu_per_request_ms: 0.2,
                peak_rss_kib: Some(8_000),
            };
            (r.name, w)
        })
        .collect();
    let soak = Soak {
        baseline_kib: 8_000,
        end_kib: 8_010,
        cpu_per_invocation_ms: 0.05,
    };
    let memory = ["floor", "send-code", "verify-code", "profile", "web"]
        .map(|label| MemoryRow { label, soak })
        .into();
    let first_answers = FIRST_ANSWER_ROUTES
        .iter()
        .map(|(label, function)| FirstAnswer {
            label,
            function,
            status: 200,
            wall_ms: ms(3.0),
            cpu_ms: ms(2.0),
            answer_cpu_ms: ms(1.0),
        })
        .collect();
    let throttled = |period: Option<u64>| {
        throttle::ROUTES.map(|(label, _)| throttle::Row {
            label,
            quota: period.map(|ms| QuotaUse {
                period: Duration::from_millis(ms),
                paused_times: 3,
                paused_ms: 40.0,
            }),
            first_ms: 30.0,
            first_cpu_ms: 2.0,
            warm_ms: 5.0,
            warm_cpu_ms: 0.4,
        })
    };
    let throttle = Throttle::Measured {
        memory_mb: 128.0,
        share: 128.0 / MB_PER_VCPU,
        rows: [None, Some(20), Some(100)]
            .into_iter()
            .flat_map(throttled)
            .collect(),
    };
    let labels = [
        SEND_CODE,
        FIRST_LOGIN,
        RETURNING_LOGIN,
        "verify-code, wrong code",
        PROFILE_GET,
        "activate invite code",
        "activate, already activated",
        "GET /v1/profile/referrals",
        "logout",
    ];
    let mut usage = Usage::default();
    usage.calls.insert("GetItem", 1);
    let usage: Vec<Metered> = labels.map(|l| (l.to_owned(), 200, usage.clone())).into();
    let sdk = sdk_cost::Costs {
        sdk: ms(0.13),
        lean: ms(0.13),
        bare: ms(0.06),
        blocking: ms(0.03),
        publish_sdk: ms(0.19),
        publish_blocking: ms(0.05),
    };
    let cpu: BTreeMap<&str, f64> = [SEND_CODE_SNS, "verify-code", RETURNING_LOGIN, "profile"]
        .map(|n| (n, 0.5))
        .into();
    let rounds = crate::dynamodb::rounds_of(&usage);
    let calls = crate::dynamodb::calls_of(&usage);
    let measured = crate::cost::Measured {
        cpu_per_request: &cpu,
        rounds: &rounds,
        calls: &calls,
        cheapest_floor: 0.06,
        single_threaded_floor: 0.1,
        sdk: &sdk,
    };
    let tls = tls_cost::Costs {
        first_tls: ["a", "b", "c", "d"].map(|n| (n.to_owned(), ms(0.9))).into(),
        first_plain: ms(0.3),
        warm_tls: ms(0.13),
        warm_plain: ms(0.14),
    };
    let load = ["GET /v1/profile", "login (send-code + verify-code)"].map(|l| {
        let figures = LoadFigures {
            requests: 100,
            concurrency: 8,
            per_second: 500.0,
            p50_ms: 10.0,
            p99_ms: 30.0,
            failures: 0,
        };
        (l, figures)
    });
    Report {
        arch: "x86_64",
        cores: 2,
        rows,
        inits,
        warm,
        memory,
        memory_invocations: 100_000,
        init_steps: InitSteps {
            steps: init_steps::STEPS.map(|s| (s, 1.0)).into(),
            util_ms: 0.5,
        },
        first_answers,
        throttle,
        logins: measured.logins().unwrap(),
        least: measured.least().unwrap(),
        usage,
        sdk,
        tls,
        load: Some(load.into()),
    }
}

/// `bench/results.md` is what this renderer wrote in the last full run: the same sections,
/// table headers and number of rows, so a section dropped or a row lost shows here.
#[test]
fn the_report_has_the_sections_tables_and_rows_of_bench_results() {
    let checked_in =
        std::fs::read_to_string(crate::measure::root().join("bench/results.md")).unwrap();
    let mut sample = sample();
    // A run without root or the cgroup `cpu` controller says so in place of that table.
    if checked_in.contains("Not measured in this run") {
        sample.throttle = Throttle::NotMeasured("no cgroup".into());
    }
    let rendered = report(&sample).unwrap();
    assert_eq!(structure(&rendered), structure(&checked_in));
}

#[test]
fn a_quota_that_could_not_be_set_says_why_instead_of_a_table() {
    let table = quota_table(&Throttle::NotMeasured("no cgroup".into()));
    assert!(table.starts_with("Not measured in this run: no cgroup."));
    assert!(!table.contains("| ---"));
}
