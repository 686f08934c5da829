use lambda_http::{Error, run, service_fn};
use shared::api::verify_code;
use shared::domain::PhoneNumber;
use shared::state::AppState;

// One event at a time: a single-threaded runtime starts no worker threads and never hands a
// request from one thread to another.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let state = AppState::from_env().await?;
    // The phone rules of the default region, built in init rather than by the first request.
    PhoneNumber::prepare(state.config.default_region);
    let state = &state;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(verify_code::handle(state, req).await)
    }))
    .await
}
