-- PostgreSQL twin of ../sqlite/0006_object_kinds_tags.sql: the same tables, with every text column compared
-- bytewise (COLLATE "C", SQLite's BINARY) and every integer 64-bit.
-- What OSS calls an object's type, and object tags.
-- kind: 'normal' (PUT, copy, multipart), 'appendable' (written by AppendObject, the only
-- kind another append may extend) or 'symlink' (its bytes and headers are those of
-- symlink_target, a key in the same bucket; its own blob is empty).
-- tags: a JSON object of tag keys to values. An upload's tags become the object's.
ALTER TABLE objects ADD COLUMN kind TEXT COLLATE "C" NOT NULL DEFAULT 'normal';
ALTER TABLE objects ADD COLUMN symlink_target TEXT COLLATE "C";
ALTER TABLE objects ADD COLUMN tags TEXT COLLATE "C" NOT NULL DEFAULT '{}';
ALTER TABLE uploads ADD COLUMN tags TEXT COLLATE "C" NOT NULL DEFAULT '{}';
