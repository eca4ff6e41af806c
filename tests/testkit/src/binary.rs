//! Finding server binaries, with the install command in the error.

use std::path::{Path, PathBuf};

use crate::error::{Result, TestkitError};

/// Looks `name` up on `PATH` (and in `/usr/sbin`, `/usr/lib/…` style fixed
/// places given in `extra_dirs`); a name containing `/` is taken as a path.
pub fn find(name: &str, install: &str, extra_dirs: &[&str]) -> Result<PathBuf> {
    let missing = || TestkitError::MissingBinary {
        binary: name.to_string(),
        install: install.to_string(),
    };
    if name.contains('/') {
        let path = PathBuf::from(name);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(missing())
        };
    }
    let path_dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_dirs)
        .chain(extra_dirs.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(missing)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
