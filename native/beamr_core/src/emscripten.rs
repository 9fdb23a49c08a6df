//! emscripten's JS runtime for unwinding, done natively: `invoke_*` trampolines,
//! `_emscripten_throw_longjmp`, the JS-style C++ exception functions (`__cxa_throw`,
//! `__cxa_find_matching_catch_N`, `__cxa_begin_catch`, ...) and `getTempRet0` /
//! `setTempRet0`.
//!
//! emscripten builds that use setjmp/longjmp, or C++ exceptions without
//! `-fwasm-exceptions`, call every function that may unwind through an imported
//! `invoke_<sig>(index, args...)`. emscripten 3.1.6's generated JS does:
//!
//! ```js
//! function invoke_vi(index, a1) {
//!   var sp = stackSave();
//!   try { getWasmTableEntry(index)(a1); }
//!   catch (e) { stackRestore(sp); if (e !== e + 0) throw e; _setThrew(1, 0); }
//! }
//! ```
//!
//! where a longjmp throws `Infinity` and a C++ throw throws the exception's address:
//! numbers are swallowed (the caller inspects `__THREW__`), anything else — a trap, a
//! wasm exception, an interrupt — propagates after the stack pointer is restored. The
//! host functions here do the same on the instance's own store: the callee runs as a
//! nested `call_async` on the same fiber, so imports it reaches still park the call and
//! round-trip to Erlang, and epoch yields, `stop` and deadlines act inside it. A number
//! thrown in JS is an [`Unwind`] error here. The exception bookkeeping mirrors the JS
//! (`ExceptionInfo` and `CatchInfo` records in linear memory, wasm32 layout) and its
//! per-instance variables live in [`EmState`].
//!
//! Only imports from `env` whose signatures are exactly emscripten's are bound here;
//! anything else is left to the caller's import function.

use crate::error::{Interrupt, Unwind};
use crate::store::{Exports, Host};
use std::future::Future;
use std::sync::Arc;
use wasmtime::{
    AsContextMut, Caller, Extern, Func, FuncType, Linker, Memory, Ref, ThrownException, Val,
    ValType,
};

fn exports(c: &mut Caller<'_, Host>) -> Exports {
    if let Some(e) = c.data().emscripten.exports {
        return e;
    }
    let instance = c.data().emscripten.instance;
    let mut get = |name: &str| match instance {
        Some(i) => i.get_export(&mut *c, name),
        None => c.get_export(name),
    };
    let func = |e: Option<Extern>| e.and_then(Extern::into_func);
    let e = Exports {
        memory: get("memory").and_then(Extern::into_memory),
        table: get("__indirect_function_table").and_then(Extern::into_table),
        stack_save: func(get("stackSave")).or_else(|| func(get("emscripten_stack_get_current"))),
        stack_restore: func(get("stackRestore")).or_else(|| func(get("_emscripten_stack_restore"))),
        set_threw: func(get("setThrew")),
        malloc: func(get("malloc")),
        free: func(get("free")),
        can_catch: func(get("__cxa_can_catch")),
        is_pointer_type: func(get("__cxa_is_pointer_type")),
    };
    if instance.is_some() {
        c.data_mut().emscripten.exports = Some(e);
    }
    e
}

fn need<T>(item: Option<T>, name: &str) -> wasmtime::Result<T> {
    item.ok_or_else(|| wasmtime::format_err!("emscripten runtime: the module exports no {name}"))
}

/// The emscripten runtime functions bound natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Native {
    Invoke,
    ThrowLongjmp,
    GetTempRet0,
    SetTempRet0,
    AllocateException,
    FreeException,
    Throw,
    Rethrow,
    BeginCatch,
    EndCatch,
    FindMatchingCatch,
    ResumeException,
    TypeidFor,
    UncaughtExceptions,
}

fn is(ty: &FuncType, params: &[ValType], results: &[ValType]) -> bool {
    let same = |a: &ValType, b: &ValType| ValType::eq(a, b);
    ty.params().len() == params.len()
        && ty.results().len() == results.len()
        && ty.params().zip(params).all(|(a, b)| same(&a, b))
        && ty.results().zip(results).all(|(a, b)| same(&a, b))
}

