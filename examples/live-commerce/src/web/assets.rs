//! The front end's files: embedded at build time (`build.rs` lists every
//! file under `web/`), or read from a folder while working on them.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Component, Path};

/// Every file under `web/`, by its path there (`views/sale.js`).
pub static EMBEDDED: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// One file to serve.
#[derive(Debug, Clone)]
pub struct Asset {
    /// Its bytes.
    pub body: Vec<u8>,
    /// Its `Content-Type`, from its extension.
    pub content_type: &'static str,
}

impl Asset {
    fn new(path: &str, body: Vec<u8>) -> Self {
        Self {
            body,
            content_type: content_type(path),
        }
    }

    /// A strong validator: a hash of the bytes, quoted.
    pub fn etag(&self) -> String {
        let mut hasher = DefaultHasher::new();
        self.body.hash(&mut hasher);
        format!("\"{:016x}\"", hasher.finish())
    }
}

/// The embedded file at `path`.
pub fn embedded(path: &str) -> Option<Asset> {
    EMBEDDED
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(name, body)| Asset::new(name, body.to_vec()))
}

/// The file at `path` under `dir`; `None` for a path that would leave the
/// folder (`..`, an absolute path) or names no file.
pub async fn from_dir(dir: &Path, path: &str) -> Option<Asset> {
    let relative = Path::new(path);
    let inside = relative
        .components()
        .all(|part| matches!(part, Component::Normal(_)));
    if !inside {
        return None;
    }
    let body = tokio::fs::read(dir.join(relative)).await.ok()?;
    Some(Asset::new(path, body))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_modules_are_embedded_with_their_types() {
        let page = embedded("index.html").expect("index.html is embedded");
        assert_eq!(page.content_type, "text/html; charset=utf-8");
        let script = embedded("app.js").expect("app.js is embedded");
        assert_eq!(script.content_type, "text/javascript; charset=utf-8");
        assert!(embedded("../Cargo.toml").is_none());
    }

    #[tokio::test]
    async fn a_folder_serves_nothing_outside_itself() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        assert!(from_dir(&dir, "index.html").await.is_some());
        for escape in ["../Cargo.toml", "/etc/passwd", "views/../../build.rs"] {
            assert!(from_dir(&dir, escape).await.is_none(), "{escape}");
        }
    }
}
