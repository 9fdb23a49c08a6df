//! The benchmark baselines for the Lua fixtures: `handle` called from Rust on wasmtime
//! directly (no NIF, no Erlang), in the same way the Erlang side does it: malloc +
//! write the message (and the environment), call `handle(msg, env)`, read the
//! NUL-terminated reply, free them. wasm32 and memory64 modules alike (pointers are
//! i32 or i64).
//!
//! Usage: `lua_handle WASM [N] [MODE] [MSG ENV REPLY [WARMUP]]`. Prints the median of N
//! evaluations in microseconds and checks every reply: of `return 1 + 1` (env 0) when
//! no message is given, else of the message in the file MSG with the environment in
//! ENV, after WARMUP untimed ones (default N / 4), each reply the text of REPLY.
//! Imports are answered with zeros, as the bench's hb_beamr import fun answers them.
//! MODE:
//! - `default`: wasmtime's default configuration (plus the proposals the fixtures
//!   need: exceptions, memory64), synchronous calls: plain wasmtime.
//! - `bare`: beamr's engine configuration with epoch interruption off, synchronous
//!   calls: wasmtime at its fastest with beamr's settings, with nothing that lets a
//!   host stop or time-slice the guest.
//! - `epochs`: synchronous calls with epoch interruption on: what the checks at every
//!   function entry and loop head cost alone.
//! - `fibers`: async calls on fibers with async imports, epoch interruption off: what
//!   the fibers cost alone.
//! - `beamr-config`: beamr's engine configuration for the module (epoch interruption
//!   on, the memory layout the NIF would choose for it) and async
//!   calls on fibers with async imports, as beamr runs every call: the floor beamr's
//!   own layers stand on.
//! - `ticked`: `beamr-config` with beamr's clock as well: a thread advancing the epoch
//!   every tick at the lowest real-time priority, as beamr's ticker asks for, and an
//!   epoch callback on each tick that lets the call continue: what the ticker costs.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use wasmtime::{Config, Engine, Instance, Linker, Module, Store, TypedFunc, Val};

/// Runs a future that never waits (no import here suspends) to completion.
fn block<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            return v;
        }
    }
}

/// A call either way: synchronous, or async on a fiber.
fn call<P, R>(
    store: &mut Store<()>,
    f: &TypedFunc<P, R>,
    asynchronous: bool,
    p: P,
) -> anyhow::Result<R>
where
    P: wasmtime::WasmParams + Sync,
    R: wasmtime::WasmResults + Sync,
{
    Ok(if asynchronous {
        block(f.call_async(&mut *store, p))?
    } else {
        f.call(&mut *store, p)?
    })
}

/// A pointer of the module's width: i32, or i64 in a memory64 module.
trait Ptr: wasmtime::WasmTy + wasmtime::WasmParams + wasmtime::WasmResults + Copy + Sync {
    fn from_usize(n: usize) -> Self;
    fn to_usize(self) -> usize;
}

impl Ptr for i32 {
    fn from_usize(n: usize) -> Self {
        n as i32
    }
    fn to_usize(self) -> usize {
        self as u32 as usize
    }
}

impl Ptr for i64 {
    fn from_usize(n: usize) -> Self {
        n as i64
    }
    fn to_usize(self) -> usize {
        self as u64 as usize
    }
}

/// What is evaluated: the message, the environment (none: env 0) and the reply
/// every evaluation must give.
struct Workload {
    msg: Vec<u8>,
    env: Option<Vec<u8>>,
    reply: Vec<u8>,
    warmup: usize,
}

/// A file's text without its final newline.
fn text(path: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = std::fs::read(path)?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    Ok(bytes)
}

