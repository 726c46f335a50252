//! File access as a given process would get it, walked the way the kernel resolves a path
//! (path_resolution(7), credentials(7)): search permission on every directory, symlinks followed
//! inside the process's root, and the first component that refuses, with the reason.
//!
//! mailcheck runs as root, so its own successful open proves nothing about what `postfix`
//! (chrooted in the queue directory) or `vmail` can do.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::file::FileKind;
use super::procfs::ProcInfo;

/// Linux follows at most 40 symlinks in one lookup (MAXSYMLINKS), then fails with ELOOP.
pub const MAX_SYMLINKS: usize = 40;
/// Most components handled in one walk (a bound on top of the symlink count).
const MAX_STEPS: usize = 16_384;
/// Longest /etc/passwd or /etc/group read.
const MAX_DB_BYTES: u64 = 16 * 1024 * 1024;

/// Why an identity could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("no user {name:?} in {}", .passwd.display())]
    UnknownUser { name: String, passwd: PathBuf },
    #[error("cannot read {}: {message}", .path.display())]
    Read { path: PathBuf, message: String },
}

/// A group id and, when known, its name.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct GroupRef {
    pub gid: u32,
    #[serde(default)]
    pub name: Option<String>,
}

/// Where an [`Identity`] came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum IdentitySource {
    /// Numeric ids given by the caller (e.g. `virtual_uid_maps = static:5000`).
    Ids,
    /// A user looked up in passwd(5) and group(5), as initgroups(3) would set it up.
    Databases { passwd: PathBuf, group: PathBuf },
    /// The credentials of a running process (/proc/PID/status: fsuid, fsgid, Groups).
    Process { pid: u32 },
}

/// The credentials the kernel checks file access with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Identity {
    #[serde(default)]
    pub user: Option<String>,
    pub uid: u32,
    pub gid: u32,
    #[serde(default)]
    pub group: Option<String>,
    /// Supplementary groups (may repeat the primary one, as the kernel's list does).
    #[serde(default)]
    pub groups: Vec<GroupRef>,
    pub source: IdentitySource,
}

/// One line of passwd(5): the fields access checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// One line of group(5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// The entries of a passwd(5) text; malformed lines and NIS `+`/`-` lines are skipped.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.splitn(7, ':').collect();
            if f.len() < 4 || f[0].is_empty() || f[0].starts_with(['+', '-', '#']) {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].trim().parse().ok()?,
                gid: f[3].trim().parse().ok()?,
            })
        })
        .collect()
}

/// The entries of a group(5) text; malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.splitn(4, ':').collect();
            if f.len() < 3 || f[0].is_empty() || f[0].starts_with(['+', '-', '#']) {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].trim().parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn read_db(path: &Path) -> Result<String, IdentityError> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_DB_BYTES).read_to_string(&mut text))
        .map_err(|e| IdentityError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(text)
}

impl Identity {
    /// Numeric ids only (names unknown until [`Identity::with_names`]).
    pub fn from_ids(uid: u32, gid: u32, groups: &[u32]) -> Identity {
        Identity {
            user: None,
            uid,
            gid,
            group: None,
            groups: groups
                .iter()
                .map(|&gid| GroupRef { gid, name: None })
                .collect(),
            source: IdentitySource::Ids,
        }
    }

