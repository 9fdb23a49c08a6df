//! Everything that can go wrong in beamr, as plain data.
//!
//! The NIF turns each variant into an Erlang error term; nothing here knows about
//! terms. wasmtime errors are classified once, in [`Error::from_wasm`], so a trap, an
//! interruption and an aborted import stay distinguishable all the way to the caller.

use std::fmt;

/// A beamr failure. Every public operation of the core returns one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The bytes are neither a valid wasm binary nor valid WAT.
    Compile(String),
    /// The module compiled but could not be instantiated.
    Instantiate(String),
    /// The module's start function reached an import; imports are only answered
    /// during calls.
    ImportDuringStart { module: String, name: String },
    /// No export by that name.
    UnknownExport(String),
    /// The export exists but is not a function.
    NotAFunction(String),
    /// The module exports no `__indirect_function_table`.
    NoTable,
    /// The table index is past the end of the table or holds a null reference.
    BadTableIndex(u64),
    /// Wrong number of arguments, or of import results.
    BadArity { expected: usize, got: usize },
    /// The wasm code trapped; the message is wasmtime's.
    Trap(String),
    /// The instance was stopped, before or during the call.
    Stopped,
    /// The call's deadline passed.
    Timeout,
    /// The driver failed the pending import (its handler crashed or answered badly).
    ImportAborted(String),
    /// The instance has no memory (it neither defines nor imports one).
    NoMemory,
    /// An offset/length pair that does not lie within linear memory.
    OutOfBounds { offset: u64, len: u64, size: u64 },
    /// No NUL byte between the string's offset and the end of memory.
    UnterminatedString { offset: u64 },
    /// The string is longer than `max` bytes (no NUL within `max + 1`).
    StringTooLong { offset: u64, max: u64 },
    /// The operation does not fit the instance's state, e.g. resuming an instance that
    /// is not waiting in an import.
    InvalidState(&'static str),
    /// A call is executing (not parked in an import); try again when it yields.
    Busy,
    /// The export exists but is not of the kind the operation needs.
    WrongKind {
        name: String,
        expected: &'static str,
    },
    /// The global is immutable.
    ImmutableGlobal(String),
    /// A value wasmtime refused for an item (after beamr's own type check).
    InvalidValue(String),
    /// The memory cannot grow by `delta` pages from `pages` (its maximum, or no room).
    CannotGrow { delta: u64, pages: u64 },
    /// A call nested inside imports (or `invoke_*`) deeper than the node's limit
    /// (see [`crate::limits::max_nesting`]).
    NestingTooDeep(u32),
    /// The call used up its fuel budget.
    OutOfFuel,
    /// Fuel was asked of an instance whose engine does not meter it.
    NotMetered,
    /// A snapshot could not be taken or restored.
    Snapshot(SnapshotError),
    /// A precompiled artifact was refused, or the module cache failed.
    Aot(String),
    /// The instance's initial memory (`requested` bytes) does not fit in what is left
    /// of the node-wide memory budget of `budget` bytes.
    MemoryBudget { requested: u64, budget: u64 },
}

