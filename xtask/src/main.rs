//! Developer tasks for the local stack. `xtask create-tables` creates in DynamoDB Local (at
//! `DYNAMODB_ENDPOINT`) every table `template.yaml` defines, so table definitions live once.
mod tables;
#[cfg(test)]
mod template;

use anyhow::{Context, bail};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["create-tables"] => {
            let endpoint = std::env::var("DYNAMODB_ENDPOINT")
                .context("DYNAMODB_ENDPOINT must point at DynamoDB Local")?;
            let template = std::fs::read_to_string(tables::template_path())
                .context("reading template.yaml")?;
            let defs = tables::from_template(&template)?;
            let names = shared::config::TableNames::from_lookup(|k| std::env::var(k).ok());
            let client = tables::local_client(&endpoint).await;
            for created in tables::create_all(&client, &defs, &names).await? {
                println!("{created}");
            }
            Ok(())
        }
        _ => bail!("usage: xtask create-tables"),
    }
}
