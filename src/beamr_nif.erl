%%% @doc Loader and stubs for beamr's NIF library (`priv/beamr_nif.so').
%%%
%%% These are the raw protocol steps; use {@link beamr}, which drives them. Every
%%% function here is replaced by its native implementation when the module loads.
-module(beamr_nif).

-export([start/2, imports/1, exports/1, call/4, resume/2, fail_import/2, proceed/1,
         size/1, read/3, read_dirty/3, write/3, write_dirty/3, stop/1, is_stopped/1,
         compilations/0]).

-on_load(init/0).

-nifs([start/2, imports/1, exports/1, call/4, resume/2, fail_import/2, proceed/1,
       size/1, read/3, read_dirty/3, write/3, write_dirty/3, stop/1, is_stopped/1,
       compilations/0]).

-type instance() :: reference().
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

-spec start(binary(), timeout()) -> {ok, instance()} | {error, term()}.
start(_Bytes, _Timeout) -> ?NOT_LOADED.
-spec imports(instance()) -> [{atom(), binary(), binary(), binary()}].
imports(_I) -> ?NOT_LOADED.
-spec exports(instance()) -> [{atom(), binary(), binary()}].
exports(_I) -> ?NOT_LOADED.
-spec call(instance(), binary() | non_neg_integer(), [beamr:value()], timeout()) -> step().
call(_I, _Func, _Args, _Timeout) -> ?NOT_LOADED.
-spec resume(instance(), [beamr:value()]) -> step() | {bad_import_result, term()}.
resume(_I, _Results) -> ?NOT_LOADED.
-spec fail_import(instance(), binary()) -> step().
fail_import(_I, _Reason) -> ?NOT_LOADED.
-spec proceed(instance()) -> step().
proceed(_I) -> ?NOT_LOADED.
-spec size(instance()) -> {ok, non_neg_integer()} | {error, term()} | busy.
size(_I) -> ?NOT_LOADED.
-spec read(instance(), term(), term()) -> {ok, binary()} | {error, term()} | busy.
read(_I, _Offset, _Len) -> ?NOT_LOADED.
-spec read_dirty(instance(), term(), term()) -> {ok, binary()} | {error, term()} | busy.
read_dirty(_I, _Offset, _Len) -> ?NOT_LOADED.
-spec write(instance(), term(), binary()) -> ok | {error, term()} | busy.
write(_I, _Offset, _Data) -> ?NOT_LOADED.
-spec write_dirty(instance(), term(), binary()) -> ok | {error, term()} | busy.
write_dirty(_I, _Offset, _Data) -> ?NOT_LOADED.
-spec stop(instance()) -> ok.
stop(_I) -> ?NOT_LOADED.
-spec is_stopped(instance()) -> boolean().
is_stopped(_I) -> ?NOT_LOADED.
-spec compilations() -> non_neg_integer().
compilations() -> ?NOT_LOADED.