    /// User `name` as initgroups(3) sets it up from these passwd(5)/group(5) texts: its uid
    /// and primary group, plus every group that lists it as a member. `paths` only label
    /// the source.
    pub fn from_databases(
        name: &str,
        passwd: &str,
        group: &str,
        paths: (&Path, &Path),
    ) -> Result<Identity, IdentityError> {
        let users = parse_passwd(passwd);
        let groups = parse_group(group);
        let u =
            users
                .iter()
                .find(|u| u.name == name)
                .ok_or_else(|| IdentityError::UnknownUser {
                    name: name.to_string(),
                    passwd: paths.0.to_path_buf(),
                })?;
        let gname = |gid: u32| groups.iter().find(|g| g.gid == gid).map(|g| g.name.clone());
        let mut supp: Vec<GroupRef> = groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == name))
            .map(|g| GroupRef {
                gid: g.gid,
                name: Some(g.name.clone()),
            })
            .collect();
        supp.sort();
        supp.dedup();
        Ok(Identity {
            user: Some(u.name.clone()),
            uid: u.uid,
            gid: u.gid,
            group: gname(u.gid),
            groups: supp,
            source: IdentitySource::Databases {
                passwd: paths.0.to_path_buf(),
                group: paths.1.to_path_buf(),
            },
        })
    }

    /// User `name` from /etc/passwd and /etc/group.
    pub fn for_user(name: &str) -> Result<Identity, IdentityError> {
        let (p, g) = (Path::new("/etc/passwd"), Path::new("/etc/group"));
        Identity::from_databases(name, &read_db(p)?, &read_db(g)?, (p, g))
    }

    /// The credentials of a running process (fsuid, fsgid, supplementary groups); `None`
    /// when its /proc/PID/status could not be read.
    pub fn of_process(p: &ProcInfo) -> Option<Identity> {
        let c = p.creds.as_ref()?;
        let (uid, gid) = c.fs_ids();
        let mut id = Identity::from_ids(uid, gid, &c.groups);
        id.source = IdentitySource::Process { pid: p.pid };
        Some(id)
    }

    /// Fills in missing user and group names from the system's databases (NSS).
    pub fn with_names(mut self) -> Identity {
        if self.user.is_none() {
            self.user = super::file::user_name(self.uid);
        }
        if self.group.is_none() {
            self.group = super::file::group_name(self.gid);
        }
        for g in &mut self.groups {
            if g.name.is_none() {
                g.name = super::file::group_name(g.gid);
            }
        }
        self
    }

    /// Whether the kernel counts the process as a member of `gid` (primary or supplementary).
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.iter().any(|g| g.gid == gid)
    }

    /// `postfix (103:106, groups sasl(45))` style summary.
    pub fn describe(&self) -> String {
        let user = self.user.clone().unwrap_or_else(|| self.uid.to_string());
        let groups: Vec<String> = self
            .groups
            .iter()
            .map(|g| match &g.name {
                Some(n) => format!("{n}({})", g.gid),
                None => g.gid.to_string(),
            })
            .collect();
        format!(
            "{user} ({}:{}, groups {})",
            self.uid,
            self.gid,
            if groups.is_empty() {
                "none".to_string()
            } else {
                groups.join(" ")
            }
        )
    }
}

/// What the process wants to do with the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    Read,
    Write,
    /// Execute a file, or search (enter) a directory.
    Execute,
    /// connect(2) to a Unix socket: write permission on the socket file.
    Connect,
    /// Create an entry in a directory: write and search permission on it.
    CreateIn,
}

/// One permission bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Perm {
    Read,
    Write,
    Execute,
}

impl Perm {
    fn bit(self) -> u32 {
        match self {
            Perm::Read => 4,
            Perm::Write => 2,
            Perm::Execute => 1,
        }
    }
}

/// Which part of the mode the kernel used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PermClass {
    Owner,
    Group,
    Other,
    /// uid 0: read and write always, search always, execute if any x bit is set.
    Root,
}

/// Whether a file carries a POSIX ACL (`system.posix_acl_access`). Access is decided from the
/// mode bits only; where an ACL is present the kernel may decide differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase", tag = "acl")]
pub enum Acl {
    Absent,
    Present,
    Unknown { reason: String },
}

/// What one lstat(2) shows of a node (the injected filesystem view returns these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Node {
    pub kind: FileKind,
    #[serde(with = "octal")]
    #[schemars(with = "String")]
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub link_target: Option<PathBuf>,
    pub acl: Acl,
}

/// Why a lookup found nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    NotFound,
    Other(String),
}

/// A filesystem as the walk sees it: lstat of host paths.
pub trait FsView {
    fn lstat(&self, host_path: &Path) -> Result<Node, LookupError>;
    /// Whether fs.protected_symlinks is on (symlinks in sticky world-writable directories are
    /// followed only by their owner or the directory's owner).
    fn protected_symlinks(&self) -> bool {
        false
    }
}

/// The real filesystem (lstat(2), readlink(2), lgetxattr(2)).
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl FsView for RealFs {
    fn lstat(&self, host_path: &Path) -> Result<Node, LookupError> {
        let md = std::fs::symlink_metadata(host_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => LookupError::NotFound,
            // ENOTDIR from the host: a component above is not a directory; the walk reports
            // that itself, so here it only means "nothing there".
            _ if e.raw_os_error() == Some(20) => LookupError::NotFound,
            _ => LookupError::Other(e.to_string()),
        })?;
        let ft = md.file_type();
        let kind = if ft.is_symlink() {
            FileKind::Symlink
        } else if ft.is_dir() {
            FileKind::Dir
        } else if ft.is_file() {
            FileKind::File
        } else if ft.is_socket() {
            FileKind::Socket
        } else {
            FileKind::Other
        };
        let link_target = if kind == FileKind::Symlink {
            Some(std::fs::read_link(host_path).map_err(|e| LookupError::Other(e.to_string()))?)
        } else {
            None
        };
        Ok(Node {
            kind,
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            owner: super::file::user_name(md.uid()),
            group: super::file::group_name(md.gid()),
            link_target,
            acl: if kind == FileKind::Symlink {
                Acl::Absent
            } else {
                acl_of(host_path)
            },
        })
    }

    fn protected_symlinks(&self) -> bool {
        std::fs::read_to_string("/proc/sys/fs/protected_symlinks").is_ok_and(|s| s.trim() != "0")
    }
}

