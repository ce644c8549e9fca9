//! Admin endpoints of the Cloudflare door: images accounts and their API tokens (the
//! same operations as `imgd cf account` and `imgd cf token`).

use super::{Endpoint, api_error, parse_json};
use crate::kernel::ApiError;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use store::Store;
use store::cloudflare::CfAccount;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    bucket: String,
    account_id: Option<String>,
    account_hash: Option<String>,
    #[serde(default)]
    flexible_variants: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    #[serde(default)]
    name: String,
}

fn account_json(a: &CfAccount) -> Value {
    json!({
        "account_id": a.account_id,
        "account_hash": a.account_hash,
        "bucket": a.bucket,
        "flexible_variants": a.flexible_variants,
    })
}

async fn account(store: &Store, id: &str) -> Result<CfAccount, ApiError> {
    store.cf_account(id).await?.ok_or_else(|| {
        api_error(
            StatusCode::NOT_FOUND,
            "NoSuchAccount",
            format!("no images account {id}"),
        )
    })
}

pub(super) async fn serve(
    store: &Store,
    endpoint: Endpoint,
    body: &[u8],
) -> Result<(StatusCode, Value), ApiError> {
    match endpoint {
        Endpoint::CfListAccounts => {
            let list: Vec<Value> = store
                .cf_accounts()
                .await?
                .iter()
                .map(account_json)
                .collect();
            Ok((StatusCode::OK, json!({"accounts": list})))
        }
        Endpoint::CfCreateAccount => {
            let doc: NewAccount = parse_json(body)?;
            if let Some(problem) = store::bucket_name_problem(&doc.bucket) {
                return Err(api_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidBucketName",
                    problem,
                ));
            }
            match store
                .create_bucket(&doc.bucket, store::BucketAcl::Private)
                .await
            {
                Ok(()) | Err(store::StoreError::BucketExists) => {}
                Err(e) => return Err(e.into()),
            }
            let a = store
                .cf_create_account(
                    doc.account_id.as_deref(),
                    doc.account_hash.as_deref(),
                    &doc.bucket,
                    doc.flexible_variants,
                )
                .await?;
            Ok((StatusCode::CREATED, account_json(&a)))
        }
        Endpoint::CfListTokens(id) => {
            let a = account(store, &id).await?;
            let list: Vec<Value> = store
                .cf_tokens(Some(&a.account_id))
                .await?
                .iter()
                .map(|t| json!({"id": t.id, "name": t.name, "created_ms": t.created_ms}))
                .collect();
            Ok((StatusCode::OK, json!({"tokens": list})))
        }
        Endpoint::CfCreateToken(id) => {
            let a = account(store, &id).await?;
            let doc: NewToken = if body.iter().all(u8::is_ascii_whitespace) {
                NewToken::default()
            } else {
                parse_json(body)?
            };
            let (t, secret) = store.cf_create_token(&a.account_id, &doc.name).await?;
            Ok((
                StatusCode::CREATED,
                json!({"id": t.id, "name": t.name, "token": secret, "created_ms": t.created_ms}),
            ))
        }
        Endpoint::CfRevokeToken(id, token_id) => {
            let a = account(store, &id).await?;
            let owned = store
                .cf_tokens(Some(&a.account_id))
                .await?
                .iter()
                .any(|t| t.id == token_id);
            if !owned {
                return Err(api_error(
                    StatusCode::NOT_FOUND,
                    "NoSuchToken",
                    format!("account {id} has no token {token_id}"),
                ));
            }
            store.cf_revoke_token(&token_id).await?;
            Ok((StatusCode::OK, json!({"revoked": token_id})))
        }
        _ => Err(api_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "no such admin endpoint",
        )),
    }
}
