//! The fuzz targets' corpora and reproducers, replayed through the very checks the
//! targets run (`fuzz/src`, compiled here without libFuzzer): every input libFuzzer
//! kept, and every input that once broke an invariant, is a regression test.

#[path = "../../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod checks;

use std::path::{Path, PathBuf};

const TARGETS: [(&str, fn(&[u8])); 4] = [
    ("legacy_eh", checks::legacy_eh::check),
    ("rewrites", checks::rewrites::check),
    ("snapshots", checks::snapshots::check),
    ("run_modules", checks::run_modules::check),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let mut n = 0;
    for sub in ["corpus", "artifacts"] {
        for file in files(&fuzz_dir().join(sub).join(target)) {
            let data = std::fs::read(&file).unwrap();
            let run = std::panic::catch_unwind(|| check(&data));
            assert!(
                run.is_ok(),
                "{target}: {} breaks its invariant",
                file.display()
            );
            n += 1;
        }
    }
    n
}

#[test]
fn legacy_eh_corpus() {
    assert!(replay("legacy_eh", TARGETS[0].1) > 0, "no legacy_eh corpus");
}

#[test]
fn rewrites_corpus() {
    assert!(replay("rewrites", TARGETS[1].1) > 0, "no rewrites corpus");
}

#[test]
fn snapshots_corpus() {
    assert!(replay("snapshots", TARGETS[2].1) > 0, "no snapshots corpus");
}

#[test]
fn run_modules_corpus() {
    assert!(
        replay("run_modules", TARGETS[3].1) > 0,
        "no run_modules corpus"
    );
}

/// The checks catch what they claim to: a snapshot changed in a way the parser must
/// refuse, a valid one, and a raw image all pass; a seed corpus exists for each.
#[test]
fn snapshot_seeds_pass() {
    for seed in checks::snapshots::seeds() {
        checks::snapshots::check(&seed);
    }
}

/// Writes the snapshot target's seed inputs into its corpus (run by hand with
/// `--ignored` after changing the fixed modules).
#[test]
#[ignore]
fn write_snapshot_seeds() {
    let dir = fuzz_dir().join("corpus/snapshots");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, seed) in checks::snapshots::seeds().iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i}")), seed).unwrap();
    }
}
