//! Owners of the directories in a tree such as /home/vmail (walkdir, no symlinks followed
//! below the root), bounded by depth and by the number of entries examined.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One directory below the root and its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DirOwner {
    pub path: PathBuf,
    /// 1 = directly below the root.
    pub depth: usize,
    pub uid: u32,
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// A path that could not be examined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Unreadable {
    pub path: PathBuf,
    pub message: String,
    #[serde(default)]
    pub needs_root: bool,
}

/// The directories of a tree, down to a depth.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DirTree {
    pub dirs: Vec<DirOwner>,
    #[serde(default)]
    pub unreadable: Vec<Unreadable>,
    /// Entries (of any type) looked at.
    pub examined: usize,
    /// The walk stopped at the entry limit.
    #[serde(default)]
    pub truncated: bool,
}

/// Walks `root` (following it if it is a symlink, nothing below it) down to `max_depth`,
/// recording every directory's owner; stops after `max_entries` entries.
pub fn dir_owners(root: &Path, max_depth: usize, max_entries: usize) -> DirTree {
    let mut tree = DirTree::default();
    let mut users: HashMap<u32, Option<String>> = HashMap::new();
    let mut groups: HashMap<u32, Option<String>> = HashMap::new();
    let walk = walkdir::WalkDir::new(root)
        .min_depth(1)
        .max_depth(max_depth)
        .follow_links(false)
        .sort_by_file_name();
    for entry in walk {
        if tree.examined >= max_entries {
            tree.truncated = true;
            break;
        }
        tree.examined += 1;
        let e = match entry {
            Ok(e) => e,
            Err(err) => {
                let path = err.path().unwrap_or(root).to_path_buf();
                let needs_root = err
                    .io_error()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied);
                let message = if needs_root {
                    format!("needs root to read {}", path.display())
                } else {
                    format!("cannot read {}: {err}", path.display())
                };
                if tree.unreadable.len() < 1000 {
                    tree.unreadable.push(Unreadable {
                        path,
                        message,
                        needs_root,
                    });
                }
                continue;
            }
        };
        if !e.file_type().is_dir() {
            continue;
        }
        match e.metadata() {
            Ok(md) => {
                let (uid, gid) = (md.uid(), md.gid());
                let owner = users
                    .entry(uid)
                    .or_insert_with(|| super::file::user_name(uid))
                    .clone();
                let group = groups
                    .entry(gid)
                    .or_insert_with(|| super::file::group_name(gid))
                    .clone();
                tree.dirs.push(DirOwner {
                    path: e.path().to_path_buf(),
                    depth: e.depth(),
                    uid,
                    gid,
                    owner,
                    group,
                });
            }
            Err(err) => tree.unreadable.push(Unreadable {
                path: e.path().to_path_buf(),
                message: format!("cannot stat {}: {err}", e.path().display()),
                needs_root: false,
            }),
        }
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_depth_and_cap() {
        let dir = std::env::temp_dir().join(format!("mailcheck-tree-{}", std::process::id()));
        for d in ["a.test/u1/cur", "a.test/u1/new/deep", "b.test/u2/tmp"] {
            std::fs::create_dir_all(dir.join(d)).expect("mkdir");
        }
        std::fs::write(dir.join("a.test/u1/file"), "x").expect("write");
        let t = dir_owners(&dir, 3, 100);
        let paths: Vec<String> = t
            .dirs
            .iter()
            .map(|d| {
                d.path
                    .strip_prefix(&dir)
                    .expect("below")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            paths,
            [
                "a.test",
                "a.test/u1",
                "a.test/u1/cur",
                "a.test/u1/new",
                "b.test",
                "b.test/u2",
                "b.test/u2/tmp"
            ]
        );
        assert_eq!(t.examined, 8);
        assert!(!t.truncated);
        let t = dir_owners(&dir, 3, 3);
        assert!(t.truncated);
        assert_eq!(t.examined, 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
