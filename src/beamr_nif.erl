%%% @doc Loader and stubs for beamr's NIF library (`priv/beamr_nif.so').
%%%
%%% These are the raw protocol steps; use {@link beamr}, which drives them. Every
%%% function here is replaced by its native implementation when the module loads.
-module(beamr_nif).

-export([start/2, start_cached/2, imports/1, exports/1, call/4, resume_again/2, fail_import/2, proceed/1, proceed_normal/1,
         size/1, read/3, read_dirty/3, read_string/3, read_string_dirty/3, write/3, write_dirty/3, stop/1, is_stopped/1,
         start_aot/3, precompile/2, serialize/1, deserialize/2,
         call_fuel/5, fuel_consumed/1, cache_info/0, clear_cache/0, set_cache_dir/1, set_cache_max_bytes/1,
         memory_budget/0, set_memory_budget/1,
         compilations/0]).
-export([compile_module/2, module_hash/1, module_count/0, delete_module/1, instantiate/4,
         describe_module/1, function_exists_in/2, global_get/2, global_set/3, table_size/2,
         table_get/3, memory_grow/2, memory_pages/1, wat_to_wasm/1, start_continue/1,
         cancel_compile/1, set_max_nesting/1, set_spectre_guard/1, spectre_guard/0]).

-on_load(init/0).

-nifs([start/2, start_cached/2, imports/1, exports/1, call/4, resume_again/2, fail_import/2, proceed/1, proceed_normal/1,
       size/1, read/3, read_dirty/3, read_string/3, read_string_dirty/3, write/3, write_dirty/3, stop/1, is_stopped/1,
       start_aot/3, precompile/2, serialize/1, deserialize/2,
         call_fuel/5, fuel_consumed/1, cache_info/0, clear_cache/0, set_cache_dir/1, set_cache_max_bytes/1,
         memory_budget/0, set_memory_budget/1,
         compilations/0]).
-nifs([compile_module/2, module_hash/1, module_count/0, delete_module/1, instantiate/4,
         describe_module/1, function_exists_in/2, global_get/2, global_set/3, table_size/2,
         table_get/3, memory_grow/2, memory_pages/1, wat_to_wasm/1, start_continue/1,
         cancel_compile/1, set_max_nesting/1, set_spectre_guard/1, spectre_guard/0]).

-type instance() :: reference().
%% A limit on what an instance may take, or `default' for the core's.
-type limit() :: non_neg_integer() | default.
-type engine() :: {boolean(), [beamr:proposal()]}.
%% A start's step: `{starting, S}' when its start function yielded, `{compiling, Ref,
%% Job}' when a compile worker answers `{beamr_compiled, Ref, Result}' later.
-type start_step() :: {ok, instance()} | {error, term()} | {starting, reference()}
                    | {compiling, reference(), reference()}.
-type step() :: {ok, [beamr:value()]}
              | {import, binary(), binary(), [beamr:value()], binary()}
              | yield
              | busy
              | {error, term()}.
-export_type([step/0]).

init() ->
    erlang:load_nif(filename:join(priv_dir(), "beamr_nif"), 0).

priv_dir() ->
    case code:priv_dir(beamr) of
        {error, bad_name} ->
            filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "priv");
        Dir ->
            Dir
    end.

-define(NOT_LOADED, erlang:nif_error({not_loaded, ?MODULE})).

-spec start(binary(), timeout()) -> start_step().
start(_Bytes, _Timeout) -> ?NOT_LOADED.
-spec start_cached(binary(), timeout()) -> {ok, instance()} | {error, term()} | not_cached.
start_cached(_Bytes, _Timeout) -> ?NOT_LOADED.
-spec imports(instance() | reference()) ->
          [{atom(), binary(), binary(), binary()}] | {error, {bad_module, term()}}.
imports(_I) -> ?NOT_LOADED.
-spec exports(instance() | reference()) ->
          [{atom(), binary(), binary()}] | {error, {bad_module, term()}}.
