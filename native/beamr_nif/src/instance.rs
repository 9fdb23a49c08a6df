//! The instance resource: a core instance behind a lock, plus who may drive it.
//!
//! Calls on one instance are serialized: the process whose call is in progress is its
//! owner until the outermost call returns, and only the owner may resume it or call
//! into it re-entrantly. Anyone else gets `busy` and is put on a waiting list; the NIF
//! sends it `{'$beamr_ready', Instance}` when the instance frees up, so nobody polls
//! and no scheduler ever blocks on the lock. An owner that exits mid-call is noticed by
//! a monitor, and its call is unwound so the instance stays usable; the processes
//! waiting for it are woken then too.
//!
//! A call on an idle instance that nobody is queued for skips all of that: it takes
//! the instance's [`Gate`] with one atomic operation and, when the call ends within
//! the NIF, releases it with one more (see [`InstanceResource::enter_idle`]).

use beamr_core::gate::{Gate, Held};
use beamr_core::{CompiledModule, Instance, StopHandle};
use parking_lot::Mutex;
use rustler::env::SavedTerm;
use rustler::{Encoder, Env, LocalPid, Monitor, OwnedEnv};
use std::sync::Arc;

use crate::atoms;
pub use crate::handle::Handle;

#[derive(Default)]
struct Control {
    owner: Option<LocalPid>,
    monitor: Option<Monitor>,
    /// Processes waiting for the owner's call to end.
    call_waiters: Vec<LocalPid>,
    /// Processes waiting for the lock (a poll was in progress).
    lock_waiters: Vec<LocalPid>,
    /// The owner exited while its call was executing; whoever finishes the poll unwinds.
    orphaned: bool,
    /// A copy of the instance's term, kept while processes wait for the owner's call:
    /// the owner's `down` callback has no handle of its own to wake them with. Holding
    /// it keeps the instance alive no longer than the waiters, who hold it too.
    handle_term: Option<(OwnedEnv, SavedTerm)>,
}

pub struct InstanceResource {
    /// The instance; its gate also tells whether `control.lock_waiters` may hold anyone.
    core: Gate<Instance>,
    module: Arc<CompiledModule>,
    stop: StopHandle,
    control: Mutex<Control>,
}

/// How an operation may use the instance.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Start a call: needs the caller to be the owner, or nobody to be.
    Call,
    /// Resume or continue the caller's own call: needs the caller to be the owner.
    Drive,
    /// Touch memory or stop: needs only the lock.
    Any,
}

fn push_unique(list: &mut Vec<LocalPid>, pid: LocalPid) {
    if !list.contains(&pid) {
        list.push(pid);
    }
}

/// Whether two local pids are the same process, without a call into the VM: a local
/// pid is an immediate term, equal to another exactly when their bits are. (rustler's
/// `==` goes through `enif_compare`, which showed up on every import round trip.)
fn same_pid(a: &LocalPid, b: &LocalPid) -> bool {
    // SAFETY: `ErlNifPid` is `#[repr(C)]` around the single `ERL_NIF_TERM` of
    // erl_nif.h, so both pointers point at a readable, initialized `ErlNifTerm`.
    let bits = |p: &LocalPid| unsafe {
        *(p.as_c_arg() as *const rustler::sys::ErlNifPid as *const rustler::sys::ErlNifTerm)
    };
    bits(a) == bits(b)
}

fn is_owner(owner: Option<LocalPid>, me: &LocalPid) -> bool {
    owner.is_some_and(|o| same_pid(&o, me))
}

impl InstanceResource {
    pub fn new(core: Instance) -> InstanceResource {
        InstanceResource {
            stop: core.stop_handle(),
            module: core.module().clone(),
            core: Gate::new(core),
            control: Mutex::default(),
        }
    }

    /// The module the instance was made from, shared (for module handles and links);
    /// immutable, so no lock is needed.
    pub fn module_arc(&self) -> Arc<CompiledModule> {
        self.module.clone()
    }

    pub fn stop_handle(&self) -> &StopHandle {
        &self.stop
    }

