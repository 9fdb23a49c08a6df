//! What the translation of one function body needs to know about its module: the
//! function signatures by type index, the tags, and the block types the translation
//! adds. Kept apart from `legacy_eh.rs`, which fills it in, so that `body.rs` imports
//! it without importing the module that drives it.

/// A function signature, in the encoder's types.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Sig {
    pub params: Vec<wasm_encoder::ValType>,
    pub results: Vec<wasm_encoder::ValType>,
}

/// What the body translation needs to know about the module.
pub(crate) struct ModuleInfo {
    /// Signatures by type index; `None` for struct, array and continuation types.
    pub types: Vec<Option<Sig>>,
    /// The type index of every tag, imported ones first.
    pub tags: Vec<u32>,
    /// Function types added by the translation, appended after `types`.
    pub added: Vec<Sig>,
}

impl ModuleInfo {
    pub fn sig(&self, type_index: u32) -> Result<&Sig, String> {
        self.types
            .get(type_index as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| format!("type {type_index} is not a function type"))
    }

    /// The index of a function type `params -> results`, added if not there yet.
    pub fn intern(&mut self, sig: Sig) -> u32 {
        let base = self.types.len();
        let pos = match self.added.iter().position(|s| *s == sig) {
            Some(p) => p,
            None => {
                self.added.push(sig);
                self.added.len() - 1
            }
        };
        (base + pos) as u32
    }
}