fn classify(module: &str, name: &str, ty: &FuncType) -> Option<Native> {
    use ValType::I32;
    if module != "env" {
        return None;
    }
    if let Some(sig) = name.strip_prefix("invoke_") {
        let indexed = matches!(ty.params().next(), Some(ValType::I32 | ValType::I64));
        return (indexed && !sig.is_empty()).then_some(Native::Invoke);
    }
    if name.starts_with("__cxa_find_matching_catch_") {
        let all_i32 = ty.params().all(|p| p.is_i32());
        let one_i32 = ty.results().len() == 1 && ty.results().all(|r| r.is_i32());
        return (all_i32 && one_i32).then_some(Native::FindMatchingCatch);
    }
    let (native, params, results): (Native, &[ValType], &[ValType]) = match name {
        "_emscripten_throw_longjmp" => (Native::ThrowLongjmp, &[], &[]),
        "getTempRet0" => (Native::GetTempRet0, &[], &[I32]),
        "setTempRet0" => (Native::SetTempRet0, &[I32], &[]),
        "__cxa_allocate_exception" => (Native::AllocateException, &[I32], &[I32]),
        "__cxa_free_exception" => (Native::FreeException, &[I32], &[]),
        "__cxa_throw" => (Native::Throw, &[I32, I32, I32], &[]),
        "__cxa_rethrow" => (Native::Rethrow, &[], &[]),
        "__cxa_begin_catch" => (Native::BeginCatch, &[I32], &[I32]),
        "__cxa_end_catch" => (Native::EndCatch, &[], &[]),
        "__resumeException" => (Native::ResumeException, &[I32], &[]),
        "llvm_eh_typeid_for" => (Native::TypeidFor, &[I32], &[I32]),
        "__cxa_uncaught_exceptions" => (Native::UncaughtExceptions, &[], &[I32]),
        _ => return None,
    };
    is(ty, params, results).then_some(native)
}

/// Binds `module.name` natively in `linker` if it is an emscripten runtime function
/// with emscripten's signature; returns whether it did.
pub(crate) fn define(
    linker: &mut Linker<Host>,
    module: &str,
    name: &str,
    ty: &FuncType,
) -> wasmtime::Result<bool> {
    let Some(native) = classify(module, name, ty) else {
        return Ok(false);
    };
    let result_types: Arc<[ValType]> = ty.results().collect();
    linker.func_new_async(module, name, ty.clone(), move |caller, params, results| {
        host_fn(native, result_types.clone(), caller, params, results)
    })?;
    Ok(true)
}

fn host_fn<'a>(
    native: Native,
    result_types: Arc<[ValType]>,
    mut caller: Caller<'a, Host>,
    params: &'a [Val],
    results: &'a mut [Val],
) -> Box<dyn Future<Output = wasmtime::Result<()>> + Send + 'a> {
    Box::new(async move {
        let c = &mut caller;
        let arg = |i: usize| params.get(i).and_then(Val::i32).unwrap_or(0) as u32;
        let ret = match native {
            Native::Invoke => return invoke(c, &result_types, params, results).await,
            Native::ThrowLongjmp => return Err(wasmtime::Error::new(Unwind::Longjmp)),
            Native::GetTempRet0 => c.data().emscripten.temp_ret0 as u32,
            Native::SetTempRet0 => {
                c.data_mut().emscripten.temp_ret0 = arg(0) as i32;
                return Ok(());
            }
            Native::AllocateException => {
                // The thrown object is preceded by a 16-byte ExceptionInfo.
                malloc(c, arg(0).wrapping_add(16)).await?.wrapping_add(16)
            }
            Native::FreeException => {
                free(c, arg(0).wrapping_sub(16)).await?;
                return Ok(());
            }
            Native::Throw => return throw(c, arg(0), arg(1), arg(2)),
            Native::Rethrow => return rethrow(c).await,
            Native::BeginCatch => begin_catch(c, arg(0)).await?,
            Native::EndCatch => {
                end_catch(c).await?;
                return Ok(());
            }
            Native::FindMatchingCatch => {
                let types: Vec<u32> = (0..params.len()).map(arg).collect();
                find_matching_catch(c, &types).await?
            }
            Native::ResumeException => {
                let catch_info = arg(0);
                let thrown = load_u32(c, catch_info)?;
                let state = &mut c.data_mut().emscripten;
                if state.exception_last == 0 {
                    state.exception_last = thrown;
                }
                free(c, catch_info).await?;
                return Err(wasmtime::Error::new(Unwind::Exception(thrown)));
            }
            Native::TypeidFor => arg(0),
            Native::UncaughtExceptions => c.data().emscripten.uncaught as u32,
        };
        if let Some(slot) = results.first_mut() {
            *slot = Val::I32(ret as i32);
        }
        Ok(())
    })
}