/// Whether `path` has a `system.posix_acl_access` attribute.
pub fn acl_of(path: &Path) -> Acl {
    use rustix::io::Errno;
    match rustix::fs::lgetxattr_query(path, "system.posix_acl_access") {
        Ok(_) => Acl::Present,
        Err(Errno::NODATA) | Err(Errno::NOTSUP) => Acl::Absent,
        Err(e) => Acl::Unknown {
            reason: e.to_string(),
        },
    }
}

/// A fabricated filesystem for tests and fixtures: host path → node. `/` exists as a
/// root-owned 0755 directory unless replaced.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MemFs {
    pub nodes: BTreeMap<PathBuf, Node>,
    #[serde(default)]
    pub protected_symlinks: bool,
}

impl MemFs {
    pub fn new() -> MemFs {
        let mut fs = MemFs::default();
        fs.add("/", FileKind::Dir, 0o755, 0, 0);
        fs
    }

    /// Adds (or replaces) one node with no ACL, no names and no link target.
    pub fn add(&mut self, path: &str, kind: FileKind, mode: u32, uid: u32, gid: u32) -> &mut Node {
        let node = Node {
            kind,
            mode,
            uid,
            gid,
            owner: None,
            group: None,
            link_target: None,
            acl: Acl::Absent,
        };
        let slot = self
            .nodes
            .entry(PathBuf::from(path))
            .or_insert(node.clone());
        *slot = node;
        slot
    }

    pub fn dir(&mut self, path: &str, mode: u32, uid: u32, gid: u32) -> &mut MemFs {
        self.add(path, FileKind::Dir, mode, uid, gid);
        self
    }

    pub fn file(&mut self, path: &str, mode: u32, uid: u32, gid: u32) -> &mut MemFs {
        self.add(path, FileKind::File, mode, uid, gid);
        self
    }

    pub fn socket(&mut self, path: &str, mode: u32, uid: u32, gid: u32) -> &mut MemFs {
        self.add(path, FileKind::Socket, mode, uid, gid);
        self
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut MemFs {
        self.add(path, FileKind::Symlink, 0o777, 0, 0).link_target = Some(PathBuf::from(target));
        self
    }
}

impl FsView for MemFs {
    fn lstat(&self, host_path: &Path) -> Result<Node, LookupError> {
        self.nodes
            .get(host_path)
            .cloned()
            .ok_or(LookupError::NotFound)
    }

    fn protected_symlinks(&self) -> bool {
        self.protected_symlinks
    }
}

/// Why a node was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A directory the lookup passes through (needs search permission).
    Search,
    /// A symlink that was followed.
    Symlink,
    /// The object the access is for.
    Target,
}

/// One node of the walk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Step {
    /// The path as the process names it (inside its root).
    pub path: PathBuf,
    /// The same node on the host (the root joined in front).
    pub host_path: PathBuf,
    pub role: Role,
    pub node: Node,
}

/// The result of the walk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum Outcome {
    Granted {
        class: PermClass,
    },
    Denied(Box<Denial>),
    /// ENOENT: `path` (a component on the way or the target) does not exist.
    NotFound {
        path: PathBuf,
        host_path: PathBuf,
    },
    /// ENOTDIR: `path` is used as a directory but is not one (for create-in: the target).
    NotADirectory {
        path: PathBuf,
        host_path: PathBuf,
        kind: FileKind,
    },
    /// ELOOP: more than [`MAX_SYMLINKS`] symlinks.
    TooManySymlinks {
        path: PathBuf,
        hops: usize,
    },
    /// connect(2) to something that is not a socket (ECONNREFUSED).
    NotASocket {
        path: PathBuf,
        host_path: PathBuf,
        kind: FileKind,
    },
    /// lstat failed for another reason (so the kernel's answer is unknown).
    CannotLook {
        path: PathBuf,
        host_path: PathBuf,
        message: String,
    },
}

/// The first node that refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Denial {
    /// Index into [`AccessReport::steps`].
    pub step: usize,
    pub path: PathBuf,
    pub host_path: PathBuf,
    pub role: Role,
    pub node: Node,
    pub class: PermClass,
    /// The bits this access needs from this node.
    pub needed: Vec<Perm>,
    /// Those of them the applicable class lacks.
    pub missing: Vec<Perm>,
    /// Followed a symlink in a sticky world-writable directory that fs.protected_symlinks
    /// forbids (the bits are then not the reason).
    #[serde(default)]
    pub protected_symlink: bool,
}

