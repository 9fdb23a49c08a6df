//! Start options as the Erlang side passes them, and which engine a start or a
//! compilation uses.
//!
//! A limit is an integer or the atom `default`, which takes the core's default
//! (`beamr_core::limits`), so the defaults are written in one place. An engine choice is
//! `{Deterministic, Proposals}`, either element `default`; [`variant_for`] turns it into
//! the engine, the one place that decision is made.

use crate::atoms;
use beamr_core::limits::{DEFAULT_MAX_MEMORY, DEFAULT_MAX_TABLE_ELEMENTS};
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

impl<T> Setting<T> {
    pub fn or(self, default: T) -> T {
        match self {
            Setting::Default => default,
            Setting::Set(v) => v,
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

/// What a start asked of the engine: each part `None` where it said `default`.
#[derive(Clone, Copy, Debug, Default)]
pub struct EngineChoice {
    deterministic: Option<bool>,
    optional: Option<Optional>,
}

impl EngineChoice {
    /// Nothing asked: the engine of a start given only bytes.
    pub const DEFAULT: EngineChoice = EngineChoice {
        deterministic: None,
        optional: None,
    };

    /// Reads `{Deterministic, Proposals}` (a boolean and a list of optional proposal
    /// names, either one `default`); `None` for a term of another shape.
    pub fn of(term: Term) -> Option<EngineChoice> {
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
}

/// The engine a start or compilation uses: what `choice` asks, and for what it leaves
/// to `default`, the engine `compiled` (a module handle's compilation, when the start
/// is given one) was made for, else the default engine.
pub fn variant_for(choice: EngineChoice, compiled: Option<&CompiledModule>) -> Variant {
    let base = compiled.map_or(Variant::DEFAULT, CompiledModule::variant);
    Variant {
        deterministic: choice.deterministic.unwrap_or(base.deterministic),
        optional: choice.optional.unwrap_or(base.optional),
        ..base
    }
}

/// The core's start options from the limits the Erlang side passed and an engine.
pub fn start_options(max_memory: Limit, max_table_elements: Limit, variant: Variant) -> Options {
    Options {
        max_memory: max_memory.or(DEFAULT_MAX_MEMORY),
        max_table_elements: max_table_elements.or(DEFAULT_MAX_TABLE_ELEMENTS),
        deterministic: variant.deterministic,
        optional: variant.optional,
    }
}
