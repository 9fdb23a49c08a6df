//! An instance being made: instantiation and the start function, run a slice at a time.
//!
//! A start function is guest code like any call, so it runs under the same rules: on
//! the instance's epoch callback, which ends a slice after a bounded time, traps when
//! the deadline passes, and refuses imports (no caller is there to answer them). The
//! driver polls a [`Starting`] until it is ready; between polls it owns nothing but
//! this value, so a driver that goes away (its caller died) drops it, and with it the
//! suspended start function and its store, without any scheduler waiting on it.

use super::exports::Resolved;
use super::fuel::UNBOUNDED_FUEL;
use super::snapshot::state_refs;
use super::{Instance, State};
use crate::engine::{note_activity, ticks};
use crate::error::{Error, Interrupt};
use crate::exchange::Event;
use crate::limits::Options;
use crate::link::Link;
use crate::memory::default_memory;
use crate::module::{CompiledModule, ImportDesc};
use crate::store::{on_epoch, Command, Host, Shared};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use wasmtime::{Extern, Linker, Memory, Store};

type Made = (wasmtime::Instance, Option<Memory>, Vec<ImportDesc>);
type MakeFuture = Pin<Box<dyn Future<Output = (Store<Host>, wasmtime::Result<Made>)> + Send>>;

/// An instantiation in progress (see the module doc).
pub struct Starting {
    module: Arc<CompiledModule>,
    links: Vec<Link>,
    shared: Arc<Shared>,
    made: MakeFuture,
    /// The import the start function reached, if it reached one.
    refused: Option<usize>,
}

/// How far a [`Starting::poll`] got. (Moved once per slice: the size of the ready
/// instance costs nothing worth a box.)
#[allow(clippy::large_enum_variant)]
pub enum Started {
    /// Instantiation ended: the instance, or why there is none.
    Ready(Result<Instance, Error>),
    /// The slice ran out; poll again.
    Yield(Starting),
}

impl Starting {
    /// Sets up the store and the instantiation, running nothing yet.
    pub fn new(
        module: Arc<CompiledModule>,
        links: Vec<Link>,
        deadline: Option<Instant>,
        options: &Options,
    ) -> Result<Starting, Error> {
        // The module picked its engine's memory layout; its links share its store, so
        // they must be on the very same engine.
        if module.variant().requested() != options.variant()
            || links.iter().any(|l| l.module.variant() != module.variant())
        {
            return Err(Error::Instantiate(
                "module compiled for another engine variant".into(),
            ));
        }
        let shared = Arc::new(Shared::default());
        shared.dirty.store(true, Ordering::Relaxed);
        shared.set_deadline(deadline);
        let mut store = Store::new(
            module.wasmtime_module().engine(),
            Host {
                shared: shared.clone(),
                limits: options.limits(),
                emscripten: Default::default(),
            },
        );
        store.limiter(|host| &mut host.limits);
        store.epoch_deadline_callback(on_epoch);
        store.set_epoch_deadline(1);
        if module.variant().deterministic {
            store
                .set_fuel(UNBOUNDED_FUEL)
                .map_err(|e| Error::Instantiate(format!("{e:#}")))?;
        }
        let (m, l) = (module.clone(), links.clone());
        let made = Box::pin(async move {
            let made = make(&mut store, &m, &l).await;
            (store, made)
        });
        Ok(Starting {
            module,
            links,
            shared,
            made,
            refused: None,
        })
    }

