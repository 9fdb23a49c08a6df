//! Per-call cost of the core call path against raw wasmtime async calls.
//!
//! `call_cost [N] [MODE]`: `core` (fac through beamr), `target` (the same as the NIF
//! calls it, reusing vectors), `dyn` / `typed` (fac on raw
//! wasmtime), `import` (an import round trip through beamr, a fresh results vector
//! each time), `import-reuse` (the same, reusing vectors as the NIF does), `floor`
//! (raw wasmtime suspending once per import: the least a round trip can cost).
use beamr_core::{compile, Instance, Slice, Step, Target, Val};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

const WAT: &str = r#"(module
  (import "env" "mul" (func $mul (param i32 i32) (result i32)))
  (func (export "pow") (param $b i32) (param $e i32) (result i32) (local $acc i32)
    (local.set $acc (i32.const 1))
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $e)))
      (local.set $acc (call $mul (local.get $acc) (local.get $b)))
      (local.set $e (i32.sub (local.get $e) (i32.const 1)))
      (br $next)))
    (local.get $acc))
  (func $fac (export "fac") (param f64) (result f64)
    local.get 0 f64.const 1 f64.lt
    if (result f64) f64.const 1
    else local.get 0 local.get 0 f64.const 1 f64.sub call $fac f64.mul end))"#;

fn block<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            return v;
        }
    }
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mode = std::env::args().nth(2).unwrap_or_default();
    let module = compile(WAT.as_bytes()).unwrap();
    let mut i = Instance::new(module.clone(), None).unwrap();
    let t = Instant::now();
    match mode.as_str() {
        "core" | "" => {
            for _ in 0..n {
                let c = i.resolve(Target::Name("fac")).unwrap();
                let mut s = i.call(&c, vec![Val::F64(5f64.to_bits())], Slice::Normal, None);
                while let Step::Yield = s {
                    s = i.proceed(Slice::Normal);
                }
                assert!(matches!(s, Step::Done(_)));
            }
        }
        "target" => {
            // As the NIF calls: the export borrowed from the cache, the arguments made
            // in the spare vector, the results' vector handed back for the next call.
            for _ in 0..n {
                let made = |_: &[wasmtime::ValType], v: &mut Vec<Val>| {
                    v.push(Val::F64(5f64.to_bits()));
                    true
                };
                let mut s = i
                    .call_target(Target::Name("fac"), Slice::Normal, None, made)
                    .unwrap();
                while let Step::Yield = s {
                    s = i.proceed(Slice::Normal);
                }
                match s {
                    Step::Done(v) => i.recycle_vals(v),
                    _ => panic!("fac failed"),
                }
            }
        }
        "import" | "import-reuse" => {
            // import-reuse hands vectors back as the NIF does (no allocation per trip).
            let reuse = mode == "import-reuse";
            let c = i.resolve(Target::Name("pow")).unwrap();
            let mut s = i.call(
                &c,
                vec![Val::I32(1), Val::I32(n as i32)],
                Slice::Normal,
                None,
            );
            loop {
                s = match s {
                    Step::Import { args, .. } if reuse => {
                        let a = args[0].unwrap_i32() * args[1].unwrap_i32();
                        i.recycle_vals(args);
                        let mut results = i.spare_vals();
                        results.push(Val::I32(a));
                        i.resume(results, Slice::Normal)
                    }
                    Step::Import { args, .. } => {
                        let a = args[0].unwrap_i32() * args[1].unwrap_i32();
                        i.resume(vec![Val::I32(a)], Slice::Normal)
                    }
                    Step::Yield => i.proceed(Slice::Normal),
                    Step::Done(_) => break,
                    Step::Failed(e) => panic!("{e}"),
                }
            }
        }
        "dyn" | "typed" => {
            let engine = beamr_core::engine::engine();
            let mut store = wasmtime::Store::new(engine, ());
            store.set_epoch_deadline(1 << 40);
            let mut linker = wasmtime::Linker::new(engine);
            linker
                .func_wrap_async(
                    "env",
                    "mul",
                    |_c: wasmtime::Caller<'_, ()>, (a, b): (i32, i32)| {
                        Box::new(async move { a * b })
                    },
                )
                .unwrap();
            let inst =
                block(linker.instantiate_async(&mut store, module.wasmtime_module())).unwrap();
            let f = inst.get_func(&mut store, "fac").unwrap();
            if mode == "dyn" {
                for _ in 0..n {
                    let mut out = vec![Val::I32(0)];
                    block(f.call_async(&mut store, &[Val::F64(5f64.to_bits())], &mut out)).unwrap();
                }
            } else {
                let tf = f.typed::<f64, f64>(&store).unwrap();
                for _ in 0..n {
                    block(tf.call_async(&mut store, 5.0)).unwrap();
                }
            }
        }
        "floor" => {
            // The least an import round trip can cost on wasmtime: a typed async host
            // function that suspends once per call, answered through a thread-local.
            thread_local! {
                static ARGS: std::cell::Cell<Option<(i32, i32)>> = const { std::cell::Cell::new(None) };
                static ANSWER: std::cell::Cell<Option<i32>> = const { std::cell::Cell::new(None) };
            }
            struct Wait;
            impl Future for Wait {
                type Output = i32;
                fn poll(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<i32> {
                    match ANSWER.take() {
                        Some(v) => Poll::Ready(v),
                        None => Poll::Pending,
                    }
                }
            }
            let engine = beamr_core::engine::engine();
            let mut store = wasmtime::Store::new(engine, ());
            store.set_epoch_deadline(1 << 40);
            let mut linker = wasmtime::Linker::new(engine);
            linker
                .func_wrap_async(
                    "env",
                    "mul",
                    |_c: wasmtime::Caller<'_, ()>, (a, b): (i32, i32)| {
                        Box::new(async move {
                            ARGS.set(Some((a, b)));
                            Wait.await
                        })
                    },
                )
                .unwrap();
            let inst =
                block(linker.instantiate_async(&mut store, module.wasmtime_module())).unwrap();
            let f = inst
                .get_typed_func::<(i32, i32), i32>(&mut store, "pow")
                .unwrap();
            let mut fut = pin!(f.call_async(&mut store, (1, n as i32)));
            loop {
                match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                    Poll::Ready(r) => {
                        r.unwrap();
                        break;
                    }
                    Poll::Pending => {
                        if let Some((a, b)) = ARGS.take() {
                            ANSWER.set(Some(a * b));
                        }
                    }
                }
            }
        }
        _ => panic!("mode"),
    }
    println!(
        "{mode}: {:.1} ns/call",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}