/// `invoke_<sig>(index, args...)`: calls table entry `index`, turning an [`Unwind`]
/// into `setThrew(1, 0)` and zero results, as emscripten's JS does.
async fn invoke(
    c: &mut Caller<'_, Host>,
    result_types: &[ValType],
    params: &[Val],
    results: &mut [Val],
) -> wasmtime::Result<()> {
    let index = match params.first() {
        Some(Val::I32(i)) => *i as u32 as u64,
        Some(Val::I64(i)) => *i as u64,
        _ => wasmtime::bail!("invoke_: the first argument is not a table index"),
    };
    let func = table_func(c, index)?;
    let sp = stack_save(c).await?;
    c.data().shared.nest().map_err(wasmtime::Error::new)?;
    let called = func.call_async(&mut *c, &params[1..], results).await;
    c.data().shared.unnest();
    let Err(err) = called else {
        return Ok(());
    };
    if err.is::<Interrupt>() {
        // stop, timeout or an abandoned caller: run no more wasm, just unwind.
        return Err(err);
    }
    // A wasm exception stays pending in the store; hold it while wasm runs to restore
    // the stack, then throw it on to the wasm handlers above.
    let pending = if err.is::<ThrownException>() {
        c.as_context_mut().take_pending_exception()
    } else {
        None
    };
    let restored = stack_restore(c, sp).await;
    if let Some(exn) = pending {
        restored?;
        return c.as_context_mut().throw(exn);
    }
    if !err.is::<Unwind>() {
        return Err(err);
    }
    restored?;
    set_threw(c, 1).await?;
    for (slot, ty) in results.iter_mut().zip(result_types) {
        *slot = Val::default_for_ty(ty).unwrap_or(Val::I32(0));
    }
    Ok(())
}

fn int_val(ty: &ValType, v: i64) -> Val {
    match ty {
        ValType::I64 => Val::I64(v),
        _ => Val::I32(v as i32),
    }
}

fn first_u32(vals: &[Val]) -> u32 {
    match vals.first() {
        Some(Val::I32(v)) => *v as u32,
        Some(Val::I64(v)) => *v as u32,
        _ => 0,
    }
}

fn table_func(c: &mut Caller<'_, Host>, index: u64) -> wasmtime::Result<Func> {
    let table = need(exports(c).table, "__indirect_function_table")?;
    match table.get(&mut *c, index) {
        Some(Ref::Func(Some(f))) => Ok(f),
        _ => wasmtime::bail!("emscripten runtime: no function at table index {index}"),
    }
}

async fn call_func(c: &mut Caller<'_, Host>, f: Func, args: &[Val]) -> wasmtime::Result<Vec<Val>> {
    let mut out = vec![Val::I32(0); f.ty(&*c).results().len()];
    f.call_async(&mut *c, args, &mut out).await?;
    Ok(out)
}

/// The stack pointer, through whichever accessor the module exports.
async fn stack_save(c: &mut Caller<'_, Host>) -> wasmtime::Result<Val> {
    let f = need(exports(c).stack_save, "stackSave")?;
    call_func(c, f, &[])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| wasmtime::format_err!("emscripten runtime: stackSave returned nothing"))
}

