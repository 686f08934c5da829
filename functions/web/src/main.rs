mod handler;

use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let site = handler::Site::new();
    let site = &site;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(site.handle(&req))
    }))
    .await
}
