//! The instance handle: an [`InstanceResource`] held in an ERTS resource of beamr's
//! own type.
//!
//! Why not rustler's `#[rustler::resource_impl]`, which the crate's other resources
//! use: its `ResourceArc` finds a resource's type in a SipHash map and takes a
//! reference count on every decode, on every `beamr:call` and every import round
//! trip, work that beamr's small hot NIFs would repeat every time. Here the type
//! lives in a static set once at load, a decode is one `enif_get_resource`, and a
//! decoded [`Handle`] borrows the resource for the NIF call (the argument term keeps it
//! alive) instead of counting a reference. Only rustler's public API is used (its
//! `sys` bindings of erl_nif). The resource's destructor drops the instance; its
//! `down` callback is [`InstanceResource::down`].
//!
//! A term that is no instance handle does not raise `badarg`: every NIF taking one
//! returns `{error, {bad_instance, Term}}` instead (see [`NotAnInstance`]).

use crate::atoms;
use rustler::sys::{
    c_void, enif_alloc_resource, enif_demonitor_process, enif_get_resource,
    enif_init_resource_type, enif_make_resource, enif_monitor_process, enif_release_resource,
    ErlNifEnv, ErlNifMonitor, ErlNifPid, ErlNifResourceDown, ErlNifResourceDtor,
    ErlNifResourceFlags, ErlNifResourceType, ErlNifResourceTypeInit,
};
use rustler::{Decoder, Encoder, Env, Error, LocalPid, Monitor, NifResult, Term};
use std::ops::Deref;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::instance::InstanceResource;

static TYPE: AtomicPtr<ErlNifResourceType> = AtomicPtr::new(ptr::null_mut());

/// Opens the resource type; from the NIF library's `load`. False if the VM refused.
pub fn register(env: Env) -> bool {
    let init = ErlNifResourceTypeInit {
        dtor: destructor as *const ErlNifResourceDtor,
        stop: ptr::null(),
        down: down as *const ErlNifResourceDown,
        members: 3,
        dyncall: ptr::null(),
    };
    let mut tried = ErlNifResourceFlags::ERL_NIF_RT_CREATE;
    // SAFETY: called from `load` with its environment; the name is NUL-terminated and
    // `init` is read during the call only.
    let ty = unsafe {
        enif_init_resource_type(
            env.as_c_arg(),
            c"beamr_instance".as_ptr(),
            &init,
            ErlNifResourceFlags::ERL_NIF_RT_CREATE,
            &mut tried,
        )
    };
    TYPE.store(ty as *mut ErlNifResourceType, Ordering::Release);
    !ty.is_null()
}

/// Where the instance sits in a resource object: `enif_alloc_resource` aligns to 8
/// bytes only, so the object has room to align the instance up to its own alignment.
fn slot(object: *const c_void) -> *mut InstanceResource {
    let align = std::mem::align_of::<InstanceResource>();
    let addr = object as usize;
    addr.next_multiple_of(align) as *mut InstanceResource
}

/// A new instance handle's term; the term then owns the resource.
pub fn new_term(env: Env<'_>, instance: InstanceResource) -> Term<'_> {
    let size = std::mem::size_of::<InstanceResource>() + std::mem::align_of::<InstanceResource>();
    let ty = TYPE.load(Ordering::Acquire);
    // SAFETY: `ty` was opened at load (no NIF runs before `load` succeeded); the object
    // has room for the instance at `slot` (see `size`), which is written before the
    // term is made, and releasing our reference leaves the term as the only owner.
    unsafe {
        let object = enif_alloc_resource(ty, size);
        ptr::write(slot(object), instance);
        let term = Term::new(env, enif_make_resource(env.as_c_arg(), object));
        enif_release_resource(object);
        term
    }
}

/// The reason a NIF gives for an argument that is no instance handle:
/// `{bad_instance, Term}`. rustler returns an `Error::Term` from a NIF as
/// `{error, Reason}`, encoding it in that NIF call's environment, the one the
/// argument lives in; holding the raw term (its encoder must be `'static`) lets the
/// error carry the argument back without copying it.
pub struct NotAnInstance(rustler::sys::ErlNifTerm);

impl Encoder for NotAnInstance {
    fn encode<'b>(&self, env: Env<'b>) -> Term<'b> {
        // SAFETY: made by `Handle::decode` from an argument of the running NIF call,
        // and encoded only while that call returns, in the same environment.
        let term = unsafe { Term::new(env, self.0) };
        (atoms::bad_instance(), term).encode(env)
    }
}