async fn stack_restore(c: &mut Caller<'_, Host>, sp: Val) -> wasmtime::Result<()> {
    let f = need(exports(c).stack_restore, "stackRestore")?;
    call_func(c, f, &[sp]).await.map(drop)
}

async fn malloc(c: &mut Caller<'_, Host>, size: u32) -> wasmtime::Result<u32> {
    let f = need(exports(c).malloc, "malloc")?;
    Ok(first_u32(&call_func(c, f, &[Val::I32(size as i32)]).await?))
}

async fn free(c: &mut Caller<'_, Host>, ptr: u32) -> wasmtime::Result<()> {
    let f = need(exports(c).free, "free")?;
    call_func(c, f, &[Val::I32(ptr as i32)]).await.map(drop)
}

/// `setThrew(threw, value)`; `threw` is pointer-sized.
async fn set_threw(c: &mut Caller<'_, Host>, threw: i64) -> wasmtime::Result<()> {
    let f = need(exports(c).set_threw, "setThrew")?;
    let ty = f.ty(&*c);
    let args: Vec<Val> = ty
        .params()
        .zip([threw, 0])
        .map(|(t, v)| int_val(&t, v))
        .collect();
    call_func(c, f, &args).await.map(drop)
}

fn memory(c: &mut Caller<'_, Host>) -> wasmtime::Result<Memory> {
    need(exports(c).memory, "memory")
}

