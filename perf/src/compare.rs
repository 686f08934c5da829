//! `perf compare FUNCTION BINARY...`: init, init + first answer and warm CPU per request of
//! several builds of one function (another allocator, another `opt-level`, ...), and init and warm
//! CPU of the floors, measured in turns in one run.
//! The machine's noise between runs is about ±30%, larger than most changes worth trying, so
//! a change is judged only against a baseline measured beside it.
use std::path::PathBuf;

use anyhow::Context;

use crate::app::{Bench, FIRST_ANSWER_ROUTES};
use crate::builds::{FLOORS, WARM_RUNS, binary_of, function_env};
use crate::cold::{Inits, cold_starts};
use crate::first_answer::first_answer;
use crate::measure::{each_round, median};
use crate::warm::run_binary;

const ROUNDS: usize = 5;
const FIRST_ANSWERS_PER_ROUND: usize = 4;

pub async fn run(function: &str, binaries: &[&str]) -> anyhow::Result<()> {
    let endpoint =
        std::env::var("DYNAMODB_ENDPOINT").context("run through scripts/with-dynamodb.sh")?;
    let bench = Bench::new(endpoint).await?;
    let floors = FLOORS.map(|(name, _)| name);
    let mut builds = Vec::new();
    for floor in floors {
        builds.push((floor.to_owned(), binary_of(floor)?.0));
    }
    builds.extend(binaries.iter().map(|b| ((*b).to_owned(), PathBuf::from(b))));
    // What a build runs as: a floor as itself, any other build as the function (or bench name,
    // such as `send-code-sns`) being compared.
    let runs_as = |name: &str| -> String {
        if floors.contains(&name) {
            name.to_owned()
        } else {
            function.to_owned()
        }
    };
    let env_of = |name: &str| function_env(&bench.endpoint, "", &runs_as(name));
    let inits = cold_starts(
        &builds
            .iter()
            .map(|(name, binary)| (name.as_str(), binary.clone(), env_of(name)))
            .collect::<Vec<_>>(),
    )?;
    // The function's first route, as `make bench` takes it; the floors have none.
    let route = FIRST_ANSWER_ROUTES
        .iter()
        .find(|(_, f)| *f == function)
        .map(|(label, _)| *label);
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); builds.len()];
    let mut first: Vec<Vec<f64>> = vec![Vec::new(); builds.len()];
    let mut answer: Vec<Vec<f64>> = vec![Vec::new(); builds.len()];
    for round in 1..=ROUNDS {
        for (i, (name, binary)) in builds.iter().enumerate() {
            if let (Some(route), false) = (route, floors.contains(&name.as_str())) {
                for _ in 0..FIRST_ANSWERS_PER_ROUND {
                    let cold = first_answer(&bench, binary, function, route).await?;
                    // An error answer takes another path; its time would not be the route's.
                    anyhow::ensure!(
                        (200..300).contains(&cold.status),
                        "{name}: {route} answered {}",
                        cold.status
                    );
                    first[i].push(cold.cpu_ms);
                    answer[i].push(cold.answer_cpu_ms);
                }
            }
            let events = bench.warm_events(&runs_as(name)).await?;
            let runs = run_binary(binary, &env_of(name), events)?;
            eprintln!(
                "round {round}: {name}: {:.3} ms CPU per request",
                runs.cpu_per_request_ms
            );
            cpu[i].push(runs.cpu_per_request_ms);
        }
    }
    print_table(route, &builds, &inits, [&first, &answer, &cpu]);
    Ok(())
}

/// The comparison as a Markdown table: each build's init, its first answers (`figures[0]`, of
/// which the answer's own: `figures[1]`) and its warm CPU per request in each round
/// (`figures[2]`).
fn print_table(
    route: Option<&str>,
    builds: &[(String, PathBuf)],
    inits: &Inits,
    [first, answer, cpu]: [&[Vec<f64>]; 3],
) {
    println!(
        "| build | init wall / CPU, medians | init + first answer ({}), CPU, median of {} | of which the first answer | CPU per request, median of {ROUNDS} rounds of {WARM_RUNS} | each round |",
        route.unwrap_or("none"),
        ROUNDS * FIRST_ANSWERS_PER_ROUND
    );
    println!("| --- | ---: | ---: | ---: | ---: | --- |");
    let cell = |values: &[f64]| {
        if values.is_empty() {
            "n/a".to_owned()
        } else {
            format!("{:.2} ms", median(values))
        }
    };
    for (i, (name, _)) in builds.iter().enumerate() {
        let (wall, init_cpu) = &inits[name];
        println!(
            "| {name} | {:.2} / {:.2} ms | {} | {} | {:.3} ms | {} |",
            median(wall),
            median(init_cpu),
            cell(&first[i]),
            cell(&answer[i]),
            median(&cpu[i]),
            each_round(&cpu[i])
        );
    }
}
