%%% @doc beamr: WebAssembly on the BEAM, through wasmtime in a NIF.
%%%
%%% An instance is a NIF resource: pass it to any process, call it from any process;
%%% it is freed when no process references it any more, or at once by {@link stop/1}.
%%% Calls on one instance are serialized: while one process's call is in progress,
%%% other callers wait (without blocking a scheduler) until it ends.
%%%
%%% Calls run on the calling process's scheduler in slices of at most about a
%%% millisecond, the process yielding between them, for a few slices; then they
%%% continue on a dirty CPU scheduler. When the WASM code calls an imported function,
%%% the call is suspended (no thread waits) and the import fun given to {@link call/6}
%%% runs in the calling process; inside it, {@link read/3}, {@link write/3},
%%% {@link size/1} and re-entrant {@link call/6} on the same instance work on the live
%%% state, and other instances may be called too.
%%%
%%% This module is the API and its argument checks; {@link beamr_call} drives calls
%%% and waits for a busy instance, {@link beamr_opts} checks options and holds their
%%% defaults.
%%%
%%% Values: i32 takes integers in [-2^31, 2^32), i64 in [-2^63, 2^64); f32 and f64
%%% take floats and exactly representable integers, and the atoms `nan',
%%% `infinity' and `neg_infinity'; v128 is a 16-byte little-endian binary; a null
%%% reference is `null'. Results are signed integers, floats (or those atoms), binaries
%%% and `null'. A value that does not fit is `{error, {bad_arg, Position, Type, Term}}'.
%%%
%%% ```
%%% {ok, I} = beamr:start(<<"(module (func (export \"add\") (param i32 i32) (result i32)
%%%                          local.get 0 local.get 1 i32.add))">>),
%%% {ok, [3]} = beamr:call(I, <<"add">>, [1, 2]).
%%% '''
-module(beamr).
-compile({no_auto_import, [size/1]}).

-export([start/1, start/2, imports/1, exports/1, call/3, call/4, call/6,
         size/1, read/3, read_string/2, read_string/3, write/3, stop/1, is_stopped/1,
         compilations/0, start_timeout/0, max_module_size/0,
         set_max_nesting/1]).
%% The wider API: introspection, items, module handles, links, async calls.
-export([imports/2, exports/2, describe/1, function_exists/2,
         global_get/2, global_set/3, table_size/2, table_get/3, memory_grow/2, memory_pages/1,
         compile/1, compile/2, module_hash/1, module_count/0, delete_module/1,
         call_async/4, call_async/5, reply_import/2]).
%% Snapshots, fuel and the module caches.
-export([serialize/1, deserialize/2, fuel_consumed/1, precompile/1, precompile/2,
         cache_info/0, clear_cache/0, set_module_cache_dir/1]).
%% The node-wide memory budget.
-export([memory_budget/0, set_memory_budget/1]).
-export([wat_to_wasm/1]).
-export_type([instance/0, value/0, func_ref/0, import_request/0, import_fun/0,
              call_opts/0]).
-export_type([module_handle/0, start_opts/0, links/0, item/0, async_opts/0, proposal/0]).

-type instance() :: reference().
-type value() :: integer() | float() | nan | infinity | neg_infinity | null | binary().
%% A function: an export's name, or an index into `__indirect_function_table'.
-type func_ref() :: binary() | string() | non_neg_integer().
-type import_request() :: #{instance := instance(), module := binary(),
                            func := binary(), args := [value()], func_sig := binary()}.
-type import_fun() :: fun((State :: term(), import_request(), Opts :: map()) ->
                              {ok, [value()], State :: term()}).