/// What [`check`] found: the walk and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccessReport {
    pub identity: Identity,
    /// The process's root directory on the host (`/` when not chrooted).
    pub root: PathBuf,
    /// The path as the process names it.
    pub path: PathBuf,
    pub access: Access,
    pub outcome: Outcome,
    /// Every node looked at, in order.
    pub steps: Vec<Step>,
    /// Symlinks followed.
    pub hops: usize,
}

impl AccessReport {
    pub fn granted(&self) -> bool {
        matches!(self.outcome, Outcome::Granted { .. })
    }

    pub fn denial(&self) -> Option<&Denial> {
        match &self.outcome {
            Outcome::Denied(d) => Some(d.as_ref()),
            _ => None,
        }
    }

    /// Whether any node looked at carries an ACL (or could not be asked), in which case the
    /// mode bits may not be the kernel's whole answer.
    pub fn acl_caveat(&self) -> bool {
        self.steps.iter().any(|s| s.node.acl != Acl::Absent)
    }

    /// The target's host path, when the walk reached it.
    pub fn resolved(&self) -> Option<&Path> {
        self.steps
            .iter()
            .rev()
            .find(|s| s.role == Role::Target)
            .map(|s| s.host_path.as_path())
    }
}

/// The permission class and missing bits of `needed` on `node` for `id`.
fn evaluate(id: &Identity, node: &Node, needed: &[Perm]) -> (PermClass, Vec<Perm>) {
    if id.uid == 0 {
        // CAP_DAC_OVERRIDE: everything but executing a file that has no x bit at all.
        let missing = needed
            .iter()
            .copied()
            .filter(|p| *p == Perm::Execute && node.kind != FileKind::Dir && node.mode & 0o111 == 0)
            .collect();
        return (PermClass::Root, missing);
    }
    let (class, shift) = if id.uid == node.uid {
        (PermClass::Owner, 6)
    } else if id.in_group(node.gid) {
        (PermClass::Group, 3)
    } else {
        (PermClass::Other, 0)
    };
    let bits = (node.mode >> shift) & 7;
    let missing = needed
        .iter()
        .copied()
        .filter(|p| bits & p.bit() == 0)
        .collect();
    (class, missing)
}

fn host_of(root: &Path, p: &Path) -> PathBuf {
    let rel = p.strip_prefix("/").unwrap_or(p);
    if rel.as_os_str().is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

/// `a/./b/../c` → [a, ., b, .., c] minus the `.`s; the root and prefixes are dropped.
fn components(p: &Path) -> Vec<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

struct Walk<'a, V: FsView> {
    fs: &'a V,
    id: &'a Identity,
    root: &'a Path,
    steps: Vec<Step>,
}