/// An instance handle decoded from a NIF argument, valid for the NIF call.
#[derive(Clone, Copy)]
pub struct Handle<'a> {
    object: *const c_void,
    instance: &'a InstanceResource,
}

impl Deref for Handle<'_> {
    type Target = InstanceResource;
    fn deref(&self) -> &InstanceResource {
        self.instance
    }
}

impl<'a> Decoder<'a> for Handle<'a> {
    fn decode(term: Term<'a>) -> NifResult<Self> {
        let ty = TYPE.load(Ordering::Acquire);
        let mut object: *const c_void = ptr::null();
        // SAFETY: the term and its environment are live; `enif_get_resource` checks
        // the term is a resource of type `ty` before writing `object`.
        let found = unsafe {
            enif_get_resource(term.get_env().as_c_arg(), term.as_c_arg(), ty, &mut object)
        };
        if found == 0 {
            return Err(Error::Term(Box::new(NotAnInstance(term.as_c_arg()))));
        }
        // SAFETY: a resource of `ty` holds an initialized instance at `slot` (written
        // by `new_term` before any term of it existed) until its destructor runs, which
        // cannot happen while this term, in a live environment, refers to it.
        let instance = unsafe { &*slot(object) };
        Ok(Handle { object, instance })
    }
}

impl Encoder for Handle<'_> {
    fn encode<'b>(&self, env: Env<'b>) -> Term<'b> {
        // SAFETY: `object` is a live resource (see `decode`); the new term takes its
        // own reference.
        unsafe { Term::new(env, enif_make_resource(env.as_c_arg(), self.object)) }
    }
}

impl<'a> Handle<'a> {
    /// The instance, for as long as the NIF call's environment lives.
    pub fn resource(&self) -> &'a InstanceResource {
        self.instance
    }

    /// Monitors `pid` for this instance: its exit calls [`InstanceResource::down`].
    pub fn monitor(&self, env: Env, pid: &LocalPid) -> Option<Monitor> {
        let mut monitor = std::mem::MaybeUninit::<ErlNifMonitor>::uninit();
        // SAFETY: `object` is a live resource of a type with a `down` callback; `env`
        // is the calling process's.
        let failed = unsafe {
            enif_monitor_process(
                env.as_c_arg(),
                self.object,
                pid.as_c_arg(),
                monitor.as_mut_ptr(),
            )
        };
        // SAFETY: written by `enif_monitor_process` when it returns 0.
        (failed == 0).then(|| Monitor::from_c_arg(unsafe { monitor.assume_init() }))
    }

    /// Removes a monitor made by [`Handle::monitor`].
    pub fn demonitor(&self, env: Env, monitor: &Monitor) {
        // SAFETY: `object` is a live resource and `monitor` one of its monitors.
        unsafe { enif_demonitor_process(env.as_c_arg(), self.object, monitor.as_c_arg()) };
    }
}

unsafe extern "C" fn destructor(_env: *mut ErlNifEnv, object: *mut c_void) {
    // SAFETY: the VM calls this once, when no term refers to the resource any more.
    let drop_it = || unsafe { ptr::drop_in_place(slot(object)) };
    // A panic must not unwind into the VM; the instance is then leaked, not freed twice.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(drop_it));
}

unsafe extern "C" fn down(
    env: *mut ErlNifEnv,
    object: *mut c_void,
    pid: *const ErlNifPid,
    _monitor: *const ErlNifMonitor,
) {
    let lifetime = ();
    // SAFETY: the VM passes the callback's environment, a live resource of our type
    // and the exited process.
    let (env, instance, pid) = unsafe {
        (
            Env::new(&lifetime, env),
            &*slot(object),
            LocalPid::from_c_arg(*pid),
        )
    };
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| instance.down(env, pid)));
}
