//! The wasmtime [`Engine`]s a VM shares, and the clock that interrupts them.
//!
//! Every module and instance in a node is built on one of a small set of engines (see
//! [`Variant`]) so that compiled code, type registrations and copy-on-write memory
//! images are shared. Fuel metering, NaN canonicalization, the enabled proposals, the
//! memory reservation and the Spectre guard are engine-wide in wasmtime, so each
//! combination the node's options ask for, and the module's memories suit (see
//! [`choose`]), is an engine of its own, built on first use, and the default engine's
//! calls carry no fuel accounting and reach only the base proposals. Calls are
//! bounded in time by epoch interruption: a ticker thread advances the engine's epoch
//! every [`TICK`], and each store's epoch callback decides whether the running call
//! yields (it is on a normal scheduler), continues (it is on a dirty one), or stops
//! (the instance was stopped or the call's deadline passed). Ticks only matter while
//! wasm runs, so the ticker parks after [`IDLE_TICKS`] ticks in which nothing ran, and
//! the next poll wakes it: an idle node spends no CPU on it.

use crate::proposals::Optional;
use once_cell::sync::OnceCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::Thread;
use std::time::Duration;
use wasmtime::{Config, Engine};

/// How often the epoch advances. A normal-scheduler slice yields once it has seen a
/// whole tick go by, so it runs between one and two ticks: at most about a
/// millisecond. Also the latency of `stop` and of deadlines.
pub const TICK: Duration = Duration::from_micros(500);

/// Ticks with no wasm running after which the ticker parks.
pub const IDLE_TICKS: u32 = 200;

/// The largest wasm stack a call may use; deeper recursion traps with a stack
/// overflow. Engine-wide in wasmtime, so one value for the node.
pub const MAX_WASM_STACK: usize = 1 << 20;

/// The fiber stack each call runs on: the wasm stack plus room for host frames.
const ASYNC_STACK: usize = MAX_WASM_STACK + (1 << 20);

/// Which engine a module is compiled for: fuel metering or not, which optional
/// proposals (see [`crate::proposals`]) it enables, and how its linear memories are
/// laid out (see [`Layout`]). Each combination is one engine, built on first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Variant {
    /// Fuel metering and NaN canonicalization: deterministic, budgetable execution.
    pub deterministic: bool,
    /// The optional proposals enabled beyond the base set.
    pub optional: Optional,
    /// The memory layout, picked from the module itself by [`choose`].
    pub layout: Layout,
    /// The Spectre guard on heap accesses: a `cmov` after each bounds check, so a
    /// mispredicted check cannot read past the memory speculatively. On unless the node
    /// turns it off (see [`set_spectre_guard`]); [`choose`] applies the node's setting.
    pub spectre_guard: bool,
}

/// How an engine reserves address space for linear memories. Engine-wide in
/// wasmtime, and it decides what a bounds check compiles to, so [`choose`] picks it
/// per module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Layout {
    /// A 4 GiB reservation: a 32-bit memory needs no bounds checks at all.
    #[default]
    Standard,
    /// A [`SMALL64_RESERVATION`] reservation, for modules whose memories are all
    /// 64-bit and declare a maximum within it. wasmtime bounds-checks every 64-bit
    /// access; against this reservation the check compares with an immediate, where
    /// 4 GiB is a constant loaded from memory at every access.
    Small64,
}

/// The reservation of [`Layout::Small64`]: the largest whose bound, less an access's
/// size, fits a signed 32-bit immediate. AOS images declare exactly this maximum.
pub const SMALL64_RESERVATION: u64 = 2 << 30;

/// What a start or compilation asks of the engine, each part `None` where the caller
/// left it to the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineChoice {
    /// Fuel metering and NaN canonicalization, if asked.
    pub deterministic: Option<bool>,
    /// The optional proposals, if named.
    pub optional: Option<Optional>,
}

impl EngineChoice {
    /// Nothing asked: the engine of a start given only bytes.
    pub const DEFAULT: EngineChoice = EngineChoice {
        deterministic: None,
        optional: None,
    };

