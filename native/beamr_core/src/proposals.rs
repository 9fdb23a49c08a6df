//! Which WebAssembly proposals an engine enables: a fixed base set that HyperBEAM's,
//! emscripten's and ordinary wasm32/wasm64 images use, and [`Optional`] proposals a
//! start or compile option turns on, one engine per combination (see
//! [`crate::engine::Variant`]). Every enabled proposal is attack surface a guest can
//! reach, and the newest ones (wasm GC above all) are where wasmtime's advisories
//! cluster, so nothing outside the base set is on unless asked for. When a module needs
//! a proposal its engine lacks, [`needed_by`] names the options that would accept it,
//! so the error can say so.

use wasmparser::{Validator, WasmFeatures};
use wasmtime::Config;

/// A set of optional proposals, as bits (the engine variant's tag holds them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Optional(u8);

/// Each optional proposal: its option name, its bit, and its wasmparser features.
const TABLE: [(&str, u8, WasmFeatures); 5] = [
    (
        "gc",
        1,
        WasmFeatures::GC.union(WasmFeatures::FUNCTION_REFERENCES),
    ),
    ("function_references", 2, WasmFeatures::FUNCTION_REFERENCES),
    ("relaxed_simd", 4, WasmFeatures::RELAXED_SIMD),
    ("multi_memory", 8, WasmFeatures::MULTI_MEMORY),
    ("extended_const", 16, WasmFeatures::EXTENDED_CONST),
];

impl Optional {
    /// No optional proposal: the default.
    pub const NONE: Optional = Optional(0);
    /// Every optional proposal.
    pub const ALL: Optional = Optional(31);

    /// The set named by `names` (option names such as `"gc"`); `Err` carries the first
    /// name that is no optional proposal.
    ///
    /// ```
    /// use beamr_core::proposals::Optional;
    /// let set = Optional::from_names(["gc", "relaxed_simd"]).unwrap();
    /// assert_eq!(set.names(), vec!["gc", "relaxed_simd"]);
    /// assert_eq!(Optional::from_names(["threads"]), Err("threads".to_string()));
    /// ```
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Optional, String> {
        let mut bits = 0;
        for name in names {
            match TABLE.iter().find(|(n, _, _)| *n == name) {
                Some((_, bit, _)) => bits |= bit,
                None => return Err(name.to_string()),
            }
        }
        Ok(Optional(bits))
    }

    /// The option names of the proposals in the set, in a fixed order.
    ///
    /// ```
    /// use beamr_core::proposals::Optional;
    /// assert!(Optional::NONE.names().is_empty());
    /// assert_eq!(Optional::ALL.names().len(), 5);
    /// ```
    pub fn names(self) -> Vec<&'static str> {
        TABLE
            .iter()
            .filter(|(_, bit, _)| self.0 & bit != 0)
            .map(|(name, _, _)| *name)
            .collect()
    }

    /// The set as bits, for tags.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The set whose bits these are, if they name only optional proposals.
    ///
    /// ```
    /// use beamr_core::proposals::Optional;
    /// assert_eq!(Optional::from_bits(Optional::ALL.bits()), Some(Optional::ALL));
    /// assert_eq!(Optional::from_bits(64), None);
    /// ```
    pub fn from_bits(bits: u8) -> Option<Optional> {
        (bits & !Self::ALL.0 == 0).then_some(Optional(bits))
    }

    fn features(self) -> WasmFeatures {
        TABLE
            .iter()
            .filter(|(_, bit, _)| self.0 & bit != 0)
            .fold(WasmFeatures::empty(), |acc, (_, _, f)| acc | *f)
    }
}

/// The proposals every engine enables. wasmtime validates against the features of its
/// `Config`; this is the same set in wasmparser's terms, for beamr's own validation.
pub fn base_features() -> WasmFeatures {
    WasmFeatures::WASM2
        | WasmFeatures::MEMORY64
        | WasmFeatures::TAIL_CALL
        | WasmFeatures::EXCEPTIONS
        | WasmFeatures::GC_TYPES
}

/// Everything any beamr engine may enable: what the load-time rewrites accept, since
/// they run before the engine is known to matter and must not refuse an opted-in module.
pub fn widest_features() -> WasmFeatures {
    base_features() | Optional::ALL.features()
}

/// Sets `config`'s proposals to the base set plus `optional`, each one explicitly, so a
/// wasmtime whose defaults grow enables nothing new here.
pub fn configure(config: &mut Config, optional: Optional) {
    // From the table, so that what an option implies (gc: function references) is
    // written once.
    let on = |feature: WasmFeatures| optional.features().contains(feature);
    config
        .wasm_memory64(true)
        .wasm_multi_value(true)
        .wasm_bulk_memory(true)
        .wasm_reference_types(true)
        .wasm_simd(true)
        .wasm_tail_call(true)
        .wasm_exceptions(true)
        .wasm_gc(on(WasmFeatures::GC))
        .wasm_function_references(on(WasmFeatures::FUNCTION_REFERENCES))
        .wasm_relaxed_simd(on(WasmFeatures::RELAXED_SIMD))
        .wasm_multi_memory(on(WasmFeatures::MULTI_MEMORY))
        .wasm_extended_const(on(WasmFeatures::EXTENDED_CONST))
        .wasm_wide_arithmetic(false)
        .wasm_custom_page_sizes(false)
        .wasm_stack_switching(false)
        .wasm_shared_everything_threads(false);
}

