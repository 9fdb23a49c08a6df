//! The benchmark baselines for the Lua fixture: `handle` called from Rust on wasmtime
//! directly (no NIF, no Erlang), in the same way the Erlang side does it: malloc +
//! write the message, call `handle(msg, 0)`, read the NUL-terminated reply, free the
//! message.
//!
//! Usage: `lua_handle <lua-aos.wasm> [N] [bare|epochs|fibers|beamr-config]`. Prints the median of N
//! evaluations of `return 1 + 1` in microseconds, and checks every reply. Imports are
//! answered with zeros (`return 1 + 1` reaches none).
//! - `bare` (the default): synchronous calls, epoch interruption off: wasmtime at its
//!   fastest, with nothing that lets a host stop or time-slice the guest.
//! - `epochs`: synchronous calls with epoch interruption on: what the checks at every
//!   function entry and loop head cost alone.
//! - `fibers`: async calls on fibers with async imports, epoch interruption off: what
//!   the fibers cost alone.
//! - `beamr-config`: beamr's engine configuration (epoch interruption on) and async
//!   calls on fibers with async imports, as beamr runs every call: the floor beamr's
//!   own layers stand on.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use wasmtime::{Engine, Instance, Linker, Module, Store, TypedFunc, Val};

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

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or_else(|| {
        anyhow::anyhow!("usage: lua_handle WASM [N] [bare|epochs|fibers|beamr-config]")
    })?;
    let n: usize = args.next().map_or(Ok(1000), |s| s.parse())?;
    let (epochs, asynchronous) = match args.next().as_deref() {
        None | Some("bare") => (false, false),
        Some("epochs") => (true, false),
        Some("fibers") => (false, true),
        Some("beamr-config") => (true, true),
        Some(other) => anyhow::bail!("unknown mode {other:?}"),
    };
    let bytes = std::fs::read(path)?;
    let bytes = beamr_core::legacy_eh::prepare(&bytes)?;
    let mut config = beamr_core::engine::config();
    config.epoch_interruption(epochs);
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
    let instance: Instance = if asynchronous {
        block(linker.instantiate_async(&mut store, &module))?
    } else {
        linker.instantiate(&mut store, &module)?
    };
    let init = instance.get_typed_func::<(), ()>(&mut store, "_initialize")?;
    call(&mut store, &init, asynchronous, ())?;
    let malloc = instance.get_typed_func::<i32, i32>(&mut store, "malloc")?;
    let free = instance.get_typed_func::<i32, ()>(&mut store, "free")?;
    let handle = instance.get_typed_func::<(i32, i32), i32>(&mut store, "handle")?;
    let memory = instance
        .get_memory(&mut store, "memory")
        .ok_or_else(|| anyhow::anyhow!("no memory export"))?;
    let msg = b"return 1 + 1\0";
    let expected = b"{\"ok\":true,\"output\":\"2\"}";
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        let ptr = call(&mut store, &malloc, asynchronous, msg.len() as i32)?;
        memory.write(&mut store, ptr as usize, msg)?;
        let out = call(&mut store, &handle, asynchronous, (ptr, 0))? as usize;
        let data = memory.data(&store);
        let end = data[out..].iter().position(|&b| b == 0).unwrap_or(0);
        let reply = data[out..out + end].to_vec();
        call(&mut store, &free, asynchronous, ptr)?;
        times.push(t0.elapsed().as_secs_f64() * 1e6);
        anyhow::ensure!(
            reply == expected,
            "unexpected reply {:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    times.sort_by(f64::total_cmp);
    println!("{:.3}", times[n / 2]);
    Ok(())
}