    /// The engine a start or compilation uses: what the choice asks, and for what it
    /// leaves open, the engine `base` (a module handle's compilation, when the start is
    /// given one) was made for, else the default engine. The one place that decision is
    /// made; the module then picks its memory layout (see [`choose`]).
    ///
    /// ```
    /// use beamr_core::engine::{EngineChoice, Variant};
    /// let choice = EngineChoice { deterministic: Some(true), optional: None };
    /// assert_eq!(choice.variant(None), Variant::DETERMINISTIC);
    /// assert_eq!(EngineChoice::DEFAULT.variant(Some(Variant::DETERMINISTIC)), Variant::DETERMINISTIC);
    /// ```
    pub fn variant(self, base: Option<Variant>) -> Variant {
        let base = base.unwrap_or(Variant::DEFAULT);
        Variant {
            deterministic: self.deterministic.unwrap_or(base.deterministic),
            optional: self.optional.unwrap_or(base.optional),
            ..base
        }
    }
}

impl Variant {
    /// No fuel accounting, no optional proposal; the fast path.
    pub const DEFAULT: Variant = Variant {
        deterministic: false,
        optional: Optional::NONE,
        layout: Layout::Standard,
        spectre_guard: true,
    };
    /// [`Variant::DEFAULT`] with fuel metering and NaN canonicalization.
    pub const DETERMINISTIC: Variant = Variant {
        deterministic: true,
        optional: Optional::NONE,
        layout: Layout::Standard,
        spectre_guard: true,
    };

    /// The variant as start and compile options name it: the layout, which the
    /// module decides, and the Spectre guard, which the node does, as by default.
    pub fn requested(self) -> Variant {
        Variant {
            layout: Layout::Standard,
            spectre_guard: true,
            ..self
        }
    }

    /// A stable byte naming the variant in on-disk artifacts.
    ///
    /// ```
    /// use beamr_core::engine::{Layout, Variant};
    /// use beamr_core::proposals::Optional;
    /// let v = Variant {
    ///     deterministic: true,
    ///     optional: Optional::from_names(["gc"]).unwrap(),
    ///     layout: Layout::Small64,
    ///     spectre_guard: false,
    /// };
    /// assert_eq!(Variant::from_tag(v.tag()), Some(v));
    /// assert_eq!(Variant::DEFAULT.tag(), 0);
    /// assert!((0..=255).all(|t| Variant::from_tag(t).map(Variant::tag) == Some(t)));
    /// ```
    pub fn tag(self) -> u8 {
        u8::from(self.deterministic)
            | self.optional.bits() << 1
            | u8::from(self.layout == Layout::Small64) << LAYOUT_SHIFT
            | u8::from(!self.spectre_guard) << UNGUARDED_SHIFT
    }

    pub fn from_tag(tag: u8) -> Option<Variant> {
        Some(Variant {
            deterministic: tag & 1 == 1,
            optional: Optional::from_bits((tag >> 1) & Optional::ALL.bits())?,
            layout: if tag >> LAYOUT_SHIFT & 1 == 1 {
                Layout::Small64
            } else {
                Layout::Standard
            },
            spectre_guard: tag >> UNGUARDED_SHIFT & 1 == 0,
        })
    }
}

/// The tag bit of [`Variant::layout`], above the optional proposals' bits.
const LAYOUT_SHIFT: u32 = 6;
/// The tag bit set when [`Variant::spectre_guard`] is off.
const UNGUARDED_SHIFT: u32 = 7;
/// Every tag [`Variant::tag`] makes is below this.
const ENGINE_SLOTS: usize = 1 << (UNGUARDED_SHIFT + 1);

/// The node's Spectre guard setting, read by [`choose`].
static SPECTRE_GUARD: AtomicBool = AtomicBool::new(true);

/// Turns the Spectre guard on heap accesses on or off for modules compiled from now on
/// (those compiled already keep their engine). On by default. Off, wasm runs faster
/// (bounds checks stay, only their speculation barrier goes), and a guest able to
/// time the cache may read the node's memory outside its own speculatively, the
/// node's keys included: only for a node that runs no wasm it does not trust.
pub fn set_spectre_guard(on: bool) {
    SPECTRE_GUARD.store(on, Ordering::Relaxed);
}

/// The node's Spectre guard setting (see [`set_spectre_guard`]).
pub fn spectre_guard() -> bool {
    SPECTRE_GUARD.load(Ordering::Relaxed)
}