%% `timeout': milliseconds (or `infinity', the default) before the call, including
%% any wait for the instance, ends with `{error, timeout}'.
%% `fuel': on a `deterministic' instance, the instruction budget of this call; when it
%% runs out the call ends with `{error, out_of_fuel}' (the instance stays usable).
%% Without it a call's fuel is unbounded. {@link fuel_consumed/1} tells what it used.
-type call_opts() :: #{timeout => timeout(), fuel => non_neg_integer(), atom() => term()}.
%% Start options (defaults in brackets):
%% `timeout' bounds the compilation and the module's start function
%% [{@link start_timeout/0}, 30 s];
%% `max_memory' caps each linear memory, in bytes: `memory.grow' past it returns -1
%% [4 GiB]; `max_table_elements' caps each table: `table.grow' past it returns -1
%% [1048576]; `deterministic' runs the instance on the deterministic engine: NaN
%% canonicalization and fuel metering [false]; `aot' takes `Module' as an artifact of
%% {@link precompile/2} instead of wasm [false]; `links' (see {@link start/2}). A module
%% handle runs on the engine it was compiled for unless `deterministic' says otherwise
%% (then it must match). `proposals' lists the optional wasm proposals the engine
%% enables beyond the base set (see {@type proposal()}) [[]]; like `deterministic', a
%% module handle keeps its own unless this says otherwise. Links take the same
%% engine. `aot' takes no links. The wasm stack is 1 MiB for every instance (an
%% engine-wide setting); deeper recursion traps.
-type start_opts() :: #{timeout => timeout(), max_memory => non_neg_integer(),
                        max_table_elements => non_neg_integer(),
                        deterministic => boolean(), proposals => [proposal()],
                        aot => boolean(), links => links()}.
%% A wasm proposal outside the base set every engine enables (memory64, multi-value,
%% bulk memory, reference types, SIMD, tail calls, exceptions, and the wasm 2.0 core).
%% Each is off unless the `proposals' option of {@link start/2}, {@link compile/2} or
%% {@link precompile/2} names it: each is attack surface an untrusted guest could reach.
%% `gc' also enables `function_references'. A module that needs one that is off fails
%% with `{error, {invalid_module, Message}}', the message naming the option.
-type proposal() :: gc | function_references | relaxed_simd | multi_memory | extended_const.
%% A compiled module, from {@link compile/1}: instantiate it any number of times.
-type module_handle() :: reference().
%% Modules instantiated into the new instance's store, by the import module name they
%% satisfy; a list is linked in its order, a map in its keys' order.
-type links() :: #{binary() | string() | atom() => binary() | module_handle()}
               | [{binary() | string() | atom(), binary() | module_handle()}].
%% A typed import or export (see {@link describe/1}).
-type item() :: #{kind := func | memory | table | global | tag, name := binary(),
                  module => binary(), atom() => term()}.
%% `import_handler': the process that answers imports of an async call;
%% `timeout': as for {@link call/4}.
-type async_opts() :: #{import_handler => pid() | atom(), timeout => timeout()}.

%% Memory ranges above this size are copied on a dirty scheduler.
-define(DIRTY_BYTES, 1048576).
%% Bytes a string read scans for its NUL on a normal scheduler before going dirty.
-define(STRING_SCAN, 65536).

%% @doc Loads a module (wasm binary or WAT text, or a {@link compile/1} handle) and
%% instantiates it.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (func (export \"one\") (result i32) i32.const 1))">>),
%% {ok, [1]} = beamr:call(I, <<"one">>, []).
%% '''
-spec start(binary() | module_handle()) -> {ok, instance()} | {error, term()}.
start(Module) ->
    start(Module, #{}).

%% @doc As {@link start/1}, with options (see {@type start_opts()}): `timeout' bounds the
%% module's start function, and
%% `links' names modules to instantiate first, into the same store, whose exports
%% satisfy this module's imports of that name (functions, memories, globals, tables)
%% with no round trip to Erlang. Each link is a private copy: it shares no state with
%% other instances. Imports nothing links are answered by the import fun as usual.
%%
%% ```
%% Lib = <<"(module (memory (export \"mem\") i64 1)
%%           (func (export \"peek\") (param i64) (result i32) local.get 0 i32.load8_u))">>,
%% Main = <<"(module (import \"lib\" \"mem\" (memory i64 1))
%%            (import \"lib\" \"peek\" (func $peek (param i64) (result i32)))
%%            (func (export \"poke_peek\") (param i64 i32) (result i32)
%%              local.get 0 local.get 1 i32.store8 local.get 0 call $peek))">>,
%% {ok, I} = beamr:start(Main, #{links => #{<<"lib">> => Lib}}),
%% {ok, [42]} = beamr:call(I, <<"poke_peek">>, [7, 42]),
%% {ok, <<42>>} = beamr:read(I, 7, 1).
%% '''
-spec start(binary() | module_handle(), start_opts()) -> {ok, instance()} | {error, term()}.
start(Module, Opts) when (is_binary(Module) orelse is_reference(Module)), is_map(Opts) ->
    case beamr_opts:start(Opts) of
        {error, _} = Error ->
            Error;
        {ok, #{links := [], plain := true, aot := false} = Checked} when is_binary(Module) ->
            start_plain(Module, Checked);
        {ok, #{links := [], aot := true, nif := {M, T, {D, _}}, timeout := Timeout,
               deadline := Deadline}} when is_binary(Module) ->
            started(beamr_nif:start_aot(Module, Timeout, {M, T, D =:= true}), Deadline, none);
        {ok, #{aot := true}} ->
            {error, {unsupported_options, Opts}};
        {ok, #{links := Links, nif := Nif, engine := Engine, deadline := Deadline}} ->
            case handles([{main, Module} | Links], Engine, Deadline, []) of
                {ok, [{main, Main} | Handles]} ->
                    started(beamr_nif:instantiate(Main, beamr_opts:remaining(Deadline), Handles,
                                                  Nif), Deadline, none);
                Error ->
                    Error
            end
    end;
start(Module, Opts) ->
    {error, {badarg, [Module, Opts]}}.

%% A start with no options but a timeout: a cached module that starts in
%% microseconds starts right here; anything else (compiling, a start function) on a
%% dirty scheduler.
start_plain(Module, #{timeout := Timeout, deadline := Deadline, nif := Nif}) ->
    case beamr_opts:module_size(Module) of
        ok ->
            case beamr_nif:start_cached(Module, Timeout) of
                not_cached ->
                    Instantiate = fun(M) ->
                                          beamr_nif:instantiate(M, beamr_opts:remaining(Deadline),
                                                                [], Nif)
                                  end,
                    started(beamr_nif:start(Module, Timeout), Deadline, Instantiate);
                Started ->
                    Started
            end;
        Error ->
            Error
    end.

%% @doc The timeout of a start or compile that gives none, in milliseconds: the
%% `beamr' application's env key `start_timeout' [30000]. It bounds the compilation
%% and the start function; `hb_beamr:start/1,2' uses it.
%%
%% ```
%% true = is_integer(beamr:start_timeout()).
%% '''
-spec start_timeout() -> timeout().
start_timeout() ->
    beamr_opts:start_timeout().

%% @doc Sets how deep calls may nest inside imports on one instance (a call from an
%% import fun into the same instance, or emscripten's `invoke_*'), for the node
%% [1000; the `beamr' application sets it at start from its env key `max_nesting'].
%% A call past it ends with `{error, {nesting_too_deep, Max}}'; the calls around it
%% go on, and the instance stays usable.
%%
%% ```
%% ok = beamr:set_max_nesting(1000).
%% '''
-spec set_max_nesting(non_neg_integer()) -> ok | {error, term()}.
set_max_nesting(Levels) ->
    case beamr_opts:max_nesting(Levels) of
        ok -> beamr_nif:set_max_nesting(Levels);
        Error -> Error
    end.

%% @doc The largest module, in bytes, that a start or compile accepts: the `beamr'
%% application's env key `max_module_size' [33554432]; a larger one is
%% `{error, {module_too_large, Size, Max}}'.
%%
%% ```
%% true = beamr:max_module_size() > 0.
%% '''
-spec max_module_size() -> non_neg_integer().
max_module_size() ->
    beamr_opts:max_module_size().

%% Each source as a module handle: bytes are compiled (large ones on a compile worker,
%% waited for until `Deadline').
handles([], _Engine, _Deadline, Acc) ->
    {ok, lists:reverse(Acc)};
handles([{Name, Bytes} | Rest], Engine, Deadline, Acc) when is_binary(Bytes) ->
    case beamr_opts:module_size(Bytes) of
        ok ->
            case compiled(beamr_nif:compile_module(Bytes, Engine), Deadline) of
                {ok, M} -> handles(Rest, Engine, Deadline, [{Name, M} | Acc]);
                Error -> Error
            end;
        Error ->
            Error
    end;
handles([Handle | Rest], Engine, Deadline, Acc) ->
    handles(Rest, Engine, Deadline, [Handle | Acc]).

%% A start's answer once its compilation and start function have run (each slice of
%% the start function that yields queues again for a dirty scheduler).
started({starting, S}, Deadline, Then) ->
    started(beamr_nif:start_continue(S), Deadline, Then);
started({compiling, _, _} = Compiling, Deadline, Then) when is_function(Then, 1) ->
    case compiled(Compiling, Deadline) of
        {ok, M} -> started(Then(M), Deadline, none);
        Error -> Error
    end;
started(Result, _Deadline, _Then) ->
    Result.

%% Waits for a compile worker's answer until `Deadline'; a caller that stops waiting
%% cancels the job (no answer arrives after the cancel returns).
compiled({compiling, Ref, Job}, Deadline) ->
    receive
        {beamr_compiled, Ref, Result} -> Result
    after beamr_opts:remaining(Deadline) ->
        ok = beamr_nif:cancel_compile(Job),
        receive
            {beamr_compiled, Ref, Result} -> Result
        after 0 -> {error, timeout}
        end
    end;
compiled(Result, _Deadline) ->
    Result.

%% @doc The instance's whole state — memory, every mutable global, table entries that
%% differ from the module's initial ones — in beamr's snapshot format (versioned and
%% checksummed; see `beamr_core/src/snapshot.rs'). The same state gives the same bytes.
%% Works between calls and from inside an import.
%%
%% ```
%% Counter = <<"(module (global $n (mut i32) (i32.const 0))
%%            (func (export \"bump\") (result i32)
%%              global.get $n i32.const 1 i32.add global.set $n global.get $n))">>,
%% {ok, A} = beamr:start(Counter),
%% {ok, [1]} = beamr:call(A, <<"bump">>, []),
%% {ok, <<"BEAMRSNP", _/binary>> = Snapshot} = beamr:serialize(A),
%% {ok, [2]} = beamr:call(A, <<"bump">>, []),
%% {ok, B} = beamr:start(Counter),
%% ok = beamr:deserialize(B, Snapshot),
%% {ok, [2]} = beamr:call(B, <<"bump">>, []).
%% '''
-spec serialize(instance()) -> {ok, binary()} | {error, term()}.
serialize(I) ->
    beamr_call:op(I, fun() -> beamr_nif:serialize(I) end).

%% @doc Restores a snapshot of {@link serialize/1} taken of an instance of the same
%% module, growing memory to its size; or a BEAMR snapshot (raw linear memory, told
%% apart by the missing magic), written at offset 0. Refusals leave the instance as it
%% was: `{error, {snapshot, wrong_module}}', `{error, {snapshot, truncated}}',
%% `{error, {snapshot, corrupt}}', `{error, {snapshot, version, N}}',
%% `{error, {snapshot, does_not_fit, Why}}'.
%%
%% ```
%% {ok, A} = beamr:start(<<"(module (memory 1))">>),
%% {ok, B} = beamr:start(<<"(module (memory 2))">>),
%% {ok, Snapshot} = beamr:serialize(A),
%% {error, {snapshot, wrong_module}} = beamr:deserialize(B, Snapshot),
%% {error, {snapshot, truncated}} = beamr:deserialize(A, binary:part(Snapshot, 0, 20)).
%% '''
-spec deserialize(instance(), binary()) -> ok | {error, term()}.
deserialize(I, Snapshot) when is_binary(Snapshot) ->
    beamr_call:op(I, fun() -> beamr_nif:deserialize(I, Snapshot) end);
deserialize(_I, Snapshot) ->
    {error, {bad_data, Snapshot}}.

%% @doc The fuel the last finished call on a `deterministic' instance consumed
%% (`undefined' before the first); `{error, not_metered}' on other instances.
%%
%% ```
%% Loop = <<"(module (func (export \"count\") (param i32) (local i32)
%%           (block (loop (br_if 1 (i32.ge_u (local.get 1) (local.get 0)))
%%             (local.set 1 (i32.add (local.get 1) (i32.const 1))) (br 0)))))">>,
%% {ok, I} = beamr:start(Loop, #{deterministic => true}),
%% {ok, []} = beamr:call(I, <<"count">>, [10], #{fuel => 100000}),
%% {ok, Used} = beamr:fuel_consumed(I),
%% true = Used > 10,
%% {error, out_of_fuel} = beamr:call(I, <<"count">>, [1000000], #{fuel => 1000}),
%% {ok, []} = beamr:call(I, <<"count">>, [10]),
%% {ok, Plain} = beamr:start(Loop),
%% {error, not_metered} = beamr:fuel_consumed(Plain).
%% '''
-spec fuel_consumed(instance()) -> {ok, non_neg_integer() | undefined} | {error, term()}.
fuel_consumed(I) ->
    beamr_call:op(I, fun() -> beamr_nif:fuel_consumed(I) end).

%% @doc Compiles a module into an artifact that `start(Artifact, #{aot => true})' on
%% this node (or one sharing its module cache directory) accepts. Artifacts are only
%% accepted from this node's own cache: see `beamr_core/src/disk_cache.rs'.
%%
%% ```
%% Wat = <<"(module (func (export \"two\") (result i32) i32.const 2))">>,
%% {ok, Artifact} = beamr:precompile(Wat),
%% {ok, I} = beamr:start(Artifact, #{aot => true}),
%% {ok, [2]} = beamr:call(I, <<"two">>, []),
%% {error, {aot, _}} = beamr:start(Wat, #{aot => true}).
%% '''
-spec precompile(binary()) -> {ok, binary()} | {error, term()}.
precompile(Module) ->
    precompile(Module, #{}).

%% @doc As {@link precompile/1}; `deterministic' and `proposals' choose the engine as
%% for {@link compile/2}.
%%
%% ```
%% {ok, Artifact} = beamr:precompile(<<"(module)">>, #{deterministic => true}),
%% {ok, _} = beamr:start(Artifact, #{aot => true, deterministic => true}),
%% {error, {badarg, [42, #{}]}} = beamr:precompile(42, #{}).
%% '''
-spec precompile(binary(), #{deterministic => boolean(), proposals => [proposal()]}) ->
          {ok, binary()} | {error, term()}.
precompile(Module, Opts) when is_binary(Module), is_map(Opts) ->
    case {beamr_opts:engine(Opts), beamr_opts:module_size(Module)} of
        {{ok, Engine}, ok} -> beamr_nif:precompile(Module, Engine);
        {{error, _} = Error, _} -> Error;
        {_, Error} -> Error
    end;
precompile(Module, Opts) ->
    {error, {badarg, [Module, Opts]}}.

%% @doc The node-wide budget for linear memory: the sizes of all instances' memories
%% together may not pass `budget' bytes (by default half the machine's physical
%% memory; the application environment key `memory_budget' or
%% {@link set_memory_budget/1} changes it). `used' is what live instances hold. A
%% `memory.grow' past the budget returns -1; a start whose initial memory does not fit
%% fails with `{error, {memory_budget, Requested, Budget}}'.
%%
%% ```
%% #{budget := Budget, used := Used} = beamr:memory_budget(),
%% true = Budget > 0 andalso Used >= 0.
%% '''
-spec memory_budget() -> #{budget := non_neg_integer(), used := non_neg_integer()}.
memory_budget() ->
    {Budget, Used} = beamr_nif:memory_budget(),
    #{budget => Budget, used => Used}.

%% @doc Sets the node-wide memory budget, in bytes. Memory instances already hold stays
%% theirs; only later starts and growth are checked against the new budget.
%%
%% ```
%% #{budget := Budget} = beamr:memory_budget(),
%% ok = beamr:set_memory_budget(Budget),
%% {error, {bad_option, memory_budget, -1}} = beamr:set_memory_budget(-1).
%% '''
-spec set_memory_budget(non_neg_integer()) -> ok | {error, {bad_option, memory_budget, term()}}.
set_memory_budget(Bytes) ->
    case beamr_opts:memory_budget(Bytes) of
        ok -> beamr_nif:set_memory_budget(Bytes);
        Error -> Error
    end.

%% @doc The compiled-module caches: `modules' held in memory, its `hits' and
%% `misses', and `disk' (`dir', `files', `bytes', `hits', `misses').
%%
%% ```
%% #{modules := N, hits := _, misses := _, disk := #{}} = beamr:cache_info(),
%% true = is_integer(N).
%% '''
-spec cache_info() -> map().
cache_info() ->
    beamr_nif:cache_info().

%% @doc Empties the in-memory module cache (live instances keep their modules).
%%
%% ```
%% {ok, _} = beamr:start(<<"(module)">>),
%% ok = beamr:clear_cache(),
%% #{modules := 0} = beamr:cache_info().
%% '''
-spec clear_cache() -> ok.
clear_cache() ->
    beamr_nif:clear_cache().

%% @doc Sets the root directory of the on-disk cache of compiled modules (`undefined'
%% turns it off); artifacts go into a subfolder naming beamr's, wasmtime's and the
%% artifact format's versions, which must be writable (else `{error, {aot, Why}}' and
%% the cache is off). The application sets it at start from its env key
%% `module_cache_dir' (see {@link beamr_app}). Whoever can write to the directory can
%% run code in this VM.
%%
%% ```
%% Dir = filename:join(["/tmp", "beamr-doc-" ++ os:getpid()]),
%% ok = beamr:set_module_cache_dir(Dir),
%% {ok, _} = beamr:start(<<"(module (func (export \"f\")))">>),
%% #{disk := #{dir := _, files := Files}} = beamr:cache_info(),
%% true = Files >= 1,
%% ok = beamr:set_module_cache_dir(undefined),
%% {error, {badarg, [42]}} = beamr:set_module_cache_dir(42).
%% '''
-spec set_module_cache_dir(file:filename_all() | undefined) -> ok | {error, term()}.
set_module_cache_dir(undefined) ->
    beamr_nif:set_cache_dir(undefined);
set_module_cache_dir(Dir) ->
    case absolute_dir(Dir) of
        {ok, Abs} -> beamr_nif:set_cache_dir(Abs);
        error -> {error, {badarg, [Dir]}}
    end.

%% A directory name (a binary, a string or an atom) as an absolute path in a binary.
absolute_dir(Dir) when is_atom(Dir) ->
    absolute_dir(atom_to_binary(Dir));
absolute_dir(Dir) when is_binary(Dir); is_list(Dir) ->
    try unicode:characters_to_binary(Dir) of
        Name when is_binary(Name), byte_size(Name) > 0 -> {ok, filename:absname(Name)};
        _ -> error
    catch
        error:badarg -> error
    end;
absolute_dir(_) ->
    error.

%% @doc The binary encoding of a module given as WAT text (wasm bytes come back as
%% they are). Every function that takes a module takes WAT too; this is for storing or
%% hashing the binary a node would be given.
%%
%% ```
%% {ok, <<0, "asm", 1, 0, 0, 0>>} = beamr:wat_to_wasm(<<"(module)">>),
%% {error, {invalid_module, _}} = beamr:wat_to_wasm(<<"(module">>),
%% {error, {badarg, ["(module)"]}} = beamr:wat_to_wasm("(module)").
%% '''
-spec wat_to_wasm(binary()) -> {ok, binary()} | {error, term()}.
wat_to_wasm(Text) when is_binary(Text) ->
    beamr_nif:wat_to_wasm(Text);
wat_to_wasm(Text) ->
    {error, {badarg, [Text]}}.

%% @doc The module's imports: `{Kind, Module, Name, Signature}'. Takes an instance
%% or a module handle.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (import \"env\" \"f\" (func (param i32) (result i64))))">>),
%% [{func, <<"env">>, <<"f">>, <<"(i)I">>}] = beamr:imports(I).
%% '''
-spec imports(instance() | module_handle()) ->
          [{func | memory | table | global | tag, binary(), binary(), binary()}]
          | {error, term()}.
imports(I) ->
    beamr_nif:imports(I).

%% @doc The module's exports: `{Kind, Name, Signature}'. Takes an instance or a
%% module handle.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (memory (export \"m\") 1) (func (export \"f\")))">>),
%% [{memory, <<"m">>, <<>>}, {func, <<"f">>, <<"()">>}] = beamr:exports(I).
%% '''
-spec exports(instance() | module_handle()) ->
          [{func | memory | table | global | tag, binary(), binary()}] | {error, term()}.
exports(I) ->
    beamr_nif:exports(I).

%% @doc Calls a function that reaches no import.
%% An import it does reach fails the call with `{unhandled_import, Module, Name}'.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (func (export \"add\") (param i64 i64) (result i64)
%%                          local.get 0 local.get 1 i64.add))">>),
%% {ok, [5]} = beamr:call(I, <<"add">>, [2, 3]),
%% {error, {bad_arg, 2, i64, 1.5}} = beamr:call(I, "add", [2, 1.5]).
%% '''
-spec call(instance(), func_ref(), [value()]) -> {ok, [value()]} | {error, term()}.
call(I, Func, Args) ->
    beamr_call:call(I, Func, Args).

%% @doc As {@link call/3}, with options (see {@type call_opts()}).
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (func (export \"spin\") (loop br 0)))">>),
%% {error, timeout} = beamr:call(I, <<"spin">>, [], #{timeout => 20}).
%% '''
-spec call(instance(), func_ref(), [value()], call_opts()) -> {ok, [value()]} | {error, term()}.
call(I, Func, Args, Opts) ->
    without_state(call(I, Func, Args, fun beamr_call:unhandled_import/3, undefined, Opts)).

without_state({ok, Results, _}) -> {ok, Results};
without_state({error, Reason, _}) -> {error, Reason}.

%% @doc Calls a function, answering its imports with `ImportFun'.
%%
%% `ImportFun(State, Request, Opts)' runs in the calling process for each import and
%% returns `{ok, Results, NewState}'. If it throws, crashes, or returns anything
%% else, the call ends with `{error, {import_crashed, Module, Name, Class, Reason}}'
%% or `{error, {bad_import_return, Module, Name, Term}}' and the instance stays usable.
%% Results that do not fit the import's type end it with
%% `{error, {bad_import_result, Module, Name, Why}}'. Bad input ends it before it
%% starts: `{bad_instance, I}', `{bad_func, Func}', `{bad_args, Args}',
%% `{bad_import_fun, ImportFun}', `{badarg, [Opts]}' (options not a map),
%% `{bad_timeout, T}', `{bad_option, fuel, F}'.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (import \"env\" \"twice\" (func $t (param i32) (result i32)))
%%                          (func (export \"f\") (param i32) (result i32) local.get 0 call $t))">>),
%% Twice = fun(N, #{args := [X]}, _Opts) -> {ok, [2 * X], N + 1} end,
%% {ok, [42], 1} = beamr:call(I, <<"f">>, [21], Twice, 0, #{}).
%% '''
-spec call(instance(), func_ref(), [value()], import_fun(), State, call_opts()) ->
          {ok, [value()], State} | {error, term(), State}.
call(I, Func, Args, ImportFun, State, Opts) when is_map(Opts) ->
    beamr_call:call(I, Func, Args, ImportFun, State, Opts, maps:get(timeout, Opts, infinity));
call(_I, _Func, _Args, _ImportFun, State, Opts) ->
    {error, {badarg, [Opts]}, State}.

%% @doc The size of the default memory in bytes.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (memory (export \"memory\") 2))">>),
%% {ok, 131072} = beamr:size(I).
%% '''
-spec size(instance()) -> {ok, non_neg_integer()} | {error, term()}.
size(I) ->
    beamr_call:op(I, fun() -> beamr_nif:size(I) end).

%% @doc Reads `Length' bytes of the default memory at `Offset'.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (memory (export \"memory\") 1) (data (i32.const 8) \"hi\"))">>),
%% {ok, <<"hi">>} = beamr:read(I, 8, 2),
%% {error, {out_of_bounds, 65535, 2, 65536}} = beamr:read(I, 65535, 2).
%% '''
-spec read(instance(), non_neg_integer(), non_neg_integer()) -> {ok, binary()} | {error, term()}.
read(I, Offset, Length) when is_integer(Length), Length > ?DIRTY_BYTES ->
    beamr_call:op(I, fun() -> beamr_nif:read_dirty(I, Offset, Length) end);
read(I, Offset, Length) ->
    beamr_call:op(I, fun() -> beamr_nif:read(I, Offset, Length) end).

%% @doc The NUL-terminated string at `Offset' in the default memory, without its NUL.
%% Same as {@link read_string/3} with no limit on its length.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (memory (export \"memory\") 1) (data (i32.const 8) \"hi\"))">>),
%% {ok, <<"hi">>} = beamr:read_string(I, 8),
%% {error, {out_of_bounds, 65536, 1, 65536}} = beamr:read_string(I, 65536).
%% '''
-spec read_string(instance(), non_neg_integer()) -> {ok, binary()} | {error, term()}.
read_string(I, Offset) ->
    read_string(I, Offset, infinity).

%% @doc The NUL-terminated string at `Offset', if it is at most `MaxLength' bytes
%% long: `{error, {string_too_long, MaxLength}}' if it is longer,
%% `{error, unterminated_string}' if memory ends before its NUL. Long scans run on a
%% dirty scheduler.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (memory (export \"memory\") 1)
%%                          (data (i32.const 8) \"hello\") (data (i32.const 65534) \"no\"))">>),
%% {ok, <<"hello">>} = beamr:read_string(I, 8, 5),
%% {error, {string_too_long, 4}} = beamr:read_string(I, 8, 4),
%% {error, unterminated_string} = beamr:read_string(I, 65534, infinity).
%% '''
-spec read_string(instance(), non_neg_integer(), non_neg_integer() | infinity) ->
          {ok, binary()} | {error, term()}.
read_string(I, Offset, infinity) ->
    read_string(I, Offset, 1 bsl 64 - 1);
read_string(I, Offset, Max) when is_integer(Max), Max > ?STRING_SCAN ->
    %% Most strings are short: scan a little on this scheduler, the rest on a dirty one.
    case beamr_call:op(I, fun() -> beamr_nif:read_string(I, Offset, ?STRING_SCAN) end) of
        {error, {string_too_long, _}} ->
            beamr_call:op(I, fun() -> beamr_nif:read_string_dirty(I, Offset, Max) end);
        Result ->
            Result
    end;
read_string(I, Offset, Max) ->
    beamr_call:op(I, fun() -> beamr_nif:read_string(I, Offset, Max) end).

%% @doc Writes `Data' into the default memory at `Offset'.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (memory (export \"memory\") 1))">>),
%% ok = beamr:write(I, 100, <<"abc">>),
%% {ok, <<"abc">>} = beamr:read(I, 100, 3).
%% '''
-spec write(instance(), non_neg_integer(), binary()) -> ok | {error, term()}.
write(I, Offset, Data) when is_binary(Data), byte_size(Data) > ?DIRTY_BYTES ->
    beamr_call:op(I, fun() -> beamr_nif:write_dirty(I, Offset, Data) end);
write(I, Offset, Data) when is_binary(Data) ->
    beamr_call:op(I, fun() -> beamr_nif:write(I, Offset, Data) end);
write(_I, _Offset, Data) ->
    {error, {bad_data, Data}}.

%% @doc Stops the instance and frees its state now. A call in progress ends with
%% `{error, stopped}' within about a millisecond; later calls return the same.
%% A term that is no instance is `{error, {bad_instance, Term}}' (as for every
%% function taking an instance).
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (func (export \"f\")))">>),
%% ok = beamr:stop(I),
%% {error, stopped} = beamr:call(I, <<"f">>, []).
%% '''
-spec stop(instance()) -> ok | {error, {bad_instance, term()}}.
stop(I) ->
    beamr_nif:stop(I).

%% @doc Whether {@link stop/1} was called on the instance
%% (`{error, {bad_instance, Term}}' for a term that is no instance).
%%
%% ```
%% {ok, I} = beamr:start(<<"(module)">>),
%% false = beamr:is_stopped(I),
%% ok = beamr:stop(I),
%% true = beamr:is_stopped(I),
%% NotAnInstance = make_ref(),
%% {error, {bad_instance, NotAnInstance}} = beamr:is_stopped(NotAnInstance).
%% '''
-spec is_stopped(instance()) -> boolean() | {error, {bad_instance, term()}}.
is_stopped(I) ->
    beamr_nif:is_stopped(I).

%%% Introspection

%% @doc Typed imports or exports (`typed'), as maps; `plain' gives the tuples of
%% {@link imports/1} and {@link exports/1}. See {@link describe/1} for the map keys.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (global (export \"g\") (mut i64) (i64.const 5)))">>),
%% [#{kind := global, name := <<"g">>, type := i64, mutable := true}] = beamr:exports(I, typed),
%% [] = beamr:imports(I, typed),
%% [{global, <<"g">>, <<>>}] = beamr:exports(I, plain),
%% {error, {bad_kind, tuples}} = beamr:exports(I, tuples).
%% '''
-spec exports(instance() | module_handle(), typed | plain) -> [item()] | list() | {error, term()}.
exports(I, plain) ->
    exports(I);
exports(I, typed) ->
    case describe(I) of
        {ok, #{exports := Exports}} -> Exports;
        {error, _} = Error -> Error
    end;
exports(_I, Kind) ->
    {error, {bad_kind, Kind}}.

%% @doc As {@link exports/2}, for imports (their maps carry `module' too).
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (import \"env\" \"mem\" (memory i64 1 100)))">>),
%% [#{kind := memory, module := <<"env">>, name := <<"mem">>, min := 1, max := 100,
%%    index := i64, shared := false}] = beamr:imports(I, typed).
%% '''
-spec imports(instance() | module_handle(), typed | plain) -> [item()] | list() | {error, term()}.
imports(I, plain) ->
    imports(I);
imports(I, typed) ->
    case describe(I) of
        {ok, #{imports := Imports}} -> Imports;
        {error, _} = Error -> Error
    end;
imports(_I, Kind) ->
    {error, {bad_kind, Kind}}.

%% @doc Every import and export of an instance, a module handle, or module bytes,
%% with full types. Each is a map with `kind' and `name' (and `module' for imports):
%% functions have `params' and `results' (lists of type atoms: `i32', `i64', `f32',
%% `f64', `v128', `funcref', `externref', ...); memories `min', `max' (pages, or
%% `infinity'), `index' (`i32', or `i64' for memory64) and `shared'; tables `element',
%% `min', `max' and `index'; globals `type' and `mutable'; tags `params'.
%%
%% ```
%% {ok, #{imports := [], exports := [F, T]}} =
%%     beamr:describe(<<"(module (func (export \"f\") (param f64) (result i32 i64) unreachable)
%%                                (table (export \"t\") 1 funcref))">>),
%% #{kind := func, name := <<"f">>, params := [f64], results := [i32, i64]} = F,
%% #{kind := table, element := funcref, min := 1, max := infinity, index := i32} = T.
%% '''
-spec describe(instance() | module_handle() | binary()) ->
          {ok, #{imports := [item()], exports := [item()]}} | {error, term()}.
describe(Source) ->
    %% Bytes are compiled as `compile/1' does: bounded, and off the schedulers.
    case is_binary(Source) andalso compile(Source) of
        false -> beamr_nif:describe_module(Source);
        {ok, M} -> beamr_nif:describe_module(M);
        Error -> Error
    end.

%% @doc Whether the instance (or module handle) exports a function by that name.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (func (export \"f\")) (memory (export \"m\") 1))">>),
%% true = beamr:function_exists(I, <<"f">>),
%% true = beamr:function_exists(I, "f"),
%% false = beamr:function_exists(I, <<"m">>),
%% false = beamr:function_exists(I, <<"g">>).
%% '''
-spec function_exists(instance() | module_handle(), binary() | string() | atom()) -> boolean().
function_exists(I, Name) ->
    try beamr_opts:name(Name) of
        Bin -> beamr_nif:function_exists_in(I, Bin)
    catch
        error:_ -> false
    end.

%%% Globals, tables, memory (between calls, and inside imports on the live state)

%% @doc The value of an exported global.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (global (export \"g\") f64 (f64.const 2.5)))">>),
%% {ok, 2.5} = beamr:global_get(I, <<"g">>),
%% {error, {unknown_export, <<"h">>}} = beamr:global_get(I, <<"h">>).
%% '''
-spec global_get(instance(), binary() | string() | atom()) -> {ok, value()} | {error, term()}.
global_get(I, Name) ->
    item_op(I, Name, fun(Bin) -> beamr_nif:global_get(I, Bin) end).

%% @doc Sets an exported mutable global. The value is checked like a call argument;
%% setting an immutable global is `{error, {immutable_global, Name}}'.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (global (export \"v\") (mut i32) (i32.const 0))
%%                                  (global (export \"c\") i32 (i32.const 0)))">>),
%% ok = beamr:global_set(I, <<"v">>, 7),
%% {ok, 7} = beamr:global_get(I, <<"v">>),
%% {error, {bad_arg, 1, i32, 1.5}} = beamr:global_set(I, <<"v">>, 1.5),
%% {error, {immutable_global, <<"c">>}} = beamr:global_set(I, <<"c">>, 1).
%% '''
-spec global_set(instance(), binary() | string() | atom(), value()) -> ok | {error, term()}.
global_set(I, Name, Value) ->
    item_op(I, Name, fun(Bin) -> beamr_nif:global_set(I, Bin, Value) end).

%% @doc The number of entries of an exported table.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (table (export \"t\") 3 funcref))">>),
%% {ok, 3} = beamr:table_size(I, <<"t">>).
%% '''
-spec table_size(instance(), binary() | string() | atom()) ->
          {ok, non_neg_integer()} | {error, term()}.
table_size(I, Name) ->
    item_op(I, Name, fun(Bin) -> beamr_nif:table_size(I, Bin) end).

%% @doc Entry `Index' of an exported table: `null'; `{func, FunctionIndex, Signature}'
%% for a function, by its index in the module's function space (imports first), or
%% `{func, undefined, Signature}' for one that no element segment of the module names
%% (from a linked module, say); or `ref' for another non-null reference.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (table (export \"t\") 2 funcref)
%%                                  (func $f (param i32) (result i64) i64.const 0)
%%                                  (elem (i32.const 1) $f))">>),
%% {ok, null} = beamr:table_get(I, <<"t">>, 0),
%% {ok, {func, 0, <<"(i)I">>}} = beamr:table_get(I, <<"t">>, 1),
%% {error, {bad_table_index, 2}} = beamr:table_get(I, <<"t">>, 2).
%% '''
-spec table_get(instance(), binary() | string() | atom(), non_neg_integer()) ->
          {ok, null | ref | {func, non_neg_integer() | undefined, binary()}} | {error, term()}.
table_get(I, Name, Index) when is_integer(Index), Index >= 0, Index < 1 bsl 64 ->
    item_op(I, Name, fun(Bin) -> beamr_nif:table_get(I, Bin, Index) end);
table_get(_I, _Name, Index) ->
    {error, {bad_table_index, Index}}.

%% @doc Grows the default memory by `Pages' pages; returns its size before, in pages.
%% Past the memory's maximum: `{error, {cannot_grow, Pages, CurrentPages}}'.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (memory (export \"memory\") 1 3))">>),
%% {ok, 1} = beamr:memory_grow(I, 2),
%% {ok, 3} = beamr:memory_pages(I),
%% {error, {cannot_grow, 1, 3}} = beamr:memory_grow(I, 1).
%% '''
-spec memory_grow(instance(), non_neg_integer()) -> {ok, non_neg_integer()} | {error, term()}.
memory_grow(I, Pages) when is_integer(Pages), Pages >= 0, Pages < 1 bsl 64 ->
    beamr_call:op(I, fun() -> beamr_nif:memory_grow(I, Pages) end);
memory_grow(_I, Pages) ->
    {error, {bad_pages, Pages}}.

%% @doc The size of the default memory in pages.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (memory (export \"memory\") 4))">>),
%% {ok, 4} = beamr:memory_pages(I).
%% '''
-spec memory_pages(instance()) -> {ok, non_neg_integer()} | {error, term()}.
memory_pages(I) ->
    beamr_call:op(I, fun() -> beamr_nif:memory_pages(I) end).

item_op(I, Name, Op) ->
    try beamr_opts:name(Name) of
        Bin -> beamr_call:op(I, fun() -> Op(Bin) end)
    catch
        error:_ -> {error, {bad_name, Name}}
    end.

%%% Module handles and the module cache

%% @doc Compiles a module once (or finds it in the node's cache) and returns a handle
%% to instantiate any number of times with {@link start/1} and {@link start/2}.
%%
%% ```
%% {ok, M} = beamr:compile(<<"(module (func (export \"two\") (result i32) i32.const 2))">>),
%% {ok, I1} = beamr:start(M),
%% {ok, I2} = beamr:start(M, #{}),
%% {ok, [2]} = beamr:call(I1, <<"two">>, []),
%% {ok, [2]} = beamr:call(I2, <<"two">>, []),
%% [{func, <<"two">>, <<"()i">>}] = beamr:exports(M).
%% '''
-spec compile(binary()) -> {ok, module_handle()} | {error, term()}.
compile(Bytes) ->
    compile(Bytes, #{}).

%% @doc As {@link compile/1}, with options: `deterministic' compiles for the
%% deterministic engine (NaN canonicalization, fuel metering) [false]; `proposals' for
%% an engine with those optional proposals (see {@type proposal()}) [[]]; the handle's
%% instances run there.
%%
%% ```
%% {ok, M} = beamr:compile(<<"(module (func (export \"f\") (loop (br 0))))">>,
%%                         #{deterministic => true}),
%% {ok, I} = beamr:start(M, #{max_memory => 65536}),
%% {error, out_of_fuel} = beamr:call(I, <<"f">>, [], #{fuel => 1000}),
%% {error, {invalid_module, _}} = beamr:compile(<<"junk">>, #{}),
%% {error, {bad_option, deterministic, yes}} = beamr:compile(<<"(module)">>, #{deterministic => yes}).
%% '''
-spec compile(binary(), #{deterministic => boolean(), proposals => [proposal()],
                          timeout => timeout()}) ->
          {ok, module_handle()} | {error, term()}.
compile(Bytes, Opts) when is_binary(Bytes), is_map(Opts) ->
    case beamr_opts:compile(Opts) of
        {ok, Engine, Deadline} ->
            case beamr_opts:module_size(Bytes) of
                ok -> compiled(beamr_nif:compile_module(Bytes, Engine), Deadline);
                Error -> Error
            end;
        {error, _} = Error ->
            Error
    end;
compile(Bytes, Opts) ->
    {error, {badarg, [Bytes, Opts]}}.

%% @doc The SHA-256 of the bytes a module handle was compiled from: its cache key
%% (`{error, {bad_module, Term}}' for a term that is no module handle).
%%
%% ```
%% Wat = <<"(module)">>,
%% {ok, M} = beamr:compile(Wat),
%% Hash = crypto:hash(sha256, Wat),
%% Hash = beamr:module_hash(M).
%% '''
-spec module_hash(module_handle()) -> binary() | {error, {bad_module, term()}}.
module_hash(Module) ->
    beamr_nif:module_hash(Module).

%% @doc How many compiled modules the node's cache holds.
%%
%% ```
%% {ok, M} = beamr:compile(<<"(module (func (export \"count_me\")))">>),
%% N = beamr:module_count(),
%% true = N >= 1,
%% true = beamr:delete_module(M),
%% true = beamr:module_count() =:= N - 1.
%% '''
-spec module_count() -> non_neg_integer().
module_count() ->
    beamr_nif:module_count().

%% @doc Removes a compiled module (a handle, or its {@link module_hash/1}) from the
%% cache; `false' if it was not there. Handles and instances of it keep working: they
%% hold the compilation until they are gone, even with calls in progress.
%%
%% ```
%% {ok, M} = beamr:compile(<<"(module (func (export \"f\") (result i32) i32.const 9))">>),
%% {ok, I} = beamr:start(M),
%% true = beamr:delete_module(M),
%% false = beamr:delete_module(beamr:module_hash(M)),
%% {ok, [9]} = beamr:call(I, <<"f">>, []),
%% {ok, I2} = beamr:start(M),
%% {ok, [9]} = beamr:call(I2, <<"f">>, []).
%% '''
-spec delete_module(module_handle() | binary()) -> boolean().
delete_module(Module) ->
    beamr_nif:delete_module(Module).

%%% Async calls for OTP code

%% @doc As {@link call_async/5} with no options: an import fails the call.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (func (export \"one\") (result i32) i32.const 1))">>),
%% Tag = make_ref(),
%% ok = beamr:call_async(I, <<"one">>, [], {self(), Tag}),
%% {ok, [1]} = receive {Tag, Reply} -> Reply after 5000 -> timeout end.
%% '''
-spec call_async(instance(), func_ref(), [value()], gen_server:from()) ->
          ok | {error, {badarg, term()}}.
call_async(I, Func, Args, From) ->
    call_async(I, Func, Args, From, #{}).

%% @doc Starts a call and returns at once; its result (what {@link call/4} returns)
%% is sent with `gen_server:reply(From, Result)'. Imports are answered by the process
%% `import_handler': it receives `{beamr_import, ReplyTo, Request}' (`Request' as an
%% import fun gets it) and answers with {@link reply_import/2}; meanwhile it may read
%% and write the instance's memory and globals. See {@link beamr_async}.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (import \"env\" \"get\" (func $g (result i32)))
%%                          (func (export \"f\") (result i32) call $g i32.const 1 i32.add))">>),
%% Tag = make_ref(),
%% ok = beamr:call_async(I, <<"f">>, [], {self(), Tag}, #{import_handler => self()}),
%% ok = receive {beamr_import, ReplyTo, #{func := <<"get">>}} -> beamr:reply_import(ReplyTo, [41])
%%      after 5000 -> timeout end,
%% {ok, [42]} = receive {Tag, Reply} -> Reply after 5000 -> timeout end.
%% '''
%%
%% Checked before it returns `ok', so that a call that could never reply does not
%% start: `{error, {badarg, [From, Opts]}}', `{error, {bad_instance, I}}', and
%% `{error, {bad_option, import_handler, H}}' for a handler that is neither a pid nor
%% a registered name. Any other bad input (function, arguments, timeout) is replied.
-spec call_async(instance(), func_ref(), [value()], gen_server:from(), async_opts()) ->
          ok | {error, term()}.
call_async(I, Func, Args, {To, _} = From, Opts) when is_pid(To), is_map(Opts) ->
    case async_checks(I, maps:get(import_handler, Opts, undefined)) of
        ok -> beamr_async:start(I, Func, Args, From, Opts);
        {error, _} = Error -> Error
    end;
call_async(_I, _Func, _Args, From, Opts) ->
    {error, {badarg, [From, Opts]}}.

async_checks(I, Handler) ->
    case is_instance(I) of
        false -> {error, {bad_instance, I}};
        true -> beamr_opts:import_handler(Handler)
    end.

%% Whether a term is an instance handle (stopped or not).
is_instance(I) ->
    is_boolean(beamr_nif:is_stopped(I)).

%% @doc Answers an import request of an async call: its results, or `{error, Reason}'
%% to fail the import (the call then ends with
%% `{error, {import_crashed, Module, Name, throw, Reason}}').
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (import \"env\" \"get\" (func $g (result i32)))
%%                          (func (export \"f\") (result i32) call $g))">>),
%% Tag = make_ref(),
%% ok = beamr:call_async(I, <<"f">>, [], {self(), Tag}, #{import_handler => self()}),
%% ok = receive {beamr_import, ReplyTo, _} -> beamr:reply_import(ReplyTo, {error, nope}) end,
%% {error, {import_crashed, <<"env">>, <<"get">>, throw, nope}} = receive {Tag, R} -> R end.
%% '''
%%
%% Anything but a `ReplyTo' of a request and a list or `{error, _}' is
%% `{error, {badarg, [ReplyTo, Results]}}'.
-spec reply_import({pid(), reference()}, [value()] | {error, term()}) -> ok | {error, term()}.
reply_import({Worker, Tag} = ReplyTo, Results)
        when is_pid(Worker), is_reference(Tag),
             (is_list(Results) orelse (tuple_size(Results) =:= 2 andalso
                                       element(1, Results) =:= error)) ->
    beamr_async:reply(ReplyTo, Results);
reply_import(ReplyTo, Results) ->
    {error, {badarg, [ReplyTo, Results]}}.

%% @doc How many modules this node has compiled since beamr loaded. Starting bytes
%% already compiled (same SHA-256, still in the cache) reuses that compilation and
%% leaves this count unchanged (as does a start served by the disk cache).
%%
%% ```
%% Wat = <<"(module (func (export \"compilations_doc\")))">>,
%% {ok, _} = beamr:start(Wat),
%% N = beamr:compilations(),
%% {ok, _} = beamr:start(Wat),
%% N = beamr:compilations().
%% '''
-spec compilations() -> non_neg_integer().
compilations() ->
    beamr_nif:compilations().
