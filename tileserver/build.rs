//! Embeds the web page (every file under `web/`, except tests and sources of tooling) into the
//! binary, so `vigie` serves it from anywhere with no file beside it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "node_modules" || name == "tests" {
            continue;
        }
        if p.is_dir() {
            walk(&p, root, out);
        } else {
            out.push(p.strip_prefix(root).expect("under root").to_path_buf());
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let web = manifest.join("../web").canonicalize().unwrap_or_else(|_| manifest.join("../web"));
    println!("cargo:rerun-if-changed={}", web.display());
    let mut files = Vec::new();
    walk(&web, &web, &mut files);
    let mut code = String::from("/// Files of `web/`, by URL path.\npub static WEB_FILES: &[(&str, &[u8])] = &[\n");
    for f in &files {
        let url = f.to_string_lossy().replace('\\', "/");
        let abs = web.join(f);
        println!("cargo:rerun-if-changed={}", abs.display());
        let _ = writeln!(code, "    (\"/{url}\", include_bytes!({:?})),", abs.display().to_string());
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("web_files.rs");
    std::fs::write(out, code).expect("write web_files.rs");
}
