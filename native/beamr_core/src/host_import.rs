//! The host functions behind function imports that the caller answers.
//!
//! Such a host function reports the import to the driver (an [`Event::Import`] over
//! the exchange), then serves the driver's commands — memory access, re-entrant calls
//! — until the driver answers with results or a failure. Imports whose signature is a
//! common one (the table in [`define`]) are bound as typed host functions, so their
//! arguments and results cross as native numbers instead of through wasmtime's
//! dynamically checked value vectors; every other signature, including those with
//! vectors or references, gets the dynamic host function, which behaves the same.

use crate::error::Error;
use crate::exchange::{Event, Reentered};
use crate::store::{drop_pending_exception, Command, Host, Shared};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};
use wasmtime::{AsContextMut, Caller, Func, FuncType, Linker, Val, ValType, WasmTy, WasmTyList};

/// The future every import host function returns to wasmtime.
type HostFuture<'a, R> = Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'a>;

/// A finished re-entrant call: the caller it borrowed, and its outcome.
type Reentrance<'a> = (Caller<'a, Host>, Result<Vec<Val>, Error>);

/// A re-entrant call in progress; it borrows the caller and gives it back.
type Reentry<'a> = Pin<Box<dyn Future<Output = Reentrance<'a>> + Send + 'a>>;

/// A call parked in an import. Its first poll reports the import (with `args`); every
/// poll then serves what the driver left — a store task, a re-entrant call — until
/// the driver answers. Written out by hand rather than as an `async fn`: this runs
/// twice per round trip, and the nested state machines cost more than the work.
struct Parked<'a> {
    /// `None` while lent to a re-entrant call.
    caller: Option<Caller<'a, Host>>,
    index: usize,
    /// The arguments, until reported.
    args: Option<Vec<Val>>,
    /// The re-entrant call in progress; the driver polls it (see [`Reentered`]).
    reentry: Option<Reentry<'a>>,
    /// The finished re-entrant call's caller and outcome, until reported.
    reentered: Option<Reentrance<'a>>,
}

impl Reentered for Parked<'_> {
    fn poll_reentry(&mut self) -> Poll<()> {
        let Some(reentry) = &mut self.reentry else {
            return Poll::Ready(());
        };
        let out = ready!(reentry
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop())));
        self.reentry = None;
        self.reentered = Some(out);
        Poll::Ready(())
    }
}

impl<'a> Parked<'a> {
    fn new(caller: Caller<'a, Host>, index: usize, args: Vec<Val>) -> Parked<'a> {
        Parked {
            caller: Some(caller),
            index,
            args: Some(args),
            reentry: None,
            reentered: None,
        }
    }

    /// The caller, once the answer is in: a re-entrant call has given it back by then.
    fn caller(&mut self) -> wasmtime::Result<&mut Caller<'a, Host>> {
        self.caller.as_mut().ok_or_else(lost_caller)
    }