exports(_I) -> ?NOT_LOADED.
-spec call(instance(), binary() | non_neg_integer(), [beamr:value()], timeout()) -> step().
call(_I, _Func, _Args, _Timeout) -> ?NOT_LOADED.
%% Answers the pending import with its results (results that do not fit its type
%% leave it pending). A step parking the call in the very import just answered is
%% `{again, Args}' (the caller already holds its module, name and signature).
-spec resume_again(instance(), [beamr:value()]) ->
          step() | {again, [beamr:value()]} | {bad_import_result, term()}.
resume_again(_I, _Results) -> ?NOT_LOADED.
-spec fail_import(instance(), binary()) -> step().
fail_import(_I, _Reason) -> ?NOT_LOADED.
-spec proceed(instance()) -> step().
proceed(_I) -> ?NOT_LOADED.
-spec proceed_normal(instance()) -> step().
proceed_normal(_I) -> ?NOT_LOADED.
-spec size(instance()) -> {ok, non_neg_integer()} | {error, term()} | busy.
size(_I) -> ?NOT_LOADED.
-spec read(instance(), term(), term()) -> {ok, binary()} | {error, term()} | busy.
read(_I, _Offset, _Len) -> ?NOT_LOADED.
-spec read_dirty(instance(), term(), term()) -> {ok, binary()} | {error, term()} | busy.
read_dirty(_I, _Offset, _Len) -> ?NOT_LOADED.
-spec read_string(instance(), term(), term()) -> {ok, binary()} | {error, term()} | busy.
read_string(_I, _Offset, _Max) -> ?NOT_LOADED.
-spec read_string_dirty(instance(), term(), term()) -> {ok, binary()} | {error, term()} | busy.
read_string_dirty(_I, _Offset, _Max) -> ?NOT_LOADED.
-spec write(instance(), term(), binary()) -> ok | {error, term()} | busy.
write(_I, _Offset, _Data) -> ?NOT_LOADED.
-spec write_dirty(instance(), term(), binary()) -> ok | {error, term()} | busy.
write_dirty(_I, _Offset, _Data) -> ?NOT_LOADED.
-spec stop(instance()) -> ok | {error, term()}.
stop(_I) -> ?NOT_LOADED.
-spec is_stopped(instance()) -> boolean() | {error, term()}.
is_stopped(_I) -> ?NOT_LOADED.

%% Module handles, items and caches.
%% `Engine': `{Deterministic, Proposals}', a boolean and the optional proposals
%% (see `beamr:proposal()') the engine enables.
-spec compile_module(binary(), engine()) ->
          {ok, reference()} | {error, term()} | {compiling, reference(), reference()}.
compile_module(_Bytes, _Engine) -> ?NOT_LOADED.
-spec module_hash(reference()) -> binary() | {error, term()}.
module_hash(_Module) -> ?NOT_LOADED.
-spec module_count() -> non_neg_integer().
module_count() -> ?NOT_LOADED.
-spec delete_module(reference() | binary()) -> boolean().
delete_module(_Module) -> ?NOT_LOADED.
%% Either element of the engine choice is `default' to take a module handle's (bytes:
%% the default engine's).
%% A limit `default' takes the core's default (beamr_core's limits.rs).
-spec instantiate(binary() | reference(), timeout(), [{binary(), binary() | reference()}],
                  {limit(), limit(), {boolean() | default, [beamr:proposal()] | default}}) ->
          start_step().
instantiate(_Source, _Timeout, _Links, _Opts) -> ?NOT_LOADED.

%% Runs a start that yielded (`{starting, S}') for another dirty slice.
-spec start_continue(reference()) -> start_step().
start_continue(_S) -> ?NOT_LOADED.

%% Stops waiting for a compile job: its answer is not sent after this returns.
-spec cancel_compile(reference()) -> ok.
cancel_compile(_Job) -> ?NOT_LOADED.

%% Sets the node's limit on calls nested inside imports.
-spec set_max_nesting(non_neg_integer()) -> ok.
set_max_nesting(_Levels) -> ?NOT_LOADED.

%% Turns the Spectre guard on heap accesses on or off for modules compiled from now on.
-spec set_spectre_guard(boolean()) -> ok.
set_spectre_guard(_On) -> ?NOT_LOADED.

%% The node's Spectre guard setting.
-spec spectre_guard() -> boolean().
spectre_guard() -> ?NOT_LOADED.
-spec describe_module(binary() | reference()) -> {ok, map()} | {error, term()}.
describe_module(_Source) -> ?NOT_LOADED.
-spec function_exists_in(reference(), binary()) -> boolean().
function_exists_in(_Source, _Name) -> ?NOT_LOADED.
-spec global_get(instance(), binary()) -> {ok, beamr:value()} | {error, term()} | busy.
global_get(_I, _Name) -> ?NOT_LOADED.
-spec global_set(instance(), binary(), term()) -> ok | {error, term()} | busy.
global_set(_I, _Name, _Value) -> ?NOT_LOADED.
-spec table_size(instance(), binary()) -> {ok, non_neg_integer()} | {error, term()} | busy.
table_size(_I, _Name) -> ?NOT_LOADED.
-spec table_get(instance(), binary(), non_neg_integer()) -> {ok, term()} | {error, term()} | busy.
table_get(_I, _Name, _Index) -> ?NOT_LOADED.
-spec memory_grow(instance(), non_neg_integer()) -> {ok, non_neg_integer()} | {error, term()} | busy.
memory_grow(_I, _Pages) -> ?NOT_LOADED.
-spec memory_pages(instance()) -> {ok, non_neg_integer()} | {error, term()} | busy.
memory_pages(_I) -> ?NOT_LOADED.
-spec wat_to_wasm(binary()) -> {ok, binary()} | {error, term()}.
wat_to_wasm(_Text) -> ?NOT_LOADED.

%% `{MaxMemoryBytes, MaxTableElements, Deterministic}'; the engine is the artifact's,
%% so `Deterministic' is not used.
-type start_opts() :: {limit(), limit(), boolean() | default}.
-spec start_aot(binary(), timeout(), start_opts()) -> start_step().
start_aot(_Artifact, _Timeout, _Opts) -> ?NOT_LOADED.
-spec precompile(binary(), engine()) -> {ok, binary()} | {error, term()}.
precompile(_Bytes, _Engine) -> ?NOT_LOADED.
-spec serialize(instance()) -> {ok, binary()} | {error, term()} | busy.
serialize(_I) -> ?NOT_LOADED.
-spec deserialize(instance(), binary()) -> ok | {error, term()} | busy.
deserialize(_I, _Bin) -> ?NOT_LOADED.
-spec call_fuel(instance(), binary() | non_neg_integer(), [beamr:value()], timeout(),
                non_neg_integer()) -> step().
call_fuel(_I, _Func, _Args, _Timeout, _Fuel) -> ?NOT_LOADED.
-spec fuel_consumed(instance()) -> {ok, non_neg_integer() | undefined} | {error, term()} | busy.
fuel_consumed(_I) -> ?NOT_LOADED.
-spec cache_info() -> map().
cache_info() -> ?NOT_LOADED.
-spec memory_budget() -> {non_neg_integer(), non_neg_integer()}.
memory_budget() -> ?NOT_LOADED.
-spec set_memory_budget(non_neg_integer()) -> ok.
set_memory_budget(_Bytes) -> ?NOT_LOADED.
-spec clear_cache() -> ok.
clear_cache() -> ?NOT_LOADED.
-spec set_cache_dir(binary() | undefined) -> ok | {error, term()}.
set_cache_dir(_Dir) -> ?NOT_LOADED.
-spec set_cache_max_bytes(non_neg_integer()) -> ok.
set_cache_max_bytes(_Bytes) -> ?NOT_LOADED.
-spec compilations() -> non_neg_integer().
compilations() -> ?NOT_LOADED.
