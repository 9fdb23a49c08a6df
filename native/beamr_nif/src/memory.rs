//! An instance's default linear memory: its size, reads, NUL-terminated string reads,
//! writes and growth. Each works between calls and from inside an import (on the live
//! state), and has a dirty-scheduler twin where a large range could take long.

use crate::access::with_store;
use crate::instance::Handle;
use crate::{atoms, errors, terms};
use rustler::{Binary, Encoder, Env, Term};

fn offset(t: Term) -> Option<u64> {
    t.decode::<u64>().ok()
}

/// `size(Instance) -> {ok, Bytes} | {error, _} | busy`.
#[rustler::nif]
fn size<'a>(env: Env<'a>, handle: Handle) -> Term<'a> {
    with_store(env, &handle, |core| {
        core.memory_size().map(|n| (atoms::ok(), n).encode(env))
    })
}

fn read_impl<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, len: Term<'a>) -> Term<'a> {
    let Some(o) = offset(off) else {
        return errors::bad_offset(env, off);
    };
    let Some(l) = offset(len) else {
        return errors::bad_length(env, len);
    };
    with_store(env, &handle, |core| {
        core.read(o, l, |b| terms::bytes(env, b))
            .map(|bin| (atoms::ok(), bin).encode(env))
    })
}

/// `read(Instance, Offset, Length) -> {ok, Binary} | {error, _} | busy`.
#[rustler::nif]
fn read<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, len: Term<'a>) -> Term<'a> {
    read_impl(env, handle, off, len)
}

/// [`read`] for large ranges, on a dirty scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn read_dirty<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, len: Term<'a>) -> Term<'a> {
    read_impl(env, handle, off, len)
}

fn read_string_impl<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, max: Term<'a>) -> Term<'a> {
    let Some(o) = offset(off) else {
        return errors::bad_offset(env, off);
    };
    let Some(m) = offset(max) else {
        return errors::bad_length(env, max);
    };
    with_store(env, &handle, |core| {
        core.read_cstring(o, m, |b| terms::bytes(env, b))
            .map(|bin| (atoms::ok(), bin).encode(env))
    })
}

/// `read_string(Instance, Offset, MaxLength) -> {ok, Binary} | {error, _} | busy`: the
/// NUL-terminated string at `Offset`, if it is at most `MaxLength` bytes long.
#[rustler::nif]
fn read_string<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, max: Term<'a>) -> Term<'a> {
    read_string_impl(env, handle, off, max)
}

/// [`read_string`] for long scans, on a dirty scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn read_string_dirty<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, max: Term<'a>) -> Term<'a> {
    read_string_impl(env, handle, off, max)
}

fn write_impl<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, data: Binary<'a>) -> Term<'a> {
    let Some(o) = offset(off) else {
        return errors::bad_offset(env, off);
    };
    with_store(env, &handle, |core| {
        core.write(o, data.as_slice())
            .map(|()| atoms::ok().encode(env))
    })
}

/// `write(Instance, Offset, Binary) -> ok | {error, _} | busy`.
#[rustler::nif]
fn write<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, data: Binary<'a>) -> Term<'a> {
    write_impl(env, handle, off, data)
}

/// [`write`] for large binaries, on a dirty scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn write_dirty<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, data: Binary<'a>) -> Term<'a> {
    write_impl(env, handle, off, data)
}

/// `memory_grow(Instance, Pages) -> {ok, OldPages} | {error, _} | busy`.
#[rustler::nif]
fn memory_grow<'a>(env: Env<'a>, handle: Handle, delta: u64) -> Term<'a> {
    with_store(env, &handle, |core| {
        let old = core.memory_grow(delta)?;
        Ok((atoms::ok(), old).encode(env))
    })
}

/// `memory_pages(Instance) -> {ok, Pages} | {error, _} | busy`.
#[rustler::nif]
fn memory_pages<'a>(env: Env<'a>, handle: Handle) -> Term<'a> {
    with_store(env, &handle, |core| {
        let n = core.memory_pages()?;
        Ok((atoms::ok(), n).encode(env))
    })
}
