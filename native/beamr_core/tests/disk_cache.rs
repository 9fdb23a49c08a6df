//! The on-disk module cache and `aot` artifacts. One test: the cache directory is
//! process-wide state.

use beamr_core::disk_cache::{self, info, load_artifact, precompile};
use beamr_core::module::{cache_info, clear_cache};
use beamr_core::{compile, Error, Instance, Variant};
use sha2::{Digest, Sha256};

const WAT: &str = r#"(module (func (export "seven") (result i32) i32.const 7))"#;

#[test]
fn disk_cache_and_artifacts() {
    let dir = std::env::temp_dir().join(format!("beamr-disk-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    disk_cache::set_dir(Some(dir.clone())).unwrap();

    compile(WAT.as_bytes()).unwrap();
    let first = info();
    assert_eq!(first.files, 1);
    assert_eq!(first.misses, 1);
    clear_cache();
    assert_eq!(cache_info().modules, 0);
    let module = compile(WAT.as_bytes()).unwrap();
    assert_eq!(
        info().hits,
        first.hits + 1,
        "the second compile came from disk"
    );
    Instance::new(module, None).unwrap();

    // A corrupted cache file is recompiled, not executed.
    let versioned = info().dir.unwrap();
    assert!(versioned.starts_with(&dir), "artifacts live under the root");
    let file = std::fs::read_dir(&versioned)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    clear_cache();
    compile(WAT.as_bytes()).unwrap();
    assert_eq!(info().misses, first.misses + 1);

    // Artifacts: ours load; tampered, foreign or junk ones are refused.
    let artifact = precompile(WAT.as_bytes(), Variant::DEFAULT).unwrap();
    clear_cache();
    let loaded = load_artifact(&artifact).unwrap();
    Instance::new(loaded, None).unwrap();
    let mut tampered = artifact.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 1;
    assert!(matches!(load_artifact(&tampered), Err(Error::Aot(_))));
    assert!(matches!(
        load_artifact(&artifact[..artifact.len() - 1]),
        Err(Error::Aot(_))
    ));
    assert!(matches!(
        load_artifact(b"\0asm\x01\0\0\0"),
        Err(Error::Aot(_))
    ));
    // A well-formed artifact this node never produced (payload changed and its digest
    // recomputed, so every header check passes) is refused by the trust check.
    let mut forged = artifact.clone();
    let payload_at = 121;
    let flip = payload_at + (forged.len() - payload_at) / 2;
    forged[flip] ^= 1;
    let digest = Sha256::digest(&forged[payload_at..]);
    forged[85..117].copy_from_slice(&digest);
    match load_artifact(&forged) {
        Err(Error::Aot(m)) => assert!(m.contains("not produced"), "{m}"),
        Err(e) => panic!("refused for the wrong reason: {e}"),
        Ok(_) => panic!("a forged artifact was accepted"),
    }
    disk_cache::set_dir(None).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    // A directory that cannot be created is an error and leaves the cache off.
    disk_cache::set_dir(Some(dir.clone())).unwrap();
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    assert!(disk_cache::set_dir(Some(file.join("cache"))).is_err());
    assert_eq!(info().dir, None);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The version named in artifacts and in the cache's folder is the wasmtime in use.
#[test]
fn wasmtime_version_is_the_locked_one() {
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).unwrap();
    let locked = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"wasmtime\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_string());
    assert_eq!(locked.as_deref(), Some(disk_cache::WASMTIME_VERSION));
}