    /// Ready with the answer's values (not yet checked against the type).
    fn poll_answer(&mut self, _cx: &mut Context<'_>) -> Poll<wasmtime::Result<Vec<Val>>> {
        loop {
            if let Some((caller, done)) = self.reentered.take() {
                shared(&caller).post_event(Event::CallDone(done));
                self.caller = Some(caller);
            }
            if self.reentry.is_some() {
                // The driver polls it, and this function again once it finished.
                return Poll::Pending;
            }
            let Some(caller) = &mut self.caller else {
                return Poll::Ready(Err(lost_caller()));
            };
            if let Some(args) = self.args.take() {
                let index = self.index;
                shared(caller).post_event(Event::Import { index, args });
            }
            match shared(caller).take_command() {
                None => return Poll::Pending,
                Some(Command::Return(values)) => return Poll::Ready(Ok(values)),
                Some(Command::Fail(reason)) => {
                    let e = wasmtime::Error::new(Error::ImportAborted(reason));
                    return Poll::Ready(Err(e));
                }
                Some(Command::Store(task)) => {
                    task.run(caller.as_context_mut());
                    shared(caller).post_event(Event::StoreDone);
                }
                Some(Command::Call {
                    func,
                    args,
                    results,
                }) => {
                    if let Some(caller) = self.caller.take() {
                        let shared = caller.data().shared.clone();
                        self.reentry = Some(Box::pin(reenter(caller, func, args, results)));
                        let me: *mut (dyn Reentered + '_) = self;
                        // SAFETY: this host function's future is boxed by wasmtime, so
                        // `self` stays put until it returns, which it does only once
                        // the driver answered its import: by then the call finished
                        // and was popped. The driver clears the stack before it drops
                        // the outermost call (and with it this future).
                        unsafe { shared.push_nested(me) };
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

/// Cannot happen: only a re-entrant call takes the caller, and it gives it back
/// before the host function does anything else with it.
#[cold]
fn lost_caller() -> wasmtime::Error {
    wasmtime::Error::msg("import host function without its caller")
}

/// The exchange of the instance whose store `caller` is.
#[inline]
fn shared<'c>(caller: &'c Caller<'_, Host>) -> &'c Shared {
    &caller.data().shared
}

/// A re-entrant call on the parked call's store.
async fn reenter(
    mut caller: Caller<'_, Host>,
    func: Func,
    args: Vec<Val>,
    results: usize,
) -> (Caller<'_, Host>, Result<Vec<Val>, Error>) {
    if let Err(e) = shared(&caller).nest() {
        return (caller, Err(e));
    }
    caller.as_context_mut().set_epoch_deadline(1);
    let mut out = vec![Val::I32(0); results];
    let result = func.call_async(&mut caller, &args, &mut out).await;
    drop_pending_exception(&mut caller);
    shared(&caller).unnest();
    (caller, result.map(|()| out).map_err(Error::from_wasm))
}

/// Checks that an answer has as many values as the import has results.
#[inline]
fn check_arity(expected: usize, got: usize) -> wasmtime::Result<()> {
    if expected == got {
        return Ok(());
    }
    let e = Error::BadArity { expected, got };
    Err(wasmtime::Error::new(Error::ImportAborted(e.to_string())))
}

/// Answered: wasm continues with a fresh time slice.
#[inline]
fn resumed(caller: &mut Caller<'_, Host>) {
    caller.as_context_mut().set_epoch_deadline(1);
}

/// The dynamic host function's future: any signature.
struct Dynamic<'a> {
    parked: Parked<'a>,
    results: &'a mut [Val],
}

impl Future for Dynamic<'_> {
    type Output = wasmtime::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<wasmtime::Result<()>> {
        let this = self.get_mut();
        let values = ready!(this.parked.poll_answer(cx))?;
        check_arity(this.results.len(), values.len())?;
        let caller = this.parked.caller()?;
        resumed(caller);
        // wasmtime checks the values' types against the import's.
        this.results.clone_from_slice(&values);
        shared(caller).recycle_vals(values);
        Poll::Ready(Ok(()))
    }
}

fn generic<'a>(
    caller: Caller<'a, Host>,
    index: usize,
    params: &'a [Val],
    results: &'a mut [Val],
) -> HostFuture<'a, ()> {
    let mut args = shared(&caller).spare_vals();
    args.extend_from_slice(params);
    Box::new(Dynamic {
        parked: Parked::new(caller, index, args),
        results,
    })
}

/// A number type that crosses an import as itself.
trait Num: WasmTy + Send + Sized + 'static {
    const TYPE: ValType;
    fn to_val(self) -> Val;
    fn of_val(v: &Val) -> Option<Self>;
}

impl Num for i32 {
    const TYPE: ValType = ValType::I32;
    fn to_val(self) -> Val {
        Val::I32(self)
    }
    fn of_val(v: &Val) -> Option<i32> {
        v.i32()
    }
}

impl Num for i64 {
    const TYPE: ValType = ValType::I64;
    fn to_val(self) -> Val {
        Val::I64(self)
    }
    fn of_val(v: &Val) -> Option<i64> {
        v.i64()
    }
}

impl Num for f32 {
    const TYPE: ValType = ValType::F32;
    fn to_val(self) -> Val {
        Val::F32(self.to_bits())
    }
    fn of_val(v: &Val) -> Option<f32> {
        match v {
            Val::F32(bits) => Some(f32::from_bits(*bits)),
            _ => None,
        }
    }
}

impl Num for f64 {
    const TYPE: ValType = ValType::F64;
    fn to_val(self) -> Val {
        Val::F64(self.to_bits())
    }
    fn of_val(v: &Val) -> Option<f64> {
        match v {
            Val::F64(bits) => Some(f64::from_bits(*bits)),
            _ => None,
        }
    }
}

/// The complaint wasmtime's dynamic host functions make about a result of the wrong
/// type, so that both kinds of host function fail alike.
fn mismatch(caller: &Caller<'_, Host>, expected: &ValType, got: &Val) -> wasmtime::Error {
    let found = match got.ty(caller) {
        Ok(ty) => ty.to_string(),
        Err(e) => return e,
    };
    wasmtime::Error::msg(format!("type mismatch: expected {expected}, found {found}"))
        .context("function attempted to return an incompatible value")
}

/// Typed parameters, pushed onto the import's argument vector.
trait Params: WasmTyList + Send + 'static {
    fn push(self, out: &mut Vec<Val>);
}

/// Typed results, taken from the answer's values.
trait Results: wasmtime::WasmRet + Send + Sized + 'static {
    const TYPES: &'static [ValType];
    /// `None` when a value is not of its type.
    fn take(values: &[Val]) -> Option<Self>;
}

