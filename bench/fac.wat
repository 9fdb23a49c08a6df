;; Benchmark fixture: HyperBEAM's `fac` test module, and `pow` through an import.
(module
  (import "my_lib" "mul" (func $mul (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $fac (export "fac") (param f64) (result f64)
    (if (result f64) (f64.lt (local.get 0) (f64.const 1))
      (then (f64.const 1))
      (else (f64.mul (local.get 0) (call $fac (f64.sub (local.get 0) (f64.const 1)))))))
  (func (export "pow") (param $base i32) (param $exp i32) (result i32)
    (local $acc i32)
    (local.set $acc (i32.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $exp)))
        (local.set $acc (call $mul (local.get $acc) (local.get $base)))
        (local.set $exp (i32.sub (local.get $exp) (i32.const 1)))
        (br $next)))
    (local.get $acc)))
