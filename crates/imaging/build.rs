//! Links the system libheif (HEIC/HEIF input and grid AVIFs, `src/engine/heif.rs`), found
//! through pkg-config. 1.15 is the release the declarations in `heif.rs` were written
//! against and tested with (Debian 12's); later releases keep those calls and layouts.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if let Err(e) = pkg_config::Config::new()
        .atleast_version("1.15")
        .probe("libheif")
    {
        // A build script reports failure by panicking; say what to install.
        panic!(
            "imgd decodes HEIC through the system libheif 1.15 or later, which pkg-config \
             could not find ({e}). On Debian or Ubuntu: apt-get install libheif-dev \
             (scripts/install-build-deps.sh does it)."
        );
    }
}