/// The median of `n` evaluations of `work`, in microseconds, after its warm-up.
fn measure<P: Ptr>(
    store: &mut Store<()>,
    instance: &Instance,
    asynchronous: bool,
    n: usize,
    work: &Workload,
) -> anyhow::Result<f64> {
    let malloc = instance.get_typed_func::<P, P>(&mut *store, "malloc")?;
    let free = instance.get_typed_func::<P, ()>(&mut *store, "free")?;
    let handle = instance.get_typed_func::<(P, P), P>(&mut *store, "handle")?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| anyhow::anyhow!("no memory export"))?;
    let write = |store: &mut Store<()>, bytes: &[u8]| -> anyhow::Result<P> {
        let ptr = call(store, &malloc, asynchronous, P::from_usize(bytes.len() + 1))?;
        memory.write(&mut *store, ptr.to_usize(), bytes)?;
        memory.write(&mut *store, ptr.to_usize() + bytes.len(), &[0])?;
        Ok(ptr)
    };
    let mut times = Vec::with_capacity(n);
    for i in 0..work.warmup + n {
        let t0 = Instant::now();
        let msg = write(store, &work.msg)?;
        let env = match &work.env {
            Some(env) => write(store, env)?,
            None => P::from_usize(0),
        };
        let out = call(store, &handle, asynchronous, (msg, env))?.to_usize();
        let data = memory.data(&*store);
        let tail = data.get(out..).unwrap_or_default();
        let end = tail.iter().position(|&b| b == 0).unwrap_or(0);
        let reply = tail[..end].to_vec();
        call(store, &free, asynchronous, msg)?;
        if work.env.is_some() {
            call(store, &free, asynchronous, env)?;
        }
        if i >= work.warmup {
            times.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        anyhow::ensure!(
            reply == work.reply,
            "unexpected reply {:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    times.sort_by(f64::total_cmp);
    Ok(times[n / 2])
}

/// Advances `engine`'s epoch every [`beamr_core::engine::TICK`] on a thread of its own,
/// at real-time priority 1 where that is allowed, as beamr's ticker runs.
fn tick(engine: Engine) {
    std::thread::spawn(move || {
        let realtime = libc::sched_param { sched_priority: 1 };
        // SAFETY: pid 0 is the calling thread; the kernel only reads `realtime`. A
        // refusal leaves the thread at normal priority.
        let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &realtime) };
        loop {
            std::thread::sleep(beamr_core::engine::TICK);
            engine.increment_epoch();
        }
    });
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: lua_handle WASM [N] [default|bare|epochs|fibers|beamr-config|ticked] \
                 [MSG ENV REPLY [WARMUP]]";
    let path = args.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let n: usize = args.next().map_or(Ok(1000), |s| s.parse())?;
    anyhow::ensure!(n > 0, "N must be positive");
    let mode = args.next();
    let (beamr_config, epochs, asynchronous) = match mode.as_deref() {
        Some("default") => (false, false, false),
        None | Some("bare") => (true, false, false),
        Some("epochs") => (true, true, false),
        Some("fibers") => (true, false, true),
        Some("beamr-config") | Some("ticked") => (true, true, true),
        Some(other) => anyhow::bail!("unknown mode {other:?}; {usage}"),
    };
    let work = match args.next() {
        None => Workload {
            msg: b"return 1 + 1".to_vec(),
            env: None,
            reply: b"{\"ok\":true,\"output\":\"2\"}".to_vec(),
            warmup: 0,
        },
        Some(msg) => {
            let (Some(env), Some(reply)) = (args.next(), args.next()) else {
                anyhow::bail!(usage);
            };
            Workload {
                msg: text(&msg)?,
                env: Some(text(&env)?),
                reply: text(&reply)?,
                warmup: args.next().map_or(Ok(n / 4), |s| s.parse())?,
            }
        }
    };
    let bytes = std::fs::read(path)?;
    let bytes = beamr_core::legacy_eh::prepare(&bytes)?;
    let config = if beamr_config {
        // The engine the NIF compiles this module for: its memory layout is chosen
        // from the module (memory64 modules whose maximum fits get a small reservation).
        use beamr_core::engine::{choose, config_for, Variant};
        let mut config = config_for(choose(&bytes, Variant::DEFAULT));
        config.epoch_interruption(epochs);
        config
    } else {
        let mut config = Config::new();
        config.wasm_exceptions(true).wasm_memory64(true);
        config
    };
    let engine = Engine::new(&config)?;
    let module = Module::new(&engine, &*bytes)?;
    let mut linker: Linker<()> = Linker::new(&engine);
    for import in module.imports() {
        if let wasmtime::ExternType::Func(ty) = import.ty() {
            let results: Vec<Val> = ty
                .results()
                .map(|t| Val::default_for_ty(&t).unwrap_or(Val::I32(0)))
                .collect();
            if asynchronous {
                linker.func_new_async(import.module(), import.name(), ty, move |_, _, out| {
                    out.clone_from_slice(&results);
                    Box::new(async { Ok(()) })
                })?;
            } else {
                linker.func_new(import.module(), import.name(), ty, move |_, _, out| {
                    out.clone_from_slice(&results);
                    Ok(())
                })?;
            }
        }
    }
    let mut store = Store::new(&engine, ());
    // beamr's stores take an epoch callback each tick; no ticker runs here, so the
    // checks are paid but never fire.
    if epochs {
        store.set_epoch_deadline(u64::MAX / 2);
    }
    if mode.as_deref() == Some("ticked") {
        tick(engine.clone());
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|_| Ok(wasmtime::UpdateDeadline::Continue(1)));
    }
    let instance: Instance = if asynchronous {
        block(linker.instantiate_async(&mut store, &module))?
    } else {
        linker.instantiate(&mut store, &module)?
    };
    let init = instance.get_typed_func::<(), ()>(&mut store, "_initialize")?;
    call(&mut store, &init, asynchronous, ())?;
    let memory64 = instance
        .get_memory(&mut store, "memory")
        .is_some_and(|m| m.ty(&store).is_64());
    let median = if memory64 {
        measure::<i64>(&mut store, &instance, asynchronous, n, &work)?
    } else {
        measure::<i32>(&mut store, &instance, asynchronous, n, &work)?
    };
    println!("{median:.3}");
    Ok(())
}
