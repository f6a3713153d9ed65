//! Compiles every `cases/<area>.c` into a static test binary `<OUT_DIR>/cases/<area>`
//! with the system gcc. New case files are picked up automatically.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let cases = manifest.join("cases");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("cases");
    std::fs::create_dir_all(&out).expect("create OUT_DIR/cases");
    println!("cargo:rerun-if-changed={}", cases.display());
    println!("cargo:rerun-if-env-changed=CC");

    let mut sources: Vec<PathBuf> = std::fs::read_dir(&cases)
        .expect("read cases dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    for s in &sources {
        println!("cargo:rerun-if-changed={}", s.display());
    }
    println!("cargo:rerun-if-changed={}", cases.join("harness.h").display());

    // Remove binaries whose source is gone, so the runner never runs stale areas.
    if let Ok(rd) = std::fs::read_dir(&out) {
        for e in rd.flatten() {
            let name = e.file_name();
            if !cases.join(format!("{}.c", name.to_string_lossy())).exists() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".into());
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
    let mut running: Vec<(PathBuf, Child)> = Vec::new();
    let mut errors = Vec::new();
    let finish = |(src, child): (PathBuf, Child), errors: &mut Vec<String>| {
        let out = child.wait_with_output().expect("wait for gcc");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            errors.push(format!("{}:\n{}", src.display(), stderr));
        } else {
            for line in stderr.lines() {
                println!("cargo:warning={line}");
            }
        }
    };
    for src in sources {
        let area = src.file_stem().expect("stem").to_string_lossy().into_owned();
        let child = compile(&cc, &src, &out.join(&area));
        running.push((src, child));
        if running.len() >= jobs {
            let job = running.remove(0);
            finish(job, &mut errors);
        }
    }
    for job in running.drain(..) {
        finish(job, &mut errors);
    }
    if !errors.is_empty() {
        panic!("compiling the case binaries failed:\n{}", errors.join("\n"));
    }
    println!("cargo:rustc-env=SYSCALL_TESTS_CASES_DIR={}", out.display());
}

fn compile(cc: &str, src: &Path, out: &Path) -> Child {
    Command::new(cc)
        .args(["-static", "-pthread", "-O1", "-g0", "-Wall", "-std=gnu11"])
        .arg("-o")
        .arg(out)
        .arg(src)
        .args(["-lrt", "-lutil"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cc} (the system C compiler is needed to build the cases): {e}"))
}
