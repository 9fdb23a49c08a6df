//! Start options as the Erlang side passes them, and which engine a start or a
//! compilation uses.
//!
//! A limit is an integer or the atom `default`, which takes the core's default
//! (`beamr_core::limits`), so the defaults are written in one place. An engine choice is
//! `{Deterministic, Proposals}`, either element `default`, read into the core's
//! `EngineChoice`, which decides the engine.

use crate::atoms;
pub use beamr_core::engine::EngineChoice;
use beamr_core::proposals::Optional;
use beamr_core::{CompiledModule, Options, Variant};
use rustler::{Decoder, NifResult, Term};

fn is_default(t: Term) -> bool {
    t.as_c_arg() == atoms::default().as_c_arg()
}

/// An option the Erlang side may leave to the core: a value, or `default`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting<T> {
    Default,
    Set(T),
}

/// A limit option: a count or size in `[0, 2^64)`, or `default`.
pub type Limit = Setting<u64>;

impl<T> From<Setting<T>> for Option<T> {
    fn from(s: Setting<T>) -> Option<T> {
        match s {
            Setting::Default => None,
            Setting::Set(v) => Some(v),
        }
    }
}

impl<'a, T: Decoder<'a>> Decoder<'a> for Setting<T> {
    fn decode(term: Term<'a>) -> NifResult<Setting<T>> {
        if is_default(term) {
            return Ok(Setting::Default);
        }
        term.decode().map(Setting::Set)
    }
}

/// Reads `{Deterministic, Proposals}` (a boolean and a list of optional proposal
/// names, either one `default`) into an engine choice; `None` for a term of another
/// shape.
pub fn engine_choice(term: Term) -> Option<EngineChoice> {
    let (deterministic, proposals): (Term, Term) = term.decode().ok()?;
    let deterministic = match is_default(deterministic) {
        true => None,
        false => Some(deterministic.decode::<bool>().ok()?),
    };
    let optional = match is_default(proposals) {
        true => None,
        false => {
            let names = proposals
                .decode::<Vec<Term>>()
                .ok()?
                .into_iter()
                .map(|t| t.atom_to_string().ok())
                .collect::<Option<Vec<String>>>()?;
            Some(Optional::from_names(names.iter().map(String::as_str)).ok()?)
        }
    };
    Some(EngineChoice {
        deterministic,
        optional,
    })
}

/// The engine a start or compilation uses (see `EngineChoice::variant`), given the
/// module handle's compilation when the start has one.
pub fn variant_for(choice: EngineChoice, compiled: Option<&CompiledModule>) -> Variant {
    choice.variant(compiled.map(CompiledModule::variant))
}

/// The core's start options from the limits the Erlang side passed and an engine.
pub fn start_options(max_memory: Limit, max_table_elements: Limit, variant: Variant) -> Options {
    Options::new(max_memory.into(), max_table_elements.into(), variant)
}
