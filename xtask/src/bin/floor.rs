//! The floor `make bench` compares the functions with: a bare `lambda_http` function that answers
//! every event with a fixed body, built with the same release profile in the same run.
use lambda_http::{Body, Error, Request, Response, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_: Request| async {
        Ok::<_, Error>(Response::new(Body::from("hello")))
    }))
    .await
}
