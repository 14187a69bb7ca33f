//! `trailwatch-lambda`: wiring only. Config, AWS clients and compiled rules are built once
//! per cold start; the logic lives in the `trailwatch` library and `handler`.

use anyhow::{bail, Context};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;
use trailwatch::rules;
use trailwatch_lambda::claims::MemoryClaims;
use trailwatch_lambda::dynamo::DynamoClaims;
use trailwatch_lambda::handler::{handle, App};
use trailwatch_lambda::lists::Catalogue;
use trailwatch_lambda::publish::SnsPublisher;
use trailwatch_lambda::{aws, config::Config, now, Failure};

/// mimalloc, as the CLI: records and alerts are many small allocations.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let dir = match &config.rules_dir {
        None => rules::bundled(),
        Some(d) => {
            let dir = rules::read_dir(d).with_context(|| format!("RULES_DIR {}", d.display()))?;
            if let Some(p) = dir.problems.first() {
                bail!("RULES_DIR: {p}");
            }
            dir
        }
    };
    let clients = aws::clients().await;
    let rules = Catalogue::load(dir, config.lists.clone(), &clients.s3, now()).await?;
    let current = rules.rules(&clients.s3, now()).await;
    let mut config = config;
    // Lists change values, never the fields rules read: one decoding trie for good.
    config.limits.keep = Some(Arc::new(current.keep()));
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    let publisher = SnsPublisher {
        client: clients.sns.clone(),
        topic_arn: config.topic_arn.clone(),
    };
    tracing::info!(rules = current.rules().len(), state = ?config.state_table, "ready");
    macro_rules! serve {
        ($claims:expr) => {{
            let app = Arc::new(App {
                rules,
                config,
                s3: clients.s3,
                dynamodb: clients.dynamodb.clone(),
                claims: $claims,
                publisher,
                function,
            });
            lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| {
                let app = app.clone();
                async move {
                    handle(app, ev.payload, &ev.context.request_id, ev.context.deadline)
                        .await
                        .map_err(|f: Failure| f.diagnostic())
                }
            }))
            .await
            .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
        }};
    }
    match config.state_table.clone() {
        Some(table) => serve!(DynamoClaims {
            client: clients.dynamodb.clone(),
            table
        }),
        None => serve!(MemoryClaims::default()),
    }
}
