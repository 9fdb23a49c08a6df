//! The fuzz targets' corpora and reproducers, replayed through the very checks the
//! targets run (`fuzz/src`, compiled here without libFuzzer): every input libFuzzer
//! kept, and every input that once broke an invariant, is a regression test.

#[path = "../../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod checks;

use std::path::{Path, PathBuf};

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
fn compile_corpus() {
    assert!(
        replay("compile", checks::compile::check) > 0,
        "no compile corpus"
    );
}

#[test]
fn legacy_eh_corpus() {
    assert!(
        replay("legacy_eh", checks::legacy_eh::check) > 0,
        "no legacy_eh corpus"
    );
}

#[test]
fn rewrites_corpus() {
    assert!(
        replay("rewrites", checks::rewrites::check) > 0,
        "no rewrites corpus"
    );
}

#[test]
fn snapshots_corpus() {
    assert!(
        replay("snapshots", checks::snapshots::check) > 0,
        "no snapshots corpus"
    );
}

#[test]
fn run_modules_corpus() {
    assert!(
        replay("run_modules", checks::run_modules::check) > 0,
        "no run_modules corpus"
    );
}

#[test]
fn snapshot_seeds_pass() {
    for seed in checks::snapshots::seeds() {
        checks::snapshots::check(&seed);
    }
}

/// The snapshot check's reference decoder reads what beamr writes, and refuses a
/// snapshot with any one byte changed (the checksum, or the structure, breaks).
#[test]
fn snapshot_reference_decoder_reads_beamr_snapshots() {
    use checks::snapshots::decode;
    let snap = checks::snapshots::instance(0).serialize().unwrap();
    let d = decode(&snap).expect("decodes");
    assert_eq!(d.globals[&0], (0, (-7i32).to_le_bytes().to_vec()));
    assert_eq!(
        d.globals[&3],
        (3, (-0.0f64).to_bits().to_le_bytes().to_vec())
    );
    let memory = d.memory.expect("module 0 has a memory");
    assert_eq!(memory.len(), 2 * 65536);
    assert_eq!(&memory[16..26], b"beamr fuzz");
    assert_eq!(&memory[70000..70004], &0xdeadbeef_u32.to_le_bytes());
    for at in [0, 8, 12, 44, snap.len() / 2, snap.len() - 1] {
        let mut bad = snap.clone();
        bad[at] ^= 0x10;
        assert!(decode(&bad).is_none(), "byte {at} changed, still decodes");
    }
    assert!(decode(&snap[..snap.len() - 1]).is_none());
}

/// Writes seed inputs into the corpora of the snapshot and compile targets (run by
/// hand with `--ignored` after changing the fixed modules).
#[test]
#[ignore]
fn write_seeds() {
    let write = |target: &str, seeds: Vec<Vec<u8>>| {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, seed) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed).unwrap();
        }
    };
    write("snapshots", checks::snapshots::seeds());
    write("compile", checks::compile::seeds());
}

/// The rewrites target's side-by-side run tells modules apart that compute the same
/// results but leave different memories.
#[test]
#[should_panic(expected = "memory \"m\" differs after \"f\"")]
fn rewrites_comparison_sees_a_different_memory() {
    let module = |value: u8| {
        wat::parse_str(format!(
            r#"(module (memory (export "m") 1)
                 (func (export "f") (memory.fill (i32.const 8) (i32.const {value}) (i32.const 40000))))"#
        ))
        .unwrap()
    };
    let mut u = arbitrary::Unstructured::new(&[]);
    checks::rewrites::compare(&mut u, &module(1), &module(1));
    checks::rewrites::compare(&mut u, &module(1), &module(2));
}
