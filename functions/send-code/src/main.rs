use lambda_http::{Error, run, service_fn};
use shared::api::send_code;
use shared::state::AppState;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let state = AppState::from_env().await?;
    let state = &state;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(send_code::handle(state, req).await)
    }))
    .await
}