fn load_u32(c: &mut Caller<'_, Host>, addr: u32) -> wasmtime::Result<u32> {
    let mut b = [0u8; 4];
    memory(c)?.read(&*c, addr as usize, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn store_u32(c: &mut Caller<'_, Host>, addr: u32, v: u32) -> wasmtime::Result<()> {
    memory(c)?.write(&mut *c, addr as usize, &v.to_le_bytes())?;
    Ok(())
}

fn load_u8(c: &mut Caller<'_, Host>, addr: u32) -> wasmtime::Result<u8> {
    let mut b = [0u8; 1];
    memory(c)?.read(&*c, addr as usize, &mut b)?;
    Ok(b[0])
}

fn store_u8(c: &mut Caller<'_, Host>, addr: u32, v: u8) -> wasmtime::Result<()> {
    memory(c)?.write(&mut *c, addr as usize, &[v])?;
    Ok(())
}

/// An `ExceptionInfo` record: 16 bytes before the thrown object, holding the refcount
/// (+0), type (+4), destructor (+8), caught (+12) and rethrown (+13) flags.
#[derive(Clone, Copy)]
struct ExceptionInfo(u32);

impl ExceptionInfo {
    fn of(thrown: u32) -> ExceptionInfo {
        ExceptionInfo(thrown.wrapping_sub(16))
    }
    fn at(self, off: u32) -> u32 {
        self.0.wrapping_add(off)
    }
}

/// A `CatchInfo` record: 8 bytes from malloc, the thrown object's address (+0) and the
/// address adjusted for the catch clause's type (+4).
#[derive(Clone, Copy)]
struct CatchInfo(u32);

fn throw(c: &mut Caller<'_, Host>, ptr: u32, ty: u32, destructor: u32) -> wasmtime::Result<()> {
    let info = ExceptionInfo::of(ptr);
    store_u32(c, info.at(4), ty)?;
    store_u32(c, info.at(8), destructor)?;
    store_u32(c, info.at(0), 0)?;
    store_u8(c, info.at(12), 0)?;
    store_u8(c, info.at(13), 0)?;
    let state = &mut c.data_mut().emscripten;
    state.exception_last = ptr;
    state.uncaught += 1;
    Err(wasmtime::Error::new(Unwind::Exception(ptr)))
}

async fn rethrow(c: &mut Caller<'_, Host>) -> wasmtime::Result<()> {
    let Some(catch_info) = c.data_mut().emscripten.caught.pop() else {
        wasmtime::bail!("__cxa_rethrow: no exception to rethrow");
    };
    let thrown = load_u32(c, catch_info)?;
    let info = ExceptionInfo::of(thrown);
    if load_u8(c, info.at(13))? == 0 {
        c.data_mut().emscripten.caught.push(catch_info);
        store_u8(c, info.at(13), 1)?;
        store_u8(c, info.at(12), 0)?;
        c.data_mut().emscripten.uncaught += 1;
    } else {
        free(c, catch_info).await?;
    }
    c.data_mut().emscripten.exception_last = thrown;
    Err(wasmtime::Error::new(Unwind::Exception(thrown)))
}

async fn begin_catch(c: &mut Caller<'_, Host>, catch_info: u32) -> wasmtime::Result<u32> {
    let thrown = load_u32(c, catch_info)?;
    let info = ExceptionInfo::of(thrown);
    if load_u8(c, info.at(12))? == 0 {
        store_u8(c, info.at(12), 1)?;
        c.data_mut().emscripten.uncaught -= 1;
    }
    store_u8(c, info.at(13), 0)?;
    c.data_mut().emscripten.caught.push(catch_info);
    let refs = load_u32(c, info.at(0))?;
    store_u32(c, info.at(0), refs.wrapping_add(1))?;
    let ty = load_u32(c, info.at(4))?;
    let f = need(exports(c).is_pointer_type, "__cxa_is_pointer_type")?;
    let is_pointer = call_func(c, f, &[Val::I32(ty as i32)]).await?;
    if first_u32(&is_pointer) != 0 {
        return load_u32(c, thrown);
    }
    let adjusted = load_u32(c, catch_info.wrapping_add(4))?;
    Ok(if adjusted != 0 { adjusted } else { thrown })
}

async fn end_catch(c: &mut Caller<'_, Host>) -> wasmtime::Result<()> {
    set_threw(c, 0).await?;
    let Some(catch_info) = c.data_mut().emscripten.caught.pop() else {
        wasmtime::bail!("__cxa_end_catch: no active catch");
    };
    let thrown = load_u32(c, catch_info)?;
    let info = ExceptionInfo::of(thrown);
    let refs = load_u32(c, info.at(0))?;
    store_u32(c, info.at(0), refs.wrapping_sub(1))?;
    if refs == 1 && load_u8(c, info.at(13))? == 0 {
        let destructor = load_u32(c, info.at(8))?;
        if destructor != 0 {
            let f = table_func(c, destructor as u64)?;
            call_func(c, f, &[Val::I32(thrown as i32)]).await?;
        }
        free(c, info.0).await?;
    }
    free(c, catch_info).await?;
    c.data_mut().emscripten.exception_last = 0;
    Ok(())
}

/// Picks the landing pad's catch clause: returns a fresh `CatchInfo` and leaves the
/// matching clause's type (or the thrown type, for none) in `tempRet0`.
async fn find_matching_catch(c: &mut Caller<'_, Host>, types: &[u32]) -> wasmtime::Result<u32> {
    let thrown = c.data().emscripten.exception_last;
    if thrown == 0 {
        c.data_mut().emscripten.temp_ret0 = 0;
        return Ok(0);
    }
    let thrown_type = load_u32(c, ExceptionInfo::of(thrown).at(4))?;
    let catch_info = CatchInfo(malloc(c, 8).await?);
    if catch_info.0 == 0 {
        wasmtime::bail!("__cxa_find_matching_catch: out of memory");
    }
    store_u32(c, catch_info.0, thrown)?;
    store_u32(c, catch_info.0.wrapping_add(4), thrown)?;
    let mut selector = thrown_type;
    if thrown_type != 0 {
        let can_catch = need(exports(c).can_catch, "__cxa_can_catch")?;
        for &caught_type in types {
            if caught_type == 0 || caught_type == thrown_type {
                break;
            }
            let args = [
                Val::I32(caught_type as i32),
                Val::I32(thrown_type as i32),
                Val::I32(catch_info.0.wrapping_add(4) as i32),
            ];
            if first_u32(&call_func(c, can_catch, &args).await?) != 0 {
                selector = caught_type;
                break;
            }
        }
    }
    c.data_mut().emscripten.temp_ret0 = selector as i32;
    Ok(catch_info.0)
}