/// The variant `requested`'s options name, with the node's Spectre guard setting (see
/// [`set_spectre_guard`]) and the memory layout that suits the module `wasm`: [`Layout::Small64`] when it has linear memories, every one of them
/// 64-bit with a declared maximum of at most [`SMALL64_RESERVATION`]; otherwise (also
/// for WAT text and for bytes that do not parse) [`Layout::Standard`]. Reads the
/// section headers and the memory and import sections only, so it costs microseconds
/// even for a large image, and it gives the same answer for the same bytes, so the
/// module cache can be keyed on it.
///
/// ```
/// use beamr_core::engine::{choose, Layout, Variant};
/// let small = wat::parse_str("(module (memory i64 1 32768))").unwrap();
/// assert_eq!(choose(&small, Variant::DEFAULT).layout, Layout::Small64);
/// let unbounded = wat::parse_str("(module (memory i64 1))").unwrap();
/// assert_eq!(choose(&unbounded, Variant::DEFAULT).layout, Layout::Standard);
/// let narrow = wat::parse_str("(module (memory 1 2))").unwrap();
/// assert_eq!(choose(&narrow, Variant::DEFAULT).layout, Layout::Standard);
/// ```
pub fn choose(wasm: &[u8], requested: Variant) -> Variant {
    let layout = if small64(wasm).unwrap_or(false) {
        Layout::Small64
    } else {
        Layout::Standard
    };
    Variant {
        layout,
        spectre_guard: spectre_guard(),
        ..requested
    }
}

/// Whether `wasm` has memories and all are 64-bit with a maximum that fits
/// [`SMALL64_RESERVATION`]; `None` when it does not parse.
fn small64(wasm: &[u8]) -> Option<bool> {
    use wasmparser::{Parser, Payload, TypeRef};
    const PAGE: u64 = 1 << 16;
    let fits = |m: wasmparser::MemoryType| {
        m.memory64
            && m.page_size_log2.is_none()
            && m.maximum
                .is_some_and(|max| max.saturating_mul(PAGE) <= SMALL64_RESERVATION)
    };
    let mut memories = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.ok()? {
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    if let TypeRef::Memory(m) = import.ok()?.ty {
                        if !fits(m) {
                            return Some(false);
                        }
                        memories += 1;
                    }
                }
            }
            Payload::MemorySection(section) => {
                for m in section {
                    if !fits(m.ok()?) {
                        return Some(false);
                    }
                    memories += 1;
                }
            }
            // Memories come before the code; nothing past it can add one.
            Payload::CodeSectionStart { .. } | Payload::End(_) => break,
            _ => {}
        }
    }
    Some(memories > 0)
}

/// One slot per possible tag: every engine a node may build.
static ENGINES: [OnceCell<Engine>; ENGINE_SLOTS] = [const { OnceCell::new() }; ENGINE_SLOTS];
static TICKER: OnceCell<()> = OnceCell::new();

/// Ticks since the ticker started; lets a time slice tell how long it has run.
static TICKS: AtomicU64 = AtomicU64::new(0);

/// Set by polls and epoch callbacks, cleared by the ticker at each tick.
static RECENT: AtomicBool = AtomicBool::new(false);
/// True while the ticker is parked (or about to park).
static PARKED: AtomicBool = AtomicBool::new(false);
static TICKER_THREAD: OnceCell<Thread> = OnceCell::new();

/// The number of ticks so far (it stands still while the ticker is parked).
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Whether the ticker is parked for want of running wasm.
pub fn ticker_parked() -> bool {
    PARKED.load(Ordering::SeqCst)
}

/// Called before wasm runs (each poll) and at each epoch callback: keeps the ticker
/// ticking, waking it if it parked. Costs one shared load when it is already awake.
pub(crate) fn note_activity() {
    if RECENT.load(Ordering::Relaxed) {
        return;
    }
    // With the ticker's store of PARKED and load of RECENT (all SeqCst), either this
    // sees it parking and wakes it, or it sees this activity and does not park.
    RECENT.store(true, Ordering::SeqCst);
    if PARKED.load(Ordering::SeqCst) {
        if let Some(t) = TICKER_THREAD.get() {
            t.unpark();
        }
    }
}

/// The default engine, created with the ticker on first use.
pub fn engine() -> &'static Engine {
    engine_for(Variant::DEFAULT)
}

/// The engine of `variant`, created on first use; the ticker drives every engine.
pub fn engine_for(variant: Variant) -> &'static Engine {
    let cell = &ENGINES[usize::from(variant.tag())];
    let engine = cell.get_or_init(|| {
        Engine::new(&config_for(variant)).expect("beamr's engine configuration is valid")
    });
    TICKER.get_or_init(start_ticker);
    engine
}

