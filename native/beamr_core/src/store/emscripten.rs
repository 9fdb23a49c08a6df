//! emscripten's per-instance runtime variables ([`EmState`]), carried in the store's
//! data: the JS glue's `tempRet0` and exception bookkeeping, and the runtime exports
//! it calls. The functions that use them are in `emscripten.rs`, above the store.

use wasmtime::{Func, Memory, Table};

/// The variables emscripten's JS glue keeps per instance.
#[derive(Debug, Default)]
pub(crate) struct EmState {
    /// `tempRet0`: the high half of an i64 result, or the selector of a landing pad.
    pub(crate) temp_ret0: i32,
    /// `exceptionLast`: the exception being thrown, 0 for none.
    pub(crate) exception_last: u32,
    /// `exceptionCaught`: the `CatchInfo` records of the active catch blocks.
    pub(crate) caught: Vec<u32>,
    /// `uncaughtExceptionCount`.
    pub(crate) uncaught: i32,
    /// The module's instance: natives are also called from the host (a `__cxa_throw`
    /// an `invoke_viii` calls through the table), where `Caller` has no exports.
    pub(crate) instance: Option<wasmtime::Instance>,
    /// The runtime exports, looked up once.
    pub(crate) exports: Option<Exports>,
}

impl EmState {
    /// Records the instance whose exports the natives use.
    pub(crate) fn set_instance(&mut self, instance: wasmtime::Instance) {
        self.instance = Some(instance);
        self.exports = None;
    }
}

/// The exports emscripten's runtime uses, each if the module has it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exports {
    pub(crate) memory: Option<Memory>,
    pub(crate) table: Option<Table>,
    pub(crate) stack_save: Option<Func>,
    pub(crate) stack_restore: Option<Func>,
    pub(crate) set_threw: Option<Func>,
    pub(crate) malloc: Option<Func>,
    pub(crate) free: Option<Func>,
    pub(crate) can_catch: Option<Func>,
    pub(crate) is_pointer_type: Option<Func>,
}
