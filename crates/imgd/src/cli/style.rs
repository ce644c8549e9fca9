//! `imgd style ...`: a bucket's named processing styles.

use super::args::StyleCommand;
use super::open_store;
use crate::config::Config;
use anyhow::{Context, Result};

pub(super) async fn style(cfg: Config, cmd: StyleCommand) -> Result<()> {
    let store = open_store(&cfg, false).await?;
    match cmd {
        StyleCommand::Put {
            bucket,
            name,
            process,
        } => {
            // Checked here as well as when a request names the style, so a typo is
            // reported to whoever made it rather than to a client later.
            crate::config::check_style_process(&process)
                .with_context(|| format!("style {name}"))?;
            store
                .put_style(&bucket, &name, &process)
                .await
                .with_context(|| format!("saving style {name} of bucket {bucket}"))?;
            println!("style {name} of bucket {bucket} = {process}");
        }
        StyleCommand::List { bucket } => {
            for s in store.list_styles(&bucket).await? {
                println!("{}\t{}", s.name, s.process);
            }
        }
        StyleCommand::Delete { bucket, name } => {
            store
                .delete_style(&bucket, &name)
                .await
                .with_context(|| format!("deleting style {name} of bucket {bucket}"))?;
            println!("deleted style {name} of bucket {bucket}");
        }
    }
    Ok(())
}
