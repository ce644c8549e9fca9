//! Root credentials: from the configuration, or generated once and kept in the data dir.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RootCredentials {
    pub access_key: String,
    pub secret_key: String,
}

pub const FILE_NAME: &str = "credentials.toml";

/// Returns the configured credentials, else those stored in `data_dir`, else new ones
/// (stored with mode 0600). The flag says whether they were just generated.
pub fn resolve(
    configured: Option<(String, String)>,
    data_dir: &Path,
) -> Result<(RootCredentials, bool)> {
    if let Some((access_key, secret_key)) = configured {
        return Ok((
            RootCredentials {
                access_key,
                secret_key,
            },
            false,
        ));
    }
    let path = data_dir.join(FILE_NAME);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let creds: RootCredentials =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        return Ok((creds, false));
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let creds = RootCredentials {
        access_key: store::keys::new_access_key_id(),
        secret_key: store::keys::new_secret_key(),
    };
    let text = toml::to_string(&creds)?;
    let tmp = data_dir.join(format!("{FILE_NAME}.tmp"));
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    std::fs::File::open(data_dir)?.sync_all()?;
    Ok((creds, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let (a, fresh) = resolve(None, dir.path()).unwrap();
        assert!(fresh);
        let (b, fresh_again) = resolve(None, dir.path()).unwrap();
        assert!(!fresh_again);
        assert_eq!(a.access_key, b.access_key);
        assert_eq!(a.secret_key, b.secret_key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn configured_credentials_win() {
        let dir = tempfile::tempdir().unwrap();
        let (c, fresh) = resolve(Some(("AK".into(), "SK".into())), dir.path()).unwrap();
        assert_eq!(c.access_key, "AK");
        assert!(!fresh);
        assert!(!dir.path().join(FILE_NAME).exists());
    }
}
