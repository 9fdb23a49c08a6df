//! The benchmark baselines for the Lua fixture: `handle` called from Rust on wasmtime
//! directly (no NIF, no Erlang), in the same way the Erlang side does it: malloc +
//! write the message, call `handle(msg, 0)`, read the NUL-terminated reply, free the
//! message. wasm32 and memory64 images both work (pointers are i32 or i64).
//!
//! Usage: `lua_handle <lua-aos.wasm> [N] [bare|epochs|fibers|beamr-config] [KNOB...]`.
//! Prints the median of N evaluations in microseconds, and checks every reply. The
//! message is `return 1 + 1` unless the environment names a file of Lua in
//! `LUA_CHUNK`. Imports are answered with zeros (`return 1 + 1` reaches none).
//! - `bare` (the default): synchronous calls, epoch interruption off: wasmtime at its
//!   fastest, with nothing that lets a host stop or time-slice the guest.
//! - `epochs`: synchronous calls with epoch interruption on: what the checks at every
//!   function entry and loop head cost alone.
//! - `fibers`: async calls on fibers with async imports, epoch interruption off: what
//!   the fibers cost alone.
//! - `beamr-config`: beamr's engine configuration (epoch interruption on) and async
//!   calls on fibers with async imports, as beamr runs every call: the floor beamr's
//!   own layers stand on.
//!
//! KNOBs change the engine configuration, to measure one lever at a time:
//! `beamr-engine` (the engine beamr itself picks for the image, see
//! `beamr_core::engine::choose`), `spectre-off`, `reserve=BYTES`, `eager-tables`,
//! `inline`; and `ticker` (with epochs on): a thread advances the epoch every
//! `beamr_core::engine::TICK` and the store's epoch callback continues the call, as
//! beamr's ticker and callback do.

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

/// A guest pointer: i32 on wasm32, i64 on memory64.
trait Ptr: wasmtime::WasmTy + wasmtime::WasmParams + wasmtime::WasmResults + Copy + Sync {
    fn from_len(n: usize) -> Self;
    fn offset(self) -> usize;
}

impl Ptr for i32 {
    fn from_len(n: usize) -> Self {
        n as i32
    }
    fn offset(self) -> usize {
        self as u32 as usize
    }
}

impl Ptr for i64 {
    fn from_len(n: usize) -> Self {
        n as i64
    }
    fn offset(self) -> usize {
        self as u64 as usize
    }
}

/// N evaluations of `msg` (NUL-terminated); each reply must equal the first.
fn evaluate<P: Ptr>(
    store: &mut Store<()>,
    instance: Instance,
    asynchronous: bool,
    msg: &[u8],
    n: usize,
) -> anyhow::Result<Vec<f64>> {
    let malloc = instance.get_typed_func::<P, P>(&mut *store, "malloc")?;
    let free = instance.get_typed_func::<P, ()>(&mut *store, "free")?;
    let handle = instance.get_typed_func::<(P, P), P>(&mut *store, "handle")?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| anyhow::anyhow!("no memory export"))?;
    let mut expected: Option<Vec<u8>> = None;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        let ptr = call(store, &malloc, asynchronous, P::from_len(msg.len()))?;
        memory.write(&mut *store, ptr.offset(), msg)?;
        let out = call(store, &handle, asynchronous, (ptr, P::from_len(0)))?.offset();
        let data = memory.data(&*store);
        let end = data[out..].iter().position(|&b| b == 0).unwrap_or(0);
        let reply = data[out..out + end].to_vec();
        call(store, &free, asynchronous, ptr)?;
        times.push(t0.elapsed().as_secs_f64() * 1e6);
        match &expected {
            None => {
                anyhow::ensure!(
                    reply.starts_with(b"{\"ok\":true"),
                    "unexpected reply {:?}",
                    String::from_utf8_lossy(&reply)
                );
                expected = Some(reply);
            }
            Some(first) => anyhow::ensure!(&reply == first, "replies differ"),
        }
    }
    Ok(times)
}

