//! Where a recorded source path points on this machine.

use std::path::{Path, PathBuf};

/// Resolves recorded paths: `--remap FROM=TO` prefixes first (the first that matches wins),
/// then relative paths against the store file's directory.
#[derive(Debug, Clone, Default)]
pub struct PathMap {
    base_dir: PathBuf,
    remaps: Vec<(PathBuf, PathBuf)>,
}

impl PathMap {
    pub fn new(base_dir: impl Into<PathBuf>, remaps: Vec<(PathBuf, PathBuf)>) -> PathMap {
        PathMap {
            base_dir: base_dir.into(),
            remaps,
        }
    }

    pub fn resolve(&self, recorded: &str) -> PathBuf {
        self.resolve_os(recorded.as_ref())
    }

    /// [`PathMap::resolve`] for a recorded path that is bytes, not necessarily UTF-8.
    pub fn resolve_os(&self, recorded: &std::ffi::OsStr) -> PathBuf {
        let recorded = Path::new(recorded);
        // Path::strip_prefix matches whole components: /srv/app does not remap /srv/apple. A
        // remap of the whole path leaves nothing to join (joining "" would add a slash, and
        // "file/" is no file).
        let remapped = self
            .remaps
            .iter()
            .find_map(|(from, to)| {
                recorded
                    .strip_prefix(from)
                    .ok()
                    .map(|rest| match rest.as_os_str().is_empty() {
                        true => to.clone(),
                        false => to.join(rest),
                    })
            })
            .unwrap_or_else(|| recorded.to_path_buf());
        if remapped.is_absolute() {
            remapped
        } else {
            self.base_dir.join(remapped)
        }
    }
}

/// Parses a `FROM=TO` remap argument.
pub fn parse_remap(arg: &str) -> Result<(PathBuf, PathBuf), String> {
    match arg.split_once('=') {
        Some((from, to)) if !from.is_empty() && !to.is_empty() => Ok((from.into(), to.into())),
        _ => Err(format!("expected FROM=TO, got {arg:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_store_directory() {
        let m = PathMap::new("/data/stores", vec![]);
        assert_eq!(
            m.resolve("app/mod.py"),
            PathBuf::from("/data/stores/app/mod.py")
        );
        assert_eq!(m.resolve("/abs/mod.py"), PathBuf::from("/abs/mod.py"));
    }

    #[test]
    fn remaps_rewrite_whole_component_prefixes() {
        let m = PathMap::new("/base", vec![parse_remap("/srv/app=/home/me/app").unwrap()]);
        assert_eq!(
            m.resolve("/srv/app/x.py"),
            PathBuf::from("/home/me/app/x.py")
        );
        assert_eq!(
            m.resolve("/srv/apple/x.py"),
            PathBuf::from("/srv/apple/x.py")
        );
        // The whole recorded path remapped names the file itself.
        let m = PathMap::new(
            "/base",
            vec![parse_remap("/srv/app/x.py=/home/x.py").unwrap()],
        );
        assert_eq!(m.resolve("/srv/app/x.py").as_os_str(), "/home/x.py");
        assert!(parse_remap("nope").is_err());
        assert!(parse_remap("=x").is_err());
    }
}
