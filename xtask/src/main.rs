//! Developer chores for the local stack and the templates (the measuring tools are in `perf/`):
//! - `xtask create-tables` creates in DynamoDB Local (at `DYNAMODB_ENDPOINT`) every table
//!   `template.yaml` defines, so table definitions live once;
//! - `xtask event-token PHONE` prints an access token for that phone's user (created as a first
//!   login would), for invoking the authenticated events in `events/`;
//! - `xtask routes` writes, from `shared::routes::ROUTES`, the local router in the root Cargo.toml
//!   and the events in `events/` (see `routes.rs`; a test fails when they are stale);
//! - `xtask backfill-pairs` writes the pair claims of activations made before activations wrote
//!   them, in the tables the environment names (`Store::backfill_pair_claims`; docs/data-model.md);
//! - `xtask check-metrics LOG` checks the metric lines in a local stack's output (see `emf.rs`);
//! - `xtask import-tables USERS UNIQUES DIR` writes the files a CloudFormation resource import
//!   needs to adopt the tables a deleted stack kept (see `import.rs` and docs/deploy.md);
//! - `xtask page PROVIDER SITE_KEY` prints, as JSON, the page `web` serves with that CAPTCHA
//!   widget and its Content-Security-Policy, for the browser test of the widget (the local stack
//!   runs without a CAPTCHA); `xtask openapi PROVIDER` the OpenAPI document `web` serves then,
//!   for the contract tests' linters.
mod emf;
mod import;
#[cfg(test)]
mod operations;
mod routes;
#[cfg(test)]
mod stack;
mod tables;
#[cfg(test)]
mod template;

use anyhow::{Context, bail};

/// A file at the repository's root, for the tests that check the template, samconfig and docs.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
fn root_file(name: &str) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    // words[0] is the program itself.
    match words.get(1..).unwrap_or_default() {
        ["create-tables"] => {
            let endpoint = std::env::var("DYNAMODB_ENDPOINT")
                .context("DYNAMODB_ENDPOINT must point at DynamoDB Local")?;
            let template = std::fs::read_to_string(tables::template_path())
                .context("reading template.yaml")?;
            let defs = tables::from_template(&template)?;
            let names = shared::config::TableNames::from_lookup(|k| std::env::var(k).ok());
            let client = tables::local_client(&endpoint);
            for created in tables::create_all(&client, &defs, &names).await? {
                println!("{created}");
            }
            Ok(())
        }
        ["event-token", phone] => {
            let state = shared::state::AppState::from_env().await?;
            let phone = shared::domain::PhoneNumber::parse(phone, state.config.default_region)
                .map_err(|_| anyhow::anyhow!("{phone:?} is not a valid phone number"))?;
            let (user, _) = shared::usecases::login::find_or_create_user(&state, &phone)
                .await
                .map_err(|e| anyhow::anyhow!("finding or creating the user: {e}"))?;
            println!(
                "{}",
                state
                    .tokens
                    .issue(&user.id, user.token_version, state.clock.now_s())
            );
            Ok(())
        }
        ["routes"] => {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .context("xtask's parent directory")?
                .to_owned();
            let written = routes::write(&root)?;
            if written.is_empty() {
                println!("the router in Cargo.toml and events/ are up to date");
            }
            for path in written {
                println!("{path}");
            }
            Ok(())
        }
        ["backfill-pairs"] => {
            // The tables the environment names, on AWS unless DYNAMODB_ENDPOINT is set; nothing
            // else of the functions' settings is needed.
            let tables = shared::config::TableNames::from_lookup(|k| std::env::var(k).ok());
            let endpoint = std::env::var("DYNAMODB_ENDPOINT")
                .ok()
                .filter(|v| !v.trim().is_empty());
            let client = shared::state::dynamodb_client(endpoint.as_deref());
            let (seen, written) = shared::store::Store::new(client, tables)
                .backfill_pair_claims()
                .await
                .map_err(|e| anyhow::anyhow!("backfilling pair claims: {e}"))?;
            println!("{seen} activations, {written} pair claims written");
            Ok(())
        }
        ["check-metrics", log] => {
            let text = std::fs::read_to_string(log).with_context(|| format!("reading {log}"))?;
            for (name, count) in emf::check(&text)? {
                println!("{name}: {count} lines");
            }
            Ok(())
        }
        ["import-tables", users, uniques, dir] => {
            let template = std::fs::read_to_string(tables::template_path())
                .context("reading template.yaml")?;
            let (import_template, to_import) = import::import_files(&template, users, uniques)?;
            let dir = std::path::Path::new(dir);
            std::fs::create_dir_all(dir)?;
            for (name, json) in [
                ("template.json", import_template),
                ("resources.json", to_import),
            ] {
                let path = dir.join(name);
                std::fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("{}", path.display());
            }
            Ok(())
        }
        ["openapi", provider] => {
            println!(
                "{}",
                shared::api::openapi::document(shared::api::openapi::Settings {
                    otp_digits: 4,
                    demo_mode: true,
                    captcha: captcha_provider(provider)?,
                })
            );
            Ok(())
        }
        ["page", provider, site_key] => {
            let site = shared::api::web::Site::new(shared::api::openapi::Settings {
                otp_digits: 4,
                demo_mode: true,
                captcha: captcha_provider(provider)?,
            })
            .with_captcha_site_key(Some(site_key));
            let event = shared::testing::event("GET", "/", &[], None);
            let request = lambda_http::request::from_str(&event).context("the page's event")?;
            let page = site.handle(&request);
            let csp = page
                .headers()
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let html = String::from_utf8_lossy(page.body().as_ref());
            println!("{}", serde_json::json!({ "csp": csp, "html": html }));
            Ok(())
        }
        _ => bail!(
            "usage: xtask create-tables | xtask event-token PHONE | xtask routes | xtask backfill-pairs | \
             xtask check-metrics LOG | xtask import-tables USERS_TABLE UNIQUES_TABLE DIR | \
             xtask page turnstile|hcaptcha SITE_KEY | xtask openapi none|turnstile|hcaptcha"
        ),
    }
}

fn captcha_provider(name: &str) -> anyhow::Result<shared::config::CaptchaProvider> {
    use shared::config::CaptchaProvider as P;
    Ok(match name {
        "none" => P::None,
        "turnstile" => P::Turnstile,
        "hcaptcha" => P::Hcaptcha,
        other => bail!("{other}: none, turnstile or hcaptcha"),
    })
}
