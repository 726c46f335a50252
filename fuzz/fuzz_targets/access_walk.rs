//! The access walk over a fabricated tree (src/probe/access.rs): path resolution with symlinks
//! (absolute, relative, `..`, loops), chroots, modes, owners and protected_symlinks, and the
//! passwd/group databases behind an identity. The input's bytes build the tree.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::access::{self, Access, Identity, MemFs};
use mailcheck::probe::file::FileKind;

const NAMES: [&str; 6] = ["a", "b", "c", "..", ".", "d"];
const TARGETS: [&str; 10] = ["/", "/a", "/a/b", "a", "b/c", "..", "../a", ".", "/c/../a", ""];
const PATHS: [&str; 8] = ["/a", "/a/b/c", "/b/../a", "/c", "a/b", "/", "/a/../../b", "/a/./b"];

fuzz_target!(|data: &[u8]| {
    let (head, rest) = data.split_at(data.len().min(6));
    let mut h = [0u8; 6];
    h[..head.len()].copy_from_slice(head);
    let mut fs = MemFs::new();
    fs.protected_symlinks = h[0] & 1 == 1;
    // Six bytes a node: path (3 names), kind, mode (2 bytes, 12 bits), owner, link target.
    for n in rest.chunks_exact(6).take(32) {
        let mut path = String::new();
        for k in 0..=(n[0] % 3) {
            path.push('/');
            path.push_str(NAMES[usize::from((n[0] >> (2 + 2 * k)) % 6)]);
        }
        let kind = match n[1] % 5 {
            0 => FileKind::Dir,
            1 => FileKind::File,
            2 => FileKind::Socket,
            3 => FileKind::Symlink,
            _ => FileKind::Other,
        };
        let mode = u32::from(u16::from_le_bytes([n[2], n[3]])) & 0o7777;
        let (uid, gid) = (u32::from(n[4] % 3), u32::from(n[4] / 3 % 3));
        let node = fs.add(&path, kind, mode, uid, gid);
        if kind == FileKind::Symlink {
            node.link_target = Some(PathBuf::from(TARGETS[usize::from(n[5] % 10)]));
        }
    }
    let id = Identity::from_ids(u32::from(h[1] % 3), u32::from(h[2] % 3), &[u32::from(h[2] % 3) + 1]);
    let root = [None, Some("/a"), Some("/b")][usize::from(h[3] % 3)];
    let access = [Access::Read, Access::Write, Access::Execute, Access::Connect, Access::CreateIn]
        [usize::from(h[4] % 5)];
    let path = PATHS[usize::from(h[5] % 8)];
    let r = access::walk(&fs, &id, root.map(Path::new), Path::new(path), access);
    assert!(r.hops <= access::MAX_SYMLINKS + 1);
    let _ = (r.granted(), r.denial(), r.acl_caveat());

    // The same bytes as passwd and group text.
    let text = mailcheck_fuzz::text(rest);
    let _ = access::parse_passwd(&text);
    let _ = access::parse_group(&text);
    if let Ok(i) = Identity::from_databases("postfix", &text, &text, (Path::new("p"), Path::new("g"))) {
        let _ = (i.describe(), i.in_group(0));
    }
});
