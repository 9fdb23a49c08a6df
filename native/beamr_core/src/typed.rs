//! Typed entry points for the signatures most calls have.
//!
//! A dynamic `Func::call_async` checks its arguments against the function's type on
//! every call (a type-registry lookup) and moves values through `Val` slices; a
//! `TypedFunc` checks once, when it is made, and passes native values, which makes
//! wasmtime's share of a short call much smaller (`make bench` measures it). Functions whose signature is in the table below get a [`FastCall`] when they are
//! resolved; every other signature keeps the dynamic path, which behaves the same.

use crate::call_slot::{place_borrowing, CallFuture, CallOutput};
use crate::store::Host;
use std::sync::Arc;
use wasmtime::{AsContext, Func, Store, TypedFunc, Val, WasmParams, WasmResults};

/// Starts a call through a typed entry point.
pub(crate) trait FastCall: Send + Sync {
    /// The call's future, which hands back `args`' vector holding the results, so a
    /// call allocates no value vector of its own. The store and the arguments come
    /// back if they do not match (callers check them against the function's type
    /// first, so this means a bug, not bad input). The future goes in `spare`'s box
    /// when it fits (see `call_slot.rs`).
    fn start(
        &self,
        store: Store<Host>,
        args: Vec<Val>,
        spare: &mut Option<CallFuture>,
    ) -> Result<CallFuture, (Store<Host>, Vec<Val>)>;
}

/// A number type that crosses as itself.
trait Scalar: Sized + Send + Sync + 'static {
    fn from_val(v: &Val) -> Option<Self>;
    fn into_val(self) -> Val;
}

impl Scalar for i32 {
    fn from_val(v: &Val) -> Option<i32> {
        v.i32()
    }
    fn into_val(self) -> Val {
        Val::I32(self)
    }
}

impl Scalar for i64 {
    fn from_val(v: &Val) -> Option<i64> {
        v.i64()
    }
    fn into_val(self) -> Val {
        Val::I64(self)
    }
}

impl Scalar for f32 {
    fn from_val(v: &Val) -> Option<f32> {
        v.f32()
    }
    fn into_val(self) -> Val {
        Val::F32(self.to_bits())
    }
}

impl Scalar for f64 {
    fn from_val(v: &Val) -> Option<f64> {
        v.f64()
    }
    fn into_val(self) -> Val {
        Val::F64(self.to_bits())
    }
}

/// Parameters built from checked values.
trait Params: WasmParams + Sized + Sync + Send + 'static {
    fn from_vals(vals: &[Val]) -> Option<Self>;
}

impl Params for () {
    fn from_vals(vals: &[Val]) -> Option<()> {
        vals.is_empty().then_some(())
    }
}

impl<A: Scalar + wasmtime::WasmTy> Params for (A,) {
    fn from_vals(vals: &[Val]) -> Option<(A,)> {
        match vals {
            [a] => Some((A::from_val(a)?,)),
            _ => None,
        }
    }
}

impl<A: Scalar + wasmtime::WasmTy, B: Scalar + wasmtime::WasmTy> Params for (A, B) {
    fn from_vals(vals: &[Val]) -> Option<(A, B)> {
        match vals {
            [a, b] => Some((A::from_val(a)?, B::from_val(b)?)),
            _ => None,
        }
    }
}

impl<A, B, C> Params for (A, B, C)
where
    A: Scalar + wasmtime::WasmTy,
    B: Scalar + wasmtime::WasmTy,
    C: Scalar + wasmtime::WasmTy,
{
    fn from_vals(vals: &[Val]) -> Option<(A, B, C)> {
        match vals {
            [a, b, c] => Some((A::from_val(a)?, B::from_val(b)?, C::from_val(c)?)),
            _ => None,
        }
    }
}

/// Results turned back into values.
trait Results: WasmResults + Sized + Sync + Send + 'static {
    fn push_into(self, out: &mut Vec<Val>);
}

impl Results for () {
    fn push_into(self, _: &mut Vec<Val>) {}
}

impl<A: Scalar + wasmtime::WasmTy> Results for A {
    fn push_into(self, out: &mut Vec<Val>) {
        out.push(self.into_val());
    }
}

struct Typed<P: Params, R: Results>(Arc<TypedFunc<P, R>>);

impl<P: Params, R: Results> FastCall for Typed<P, R> {
    fn start(
        &self,
        store: Store<Host>,
        mut args: Vec<Val>,
        spare: &mut Option<CallFuture>,
    ) -> Result<CallFuture, (Store<Host>, Vec<Val>)> {
        let Some(params) = P::from_vals(&args) else {
            return Err((store, args));
        };
        args.clear();
        let call = |func: &'static TypedFunc<P, R>| typed_call(func, store, params, args);
        Ok(place_borrowing(&self.0, call, spare))
    }
}

/// The call itself; one future type per signature, so that its box is reused by the
/// next call of that signature.
async fn typed_call<P: Params, R: Results>(
    func: &'static TypedFunc<P, R>,
    mut store: Store<Host>,
    params: P,
    mut out: Vec<Val>,
) -> CallOutput {
    let result = func.call_async(&mut store, params).await;
    let results = result.map(|r| {
        r.push_into(&mut out);
        out
    });
    (store, results)
}

/// A typed entry point for `func`, whose signature in HyperBEAM's notation is
/// `signature`, if that signature is one of the common ones.
pub(crate) fn fast_call(
    store: impl AsContext<Data = Host>,
    func: Func,
    signature: &str,
) -> Option<Arc<dyn FastCall>> {
    macro_rules! table {
        ($($sig:literal => $p:ty, $r:ty;)*) => {
            match signature {
                $($sig => {
                    let typed = func.typed::<$p, $r>(&store).ok()?;
                    Some(Arc::new(Typed(Arc::new(typed))) as Arc<dyn FastCall>)
                })*
                _ => None,
            }
        };
    }
    // Entry points of C-like modules (handle, malloc, free, main) in wasm32 and
    // memory64, and small numeric kernels.
    table! {
        "()" => (), ();
        "()i" => (), i32;
        "()I" => (), i64;
        "(i)" => (i32,), ();
        "(i)i" => (i32,), i32;
        "(I)" => (i64,), ();
        "(I)I" => (i64,), i64;
        "(f)f" => (f32,), f32;
        "(F)F" => (f64,), f64;
        "(ii)" => (i32, i32), ();
        "(ii)i" => (i32, i32), i32;
        "(II)" => (i64, i64), ();
        "(II)I" => (i64, i64), i64;
        "(FF)F" => (f64, f64), f64;
        "(iii)i" => (i32, i32, i32), i32;
        "(III)I" => (i64, i64, i64), i64;
    }
}
