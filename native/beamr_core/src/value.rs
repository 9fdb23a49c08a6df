//! Values crossing the boundary: checked conversion into wasm values, and type
//! signatures in HyperBEAM's notation.
//!
//! An [`Arg`] is what a caller handed over, already decoded from its host
//! representation but not yet checked against a wasm type. [`to_val`] accepts it only
//! where the conversion is exact (DESIGN §6): i32 takes integers in [-2^31, 2^32),
//! i64 in [-2^63, 2^64), floats take floats and exactly representable integers. NaN
//! and the infinities have names, since Erlang floats cannot hold them.

use wasmtime::{FuncType, HeapType, Val, ValType};

/// A caller's value, before it meets a wasm type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg {
    Int(i128),
    Float(f64),
    /// A float outside Erlang's range: `nan`, `infinity`, `neg_infinity`.
    Special(SpecialFloat),
    /// 16 little-endian bytes for a v128.
    V128([u8; 16]),
    /// A null reference.
    Null,
}

/// The float values an Erlang float cannot represent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialFloat {
    Nan,
    Infinity,
    NegInfinity,
}

impl SpecialFloat {
    /// The name of a non-finite float, or `None` for an ordinary one.
    pub fn of(x: f64) -> Option<SpecialFloat> {
        if x.is_nan() {
            Some(SpecialFloat::Nan)
        } else if x == f64::INFINITY {
            Some(SpecialFloat::Infinity)
        } else if x == f64::NEG_INFINITY {
            Some(SpecialFloat::NegInfinity)
        } else {
            None
        }
    }

    fn value(self) -> f64 {
        match self {
            SpecialFloat::Nan => f64::NAN,
            SpecialFloat::Infinity => f64::INFINITY,
            SpecialFloat::NegInfinity => f64::NEG_INFINITY,
        }
    }
}

/// Converts `arg` to a value of type `ty`, or `None` when it does not fit exactly.
pub fn to_val(arg: &Arg, ty: &ValType) -> Option<Val> {
    match (ty, *arg) {
        (ValType::I32, Arg::Int(n)) if (-(1i128 << 31)..(1i128 << 32)).contains(&n) => {
            Some(Val::I32(n as u32 as i32))
        }
        (ValType::I64, Arg::Int(n)) if (-(1i128 << 63)..(1i128 << 64)).contains(&n) => {
            Some(Val::I64(n as u64 as i64))
        }
        (ValType::F32, Arg::Float(x)) => Some(Val::F32((x as f32).to_bits())),
        (ValType::F32, Arg::Int(n)) if n as f32 as i128 == n && (n as f32).is_finite() => {
            Some(Val::F32((n as f32).to_bits()))
        }
        (ValType::F32, Arg::Special(s)) => Some(Val::F32((s.value() as f32).to_bits())),
        (ValType::F64, Arg::Float(x)) => Some(Val::F64(x.to_bits())),
        (ValType::F64, Arg::Int(n)) if n as f64 as i128 == n && (n as f64).is_finite() => {
            Some(Val::F64((n as f64).to_bits()))
        }
        (ValType::F64, Arg::Special(s)) => Some(Val::F64(s.value().to_bits())),
        (ValType::V128, Arg::V128(b)) => Some(Val::V128(u128::from_le_bytes(b).into())),
        (ValType::Ref(r), Arg::Null) if r.is_nullable() => Some(null_of(r.heap_type())),
        _ => None,
    }
}

fn null_of(heap: &HeapType) -> Val {
    match heap.top() {
        HeapType::Func => Val::FuncRef(None),
        HeapType::Extern => Val::ExternRef(None),
        HeapType::Exn => Val::ExnRef(None),
        _ => Val::AnyRef(None),
    }
}

/// Converts a whole argument list against `types`, reporting the first position (0-based)
/// that does not fit.
pub fn to_vals(
    args: &[Arg],
    types: impl ExactSizeIterator<Item = ValType>,
) -> Result<Vec<Val>, ArgMismatch> {
    if args.len() != types.len() {
        return Err(ArgMismatch::Arity {
            expected: types.len(),
            got: args.len(),
        });
    }
    args.iter()
        .zip(types)
        .enumerate()
        .map(|(index, (arg, ty))| {
            to_val(arg, &ty).ok_or(ArgMismatch::Type {
                index,
                expected: ty,
            })
        })
        .collect()
}