impl<V: FsView> Walk<'_, V> {
    fn look(&mut self, path: &Path, role: Role) -> Result<(usize, Node), Outcome> {
        let host_path = host_of(self.root, path);
        match self.fs.lstat(&host_path) {
            Ok(node) => {
                self.steps.push(Step {
                    path: path.to_path_buf(),
                    host_path,
                    role,
                    node: node.clone(),
                });
                Ok((self.steps.len() - 1, node))
            }
            Err(LookupError::NotFound) => Err(Outcome::NotFound {
                path: path.to_path_buf(),
                host_path,
            }),
            Err(LookupError::Other(message)) => Err(Outcome::CannotLook {
                path: path.to_path_buf(),
                host_path,
                message,
            }),
        }
    }

    fn require(&self, step: usize, needed: &[Perm]) -> Result<PermClass, Outcome> {
        let s = &self.steps[step];
        let (class, missing) = evaluate(self.id, &s.node, needed);
        if missing.is_empty() {
            return Ok(class);
        }
        Err(Outcome::Denied(Box::new(Denial {
            step,
            path: s.path.clone(),
            host_path: s.host_path.clone(),
            role: s.role,
            node: s.node.clone(),
            class,
            needed: needed.to_vec(),
            missing,
            protected_symlink: false,
        })))
    }

    /// Resolves `path` and checks `access` on it; returns the outcome and the hop count.
    fn run(&mut self, path: &Path, access: Access) -> (Outcome, usize) {
        let mut hops = 0;
        let outcome = self.resolve(path, access, &mut hops).unwrap_or_else(|o| o);
        (outcome, hops)
    }

    fn resolve(
        &mut self,
        path: &Path,
        access: Access,
        hops: &mut usize,
    ) -> Result<Outcome, Outcome> {
        let mut pending: std::collections::VecDeque<OsString> = components(path).into();
        let mut cur = PathBuf::from("/");
        // The directory we are in, looked at once (index into steps).
        let (mut cur_step, mut cur_node) = self.look(&cur, Role::Search)?;
        let mut rounds = 0;
        while let Some(name) = pending.pop_front() {
            rounds += 1;
            if rounds > MAX_STEPS {
                return Err(Outcome::TooManySymlinks {
                    path: cur.join(&name),
                    hops: *hops,
                });
            }
            if cur_node.kind != FileKind::Dir {
                return Err(Outcome::NotADirectory {
                    path: cur.clone(),
                    host_path: host_of(self.root, &cur),
                    kind: cur_node.kind,
                });
            }
            // Looking anything up in a directory, `..` included, needs search permission.
            self.require(cur_step, &[Perm::Execute])?;
            if name == ".." {
                // `..` of the root is the root: a chrooted process cannot climb out.
                let parent = cur.parent().map(Path::to_path_buf).unwrap_or(cur.clone());
                cur = parent;
                (cur_step, cur_node) = self.look(&cur, Role::Search)?;
                continue;
            }
            let next = cur.join(&name);
            let last = pending.is_empty();
            let (step, node) = self.look(&next, if last { Role::Target } else { Role::Search })?;
            if node.kind == FileKind::Symlink {
                self.steps[step].role = Role::Symlink;
                *hops += 1;
                if *hops > MAX_SYMLINKS {
                    return Err(Outcome::TooManySymlinks {
                        path: next,
                        hops: *hops,
                    });
                }
                if self.fs.protected_symlinks()
                    && cur_node.mode & 0o1002 == 0o1002
                    && self.id.uid != node.uid
                    && cur_node.uid != node.uid
                {
                    let s = &self.steps[step];
                    return Err(Outcome::Denied(Box::new(Denial {
                        step,
                        path: s.path.clone(),
                        host_path: s.host_path.clone(),
                        role: Role::Symlink,
                        node: node.clone(),
                        class: PermClass::Other,
                        needed: Vec::new(),
                        missing: Vec::new(),
                        protected_symlink: true,
                    })));
                }
                let target = node.link_target.clone().unwrap_or_default();
                let mut expanded: std::collections::VecDeque<OsString> = components(&target).into();
                expanded.extend(pending.drain(..));
                pending = expanded;
                if target.is_absolute() {
                    cur = PathBuf::from("/");
                    (cur_step, cur_node) = self.look(&cur, Role::Search)?;
                }
                if pending.is_empty() {
                    // A link to `/` (or to `.`): the target is the directory we are in.
                    self.steps[cur_step].role = Role::Target;
                    return self.final_check(cur_step, access);
                }
                continue;
            }
            if last {
                return self.final_check(step, access);
            }
            cur = next;
            (cur_step, cur_node) = (step, node);
        }
        // The path ended at a directory (`/`, or a trailing `..`): that is the target.
        self.steps[cur_step].role = Role::Target;
        self.final_check(cur_step, access)
    }

    fn final_check(&self, step: usize, access: Access) -> Result<Outcome, Outcome> {
        let s = &self.steps[step];
        let needed: &[Perm] = match access {
            Access::Read => &[Perm::Read],
            Access::Write => &[Perm::Write],
            Access::Execute => &[Perm::Execute],
            Access::Connect => {
                if s.node.kind != FileKind::Socket {
                    return Err(Outcome::NotASocket {
                        path: s.path.clone(),
                        host_path: s.host_path.clone(),
                        kind: s.node.kind,
                    });
                }
                &[Perm::Write]
            }
            Access::CreateIn => {
                if s.node.kind != FileKind::Dir {
                    return Err(Outcome::NotADirectory {
                        path: s.path.clone(),
                        host_path: s.host_path.clone(),
                        kind: s.node.kind,
                    });
                }
                &[Perm::Write, Perm::Execute]
            }
        };
        let class = self.require(step, needed)?;
        Ok(Outcome::Granted { class })
    }
}

/// Walks `path` as a process with `identity` and root directory `root` (`None`: `/`) would,
/// on the filesystem `fs`, and checks `access` on what it names. A relative `path` is taken
/// from the root. Pure: all facts come from `fs`.
pub fn walk(
    fs: &impl FsView,
    identity: &Identity,
    root: Option<&Path>,
    path: &Path,
    access: Access,
) -> AccessReport {
    let root = root.unwrap_or(Path::new("/"));
    let mut w = Walk {
        fs,
        id: identity,
        root,
        steps: Vec::new(),
    };
    let (outcome, hops) = w.run(path, access);
    AccessReport {
        identity: identity.clone(),
        root: root.to_path_buf(),
        path: path.to_path_buf(),
        access,
        outcome,
        steps: w.steps,
        hops,
    }
}

/// [`walk`] on the real filesystem.
pub fn check(
    identity: &Identity,
    root: Option<&Path>,
    path: &Path,
    access: Access,
) -> AccessReport {
    walk(&RealFs, identity, root, path, access)
}

mod octal {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{mode:04o}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let s = String::deserialize(d)?;
        u32::from_str_radix(s.trim_start_matches("0o"), 8).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SASL: &str = "/var/spool/postfix/var/run/saslauthd";

