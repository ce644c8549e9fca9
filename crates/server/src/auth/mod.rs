//! Who a request comes from, for the front doors that s3s does not authenticate (OSS
//! API, saveas). What a key may touch is one rule, [`store::AccessKey::may`], which the
//! S3 door's access check applies too:
//!
//! - the root key may do everything;
//! - an extra key may use the buckets it was granted (read or read-write);
//! - anonymous callers get nothing here (public reads are the delivery door's job).

pub mod oss;
pub mod sigv4;

use store::{AccessKey, Permission, Store, StoreError};

#[derive(Debug, Clone)]
pub enum Caller {
    Root,
    Key(AccessKey),
}

impl Caller {
    pub fn access_key<'a>(&'a self, root: &'a str) -> &'a str {
        match self {
            Caller::Root => root,
            Caller::Key(k) => &k.access_key,
        }
    }

    pub fn may(&self, bucket: &str, need: Permission) -> bool {
        match self {
            Caller::Root => true,
            Caller::Key(k) => k.may(bucket, need),
        }
    }
}

#[derive(Clone)]
pub struct Callers {
    store: Store,
    root_access_key: String,
    root_secret_key: String,
}

impl Callers {
    pub fn new(store: Store, root_access_key: String, root_secret_key: String) -> Self {
        Callers {
            store,
            root_access_key,
            root_secret_key,
        }
    }

    /// The secret of an access key and who it belongs to; `None` for unknown or revoked
    /// keys. Looked up per request, so revocation applies at once.
    pub async fn lookup(&self, access_key: &str) -> Result<Option<(String, Caller)>, StoreError> {
        if access_key == self.root_access_key {
            return Ok(Some((self.root_secret_key.clone(), Caller::Root)));
        }
        Ok(self
            .store
            .active_access_key(access_key)
            .await?
            .map(|k| (k.secret_key.clone(), Caller::Key(k))))
    }
}