/// Why a snapshot was refused. Nothing of the instance changes when one is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// The snapshot ends before its contents do.
    Truncated,
    /// The checksum or the structure does not hold.
    Corrupt,
    /// It was taken of another module.
    WrongModule,
    /// A newer format version than this beamr reads.
    Version(u32),
    /// State this format cannot carry (a reference that is not a table function).
    Unsupported(&'static str),
    /// The instance cannot take it: memory or a table could not grow that far, or a
    /// global or table it names has another type here.
    DoesNotFit(String),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Truncated => f.write_str("truncated"),
            SnapshotError::Corrupt => f.write_str("corrupt"),
            SnapshotError::WrongModule => f.write_str("taken of another module"),
            SnapshotError::Version(v) => write!(f, "format version {v} is newer than supported"),
            SnapshotError::Unsupported(m) => write!(f, "unsupported: {m}"),
            SnapshotError::DoesNotFit(m) => write!(f, "does not fit: {m}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Compile(m) => write!(f, "invalid module: {m}"),
            Error::Instantiate(m) => write!(f, "instantiation failed: {m}"),
            Error::ImportDuringStart { module, name } => {
                write!(f, "start function called import {module}.{name}")
            }
            Error::UnknownExport(n) => write!(f, "unknown export {n:?}"),
            Error::NotAFunction(n) => write!(f, "export {n:?} is not a function"),
            Error::NoTable => write!(f, "no exported __indirect_function_table"),
            Error::BadTableIndex(i) => write!(f, "no function at table index {i}"),
            Error::BadArity { expected, got } => write!(f, "expected {expected} values, got {got}"),
            Error::Trap(m) => write!(f, "trap: {m}"),
            Error::Stopped => write!(f, "instance stopped"),
            Error::Timeout => write!(f, "call deadline passed"),
            Error::NestingTooDeep(n) => write!(f, "calls nested deeper than {n}"),
            Error::ImportAborted(m) => write!(f, "import aborted: {m}"),
            Error::NoMemory => write!(f, "instance has no memory"),
            Error::OutOfBounds { offset, len, size } => {
                write!(f, "range {offset}+{len} outside memory of {size} bytes")
            }
            Error::UnterminatedString { offset } => {
                write!(f, "no NUL after offset {offset} before the end of memory")
            }
            Error::StringTooLong { offset, max } => {
                write!(f, "string at offset {offset} is longer than {max} bytes")
            }
            Error::InvalidState(m) => write!(f, "invalid state: {m}"),
            Error::Busy => write!(f, "a call is running"),
            Error::WrongKind { name, expected } => write!(f, "export {name:?} is not a {expected}"),
            Error::ImmutableGlobal(n) => write!(f, "global {n:?} is immutable"),
            Error::InvalidValue(m) => write!(f, "invalid value: {m}"),
            Error::CannotGrow { delta, pages } => {
                write!(f, "memory of {pages} pages cannot grow by {delta}")
            }
            Error::OutOfFuel => write!(f, "out of fuel"),
            Error::MemoryBudget { requested, budget } => write!(
                f,
                "initial memory of {requested} bytes does not fit the node's memory budget of {budget} bytes"
            ),
            Error::NotMetered => write!(f, "instance not started with fuel metering"),
            Error::Snapshot(e) => write!(f, "snapshot: {e}"),
            Error::Aot(m) => write!(f, "precompiled artifact: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Why the epoch callback ended a call. Raised inside wasmtime as an error value so
/// that [`Error::from_wasm`] can tell it from a trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupt {
    Stopped,
    Timeout,
    /// The caller driving the call went away; the call is being unwound.
    Abandoned,
}

impl fmt::Display for Interrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interrupt::Stopped => f.write_str("instance stopped"),
            Interrupt::Timeout => f.write_str("call deadline passed"),
            Interrupt::Abandoned => f.write_str("caller exited"),
        }
    }
}

impl std::error::Error for Interrupt {}

/// What emscripten's JS throws as a number: swallowed by the nearest `invoke_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unwind {
    /// `_emscripten_throw_longjmp` (JS: `throw Infinity`).
    Longjmp,
    /// A JS-style C++ exception at this address (JS: `throw ptr`).
    Exception(u32),
}

impl fmt::Display for Unwind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unwind::Longjmp => f.write_str("longjmp with no matching setjmp"),
            Unwind::Exception(p) => write!(f, "uncaught C++ exception at {p:#x}"),
        }
    }
}

impl std::error::Error for Unwind {}

impl Error {
    /// Classifies an error that came out of wasmtime during a call.
    pub(crate) fn from_wasm(err: wasmtime::Error) -> Error {
        if let Some(i) = err.downcast_ref::<Interrupt>() {
            return match i {
                Interrupt::Stopped => Error::Stopped,
                Interrupt::Timeout => Error::Timeout,
                Interrupt::Abandoned => Error::ImportAborted(i.to_string()),
            };
        }
        match err.downcast_ref::<Error>() {
            Some(Error::ImportAborted(m)) => return Error::ImportAborted(m.clone()),
            Some(Error::NestingTooDeep(n)) => return Error::NestingTooDeep(*n),
            _ => {}
        }
        if let Some(u) = err.downcast_ref::<Unwind>() {
            return Error::Trap(u.to_string());
        }
        if err.downcast_ref::<wasmtime::ThrownException>().is_some() {
            return Error::Trap("uncaught wasm exception".into());
        }
        if let Some(trap) = err.downcast_ref::<wasmtime::Trap>() {
            if *trap == wasmtime::Trap::OutOfFuel {
                return Error::OutOfFuel;
            }
            return Error::Trap(trap.to_string());
        }
        // Host errors carry a wasm backtrace as context; the cause is what matters.
        Error::Trap(err.root_cause().to_string())
    }
}
