//! Running calls to the end the way the NIF does: past time-slice yields, answering
//! each import the guest reaches with zeros of its result types (or failing it once a
//! call has reached too many), so a check sees only a result or an error.

use arbitrary::Unstructured;
use beamr_core::{Error, Instance, Slice, Step, Target, Val, ValType};
use std::time::Instant;

/// How many imports one call may reach before the rest are failed.
const MAX_IMPORTS: usize = 64;

/// The zero value of a type; `None` for references that cannot be null.
pub fn zero(ty: &ValType) -> Option<Val> {
    Some(match ty {
        ValType::I32 => Val::I32(0),
        ValType::I64 => Val::I64(0),
        ValType::F32 => Val::F32(0),
        ValType::F64 => Val::F64(0),
        ValType::V128 => Val::V128(0u128.into()),
        ValType::Ref(r) if r.is_nullable() => Val::null_ref(r.heap_type()),
        ValType::Ref(_) => return None,
    })
}

/// Calls export `name` with `args` until it finishes, fails, or `deadline` passes.
pub fn call(
    i: &mut Instance,
    name: &str,
    args: Vec<Val>,
    deadline: Option<Instant>,
) -> Result<Vec<Val>, Error> {
    let callee = i.resolve(Target::Name(name))?;
    let mut step = i.call(&callee, args, Slice::Dirty, deadline);
    let mut imports = 0;
    loop {
        step = match step {
            Step::Done(v) => return Ok(v),
            Step::Failed(e) => return Err(e),
            Step::Yield => i.proceed(Slice::Dirty),
            Step::Import { index, .. } => {
                imports += 1;
                let zeros: Option<Vec<Val>> = i
                    .import_desc(index)
                    .result_types()
                    .iter()
                    .map(zero)
                    .collect();
                match zeros {
                    Some(results) if imports <= MAX_IMPORTS => i.resume(results, Slice::Dirty),
                    _ => i.fail_import("fuzz: import refused".into(), Slice::Dirty),
                }
            }
        };
    }
}

/// A generated argument of type `t`: integers half the time small (offsets and lengths
/// that land inside a memory, lengths of many bulk-memory chunks); null for nullable
/// references; `None` for the rest.
pub fn arg(u: &mut Unstructured, t: &ValType) -> Option<Val> {
    let small = u.arbitrary::<bool>().unwrap_or(true);
    let int = |u: &mut Unstructured| -> u64 {
        if small {
            u.int_in_range(0..=1 << 18).unwrap_or(0)
        } else {
            u.arbitrary().unwrap_or(0)
        }
    };
    Some(match t {
        ValType::I32 => Val::I32(int(u) as i32),
        ValType::I64 => Val::I64(int(u) as i64),
        ValType::F32 => Val::F32(u.arbitrary().unwrap_or(0)),
        ValType::F64 => Val::F64(u.arbitrary().unwrap_or(0)),
        ValType::V128 => Val::V128(u.arbitrary::<u128>().unwrap_or(0).into()),
        ValType::Ref(_) => return zero(t),
    })
}
