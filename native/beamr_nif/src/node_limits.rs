//! Node-wide settings every instance shares: the depth of calls nested inside imports,
//! the linear memory budget, and the Spectre guard of modules compiled from now on.

use crate::atoms;

/// `set_max_nesting(Levels) -> ok`: the node's limit on calls nested inside imports.
#[rustler::nif]
fn set_max_nesting(levels: u32) -> rustler::Atom {
    beamr_core::limits::set_max_nesting(levels);
    atoms::ok()
}

/// `set_spectre_guard(On) -> ok`: the Spectre guard on heap accesses of modules
/// compiled from now on (see `beamr_core::engine::set_spectre_guard`).
#[rustler::nif]
fn set_spectre_guard(on: bool) -> rustler::Atom {
    beamr_core::engine::set_spectre_guard(on);
    atoms::ok()
}

/// `spectre_guard() -> boolean()`: the node's Spectre guard setting.
#[rustler::nif]
fn spectre_guard() -> bool {
    beamr_core::engine::spectre_guard()
}

/// `memory_budget() -> {Budget, Used}`: the node-wide linear memory budget and what
/// live instances hold of it, in bytes.
#[rustler::nif]
fn memory_budget() -> (u64, u64) {
    (
        beamr_core::memory_budget::budget(),
        beamr_core::memory_budget::used(),
    )
}

/// `set_memory_budget(Bytes) -> ok`.
#[rustler::nif]
fn set_memory_budget(bytes: u64) -> rustler::Atom {
    beamr_core::memory_budget::set_budget(bytes);
    atoms::ok()
}
