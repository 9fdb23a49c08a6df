//! Load-time translation of legacy wasm exception handling to the standard encoding.
//!
//! emscripten's `-fwasm-exceptions` (and so AOS's Lua images) emit the legacy encoding:
//! `try`/`catch`/`catch_all`/`rethrow`/`delegate`. wasmtime runs only the standard one
//! (`try_table`, `throw_ref`, `exnref`). [`prepare`] turns whatever the user gave (wasm
//! or WAT) into wasm bytes wasmtime accepts: a module without legacy instructions comes
//! back untouched (borrowed, byte-identical); one with them is rewritten function by
//! function (see `body.rs` for the scheme), its type section gains the block types the
//! rewrite needs, every other section is copied verbatim, and the result is validated
//! before anyone compiles it. Failures are [`Error::Compile`] with context.

mod body;
mod module_info;

use super::rewrite::{bytes, copy_section, finish_valid};
use crate::error::Error;
use crate::proposals::widest_features;
use module_info::{ModuleInfo, Sig};
use std::borrow::Cow;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasmparser::{CompositeInnerType, Operator, Parser, Payload, TypeRef, Validator, WasmFeatures};

/// The bytes wasmtime should compile for `input`: WAT is parsed, and legacy exception
/// handling is translated. Borrows `input` when it is wasm needing no change.
pub fn prepare(input: &[u8]) -> Result<Cow<'_, [u8]>, Error> {
    let wasm: Cow<'_, [u8]> = if input.starts_with(b"\0asm") {
        Cow::Borrowed(input)
    } else {
        let parsed = wat::parse_bytes(input).map_err(|e| Error::Compile(e.to_string()))?;
        Cow::Owned(parsed.into_owned())
    };
    if !uses_legacy_eh(&wasm) {
        return Ok(wasm);
    }
    translate(&wasm).map(Cow::Owned)
}

/// Whether any function body holds a legacy exception-handling instruction. Bytes that
/// do not parse answer false: wasmtime then reports what is wrong with them.
pub fn uses_legacy_eh(wasm: &[u8]) -> bool {
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(Payload::CodeSectionEntry(body)) = payload else {
            if payload.is_err() {
                return false;
            }
            continue;
        };
        let Ok(mut ops) = body.get_operators_reader() else {
            return false;
        };
        while !ops.eof() {
            match ops.read() {
                Ok(
                    Operator::Try { .. }
                    | Operator::Catch { .. }
                    | Operator::CatchAll
                    | Operator::Rethrow { .. }
                    | Operator::Delegate { .. },
                ) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }
    false
}

fn fail(what: impl std::fmt::Display) -> Error {
    Error::Compile(format!("legacy exception handling: {what}"))
}

fn val_type(t: wasmparser::ValType) -> Result<wasm_encoder::ValType, Error> {
    RoundtripReencoder.val_type(t).map_err(fail)
}

/// Rewrites a module that uses legacy exception handling. The input is validated first
/// (with legacy exceptions allowed) so the rewrite can rely on well-formed code, and
/// the output is validated against the engine's features.
pub fn translate(wasm: &[u8]) -> Result<Vec<u8>, Error> {
    Validator::new_with_features(widest_features() | WasmFeatures::LEGACY_EXCEPTIONS)
        .validate_all(wasm)
        .map_err(|e| fail(format!("invalid input module: {e}")))?;

    let mut info = ModuleInfo {
        types: Vec::new(),
        tags: Vec::new(),
        added: Vec::new(),
    };
    let mut func_types: Vec<u32> = Vec::new();
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(fail)? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group.map_err(fail)?.into_types() {
                        info.types.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => Some(Sig {
                                params: f
                                    .params()
                                    .iter()
                                    .map(|t| val_type(*t))
                                    .collect::<Result<_, _>>()?,
                                results: f
                                    .results()
                                    .iter()
                                    .map(|t| val_type(*t))
                                    .collect::<Result<_, _>>()?,
                            }),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if let TypeRef::Tag(tag) = import.map_err(fail)?.ty {
                        info.tags.push(tag.func_type_idx);
                    }
                }
            }
            Payload::TagSection(reader) => {
                for tag in reader {
                    info.tags.push(tag.map_err(fail)?.func_type_idx);
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    func_types.push(ty.map_err(fail)?);
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body),
            _ => {}
        }
    }

    let mut code = wasm_encoder::CodeSection::new();
    for (i, body) in bodies.iter().enumerate() {
        let ty = *func_types
            .get(i)
            .ok_or_else(|| fail("more bodies than functions"))?;
        let params = info.sig(ty).map_err(fail)?.params.len() as u32;
        match body::translate(body, params, &mut info)
            .map_err(|e| fail(format!("function {i} (defined): {e}")))?
        {
            Some(f) => code.function(&f),
            None => code.raw(bytes(wasm, body.range()).ok_or_else(|| fail("a body out of range"))?),
        };
    }

    let mut module = wasm_encoder::Module::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(fail)?;
        match &payload {
            Payload::TypeSection(reader) => {
                let mut types = wasm_encoder::TypeSection::new();
                RoundtripReencoder
                    .parse_type_section(&mut types, reader.clone())
                    .map_err(fail)?;
                for sig in &info.added {
                    types
                        .ty()
                        .function(sig.params.iter().copied(), sig.results.iter().copied());
                }
                module.section(&types);
            }
            Payload::CodeSectionStart { .. } => {
                module.section(&code);
            }
            other => copy_section(&mut module, wasm, other)
                .ok_or_else(|| fail("a section out of range"))?,
        }
    }
    finish_valid(module)
        .map_err(|e| fail(format!("translated module is invalid (a beamr bug): {e}")))
}

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;