    fn postfix() -> Identity {
        let passwd = "root:x:0:0:root:/root:/bin/bash\npostfix:x:103:106::/var/spool/postfix:/usr/sbin/nologin\nvmail:x:5000:5000::/home/vmail:/usr/sbin/nologin\n";
        let group = "root:x:0:\nsasl:x:45:postfix\npostfix:x:106:\nvmail:x:5000:\n";
        Identity::from_databases(
            "postfix",
            passwd,
            group,
            (Path::new("/etc/passwd"), Path::new("/etc/group")),
        )
        .expect("postfix exists")
    }

    /// The lab's tree: the saslauthd dir root:sasl 0710, the /var/run/saslauthd symlink, the
    /// maps root:postfix 0640, /home/vmail.
    fn lab() -> MemFs {
        let mut fs = MemFs::new();
        fs.dir("/var", 0o755, 0, 0)
            .symlink("/var/run", "/run")
            .dir("/run", 0o755, 0, 0)
            .symlink("/run/saslauthd", SASL)
            .dir("/var/spool", 0o755, 0, 0)
            .dir("/var/spool/postfix", 0o755, 0, 0)
            .dir("/var/spool/postfix/var", 0o755, 0, 0)
            .dir("/var/spool/postfix/var/run", 0o755, 0, 0)
            .dir(SASL, 0o710, 0, 45)
            .socket(&format!("{SASL}/mux"), 0o777, 0, 0)
            .dir("/etc", 0o755, 0, 0)
            .dir("/etc/postfix", 0o755, 0, 0)
            .file("/etc/postfix/mysql_virtual_domains_maps.cf", 0o640, 0, 106)
            .dir("/home", 0o755, 0, 0)
            .dir("/home/vmail", 0o755, 5000, 5000)
            .dir("/home/vmail/example.com", 0o700, 5000, 5000);
        fs
    }

    #[test]
    fn databases_give_supplementary_groups() {
        let id = postfix();
        assert_eq!((id.uid, id.gid), (103, 106));
        assert_eq!(id.group.as_deref(), Some("postfix"));
        assert_eq!(id.groups.len(), 1);
        assert!(id.in_group(45) && id.in_group(106) && !id.in_group(0));
        assert_eq!(id.describe(), "postfix (103:106, groups sasl(45))");
        let err = Identity::from_databases("nobody", "", "", (Path::new("p"), Path::new("g")));
        assert!(matches!(err, Err(IdentityError::UnknownUser { .. })));
        assert_eq!(
            parse_passwd("+::::::\nbad\nx:x:notanumber:1::/:/\n"),
            vec![]
        );
    }

    #[test]
    fn clean_lab_grants() {
        let fs = lab();
        let id = postfix();
        let r = walk(
            &fs,
            &id,
            None,
            Path::new("/var/run/saslauthd/mux"),
            Access::Connect,
        );
        assert_eq!(
            r.outcome,
            Outcome::Granted {
                class: PermClass::Other
            }
        );
        assert_eq!(r.hops, 2, "/var/run and /run/saslauthd");
        assert_eq!(
            r.resolved(),
            Some(Path::new("/var/spool/postfix/var/run/saslauthd/mux"))
        );
        // The same socket as the chrooted smtpd names it.
        let r = walk(
            &fs,
            &id,
            Some(Path::new("/var/spool/postfix")),
            Path::new("/var/run/saslauthd/mux"),
            Access::Connect,
        );
        assert!(r.granted(), "{r:?}");
        assert_eq!(r.hops, 0);
        let map = Path::new("/etc/postfix/mysql_virtual_domains_maps.cf");
        let r = walk(&fs, &id, None, map, Access::Read);
        assert_eq!(
            r.outcome,
            Outcome::Granted {
                class: PermClass::Group
            }
        );
        let vmail = Identity::from_ids(5000, 5000, &[]);
        let r = walk(
            &fs,
            &vmail,
            None,
            Path::new("/home/vmail/example.com"),
            Access::CreateIn,
        );
        assert_eq!(
            r.outcome,
            Outcome::Granted {
                class: PermClass::Owner
            }
        );
    }

