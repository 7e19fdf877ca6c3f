//! The files the GraphiQL page loads, compiled into the binary: the pinned production
//! builds in `assets/graphiql/vendor/` (see `assets/graphiql/fetch.sh`), ttpgraph's own
//! bootstrap script and style, and the playground operations as GraphiQL tabs. Each is
//! served under a path that holds its content hash, so browsers may cache it forever and
//! a new build can never be mixed with an old one.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

use super::playground;

/// One embedded file.
pub struct Asset {
    /// The file name, as the page template refers to it (`{{name}}`).
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// One embedded file with its content-addressed path.
pub struct Served {
    pub asset: Asset,
    /// `/graphiql/<hash>/<name>`.
    pub path: String,
    /// The quoted hash, for `ETag`/`If-None-Match`.
    pub etag: String,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

macro_rules! vendor {
    ($name:literal, $ct:expr) => {
        Asset {
            name: $name,
            content_type: $ct,
            bytes: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/graphiql/vendor/",
                $name
            )),
        }
    };
}

macro_rules! own {
    ($name:literal, $ct:expr) => {
        Asset {
            name: $name,
            content_type: $ct,
            bytes: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/graphiql/",
                $name
            )),
        }
    };
}

/// Every file the page may load, hashed once on first use.
pub static ASSETS: LazyLock<Vec<Served>> = LazyLock::new(|| {
    let files = vec![
        vendor!("react.production.min.js", JS),
        vendor!("react-dom.production.min.js", JS),
        vendor!("graphiql.min.js", JS),
        vendor!("graphiql.min.css", CSS),
        own!("app.js", JS),
        own!("app.css", CSS),
        Asset {
            name: "playground.json",
            content_type: "application/json",
            bytes: playground::TABS_JSON.as_bytes(),
        },
    ];
    files.into_iter().map(serve).collect()
});

fn serve(asset: Asset) -> Served {
    let digest = Sha256::digest(asset.bytes);
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Served {
        path: format!("/graphiql/{hash}/{}", asset.name),
        etag: format!("\"{hash}\""),
        asset,
    }
}

/// The asset served at `path`, if any.
pub fn find(path: &str) -> Option<&'static Served> {
    ASSETS.iter().find(|s| s.path == path)
}

/// The page with every `{{name}}` replaced by that asset's path.
pub static PAGE: LazyLock<String> = LazyLock::new(|| {
    let mut html = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/graphiql/index.html"
    ))
    .to_owned();
    for s in ASSETS.iter() {
        html = html.replace(&format!("{{{{{}}}}}", s.asset.name), &s.path);
    }
    html
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_refers_to_every_asset_and_nothing_unresolved() {
        for s in ASSETS.iter() {
            assert!(PAGE.contains(&s.path), "{} not on the page", s.asset.name);
            assert!(find(&s.path).is_some());
        }
        assert!(!PAGE.contains("{{"), "unresolved placeholder");
        assert!(!PAGE.contains("<script>"), "no inline script");
        assert!(!PAGE.contains("http"), "no absolute URL");
    }
}