    /// Takes an idle instance for a new call without the control lock: nobody owns an
    /// idle instance, and a call that ends within this NIF call never needs an owner
    /// (a process that queues meanwhile is woken by [`InstanceResource::leave_idle`]).
    /// So the common `beamr:call` takes and releases the instance with one atomic
    /// operation each. `None`: use [`InstanceResource::enter`].
    pub fn enter_idle<'h>(handle: &Handle<'h>, env: Env) -> Option<Held<'h, Instance>> {
        let instance: &'h InstanceResource = handle.resource();
        let core = instance.core.try_take_unqueued()?;
        if core.is_idle() && !instance.stop.is_stopped() {
            return Some(core);
        }
        release_waking(handle, env, core);
        None
    }

    /// Releases an instance taken by [`InstanceResource::enter_idle`]. A call that
    /// goes on (parked in an import, or out of time slice) makes the caller its owner,
    /// as [`InstanceResource::enter`] would have.
    pub fn leave_idle(handle: &Handle<'_>, env: Env, core: Held<'_, Instance>) {
        if core.is_idle() || handle.stop.is_stopped() {
            return release_waking(handle, env, core);
        }
        handle.control.lock().owner = Some(env.pid());
        InstanceResource::leave(handle, env, core, false);
    }

    /// Takes the lock for `access`, or records the caller as waiting and returns
    /// `Err(busy)`; `Err(not_owner)` when the caller may not drive this call.
    pub fn enter<'h>(
        handle: &Handle<'h>,
        env: Env,
        access: Access,
    ) -> Result<Held<'h, Instance>, rustler::Atom> {
        if handle.stop.is_stopped() {
            return Err(atoms::stopped());
        }
        let me = env.pid();
        let mut control = handle.control.lock();
        match (access, control.owner) {
            (Access::Call, Some(owner)) if !same_pid(&owner, &me) => {
                push_unique(&mut control.call_waiters, me);
                if control.handle_term.is_none() {
                    let owned = OwnedEnv::new();
                    let term = owned.save(handle.encode(env));
                    control.handle_term = Some((owned, term));
                }
                return Err(atoms::busy());
            }
            (Access::Drive, owner) if !is_owner(owner, &me) => return Err(atoms::not_owner()),
            _ => {}
        }
        let instance: &'h InstanceResource = handle.resource();
        let core = match instance.core.try_take() {
            Some(core) => core,
            None => {
                push_unique(&mut control.lock_waiters, me);
                if instance.core.mark_queued() {
                    // Its holder sees the mark as it releases, and wakes the queue.
                    return Err(atoms::busy());
                }
                // Released just before the mark: nobody would wake the queue, so take
                // the instance here.
                let core = instance.core.try_take().ok_or_else(atoms::busy)?;
                control.lock_waiters.retain(|p| !same_pid(p, &me));
                if control.lock_waiters.is_empty() {
                    instance.core.mark_unqueued();
                }
                core
            }
        };
        if access == Access::Call && control.owner.is_none() && core.is_idle() {
            control.owner = Some(me);
        }
        Ok(core)
    }

    /// Releases the lock after an operation by the caller and settles ownership: the
    /// call tree is over when the instance is idle (or stopped) again.
    /// With `wait`, the caller found a call executing and is queued for the next
    /// release, so that it is told when to retry.
    pub fn leave(handle: &Handle<'_>, env: Env, mut core: Held<'_, Instance>, wait: bool) {
        let mut control = handle.control.lock();
        if control.orphaned {
            control.orphaned = false;
            core.abandon();
        }
        let call_over = core.is_idle() || handle.stop.is_stopped();
        let mut woken = std::mem::take(&mut control.lock_waiters);
        core.release_dequeued();
        let mut released = None;
        if call_over && control.owner.is_some() {
            control.owner = None;
            if let Some(m) = control.monitor.take() {
                handle.demonitor(env, &m);
            }
            woken.append(&mut control.call_waiters);
            released = control.handle_term.take();
        } else if let (Some(owner), None) = (control.owner, control.monitor) {
            control.monitor = handle.monitor(env, &owner);
        }
        if wait {
            push_unique(&mut control.lock_waiters, env.pid());
            // Whoever takes the instance next must see the queue as it releases.
            handle.core.mark_queued();
        }
        drop(control);
        drop(released);
        wake(handle, env, &woken);
    }

    /// Stops the instance: frees it now if it is not executing, else it traps within a
    /// tick and whoever is polling frees it. Everyone waiting is told to retry.
    pub fn stop(handle: &Handle<'_>, env: Env) {
        handle.stop.stop();
        if let Some(mut core) = handle.core.try_take() {
            core.stop();
        }
        let mut control = handle.control.lock();
        let mut woken = std::mem::take(&mut control.lock_waiters);
        woken.append(&mut control.call_waiters);
        let released = control.handle_term.take();
        drop(control);
        drop(released);
        wake(handle, env, &woken);
    }
}

