//! A bounded loopback load on the whole local stack (`cargo lambda watch` and DynamoDB Local):
//! a fixed number of requests from this process, so a run cannot flood anything.
use std::sync::Arc;
use std::time::Instant;

use shared::testing::HttpApi;

use crate::measure::{percentile, sorted_ms};

/// One row of the load table: requests per second and latency over a bounded number of requests.
pub struct LoadFigures {
    pub requests: usize,
    pub concurrency: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub failures: usize,
}

/// Runs `requests` calls of `one` with `concurrency` in flight, over loopback only.
async fn load<F, Fut>(requests: usize, concurrency: usize, one: F) -> LoadFigures
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let one = Arc::new(one);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (one, next) = (Arc::clone(&one), Arc::clone(&next));
            tokio::spawn(async move {
                let mut seen = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= requests {
                        return seen;
                    }
                    let t = Instant::now();
                    let ok = one(i).await;
                    seen.push((t.elapsed(), ok));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap_or_default());
    }
    let elapsed = started.elapsed();
    let failures = all.iter().filter(|(_, ok)| !ok).count();
    // Rates and latencies count the requests that succeeded; failures are reported apart.
    let ms = sorted_ms(
        &all.iter()
            .filter(|(_, ok)| *ok)
            .map(|(d, _)| *d)
            .collect::<Vec<_>>(),
    );
    LoadFigures {
        requests,
        concurrency,
        per_second: (requests - failures) as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&ms, 50.0),
        p99_ms: percentile(&ms, 99.0),
        failures,
    }
}

async fn warm_up(api: &HttpApi, token: &str) {
    let profiles = (0..16).map(|_| api.send("GET", "/v1/profile", Some(token), None));
    futures::future::join_all(profiles).await;
    let logins = (0..16).map(|_| api.new_user_token());
    futures::future::join_all(logins).await;
}

pub async fn load_stack(api: &str) -> anyhow::Result<Vec<(&'static str, LoadFigures)>> {
    let api = HttpApi::new(api);
    let token = api
        .new_user_token()
        .await
        .map_err(|e| anyhow::anyhow!("logging in to the stack: {e}"))?;
    // Start every instance first: `cargo lambda watch` starts a function's process on its first
    // call, and that start-up does not belong in the figures.
    warm_up(&api, &token).await;
    let profile = {
        let (api, token) = (api.clone(), token.clone());
        load(2_000, 8, move |_| {
            let (api, token) = (api.clone(), token.clone());
            async move {
                let answer = api.send("GET", "/v1/profile", Some(&token), None).await;
                answer.is_ok_and(|(status, _)| status == 200)
            }
        })
        .await
    };
    let logins = {
        let api = api.clone();
        load(300, 8, move |_| {
            let api = api.clone();
            async move { api.new_user_token().await.is_ok() }
        })
        .await
    };
    Ok(vec![
        ("GET /v1/profile", profile),
        ("login (send-code + verify-code)", logins),
    ])
}
