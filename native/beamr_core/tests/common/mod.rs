//! Driving an instance from the integration tests the way the Erlang driver does:
//! start a call on a normal-scheduler slice and continue it past time-slice yields (on
//! a loaded machine any poll may outlast a slice). Each test file uses what it needs.
#![allow(dead_code)]

use beamr_core::{Arg, Instance, Slice, Step, Target, Val};
use std::time::Instant;

/// A module whose `count(n)` loops `n` times (forever for n = -1): a call of any length.
pub const COUNT_WAT: &str = r#"(module (func (export "count") (param i32)
    (loop local.get 0 i32.const 1 i32.sub local.tee 0 br_if 0)))"#;

/// Calls export `name` with `args` (checked against its types) and settles the step.
pub fn call_until(i: &mut Instance, name: &str, args: &[Arg], deadline: Option<Instant>) -> Step {
    let callee = i.resolve(Target::Name(name)).unwrap();
    let vals = beamr_core::value::to_vals(args, callee.params.iter().cloned()).unwrap();
    let step = i.call(&callee, vals, Slice::Normal, deadline);
    settle(i, step)
}

/// [`call_until`] with no deadline.
pub fn call(i: &mut Instance, name: &str, args: &[Arg]) -> Step {
    call_until(i, name, args, None)
}

/// Continues past time-slice yields.
pub fn settle(i: &mut Instance, mut step: Step) -> Step {
    while let Step::Yield = step {
        step = i.proceed(Slice::Normal);
    }
    step
}

/// Answers the pending import with `results` and settles the step.
pub fn resume(i: &mut Instance, results: Vec<Val>) -> Step {
    let step = i.resume(results, Slice::Normal);
    settle(i, step)
}

/// The results of a finished call; anything else fails the test.
pub fn done(step: Step) -> Vec<Val> {
    match step {
        Step::Done(v) => v,
        Step::Failed(e) => panic!("failed: {e}"),
        Step::Import { index, .. } => panic!("import {index}"),
        Step::Yield => panic!("yield"),
    }
}
