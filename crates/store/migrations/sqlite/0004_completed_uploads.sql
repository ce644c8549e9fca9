-- Completed multipart uploads, remembered for a while (COMPLETED_UPLOAD_RETENTION_MS in
-- multipart.rs) so that a client retrying CompleteMultipartUpload after a lost answer gets
-- the same answer again instead of NoSuchUpload. The part list is kept as a digest: a
-- retry must list the same parts. No blob is named here, so the pending_blobs rule is
-- untouched.
CREATE TABLE completed_uploads (
    upload_id     TEXT PRIMARY KEY,
    bucket        TEXT NOT NULL,
    key           TEXT NOT NULL,
    parts_digest  TEXT NOT NULL,
    etag          TEXT NOT NULL,
    size          BIGINT NOT NULL,
    checksums     TEXT NOT NULL,
    completed_ms  BIGINT NOT NULL
);
CREATE INDEX completed_uploads_by_time ON completed_uploads (completed_ms);
CREATE INDEX completed_uploads_by_bucket ON completed_uploads (bucket);
