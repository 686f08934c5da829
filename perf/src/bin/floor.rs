//! The floor `make bench` compares the functions with: a bare `lambda_http` function that answers
//! every event with a fixed body, built with the same release profile in the same run.
//!
//! By default it runs on the multi-threaded runtime of `#[tokio::main]`, as `lambda_http`'s own
//! examples do; with `FLOOR_SINGLE_THREAD` set, on the single-threaded one our functions use,
//! which costs less per request, so each function is also compared with a floor like itself.
use lambda_http::{Body, Error, Request, Response, run, service_fn};

fn main() -> Result<(), Error> {
    let mut runtime = if std::env::var_os("FLOOR_SINGLE_THREAD").is_some() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    runtime
        .enable_all()
        .build()?
        .block_on(run(service_fn(|_: Request| async {
            Ok::<_, Error>(Response::new(Body::from("hello")))
        })))
}
