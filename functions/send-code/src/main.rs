use lambda_http::{Error, run, service_fn};
use shared::api::send_code;
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
    // The SNS client, if SMS go through SNS: built during init, and only in this function.
    state.sms.prepare();
    // The CAPTCHA provider's HTTPS client and the system's root certificates, if there is one.
    state.captcha.prepare();
    let state = &state;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(send_code::handle(state, req).await)
    }))
    .await
}
