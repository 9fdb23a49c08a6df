;; The demo module: `pow` multiplies through an import that Erlang answers, `fac`
;; runs on its own, and `greet` leaves a string in memory for Erlang to read.
(module
  (import "my_lib" "mul" (func $mul (param i64 i64) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 64) "Hello from WebAssembly\00")

  (func (export "pow") (param $base i64) (param $exp i64) (result i64)
    (local $acc i64)
    (local.set $acc (i64.const 1))
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $exp)))
        (local.set $acc (call $mul (local.get $acc) (local.get $base)))
        (local.set $exp (i64.sub (local.get $exp) (i64.const 1)))
        (br $next)))
    (local.get $acc))

  (func $fac (export "fac") (param f64) (result f64)
    (if (result f64) (f64.lt (local.get 0) (f64.const 1))
      (then (f64.const 1))
      (else (f64.mul (local.get 0) (call $fac (f64.sub (local.get 0) (f64.const 1)))))))

  (func (export "greet") (result i32) (i32.const 64)))
