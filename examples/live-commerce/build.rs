//! Embeds the web front end: lists every file under `web/` into
//! `$OUT_DIR/web_assets.rs` as `(path, bytes)` pairs, so a file added to
//! the folder is served without touching the code (see `src/web/assets.rs`).

use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let root = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("web");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let mut table = String::from("&[\n");
    for file in &files {
        let name = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        table.push_str(&format!(
            "    ({name:?}, include_bytes!({path:?}).as_slice()),\n",
            path = file.display().to_string()
        ));
    }
    table.push(']');
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("web_assets.rs");
    fs::write(out, table).unwrap();
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // Dotfiles and editor leftovers (`.app.js.swp`, `app.js~`) are not the site.
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}