/// Why an argument list does not fit a signature.
#[derive(Debug, Clone)]
pub enum ArgMismatch {
    Arity { expected: usize, got: usize },
    Type { index: usize, expected: ValType },
}

/// The short name of a value type, as error terms and introspection show it.
pub fn type_name(ty: &ValType) -> &'static str {
    match ty {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
        ValType::F32 => "f32",
        ValType::F64 => "f64",
        ValType::V128 => "v128",
        ValType::Ref(r) => match r.heap_type().top() {
            HeapType::Func => "funcref",
            HeapType::Extern => "externref",
            HeapType::Exn => "exnref",
            _ => "anyref",
        },
    }
}

/// HyperBEAM's one-character code for a value type.
pub fn type_char(ty: &ValType) -> char {
    match ty {
        ValType::I32 => 'i',
        ValType::I64 => 'I',
        ValType::F32 => 'f',
        ValType::F64 => 'F',
        ValType::V128 => 'v',
        ValType::Ref(r) => match r.heap_type().top() {
            HeapType::Func => 'r',
            _ => 'e',
        },
    }
}

/// A function signature in HyperBEAM's notation: `"(" ++ params ++ ")" ++ results`.
pub fn signature(ty: &FuncType) -> String {
    let mut s = String::with_capacity(ty.params().len() + ty.results().len() + 2);
    s.push('(');
    s.extend(ty.params().map(|t| type_char(&t)));
    s.push(')');
    s.extend(ty.results().map(|t| type_char(&t)));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i32_takes_both_signed_and_unsigned_halves() {
        assert_eq!(
            to_val(&Arg::Int(-1), &ValType::I32).unwrap().unwrap_i32(),
            -1
        );
        assert_eq!(
            to_val(&Arg::Int(0xffff_ffff), &ValType::I32)
                .unwrap()
                .unwrap_i32(),
            -1
        );
        assert!(to_val(&Arg::Int(1 << 32), &ValType::I32).is_none());
        assert!(to_val(&Arg::Int(-(1 << 31) - 1), &ValType::I32).is_none());
        assert!(to_val(&Arg::Float(1.0), &ValType::I32).is_none());
    }

    #[test]
    fn i64_is_exact_over_its_whole_range() {
        let max = (1i128 << 64) - 1;
        assert_eq!(
            to_val(&Arg::Int(max), &ValType::I64).unwrap().unwrap_i64(),
            -1
        );
        assert_eq!(
            to_val(&Arg::Int(i64::MIN as i128), &ValType::I64)
                .unwrap()
                .unwrap_i64(),
            i64::MIN
        );
        assert!(to_val(&Arg::Int(max + 1), &ValType::I64).is_none());
    }

    #[test]
    fn floats_take_exact_integers_only() {
        assert_eq!(
            to_val(&Arg::Int(5), &ValType::F64).unwrap().unwrap_f64(),
            5.0
        );
        assert!(to_val(&Arg::Int((1 << 53) + 1), &ValType::F64).is_none());
        assert!(to_val(&Arg::Int((1 << 24) + 1), &ValType::F32).is_none());
        assert!(to_val(&Arg::Special(SpecialFloat::Nan), &ValType::F64)
            .unwrap()
            .unwrap_f64()
            .is_nan());
    }

    #[test]
    fn arity_and_position_are_reported() {
        let types = [ValType::I32, ValType::F64];
        match to_vals(&[Arg::Int(1)], types.iter().cloned()) {
            Err(ArgMismatch::Arity {
                expected: 2,
                got: 1,
            }) => {}
            other => panic!("{other:?}"),
        }
        match to_vals(&[Arg::Int(1), Arg::Null], types.iter().cloned()) {
            Err(ArgMismatch::Type {
                index: 1,
                expected: ValType::F64,
            }) => {}
            other => panic!("{other:?}"),
        }
    }
}