    #[test]
    fn first_refusing_component_is_named() {
        let mut fs = lab();
        fs.dir(SASL, 0o700, 0, 45);
        let r = walk(
            &fs,
            &postfix(),
            None,
            Path::new("/var/run/saslauthd/mux"),
            Access::Connect,
        );
        let d = r.denial().expect("denied");
        assert_eq!(d.host_path, Path::new(SASL));
        assert_eq!(d.role, Role::Search);
        assert_eq!(d.class, PermClass::Group);
        assert_eq!(d.missing, vec![Perm::Execute]);
        assert_eq!(d.node.mode, 0o700);

        let mut fs = lab();
        fs.file("/etc/postfix/mysql_virtual_domains_maps.cf", 0o600, 0, 0);
        let map = Path::new("/etc/postfix/mysql_virtual_domains_maps.cf");
        let d = walk(&fs, &postfix(), None, map, Access::Read)
            .denial()
            .cloned()
            .expect("denied");
        assert_eq!(
            (d.role, d.class, d.missing),
            (Role::Target, PermClass::Other, vec![Perm::Read])
        );

        let mut fs = lab();
        fs.dir("/home/vmail/example.com", 0o755, 0, 0);
        let vmail = Identity::from_ids(5000, 5000, &[]);
        let d = walk(
            &fs,
            &vmail,
            None,
            Path::new("/home/vmail/example.com"),
            Access::CreateIn,
        )
        .denial()
        .cloned()
        .expect("denied");
        assert_eq!(d.needed, vec![Perm::Write, Perm::Execute]);
        assert_eq!(d.missing, vec![Perm::Write]);
        assert_eq!(d.class, PermClass::Other);
    }

    #[test]
    fn owner_class_applies_even_when_others_may() {
        let mut fs = MemFs::new();
        fs.file("/f", 0o047, 7, 8);
        let d = walk(
            &fs,
            &Identity::from_ids(7, 8, &[]),
            None,
            Path::new("/f"),
            Access::Read,
        );
        assert_eq!(d.denial().map(|d| d.class), Some(PermClass::Owner));
        let g = walk(
            &fs,
            &Identity::from_ids(9, 8, &[]),
            None,
            Path::new("/f"),
            Access::Read,
        );
        assert_eq!(
            g.outcome,
            Outcome::Granted {
                class: PermClass::Group
            }
        );
    }

    #[test]
    fn root_bypasses_but_needs_an_x_bit_to_execute() {
        let mut fs = MemFs::new();
        fs.dir("/d", 0o000, 5, 5)
            .file("/d/f", 0o600, 5, 5)
            .file("/d/x", 0o700, 5, 5);
        let root = Identity::from_ids(0, 0, &[]);
        assert!(walk(&fs, &root, None, Path::new("/d/f"), Access::Write).granted());
        let d = walk(&fs, &root, None, Path::new("/d/f"), Access::Execute);
        assert_eq!(d.denial().map(|d| d.class), Some(PermClass::Root));
        assert!(walk(&fs, &root, None, Path::new("/d/x"), Access::Execute).granted());
        assert!(walk(&fs, &root, None, Path::new("/d"), Access::Execute).granted());
    }

    #[test]
    fn chroot_resolves_absolute_links_inside_it() {
        let mut fs = MemFs::new();
        fs.dir("/q", 0o755, 0, 0)
            .dir("/q/run", 0o755, 0, 0)
            .symlink("/q/run/mysqld", "/var/lib/mysqld")
            .dir("/var", 0o755, 0, 0)
            .dir("/var/lib", 0o755, 0, 0)
            .dir("/var/lib/mysqld", 0o755, 0, 0)
            .socket("/var/lib/mysqld/mysqld.sock", 0o777, 0, 0);
        let id = Identity::from_ids(103, 106, &[]);
        let r = walk(
            &fs,
            &id,
            Some(Path::new("/q")),
            Path::new("/run/mysqld/mysqld.sock"),
            Access::Connect,
        );
        // Inside the chroot the link points at /q/var/lib/mysqld, which does not exist.
        assert_eq!(
            r.outcome,
            Outcome::NotFound {
                path: PathBuf::from("/var"),
                host_path: PathBuf::from("/q/var")
            }
        );
        let outside = walk(
            &fs,
            &id,
            None,
            Path::new("/var/lib/mysqld/mysqld.sock"),
            Access::Connect,
        );
        assert!(outside.granted());
        // `..` cannot climb out of the root.
        let r = walk(
            &fs,
            &id,
            Some(Path::new("/q")),
            Path::new("/../../run"),
            Access::Read,
        );
        assert!(r.granted());
        assert_eq!(r.resolved(), Some(Path::new("/q/run")));
    }

