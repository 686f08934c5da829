use lambda_http::{Error, run, service_fn};
use shared::api::openapi::Settings;
use shared::api::web::Site;

// One event at a time: a single-threaded runtime starts no worker threads and never hands a
// request from one thread to another.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let captcha = shared::config::captcha_from_env()?;
    let site = Site::new(Settings {
        otp_digits: shared::config::otp_digits_from_env()?,
        demo_mode: shared::config::expose_codes_from_env()?,
        captcha: captcha.provider,
    })
    .with_captcha_site_key(captcha.site_key.as_deref())
    .with_edge(shared::config::edge_from_env()?);
    let site = &site;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(site.handle(&req))
    }))
    .await
}
