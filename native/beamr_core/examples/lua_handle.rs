//! The benchmark baseline for the Lua fixture: `handle` called from Rust on wasmtime
//! directly (synchronous calls, no fibers, no NIF, no Erlang), in the same way the
//! Erlang side does it: malloc + write the message, call `handle(msg, 0)`, read the
//! NUL-terminated reply, free the message.
//!
//! Usage: `lua_handle <lua-aos.wasm> [N]`. Prints the median of N evaluations of
//! `return 1 + 1` in microseconds, and checks every reply. Imports are answered with
//! zeros (`return 1 + 1` reaches none).

use std::time::Instant;
use wasmtime::{Engine, Instance, Linker, Module, Store, Val};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: lua_handle WASM [N]"))?;
    let n: usize = args.next().map_or(Ok(1000), |s| s.parse())?;
    let bytes = std::fs::read(path)?;
    let bytes = beamr_core::legacy_eh::prepare(&bytes)?;
    let mut config = beamr_core::engine::config();
    config.epoch_interruption(false);
    let engine = Engine::new(&config)?;
    let module = Module::new(&engine, &*bytes)?;
    let mut linker: Linker<()> = Linker::new(&engine);
    for import in module.imports() {
        if let wasmtime::ExternType::Func(ty) = import.ty() {
            let results: Vec<Val> = ty
                .results()
                .map(|t| Val::default_for_ty(&t).unwrap_or(Val::I32(0)))
                .collect();
            linker.func_new(import.module(), import.name(), ty, move |_, _, out| {
                out.clone_from_slice(&results);
                Ok(())
            })?;
        }
    }
    let mut store = Store::new(&engine, ());
    let instance: Instance = linker.instantiate(&mut store, &module)?;
    instance
        .get_typed_func::<(), ()>(&mut store, "_initialize")?
        .call(&mut store, ())?;
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
        let ptr = malloc.call(&mut store, msg.len() as i32)?;
        memory.write(&mut store, ptr as usize, msg)?;
        let out = handle.call(&mut store, (ptr, 0))? as usize;
        let data = memory.data(&store);
        let end = data[out..].iter().position(|&b| b == 0).unwrap_or(0);
        let reply = data[out..out + end].to_vec();
        free.call(&mut store, ptr)?;
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
