//! Fuel accounting on the deterministic engine: each outermost call on a metered
//! instance starts with the budget set for it (unbounded when none was), and records
//! what it consumed when it ends. Re-entrant calls draw on the fuel of the call they
//! are nested in, so they are counted in it.

use crate::store::Host;
use wasmtime::Store;

/// Every call on a metered instance gets this much fuel unless given a budget.
pub(super) const UNBOUNDED_FUEL: u64 = u64::MAX / 2;

/// An instance's fuel between and across its outermost calls.
#[derive(Default)]
pub(super) struct Fuel {
    /// Fuel for the next outermost call (`None`: unbounded).
    pub(super) budget: Option<u64>,
    /// The fuel the store held when the outermost call started.
    start: u64,
    /// Fuel the last finished outermost call consumed.
    pub(super) consumed: Option<u64>,
}

impl Fuel {
    /// Gives `store` the fuel of the outermost call that starts now.
    #[inline]
    pub(super) fn arm(&mut self, store: &mut Store<Host>) -> wasmtime::Result<()> {
        let fuel = self.budget.take().unwrap_or(UNBOUNDED_FUEL);
        self.start = fuel;
        store.set_fuel(fuel)
    }

    /// Records what the outermost call that just ended consumed.
    #[inline]
    pub(super) fn settle(&mut self, store: &Store<Host>) {
        let left = store.get_fuel().unwrap_or(0);
        self.consumed = Some(self.start.saturating_sub(left));
    }
}