/// Applies one KNOB to `config`, or says it is unknown.
fn knob(config: &mut Config, bytes: &[u8], name: &str) -> anyhow::Result<()> {
    match name {
        "beamr-engine" => {
            let variant = beamr_core::engine::choose(bytes, beamr_core::Variant::DEFAULT);
            *config = beamr_core::engine::config_for(variant);
        }
        // SAFETY: a Cranelift setting wasmtime knows; it changes code generation only.
        "spectre-off" => unsafe {
            config.cranelift_flag_set("enable_heap_access_spectre_mitigation", "false");
        },
        "eager-tables" => {
            config.table_lazy_init(false);
        }
        "inline" => {
            config.compiler_inlining(wasmtime::Inlining::Yes);
        }
        "ticker" => {}
        _ => match name.strip_prefix("reserve=") {
            Some(n) => {
                config.memory_reservation(n.parse()?);
            }
            None => anyhow::bail!("unknown knob {name:?}"),
        },
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or_else(|| {
        anyhow::anyhow!("usage: lua_handle WASM [N] [bare|epochs|fibers|beamr-config] [KNOB...]")
    })?;
    let n: usize = args.next().map_or(Ok(1000), |s| s.parse())?;
    let (epochs, asynchronous) = match args.next().as_deref() {
        None | Some("bare") => (false, false),
        Some("epochs") => (true, false),
        Some("fibers") => (false, true),
        Some("beamr-config") => (true, true),
        Some(other) => anyhow::bail!("unknown mode {other:?}"),
    };
    let original = std::fs::read(path)?;
    let bytes = beamr_core::legacy_eh::prepare(&original)?;
    let mut config = beamr_core::engine::config();
    let knobs: Vec<String> = args.collect();
    for name in &knobs {
        knob(&mut config, &original, name)?;
    }
    let ticker = knobs.iter().any(|k| k == "ticker");
    // What picking the engine costs each start of the image (the NIF does it before
    // its cache lookup).
    let t0 = Instant::now();
    for _ in 0..1000 {
        std::hint::black_box(beamr_core::engine::choose(
            std::hint::black_box(&original),
            beamr_core::Variant::DEFAULT,
        ));
    }
    eprintln!("choose: {:.2} us", t0.elapsed().as_secs_f64() * 1e3);
    let small = wat::parse_str(
        "(module (memory 1) (data (i32.const 16) \"quick\") (func (export \"id\") (result i32) i32.const 1))",
    )?;
    let t0 = Instant::now();
    for _ in 0..100_000 {
        std::hint::black_box(beamr_core::engine::choose(
            std::hint::black_box(&small),
            beamr_core::Variant::DEFAULT,
        ));
    }
    eprintln!(
        "choose, small module: {:.3} us",
        t0.elapsed().as_secs_f64() * 10.0
    );
    config.epoch_interruption(epochs);
    let engine = Engine::new(&config)?;
    let t0 = Instant::now();
    let module = Module::new(&engine, &*bytes)?;
    eprintln!("compile: {:.1} ms", t0.elapsed().as_secs_f64() * 1e3);
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
    if epochs && ticker {
        let engine = engine.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(beamr_core::engine::TICK);
            engine.increment_epoch();
        });
        store.epoch_deadline_callback(|_| Ok(wasmtime::UpdateDeadline::Continue(1)));
        store.set_epoch_deadline(1);
    } else if epochs {
        store.set_epoch_deadline(u64::MAX / 2);
    }
    let instance: Instance = if asynchronous {
        block(linker.instantiate_async(&mut store, &module))?
    } else {
        linker.instantiate(&mut store, &module)?
    };
    let init = instance.get_typed_func::<(), ()>(&mut store, "_initialize")?;
    call(&mut store, &init, asynchronous, ())?;
    let mut msg = match std::env::var_os("LUA_CHUNK") {
        Some(file) => std::fs::read(file)?,
        None => b"return 1 + 1".to_vec(),
    };
    msg.push(0);
    let memory64 =
        (module.exports()).any(|e| matches!(e.ty(), wasmtime::ExternType::Memory(m) if m.is_64()));
    let mut times = if memory64 {
        evaluate::<i64>(&mut store, instance, asynchronous, &msg, n)?
    } else {
        evaluate::<i32>(&mut store, instance, asynchronous, &msg, n)?
    };
    times.sort_by(f64::total_cmp);
    println!("{:.3}", times[n / 2]);
    Ok(())
}
