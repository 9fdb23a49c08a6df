//! The wasmtime [`Engine`]s a VM shares, and the clock that interrupts them.
//!
//! Every module and instance in a node is built on one of a small set of engines (see
//! [`Variant`]) so that compiled code, type registrations and copy-on-write memory
//! images are shared. Fuel metering and NaN canonicalization are engine-wide in
//! wasmtime, so they live in a second engine, built on first use, and the default
//! engine's calls carry no fuel accounting. Calls are
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

/// The largest wasm stack a call may use; deeper recursion traps with a stack
/// overflow. Engine-wide in wasmtime, so one value for the node.
pub const MAX_WASM_STACK: usize = 1 << 20;

/// The fiber stack each call runs on: the wasm stack plus room for host frames.
const ASYNC_STACK: usize = MAX_WASM_STACK + (1 << 20);

/// Which engine a module is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// No fuel accounting; the fast path.
    Default,
    /// Fuel metering and NaN canonicalization: deterministic, budgetable execution.
    Deterministic,
}

impl Variant {
    /// A stable byte naming the variant in on-disk artifacts.
    pub fn tag(self) -> u8 {
        match self {
            Variant::Default => 0,
            Variant::Deterministic => 1,
        }
    }

    pub fn from_tag(tag: u8) -> Option<Variant> {
        match tag {
            0 => Some(Variant::Default),
            1 => Some(Variant::Deterministic),
            _ => None,
        }
    }
}

static ENGINE: OnceCell<Engine> = OnceCell::new();
static DETERMINISTIC: OnceCell<Engine> = OnceCell::new();
static TICKER: OnceCell<()> = OnceCell::new();

/// Ticks since the ticker started; lets a time slice tell how long it has run.
static TICKS: AtomicU64 = AtomicU64::new(0);

/// The current tick count.
pub(crate) fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// The default engine, created with the ticker on first use.
pub fn engine() -> &'static Engine {
    engine_for(Variant::Default)
}

/// The engine of `variant`, created on first use; the ticker drives every engine.
pub fn engine_for(variant: Variant) -> &'static Engine {
    let cell = match variant {
        Variant::Default => &ENGINE,
        Variant::Deterministic => &DETERMINISTIC,
    };
    let engine = cell.get_or_init(|| {
        Engine::new(&config_for(variant)).expect("beamr's engine configuration is valid")
    });
    TICKER.get_or_init(start_ticker);
    engine
}

/// The configuration of `variant`'s engine.
pub fn config_for(variant: Variant) -> Config {
    let mut config = config();
    if variant == Variant::Deterministic {
        config
            .consume_fuel(true)
            .cranelift_nan_canonicalization(true);
    }
    config
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
        .memory_init_cow(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(ASYNC_STACK);
    config
}

fn start_ticker() {
    std::thread::Builder::new()
        .name("beamr-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(TICK);
            TICKS.fetch_add(1, Ordering::Relaxed);
            for engine in [&ENGINE, &DETERMINISTIC]
                .into_iter()
                .filter_map(|c| c.get())
            {
                engine.increment_epoch();
            }
        })
        .expect("spawn the epoch ticker thread");
}