/// Releases the instance; if anyone queued for it meanwhile, wakes them.
fn release_waking(handle: &Handle<'_>, env: Env, core: Held<'_, Instance>) {
    if let Err(core) = core.release_unqueued() {
        let mut control = handle.control.lock();
        let woken = std::mem::take(&mut control.lock_waiters);
        core.release_dequeued();
        drop(control);
        wake(handle, env, &woken);
    }
}

/// An instance taken by [`InstanceResource::enter`] or
/// [`InstanceResource::enter_idle`]; dropping it releases the instance as the matching
/// `leave` does, also when a panic unwinds through whoever holds it.
pub struct Entered<'h, 'r, 'e> {
    handle: &'r Handle<'h>,
    env: Env<'e>,
    core: Option<Held<'h, Instance>>,
    idle: bool,
}

impl<'h, 'r, 'e> Entered<'h, 'r, 'e> {
    /// Takes the instance for `access`, by [`InstanceResource::enter_idle`] when that
    /// applies; `Err` as [`InstanceResource::enter`].
    pub fn new(
        handle: &'r Handle<'h>,
        env: Env<'e>,
        access: Access,
    ) -> Result<Self, rustler::Atom> {
        let idle = match access {
            Access::Call => InstanceResource::enter_idle(handle, env),
            _ => None,
        };
        let (core, idle) = match idle {
            Some(core) => (core, true),
            None => (InstanceResource::enter(handle, env, access)?, false),
        };
        Ok(Entered {
            handle,
            env,
            core: Some(core),
            idle,
        })
    }

    pub fn core(&mut self) -> &mut Instance {
        self.core.as_mut().expect("held until dropped")
    }
}

impl Drop for Entered<'_, '_, '_> {
    fn drop(&mut self) {
        if let Some(core) = self.core.take() {
            if self.idle {
                InstanceResource::leave_idle(self.handle, self.env, core);
            } else {
                InstanceResource::leave(self.handle, self.env, core, false);
            }
        }
    }
}

fn wake(handle: &Handle<'_>, env: Env, pids: &[LocalPid]) {
    for pid in pids {
        // A waiter that already exited cannot be woken; one that is woken twice retries twice.
        let _ = env.send(pid, (atoms::beamr_ready(), *handle).encode(env));
    }
}

impl InstanceResource {
    /// The owner of a call exited mid-call (see the module documentation).
    pub fn down(&self, env: Env, pid: LocalPid) {
        let mut control = self.control.lock();
        if control.owner != Some(pid) {
            return;
        }
        control.monitor = None;
        match self.core.try_take() {
            Some(mut core) => {
                core.abandon();
                drop(core);
                control.owner = None;
                // Everyone waiting for the dead owner's call may go now, told with the
                // copy of the instance's term kept for this.
                let waiters = std::mem::take(&mut control.call_waiters);
                let saved = control.handle_term.take();
                drop(control);
                if let Some((owned, term)) = &saved {
                    let handle = owned.run(|saved_env| term.load(saved_env).in_env(env));
                    for waiter in &waiters {
                        // A waiter that already exited cannot be woken.
                        let _ = env.send(waiter, (atoms::beamr_ready(), handle));
                    }
                }
            }
            None => {
                // A poll for the dead owner is executing; make it trap and unwind.
                self.stop.abandon();
                control.orphaned = true;
            }
        }
    }
}
