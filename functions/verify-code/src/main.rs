use lambda_http::{Error, run, service_fn, tracing};
use shared::api::verify_code;
use shared::state::AppState;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let state = AppState::from_env().await?;
    let state = &state;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(verify_code::handle(state, req).await)
    }))
    .await
}