impl Params for () {
    fn push(self, _: &mut Vec<Val>) {}
}

macro_rules! params {
    ($($t:ident),+) => {
        impl<$($t: Num),+> Params for ($($t,)+) {
            #[allow(non_snake_case)]
            fn push(self, out: &mut Vec<Val>) {
                let ($($t,)+) = self;
                $(out.push($t.to_val());)+
            }
        }
    };
}

params!(A);
params!(A, B);
params!(A, B, C);
params!(A, B, C, D);
params!(A, B, C, D, E);

impl Results for () {
    const TYPES: &'static [ValType] = &[];
    fn take(_: &[Val]) -> Option<()> {
        Some(())
    }
}

impl<R: Num> Results for R {
    const TYPES: &'static [ValType] = &[R::TYPE];
    fn take(values: &[Val]) -> Option<R> {
        R::of_val(values.first()?)
    }
}

/// The typed host function's future, for results `R`.
struct Typed<'a, R> {
    parked: Parked<'a>,
    results: PhantomData<fn() -> R>,
}

impl<R: Results> Future for Typed<'_, R> {
    type Output = wasmtime::Result<R>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<wasmtime::Result<R>> {
        let this = self.get_mut();
        let values = ready!(this.parked.poll_answer(cx))?;
        check_arity(R::TYPES.len(), values.len())?;
        let caller = this.parked.caller()?;
        resumed(caller);
        let Some(out) = R::take(&values) else {
            return Poll::Ready(Err(wrong_results::<R>(caller, &values)));
        };
        shared(caller).recycle_vals(values);
        Poll::Ready(Ok(out))
    }
}

/// The error for results of the wrong type (after their count was checked).
#[cold]
fn wrong_results<R: Results>(caller: &Caller<'_, Host>, values: &[Val]) -> wasmtime::Error {
    let wrong = R::TYPES
        .iter()
        .zip(values)
        .find(|(ty, v)| !v.matches_ty(caller, ty).unwrap_or(false));
    match wrong {
        Some((ty, v)) => mismatch(caller, ty, v),
        None => wasmtime::Error::msg("import results of the wrong type"),
    }
}