    /// Runs instantiation on for one dirty slice at most.
    pub fn poll(mut self) -> Started {
        self.shared.dirty.store(true, Ordering::Relaxed);
        self.shared.slice_start.store(ticks(), Ordering::Relaxed);
        loop {
            note_activity();
            let polled = self
                .made
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()));
            match polled {
                Poll::Ready((store, made)) => return Started::Ready(self.finish(store, made)),
                Poll::Pending => match self.shared.take_event() {
                    Some(Event::Import { index, .. }) => {
                        self.refused = Some(index);
                        let reason = "import during start".into();
                        self.shared.post_command(Command::Fail(reason));
                    }
                    _ => return Started::Yield(self),
                },
            }
        }
    }

    fn finish(
        self,
        mut store: Store<Host>,
        made: wasmtime::Result<Made>,
    ) -> Result<Instance, Error> {
        let Starting {
            module,
            links,
            shared,
            refused,
            ..
        } = self;
        let (handle, imported_memory, linked_imports) = made.map_err(|e| match refused {
            Some(index) => {
                let linked = links.iter().flat_map(|l| l.module.imports());
                match module.imports().iter().chain(linked).nth(index) {
                    Some(import) => Error::ImportDuringStart {
                        module: import.module.clone(),
                        name: import.name.clone(),
                    },
                    None => Error::Instantiate(format!("{e:#}")),
                }
            }
            None if e.downcast_ref::<wasmtime::Trap>().is_some() => Error::from_wasm(e),
            None if e.downcast_ref::<Interrupt>().is_some() => Error::from_wasm(e),
            None => match store.data().limits.over_budget() {
                Some(requested) => Error::MemoryBudget {
                    requested,
                    budget: crate::memory_budget::budget(),
                },
                None => Error::Instantiate(format!("{e:#}")),
            },
        })?;
        shared.set_deadline(None);
        module.note_instantiated();
        store.data_mut().emscripten.set_instance(handle);
        let memory = default_memory(&mut store, &handle, &module).or(imported_memory);
        let state_refs = state_refs(&mut store, &handle, &module);
        Ok(Instance {
            module,
            handle,
            memory,
            shared,
            state: State::Idle(store),
            imports_waiting: Vec::new(),
            parked: false,
            saved_deadlines: Vec::new(),
            exports: Resolved::default(),
            linked_imports,
            linked: !links.is_empty(),
            initial_funcs: None,
            state_refs,
            fuel: Default::default(),
            spare_call: None,
        })
    }
}

impl Starting {
    /// Drops an instantiation left unfinished (its caller went away). Its store may
    /// hold grown memory, so it is freed off the caller's thread, as an instance's is
    /// (see `reaper.rs`).
    pub fn discard(self) {
        crate::reaper::drop_later(self);
    }
}

async fn make(
    store: &mut Store<Host>,
    module: &CompiledModule,
    links: &[Link],
) -> wasmtime::Result<Made> {
    match &module.pre {
        _ if !links.is_empty() => crate::link::instantiate(store, module, links).await,
        Some(pre) => pre
            .instantiate_async(&mut *store)
            .await
            .map(|i| (i, None, Vec::new())),
        None => {
            let mut linker = module.linker.clone();
            let memory = define_local_imports(&mut linker, store, module)?;
            let i = linker
                .instantiate_async(&mut *store, &module.module)
                .await?;
            Ok((i, memory, Vec::new()))
        }
    }
}

impl Instance {
    /// Instantiates `module`. The start function, if any, runs to completion here (or
    /// until `deadline`); an import it reaches is refused, since no caller is there to
    /// answer it.
    pub fn new(module: Arc<CompiledModule>, deadline: Option<Instant>) -> Result<Instance, Error> {
        Instance::with_options(module, deadline, &Options::default())
    }

    /// As [`Instance::new`], with `links` instantiated first into the same store and
    /// satisfying the module's imports of their names (see `link.rs`).
    pub fn new_linked(
        module: Arc<CompiledModule>,
        links: &[Link],
        deadline: Option<Instant>,
    ) -> Result<Instance, Error> {
        Instance::start(module, links, deadline, &Options::default())
    }

    /// [`Instance::new`] with start options: memory and table limits. The module must
    /// have been compiled for `options.variant()` (in the memory layout it picked).
    pub fn with_options(
        module: Arc<CompiledModule>,
        deadline: Option<Instant>,
        options: &Options,
    ) -> Result<Instance, Error> {
        Instance::start(module, &[], deadline, options)
    }

    /// The general form: `links` instantiated first into the same store (see
    /// `link.rs`), then `module`, with start `options`. The module must have been
    /// compiled for `options.variant()` (in the memory layout it picked), every link for
    /// the module's own variant. Runs the start function to its end
    /// here, a dirty slice at a time (see [`Starting`] to hand back between slices).
    pub fn start(
        module: Arc<CompiledModule>,
        links: &[Link],
        deadline: Option<Instant>,
        options: &Options,
    ) -> Result<Instance, Error> {
        let mut starting = Starting::new(module, links.to_vec(), deadline, options)?;
        loop {
            match starting.poll() {
                Started::Ready(made) => return made,
                Started::Yield(again) => starting = again,
            }
        }
    }
}

/// Defines, in `linker`, fresh store-local items for every import that is not a function.
fn define_local_imports(
    linker: &mut Linker<Host>,
    store: &mut Store<Host>,
    module: &CompiledModule,
) -> wasmtime::Result<Option<Memory>> {
    let mut memory = None;
    for import in module.imports() {
        let Some(item) = crate::link::local_item(store, &import.ty)? else {
            continue;
        };
        if let Extern::Memory(m) = item {
            memory.get_or_insert(m);
        }
        linker.define(&*store, &import.module, &import.name, item)?;
    }
    Ok(memory)
}
