//! The one wasmtime [`Engine`] a VM shares, and the clock that interrupts it.
//!
//! Every module and instance in a node is built on the same engine so that compiled
//! code, type registrations and copy-on-write memory images are shared. Calls are
//! bounded in time by epoch interruption: a ticker thread advances the engine's epoch
//! every [`TICK`], and each store's epoch callback decides whether the running call
//! yields (it is on a normal scheduler), continues (it is on a dirty one), or stops
//! (the instance was stopped or the call's deadline passed).

use once_cell::sync::OnceCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::{Config, Engine};

/// How often the epoch advances: the longest stretch a call runs on a normal
/// scheduler before yielding, and the latency of `stop` and of deadlines.
pub const TICK: Duration = Duration::from_millis(1);

static ENGINE: OnceCell<Engine> = OnceCell::new();

/// Ticks since the ticker started; lets a time slice tell how long it has run.
static TICKS: AtomicU64 = AtomicU64::new(0);

/// The current tick count.
pub(crate) fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// The shared engine, created with the ticker on first use.
pub fn engine() -> &'static Engine {
    ENGINE.get_or_init(|| {
        let engine = Engine::new(&config()).expect("beamr's engine configuration is valid");
        start_ticker(engine.clone());
        engine
    })
}

/// The engine configuration: the proposals HyperBEAM's images use, and epochs.
pub fn config() -> Config {
    let mut config = Config::new();
    config
        .wasm_memory64(true)
        .wasm_multi_value(true)
        .wasm_bulk_memory(true)
        .wasm_reference_types(true)
        .wasm_simd(true)
        .wasm_tail_call(true)
        .wasm_exceptions(true)
        .wasm_gc(true)
        .wasm_function_references(true)
        .epoch_interruption(true)
        .memory_init_cow(true);
    config
}

fn start_ticker(engine: Engine) {
    std::thread::Builder::new()
        .name("beamr-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(TICK);
            TICKS.fetch_add(1, Ordering::Relaxed);
            engine.increment_epoch();
        })
        .expect("spawn the epoch ticker thread");
}
