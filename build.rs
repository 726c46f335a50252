//! Embeds every `checks/**/*.toml` in the binary as `(relative path, contents)`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let checks = root.join("checks");
    println!("cargo::rerun-if-changed=checks");
    let mut files = Vec::new();
    collect(&checks, &mut files);
    files.sort();
    let mut src = String::from("pub(crate) static EMBEDDED: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo::rerun-if-changed={}", f.display());
        let rel = f.strip_prefix(&checks).expect("under checks/");
        writeln!(
            src,
            "    ({:?}, include_str!({:?})),",
            rel.to_string_lossy(),
            f.to_string_lossy()
        )
        .expect("write to string");
    }
    src.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets this")).join("checks.rs");
    std::fs::write(out, src).expect("write OUT_DIR/checks.rs");
}
