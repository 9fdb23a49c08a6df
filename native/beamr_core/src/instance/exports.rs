//! What a call names and what it finds: a [`Target`] (an export's name or a slot of
//! the indirect function table), the [`Callee`] it resolves to (with its typed entry
//! point, see `typed.rs`), and the per-instance cache of callees by export name that
//! makes every call after the first skip the lookup.

use crate::store::Host;
use crate::typed::{fast_call, FastCall};
use crate::value::signature;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use wasmtime::{Func, StoreContextMut, ValType};

/// What to call: an export by name, or an entry of `__indirect_function_table`.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Name(&'a str),
    /// A name as bytes from outside, checked to be UTF-8 only the first time it is
    /// resolved (invalid UTF-8 names no export).
    NameBytes(&'a [u8]),
    Index(u64),
}

impl<'a> Target<'a> {
    /// The name's bytes, for a target that names an export.
    pub(super) fn name_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Target::Name(name) => Some(name.as_bytes()),
            Target::NameBytes(bytes) => Some(bytes),
            Target::Index(_) => None,
        }
    }
}

/// The exports an instance has resolved so far, by name: most instances call a
/// handful, found by a scan of a short list faster than hashing the name; any beyond
/// go into a map.
#[derive(Default)]
pub(super) struct Resolved {
    few: Vec<(Box<[u8]>, Arc<Callee>)>,
    many: HashMap<Box<[u8]>, Arc<Callee>, BuildHasherDefault<Fnv>>,
}

impl Resolved {
    const FEW: usize = 8;

    pub(super) fn get(&self, name: &[u8]) -> Option<&Arc<Callee>> {
        match self.few.iter().find(|(n, _)| **n == *name) {
            Some((_, callee)) => Some(callee),
            None if self.few.len() < Self::FEW => None,
            None => self.many.get(name),
        }
    }

    pub(super) fn insert(&mut self, name: &[u8], callee: Arc<Callee>) {
        if self.few.len() < Self::FEW {
            self.few.push((name.into(), callee));
        } else {
            self.many.insert(name.into(), callee);
        }
    }

    pub(super) fn clear(&mut self) {
        self.few.clear();
        self.many.clear();
    }
}

/// A resolved function: the handle, its parameter types and its result count, and a
/// typed entry point when its signature is a common one.
#[derive(Clone)]
pub struct Callee {
    pub func: Func,
    pub params: Arc<[ValType]>,
    pub results: usize,
    pub(super) fast: Option<Arc<dyn FastCall>>,
}

impl Callee {
    pub(super) fn new(store: &StoreContextMut<'_, Host>, func: Func) -> Callee {
        let ty = func.ty(store);
        let results = ty.results().len();
        Callee {
            func,
            params: ty.params().collect(),
            results,
            fast: fast_call(store, func, &signature(&ty)),
        }
    }
}

/// FNV-1a for the names past the first few, which are hashed on every call to them:
/// export names are short, and on a short key std's SipHash spends most of its time in
/// setup and finishing rounds that FNV does not have. Hash flooding, the attack SipHash
/// guards against, needs an attacker to choose many names that collide, and the names
/// come from the module, whose author can already make its calls as slow as they like.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}
