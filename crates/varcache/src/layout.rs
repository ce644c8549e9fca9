//! Where things live under the cache directory. Only `v/` and `tmp/` are ever cleaned,
//! so a misconfigured directory loses nothing but what this crate wrote.
//!
//! ```text
//! <dir>/lock                 held (flock) by the open cache
//! <dir>/index.sqlite         the index (+ -wal, -shm)
//! <dir>/tmp/<id>.tmp         puts in progress; wiped at open
//! <dir>/v/<id & 0xff>/<id>   bodies, exactly the variant's bytes; ids are 16 hex digits
//! ```
//!
//! Ids are never reused while a file of that id may exist, so a file is immutable from
//! rename to unlink and a reader that opened it sees it whole.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub lock: PathBuf,
    pub index: PathBuf,
    variants: PathBuf,
    tmp: PathBuf,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        Layout {
            lock: dir.join("lock"),
            index: dir.join("index.sqlite"),
            variants: dir.join("v"),
            tmp: dir.join("tmp"),
        }
    }

    pub fn file(&self, id: u64) -> PathBuf {
        self.variants
            .join(format!("{:02x}", id & 0xff))
            .join(format!("{id:016x}"))
    }

    pub fn temp(&self, id: u64) -> PathBuf {
        self.tmp.join(format!("{id:016x}.tmp"))
    }

    /// Creates the directories, drops every temp file (a put that never renamed its
    /// file never indexed it either) and anything in `v/` that is not a body file, and
    /// returns the body files found with their sizes. Blocking.
    pub fn prepare_and_scan(&self) -> io::Result<HashMap<u64, u64>> {
        std::fs::create_dir_all(&self.variants)?;
        if self.tmp.exists() {
            std::fs::remove_dir_all(&self.tmp)?;
        }
        std::fs::create_dir_all(&self.tmp)?;
        let mut found = HashMap::new();
        for fan in std::fs::read_dir(&self.variants)? {
            let fan = fan?;
            let fan_name = fan.file_name();
            let fan_id = fan_name
                .to_str()
                .filter(|n| n.len() == 2)
                .and_then(|n| u8::from_str_radix(n, 16).ok());
            let (Some(fan_id), true) = (fan_id, fan.file_type()?.is_dir()) else {
                remove_any(&fan.path())?;
                continue;
            };
            for file in std::fs::read_dir(fan.path())? {
                let file = file?;
                let name = file.file_name();
                let id = name
                    .to_str()
                    .filter(|n| n.len() == 16)
                    .and_then(|n| u64::from_str_radix(n, 16).ok())
                    .filter(|id| (id & 0xff) as u8 == fan_id);
                let meta = file.metadata()?;
                match id {
                    Some(id) if meta.is_file() => {
                        found.insert(id, meta.len());
                    }
                    _ => remove_any(&file.path())?,
                }
            }
        }
        for fan in 0..=0xffu64 {
            std::fs::create_dir_all(self.variants.join(format!("{fan:02x}")))?;
        }
        Ok(found)
    }

    /// Deletes the body files of `ids`; missing ones are fine. Blocking. Failures are
    /// logged: a leftover file is an orphan the next open removes.
    pub fn remove_files(&self, ids: &[u64]) {
        for &id in ids {
            let path = self.file(id);
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), error = %e, "variant cache: cannot delete file");
            }
        }
    }
}

fn remove_any(path: &Path) -> io::Result<()> {
    // symlink_metadata: a link is removed, never followed.
    if std::fs::symlink_metadata(path)?.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}
