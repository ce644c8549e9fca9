//! The command-line syntax: every clap type, in one place, so the whole tree (which the
//! README and the integration tests pin) reads top to bottom. Behaviour lives in one
//! module per command family.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "imgd",
    version,
    about = "A self-hosted image service with an S3-compatible API"
)]
pub(super) struct Cli {
    /// TOML configuration file. Every key can also be set as an IMGD_* variable
    /// (`imgd config keys` lists them); other IMGD_* names are refused.
    #[arg(long, global = true, env = "IMGD_CONFIG")]
    pub(super) config: Option<PathBuf>,
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand)]
pub(super) enum Command {
    /// Run the server.
    Serve,
    /// Manage buckets.
    #[command(subcommand)]
    Bucket(BucketCommand),
    /// Manage extra access keys, each limited to chosen buckets.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage a bucket's named processing styles (`?x-oss-process=style/<name>`).
    #[command(subcommand)]
    Style(StyleCommand),
    /// Manage link-signing secrets (account-wide or per bucket).
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Cloudflare Images accounts, API tokens and signing keys.
    #[command(subcommand)]
    Cf(CfCommand),
    /// Print a signed link: `imgd sign --scheme cloudflare --secret S URL`.
    Sign(crate::sign::SignArgs),
    /// Run the image engine on a file: `imgd process in.jpg out.webp --ops 'image/resize,w_300'`.
    ///
    /// The output's extension (jpg, jpeg, png, webp, avif, gif, bmp, tif, tiff) chooses its
    /// format when the ops name none, and must agree with `format,` when they do; any other
    /// extension needs `format,`. `info` and `average-hue` write JSON (not to an image
    /// extension).
    Process {
        /// The source image.
        input: PathBuf,
        /// Where the result is written; its extension names the format.
        output: PathBuf,
        /// An x-oss-process value (`image/...`).
        #[arg(long)]
        ops: String,
    },
    /// The running server's cache of rendered variants (through the admin API).
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Print the root access key (and secret with --secret).
    Credentials {
        #[arg(long)]
        secret: bool,
    },
    /// The configuration's keys.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand)]
pub(super) enum ConfigCommand {
    /// Print every configuration key and its variable, `<key>\t<IMGD_VARIABLE>`, sorted
    /// (no variable: `[[buckets]]` and `[[secrets]]` fields, set in the file only).
    Keys,
}

#[derive(Subcommand)]
pub(super) enum BucketCommand {
    /// Create a bucket (private unless --public).
    Create {
        name: String,
        /// Allow anonymous GET/HEAD of its objects.
        #[arg(long)]
        public: bool,
    },
    /// List buckets with their access.
    List,
    /// Delete an empty bucket.
    Delete { name: String },
    /// Make a bucket public-read (or private again with --private).
    SetPublic {
        name: String,
        #[arg(long)]
        private: bool,
    },
    /// Set who may read without S3/OSS credentials, and how responses are cached.
    Policy(PolicyArgs),
    /// Set the separators that make `key<sep>style` apply a style (`!`, `@!`, `-`, `_`,
    /// `/`); none turns the feature off.
    StyleDelimiters {
        name: String,
        delimiters: Vec<String>,
    },
    /// Set where misses go (back-to-source): an HTTP base URL or an S3-compatible bucket.
    Origin(OriginArgs),
}

#[derive(Args)]
pub(super) struct OriginArgs {
    pub(super) name: String,
    /// `GET <url>/<key>` on a miss.
    #[arg(long, conflicts_with_all = ["s3_endpoint", "none"])]
    pub(super) http: Option<String>,
    /// An S3-compatible endpoint (with --s3-bucket and credentials).
    #[arg(long, requires_all = ["s3_bucket", "s3_access_key", "s3_secret_key"], conflicts_with = "none")]
    pub(super) s3_endpoint: Option<String>,
    #[arg(long)]
    pub(super) s3_bucket: Option<String>,
    #[arg(long, default_value = "us-east-1")]
    pub(super) s3_region: String,
    #[arg(long)]
    pub(super) s3_access_key: Option<String>,
    #[arg(long, env = "IMGD_ORIGIN_S3_SECRET_KEY", hide_env_values = true)]
    pub(super) s3_secret_key: Option<String>,
    /// Prepended to keys at the origin.
    #[arg(long, default_value = "")]
    pub(super) s3_prefix: String,
    /// How long an origin 404 is remembered, in seconds (default 60).
    #[arg(long)]
    pub(super) miss_ttl: Option<u32>,
    /// Remove the origin: misses are 404 again.
    #[arg(long)]
    pub(super) none: bool,
}

// Each list flag sets the whole list (the one rule of `store::PolicyPatch`): repeat it to
// give several values; leave it out to keep the stored list. (A plain comment: clap would
// put a doc comment here into `imgd bucket policy --help`.)
#[derive(Args)]
pub(super) struct PolicyArgs {
    pub(super) name: String,
    /// `private` (S3/OSS-authenticated only), `public`, or `signed`.
    #[arg(long)]
    pub(super) delivery: Option<String>,
    /// Link schemes a `signed` bucket accepts: cloudflare, ixmage (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub(super) schemes: Option<Vec<String>>,
    /// Referer host allowed to embed (`example.com`, `*.example.com`); repeatable. The
    /// hosts given replace the bucket's list.
    #[arg(long = "referer")]
    pub(super) referers: Vec<String>,
    /// Remove every referer restriction.
    #[arg(long)]
    pub(super) clear_referers: bool,
    /// Cache-Control max-age of public responses, in seconds.
    #[arg(long)]
    pub(super) ttl: Option<u32>,
    /// A style served without a signature even when the bucket needs one; repeatable. The
    /// styles given replace the bucket's list.
    #[arg(long = "public-style")]
    pub(super) public_styles: Vec<String>,
    /// Remove every always-public style.
    #[arg(long)]
    pub(super) clear_public_styles: bool,
}

#[derive(Subcommand)]
pub(super) enum KeyCommand {
    /// Create an access key limited to the given buckets.
    Create(KeyCreate),
    /// List access keys (secrets are not shown).
    List,
    /// Revoke an access key; its signatures fail from the next request on.
    Revoke { access_key: String },
}

#[derive(Args)]
pub(super) struct KeyCreate {
    /// BUCKET:PERMISSION, where PERMISSION is read or read-write. Repeatable.
    #[arg(long = "bucket", required = true, value_name = "BUCKET:PERMISSION")]
    pub(super) grants: Vec<String>,
    #[arg(long, default_value = "")]
    pub(super) description: String,
}

#[derive(Subcommand)]
pub(super) enum StyleCommand {
    /// Create or replace a style: `imgd style put photos thumb 'image/resize,w_200'`.
    Put {
        bucket: String,
        name: String,
        process: String,
    },
    /// List a bucket's styles.
    List { bucket: String },
    /// Delete a style.
    Delete { bucket: String, name: String },
}

#[derive(Subcommand)]
pub(super) enum SecretCommand {
    /// Create a secret (prints it once). Without --bucket it is an account secret that
    /// signs links to every bucket.
    Create {
        #[arg(long)]
        bucket: Option<String>,
        /// Use this value instead of a random one (to keep existing links working).
        #[arg(long)]
        value: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List secrets (values are not shown).
    List {
        #[arg(long)]
        bucket: Option<String>,
    },
    /// Revoke a secret; links it signed fail from the next request on.
    Revoke { id: String },
}

#[derive(Subcommand)]
pub(super) enum CfCommand {
    /// Images accounts (id, delivery hash, bucket).
    #[command(subcommand)]
    Account(CfAccountCommand),
    /// Bearer tokens of the Images API.
    #[command(subcommand)]
    Token(CfTokenCommand),
    /// Keys that sign delivery URLs (`exp`/`sig`).
    #[command(subcommand)]
    Key(CfKeyCommand),
}

#[derive(Subcommand)]
pub(super) enum CfAccountCommand {
    /// List accounts: `<account_id> <account_hash> <bucket>` per line.
    List,
    /// Create an account over a bucket (created if missing); prints its line.
    Create {
        #[arg(long)]
        bucket: String,
        /// 32 lower-case hex characters; default: random.
        #[arg(long)]
        id: Option<String>,
        /// The delivery hash; default: random.
        #[arg(long)]
        hash: Option<String>,
    },
}

#[derive(Subcommand)]
pub(super) enum CfTokenCommand {
    /// Create an API token and print it (shown only this once; stored hashed).
    Create {
        /// The account; may be left out when there is exactly one.
        #[arg(long)]
        account: Option<String>,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List tokens: `<token_id> <name> <created>` per line (tokens are not shown).
    List {
        #[arg(long)]
        account: Option<String>,
    },
    /// Revoke a token; requests with it fail from the next one on.
    Revoke { id: String },
}

#[derive(Subcommand)]
pub(super) enum CfKeyCommand {
    /// Create (or replace) a signing key and print its value.
    Create {
        name: String,
        #[arg(long)]
        account: Option<String>,
    },
    /// List keys: `<name> <value>` per line.
    List {
        #[arg(long)]
        account: Option<String>,
    },
    /// Delete a key; links it signed fail from the next request on. Deleting the last
    /// key makes a new `default` one.
    Delete {
        name: String,
        #[arg(long)]
        account: Option<String>,
    },
}

#[derive(Subcommand)]
pub(super) enum CacheCommand {
    /// Drop cached variants: everything, a bucket's, one object's, or a prefix's.
    Purge {
        #[arg(long)]
        bucket: Option<String>,
        #[arg(long, requires = "bucket", conflicts_with = "prefix")]
        key: Option<String>,
        #[arg(long, requires = "bucket")]
        prefix: Option<String>,
        /// The server's base URL (default: http://<listen>).
        #[arg(long)]
        server: Option<String>,
    },
    /// Entries, bytes, hits and misses.
    Stats {
        #[arg(long)]
        server: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use crate::config::env;
    use clap::{CommandFactory, Parser};

    /// Every `env = "IMGD_..."` of the command line is one of the variables the
    /// configuration loader lets through; otherwise setting it would stop imgd.
    #[test]
    fn cli_variables_are_allowed_by_the_loader() {
        let mut todo = vec![Cli::command()];
        let mut seen = Vec::new();
        while let Some(cmd) = todo.pop() {
            for arg in cmd.get_arguments() {
                if let Some(var) = arg.get_env().and_then(|v| v.to_str()) {
                    seen.push(var.to_owned());
                }
            }
            todo.extend(cmd.get_subcommands().cloned());
        }
        assert!(seen.iter().any(|v| v == "IMGD_CONFIG"), "{seen:?}");
        for var in &seen {
            assert!(
                env::NON_CONFIG_VARS.iter().any(|(v, _)| v == var),
                "{var} is read by the CLI but refused by the configuration loader"
            );
        }
        // And the list has nothing the CLI and logging no longer read.
        for (var, _) in env::NON_CONFIG_VARS {
            assert!(
                var == env::LOG_VAR || seen.iter().any(|v| v == var),
                "{var} is allowed but nothing reads it"
            );
        }
    }

    /// clap's own consistency checks (conflicting names, bad `requires`), which otherwise
    /// only fire when the offending command is parsed.
    #[test]
    fn the_tree_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn repeated_list_flags_collect_in_order() {
        let cli = Cli::try_parse_from([
            "imgd",
            "bucket",
            "policy",
            "b",
            "--referer",
            "a.test",
            "--referer",
            "b.test",
        ])
        .unwrap();
        let super::Command::Bucket(super::BucketCommand::Policy(p)) = cli.command else {
            panic!("not bucket policy");
        };
        assert_eq!(p.referers, ["a.test", "b.test"]);
        assert!(p.public_styles.is_empty() && !p.clear_referers);
    }
}
