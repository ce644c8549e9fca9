use thiserror::Error;

/// Everything the store can refuse or fail at. Each variant maps to one S3 error code in
/// the server crate, so the variants follow S3's distinctions rather than the backend's.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("the bucket does not exist")]
    NoSuchBucket,
    #[error("the bucket already exists")]
    BucketExists,
    #[error("the bucket is not empty")]
    BucketNotEmpty,
    #[error("the key does not exist")]
    NoSuchKey,
    #[error("the multipart upload does not exist")]
    NoSuchUpload,
    #[error("an object already exists at this key")]
    AlreadyExists,
    #[error("the object's ETag does not match If-Match")]
    PreconditionFailed,
    #[error("the body ended after {got} of {expected} bytes")]
    IncompleteBody { expected: u64, got: u64 },
    #[error("the body is longer than its Content-Length of {expected} bytes")]
    BodyTooLong { expected: u64 },
    #[error("{0}")]
    BadDigest(String),
    #[error("{0}")]
    InvalidPart(String),
    #[error("parts must be listed in ascending order")]
    InvalidPartOrder,
    #[error("part {part} is {size} bytes; every part but the last must be at least {min} bytes")]
    EntityTooSmall { part: i32, size: u64, min: u64 },
    #[error("the append position is not the object's length, {length}")]
    PositionNotEqualToLength { length: u64 },
    #[error("the object was not written by appends, so it cannot be appended to")]
    ObjectNotAppendable,
    #[error("the object is not a symlink")]
    NotSymlink,
    #[error("the symlink's target does not exist")]
    SymlinkTargetNotExist,
    #[error("{0}")]
    InvalidTag(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("the object key is {0} bytes; the limit is 1024")]
    KeyTooLong(usize),
    #[error("reading the request body failed: {0}")]
    Body(String),
    #[error("metadata database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("blob storage: {0}")]
    Blob(#[from] opendal::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// The database or the blob store could not be reached (or is restarting): a client
    /// should retry shortly, and nothing it asked for was done.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Db(e) => db_unreachable(e),
            StoreError::Blob(e) => e.is_temporary() || e.kind() == opendal::ErrorKind::RateLimited,
            _ => false,
        }
    }
}

fn db_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        // PostgreSQL's connection exceptions (class 08) and its shutting-down or
        // starting-up refusals.
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c == "57P01" || c == "57P02" || c == "57P03"),
        _ => false,
    }
}