/// The typed host function for parameters `P` and results `R`.
fn typed<P: Params, R: Results>(
    linker: &mut Linker<Host>,
    module: &str,
    name: &str,
    index: usize,
) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        module,
        name,
        move |caller: Caller<'_, Host>, params: P| -> HostFuture<'_, R> {
            let mut args = shared(&caller).spare_vals();
            params.push(&mut args);
            Box::new(Typed {
                parked: Parked::new(caller, index, args),
                results: PhantomData,
            })
        },
    )?;
    Ok(())
}

/// Which host function an import gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Binding {
    /// Typed where the signature is in the table, dynamic otherwise.
    Typed,
    /// Always dynamic (to test both against each other).
    #[cfg_attr(not(test), allow(dead_code))]
    Dynamic,
}

macro_rules! signatures {
    ($($sig:literal => ($($p:ty),*) -> $r:ty;)*) => {
        /// The signatures bound as typed host functions.
        #[cfg_attr(not(test), allow(dead_code))]
        pub(crate) const TYPED_SIGNATURES: &[&str] = &[$($sig),*];

        /// Binds `module.name` (import number `index`, of type `ty`, whose signature
        /// in HyperBEAM's notation is `signature`) to a host function that parks the
        /// call until the driver answers.
        pub(crate) fn define(
            linker: &mut Linker<Host>,
            module: &str,
            name: &str,
            ty: &FuncType,
            signature: &str,
            index: usize,
            binding: Binding,
        ) -> wasmtime::Result<()> {
            if binding == Binding::Typed {
                match signature {
                    $($sig => return typed::<($($p,)*), $r>(linker, module, name, index),)*
                    _ => {}
                }
            }
            linker.func_new_async(module, name, ty.clone(), move |c, p, r| {
                generic(c, index, p, r)
            })?;
            Ok(())
        }
    };
}

// WASI preview1 and emscripten `env` imports in wasm32 (`i` pointers) and memory64
// (`I` pointers) builds, and small numeric helpers.
signatures! {
    "()" => () -> ();
    "()i" => () -> i32;
    "()I" => () -> i64;
    "()F" => () -> f64;
    "(i)" => (i32) -> ();
    "(i)i" => (i32) -> i32;
    "(i)I" => (i32) -> i64;
    "(I)" => (i64) -> ();
    "(I)i" => (i64) -> i32;
    "(I)I" => (i64) -> i64;
    "(f)f" => (f32) -> f32;
    "(F)F" => (f64) -> f64;
    "(ii)" => (i32, i32) -> ();
    "(ii)i" => (i32, i32) -> i32;
    "(iI)" => (i32, i64) -> ();
    "(iI)i" => (i32, i64) -> i32;
    "(Ii)" => (i64, i32) -> ();
    "(II)" => (i64, i64) -> ();
    "(II)i" => (i64, i64) -> i32;
    "(II)I" => (i64, i64) -> i64;
    "(FF)F" => (f64, f64) -> f64;
    "(iii)" => (i32, i32, i32) -> ();
    "(iii)i" => (i32, i32, i32) -> i32;
    "(iiI)i" => (i32, i32, i64) -> i32;
    "(iIi)i" => (i32, i64, i32) -> i32;
    "(iII)i" => (i32, i64, i64) -> i32;
    "(III)" => (i64, i64, i64) -> ();
    "(iiii)" => (i32, i32, i32, i32) -> ();
    "(iiii)i" => (i32, i32, i32, i32) -> i32;
    "(iIii)i" => (i32, i64, i32, i32) -> i32;
    "(iIiI)i" => (i32, i64, i32, i64) -> i32;
    "(iIII)i" => (i32, i64, i64, i64) -> i32;
    "(iiIi)i" => (i32, i32, i64, i32) -> i32;
    "(IIII)" => (i64, i64, i64, i64) -> ();
    "(iiiii)i" => (i32, i32, i32, i32, i32) -> i32;
    "(iiiIi)i" => (i32, i32, i32, i64, i32) -> i32;
    "(iIIII)i" => (i32, i64, i64, i64, i64) -> i32;
}

#[cfg(test)]
mod tests;