/// Optional proposals, beyond `enabled`, with which `wasm` validates: a smallest such
/// set (no member can be dropped), preferring narrow proposals to wide ones (function
/// references over gc). Empty when the module is valid already, or invalid for another
/// reason.
///
/// ```
/// use beamr_core::proposals::{needed_by, Optional};
/// let wasm = wat::parse_str(
///     "(module (memory 1) (memory 1) (func (export \"f\") (result i32) i32.const 0 i32.load 1))",
/// ).unwrap();
/// assert_eq!(needed_by(&wasm, Optional::NONE).names(), vec!["multi_memory"]);
/// assert!(needed_by(b"\0asm junk", Optional::NONE).names().is_empty());
/// ```
pub fn needed_by(wasm: &[u8], enabled: Optional) -> Optional {
    // Legacy exceptions are accepted too: beamr translates them before compiling.
    let valid = |set: u8| {
        Validator::new_with_features(
            base_features() | WasmFeatures::LEGACY_EXCEPTIONS | Optional(set).features(),
        )
        .validate_all(wasm)
        .is_ok()
    };
    if valid(enabled.0) || !valid(Optional::ALL.0) {
        return Optional::NONE;
    }
    // Drop the widest first, so that what remains is the narrowest that still works.
    let mut set = Optional::ALL.0;
    for (_, bit, _) in TABLE.iter() {
        if enabled.0 & bit == 0 && valid(set & !bit) {
            set &= !bit;
        }
    }
    Optional(set & !enabled.0)
}

/// `error`, when it is a compile error of `wasm` (wasm bytes or WAT text) that enabling
/// optional proposals would cure, with the option that enables them named.
pub(crate) fn explain(error: crate::Error, source: &[u8], enabled: Optional) -> crate::Error {
    let crate::Error::Compile(message) = &error else {
        return error;
    };
    let wasm = match crate::source::wat_to_wasm(source) {
        Ok(wasm) => wasm,
        Err(_) => return error,
    };
    let needed = needed_by(&wasm, enabled);
    if needed == Optional::NONE {
        return error;
    }
    let names = needed.names().join(", ");
    crate::Error::Compile(format!(
        "{message} (the module needs the wasm proposals [{names}], which are off by \
         default: the start or compile option `proposals => [{names}]` enables them)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wasm(text: &str) -> Vec<u8> {
        wat::parse_str(text).unwrap()
    }

    #[test]
    fn gc_types_need_the_gc_option() {
        let m = wasm("(module (type (struct (field i32))) (func (export \"f\") (result i32) (struct.new 0 (i32.const 7)) struct.get 0 0))");
        assert_eq!(needed_by(&m, Optional::NONE).names(), vec!["gc"]);
        assert!(needed_by(&m, Optional::from_names(["gc"]).unwrap())
            .names()
            .is_empty());
    }

    #[test]
    fn a_typed_function_reference_needs_only_function_references() {
        let m = wasm("(module (type $t (func (result i32))) (func $f (type $t) i32.const 1) (elem declare func $f) (func (export \"g\") (result i32) ref.func $f call_ref $t))");
        assert_eq!(
            needed_by(&m, Optional::NONE).names(),
            vec!["function_references"]
        );
        let gc = Optional::from_names(["gc"]).unwrap();
        assert!(needed_by(&m, gc).names().is_empty());
    }

    #[test]
    fn two_missing_proposals_are_both_named() {
        let m = wasm("(module (memory 1) (memory 1) (type (struct)) (func (export \"f\") (result i32) i32.const 0 i32.load 1))");
        assert_eq!(
            needed_by(&m, Optional::NONE).names(),
            vec!["gc", "multi_memory"]
        );
    }

    #[test]
    fn base_set_accepts_what_images_use() {
        let m = wasm(
            r#"(module (memory i64 1) (tag $e (param i32))
                 (func (export "f") (param i64) (result i32 i32) (local v128)
                   (block $h (result i32)
                     (try_table (catch $e $h) (throw $e (i32.const 3))) unreachable)
                   local.get 0 i32.wrap_i64 return_call $g)
                 (func $g (param i32 i32) (result i32 i32) local.get 0 local.get 1)
                 (table 1 funcref) (data "x"))"#,
        );
        Validator::new_with_features(base_features())
            .validate_all(&m)
            .unwrap();
    }
}