    #[test]
    fn relative_links_loops_and_wrong_kinds() {
        let mut fs = MemFs::new();
        fs.dir("/a", 0o755, 0, 0)
            .dir("/a/b", 0o755, 0, 0)
            .file("/a/b/f", 0o644, 0, 0)
            .symlink("/a/rel", "b/../b/f")
            .symlink("/a/l1", "l2")
            .symlink("/a/l2", "/a/l1")
            .symlink("/a/toroot", "/");
        let id = Identity::from_ids(1, 1, &[]);
        let r = walk(&fs, &id, None, Path::new("/a/rel"), Access::Read);
        assert!(r.granted());
        assert_eq!(r.resolved(), Some(Path::new("/a/b/f")));
        let r = walk(&fs, &id, None, Path::new("/a/l1"), Access::Read);
        assert!(matches!(
            r.outcome,
            Outcome::TooManySymlinks { hops: 41, .. }
        ));
        let r = walk(&fs, &id, None, Path::new("/a/b/f/x"), Access::Read);
        assert!(matches!(
            r.outcome,
            Outcome::NotADirectory {
                kind: FileKind::File,
                ..
            }
        ));
        let r = walk(&fs, &id, None, Path::new("/a/b/f"), Access::Connect);
        assert!(matches!(r.outcome, Outcome::NotASocket { .. }));
        let r = walk(&fs, &id, None, Path::new("/a/b/f"), Access::CreateIn);
        assert!(matches!(r.outcome, Outcome::NotADirectory { .. }));
        let r = walk(&fs, &id, None, Path::new("/a/toroot"), Access::Read);
        assert_eq!(r.resolved(), Some(Path::new("/")));
        let r = walk(&fs, &id, None, Path::new("/a/missing/x"), Access::Read);
        assert!(
            matches!(r.outcome, Outcome::NotFound { ref path, .. } if path == Path::new("/a/missing"))
        );
    }

    #[test]
    fn protected_symlinks_in_sticky_dirs() {
        let mut fs = MemFs::new();
        fs.dir("/tmp", 0o1777, 0, 0).file("/etc", 0o644, 0, 0);
        fs.add("/tmp/l", FileKind::Symlink, 0o777, 42, 42)
            .link_target = Some("/etc".into());
        fs.protected_symlinks = true;
        let r = walk(
            &fs,
            &Identity::from_ids(7, 7, &[]),
            None,
            Path::new("/tmp/l"),
            Access::Read,
        );
        assert!(r.denial().is_some_and(|d| d.protected_symlink));
        let r = walk(
            &fs,
            &Identity::from_ids(42, 7, &[]),
            None,
            Path::new("/tmp/l"),
            Access::Read,
        );
        assert!(r.granted());
    }

    #[test]
    fn reports_round_trip_through_json() {
        let mut fs = lab();
        fs.dir(SASL, 0o700, 0, 45);
        let r = walk(
            &fs,
            &postfix(),
            None,
            Path::new("/var/run/saslauthd/mux"),
            Access::Connect,
        );
        let json = serde_json::to_string(&r).expect("serialises");
        assert!(json.contains("\"mode\":\"0700\""), "{json}");
        let back: AccessReport = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, r);
        let fsj = serde_json::to_string(&fs).expect("serialises");
        assert_eq!(
            serde_json::from_str::<MemFs>(&fsj).expect("deserialises"),
            fs
        );
    }

    #[test]
    fn real_fs_and_acl_presence() {
        let dir = std::env::temp_dir().join(format!("mailcheck-access-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let f = dir.join("f");
        std::fs::write(&f, b"x").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let nobody = Identity::from_ids(65534, 65534, &[]);
        let r = check(&nobody, None, &f, Access::Read);
        let is_root = crate::probe::procfs::process(std::process::id())
            .and_then(|p| p.creds)
            .is_some_and(|c| c.uid[1] == 0);
        if is_root {
            let d = r.denial().expect("a 0700 dir stops nobody");
            assert_eq!(d.host_path, dir);
            assert_eq!(d.node.acl, Acl::Absent);
            // user:65534:r-x on the directory: an ACL the walk reports but does not evaluate.
            let mut acl = Vec::new();
            for (tag, perm, id) in [
                (1u16, 7u16, u32::MAX),
                (2, 5, 65534),
                (4, 0, u32::MAX),
                (0x10, 5, u32::MAX),
                (0x20, 0, u32::MAX),
            ] {
                acl.extend_from_slice(&tag.to_le_bytes());
                acl.extend_from_slice(&perm.to_le_bytes());
                acl.extend_from_slice(&id.to_le_bytes());
            }
            let blob = [2u32.to_le_bytes().to_vec(), acl].concat();
            let set = rustix::fs::lsetxattr(
                &dir,
                "system.posix_acl_access",
                &blob,
                rustix::fs::XattrFlags::empty(),
            );
            // A filesystem without ACLs (EOPNOTSUPP) cannot carry one; anything else is a bug.
            assert!(
                set.is_ok() || set == Err(rustix::io::Errno::NOTSUP),
                "setting an ACL on {}: {set:?}",
                dir.display()
            );
            if set.is_ok() {
                let r = check(&nobody, None, &f, Access::Read);
                assert_eq!(
                    r.steps
                        .iter()
                        .find(|s| s.host_path == dir)
                        .map(|s| &s.node.acl),
                    Some(&Acl::Present)
                );
                assert!(r.acl_caveat());
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
