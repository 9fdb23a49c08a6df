//! Start-up cost of a module with a large element-initialized function table: prints
//! the best per-start time (instantiate + drop) in microseconds over a few rounds.
//! Usage: `table_start [ENTRIES] [STARTS]`.
use beamr_core::{compile, Instance};
use std::fmt::Write;
use std::time::Instant;

/// A module with `n` distinct functions, all placed in its table by one active segment.
fn wat(n: u32) -> String {
    let mut w = format!("(module (table (export \"__indirect_function_table\") {n} funcref)\n");
    for k in 0..n {
        writeln!(w, "(func $f{k} (result i32) i32.const {k})").unwrap();
    }
    w.push_str("(elem (i32.const 0) func");
    for k in 0..n {
        write!(w, " $f{k}").unwrap();
    }
    w.push_str("))");
    w
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let starts: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(2_000);
    let module = compile(wat(n).as_bytes()).unwrap();
    drop(Instance::new(module.clone(), None).unwrap());
    let best = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..starts {
                drop(Instance::new(module.clone(), None).unwrap());
            }
            t.elapsed().as_secs_f64() * 1e6 / starts as f64
        })
        .fold(f64::INFINITY, f64::min);
    println!("{best:.3}");
}