/// The configuration of `variant`'s engine.
pub fn config_for(variant: Variant) -> Config {
    let mut config = config();
    crate::proposals::configure(&mut config, variant.optional);
    if variant.layout == Layout::Small64 {
        config.memory_reservation(SMALL64_RESERVATION);
    }
    if !variant.spectre_guard {
        // SAFETY: a Cranelift setting wasmtime knows. Bounds checks stay, so wasm
        // still cannot reach memory outside its own architecturally; only the barrier
        // against speculative reads past a check goes, which the node opted out of.
        unsafe {
            config.cranelift_flag_set("enable_heap_access_spectre_mitigation", "false");
        }
    }
    if variant.deterministic {
        config
            .consume_fuel(true)
            .cranelift_nan_canonicalization(true);
    }
    config
}

/// The engine configuration every variant shares: the base proposals (see
/// [`crate::proposals`]), epochs, copy-on-write memory images and the stacks.
pub fn config() -> Config {
    let mut config = Config::new();
    crate::proposals::configure(&mut config, Optional::NONE);
    config
        .epoch_interruption(true)
        .memory_init_cow(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(ASYNC_STACK)
        .with_host_stack(std::sync::Arc::new(crate::stacks::PooledStacks));
    config
}

/// The slice the ticker asks the kernel for: far more than a tick's work (a few atomic
/// operations), far less than the kernel's default.
#[cfg(target_os = "linux")]
const TICKER_SLICE_NS: u64 = 100_000;

/// Asks the kernel to run the ticker as soon as it wakes. The tick that ends a
/// normal-scheduler slice is only as punctual as the ticker's wake-ups, and Linux's
/// EEVDF scheduler (6.6 and later) lets a busy thread (the scheduler thread running
/// the wasm, when the ticker wakes on its CPU) finish its own slice first, 3 ms and
/// more by default: slices ran 5 ms instead of 1 on these machines. A short slice of
/// its own (Linux 6.12's custom slices, `sched_setattr` on a normal-policy thread,
/// no privilege needed) gives the ticker an earlier deadline, so its wake-ups preempt,
/// but not always: with both cores busy, one start in a few hundred still ran 4 ms.
/// So the ticker first asks for the lowest real-time priority (`SCHED_FIFO` 1, which
/// a node running as root, with `CAP_SYS_NICE` or with an `RLIMIT_RTPRIO` of at least
/// 1 gets): its wake-ups then preempt any
/// normal thread, and it runs a few atomic operations per tick and parks when idle, so
/// it takes next to nothing from them. Where that is refused it keeps the short slice;
/// older kernels ignore that too, and refusal changes nothing else.
#[cfg(target_os = "linux")]
fn ask_for_prompt_wakeups() {
    /// `struct sched_attr` of `sched_setattr(2)`, version 0 (48 bytes).
    #[repr(C)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: libc::SCHED_OTHER as u32,
        flags: 0,
        nice: 0,
        priority: 0,
        runtime: TICKER_SLICE_NS,
        deadline: 0,
        period: 0,
    };
    let realtime = libc::sched_param { sched_priority: 1 };
    // SAFETY: pid 0 is the calling thread; the kernel only reads `realtime`.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &realtime) } == 0 {
        return;
    }
    // SAFETY: `attr` is a valid, initialized sched_attr of the size it declares; pid 0
    // is the calling thread; the kernel only reads it.
    let _ = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
}

#[cfg(not(target_os = "linux"))]
fn ask_for_prompt_wakeups() {}

fn start_ticker() {
    let ticker = std::thread::Builder::new()
        .name("beamr-epoch".into())
        .spawn(tick_forever)
        .expect("spawn the epoch ticker thread");
    let _ = TICKER_THREAD.set(ticker.thread().clone());
}

fn tick_forever() {
    ask_for_prompt_wakeups();
    let mut idle = 0;
    loop {
        std::thread::sleep(TICK);
        advance();
        idle = if RECENT.swap(false, Ordering::SeqCst) {
            0
        } else {
            idle + 1
        };
        if idle >= IDLE_TICKS {
            PARKED.store(true, Ordering::SeqCst);
            // A wake-up (unpark) that comes before park() makes it return at once.
            while !RECENT.load(Ordering::SeqCst) {
                std::thread::park();
            }
            PARKED.store(false, Ordering::SeqCst);
            idle = 0;
            // The ticks stood still while parked, so the slice that woke the ticker
            // began at the last tick: advance now, as if the clock had kept running,
            // so that slice ends a tick from here rather than two.
            advance();
        }
    }
}

/// One tick: the tick count and every engine's epoch advance.
fn advance() {
    TICKS.fetch_add(1, Ordering::Relaxed);
    for engine in ENGINES.iter().filter_map(|c| c.get()) {
        engine.increment_epoch();
    }
}
