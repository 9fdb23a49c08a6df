%%% @doc beamr: WebAssembly on the BEAM, through wasmtime in a NIF.
%%%
%%% An instance is a NIF resource: pass it to any process, call it from any process;
%%% it is freed when no process references it any more, or at once by {@link stop/1}.
%%% Calls on one instance are serialized: while one process's call is in progress,
%%% other callers wait (without blocking a scheduler) until it ends.
%%%
%%% Calls run on the calling process's scheduler for at most about a millisecond, then
%%% continue on a dirty CPU scheduler. When the WASM code calls an imported function,
%%% the call is suspended (no thread waits) and the import fun given to {@link call/6}
%%% runs in the calling process; inside it, {@link read/3}, {@link write/3},
%%% {@link size/1} and re-entrant {@link call/6} on the same instance work on the live
%%% state, and other instances may be called too.
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

-export([start/1, start/2, imports/1, exports/1, call/3, call/4, call/6, call_with_timeout/7,
         size/1, read/3, write/3, stop/1, is_stopped/1, compilations/0]).
-export_type([instance/0, value/0, func_ref/0, import_request/0, import_fun/0,
              call_opts/0]).

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
-type call_opts() :: #{timeout => timeout(), atom() => term()}.

%% Memory ranges above this size are copied on a dirty scheduler.
-define(DIRTY_BYTES, 1048576).
%% How long a waiter sleeps if a wake-up went missing (its sender exited).
-define(WAIT_RETRY_MS, 50).

%% @doc Loads a module (wasm binary or WAT text) and instantiates it.
-spec start(binary()) -> {ok, instance()} | {error, term()}.
start(Module) ->
    start(Module, #{}).

%% @doc As {@link start/1}; `timeout' bounds the module's start function.
-spec start(binary(), #{timeout => timeout()}) -> {ok, instance()} | {error, term()}.
start(Module, Opts) when is_binary(Module), is_map(Opts) ->
    beamr_nif:start(Module, maps:get(timeout, Opts, infinity));
start(Module, Opts) ->
    {error, {badarg, [Module, Opts]}}.

%% @doc The module's imports: `{Kind, Module, Name, Signature}'.
-spec imports(instance()) -> [{func | memory | table | global | tag, binary(), binary(), binary()}].
imports(I) ->
    beamr_nif:imports(I).

%% @doc The module's exports: `{Kind, Name, Signature}'.
-spec exports(instance()) -> [{func | memory | table | global | tag, binary(), binary()}].
exports(I) ->
    beamr_nif:exports(I).

%% @doc Calls a function that reaches no import.
%% An import it does reach fails the call with `{unhandled_import, Module, Name}'.
-spec call(instance(), func_ref(), [value()]) -> {ok, [value()]} | {error, term()}.
call(I, Func, Args) when is_binary(Func) ->
    %% The common case, a short call that neither waits nor yields, costs one NIF call.
    case beamr_nif:call(I, Func, Args, infinity) of
        {ok, _} = Ok -> Ok;
        {error, _} = Error -> Error;
        busy -> without_state(drive(wait(I, {call, Func, Args}, infinity), plain(I), undefined));
        Step -> without_state(drive(Step, plain(I), undefined))
    end;
call(I, Func, Args) ->
    call(I, Func, Args, #{}).

%% @doc As {@link call/3}, with options (see {@type call_opts()}).
-spec call(instance(), func_ref(), [value()], call_opts()) -> {ok, [value()]} | {error, term()}.
call(I, Func, Args, Opts) ->
    without_state(call(I, Func, Args, fun unhandled_import/3, undefined, Opts)).

plain(I) ->
    {I, fun unhandled_import/3, #{}, infinity}.

without_state({ok, Results, _}) -> {ok, Results};
without_state({error, Reason, _}) -> {error, Reason}.

%% @doc Calls a function, answering its imports with `ImportFun'.
%%
%% `ImportFun(State, Request, Opts)' runs in the calling process for each import and
%% returns `{ok, Results, NewState}'. If it throws, crashes, or returns anything
%% else, the call ends with `{error, {import_crashed, Module, Name, Class, Reason}}'
%% or `{error, {bad_import_return, Module, Name, Term}}' and the instance stays usable.
%% Results that do not fit the import's type end it with
%% `{error, {bad_import_result, Module, Name, Why}}'.
-spec call(instance(), func_ref(), [value()], import_fun(), State, call_opts()) ->
          {ok, [value()], State} | {error, term(), State}.
call(I, Func, Args, ImportFun, State, Opts) when is_map(Opts) ->
    call_with_timeout(I, Func, Args, ImportFun, State, Opts, maps:get(timeout, Opts, infinity));
call(_I, _Func, _Args, _ImportFun, State, Opts) ->
    {error, {badarg, Opts}, State}.

%% @private As {@link call/6}, with the timeout given apart from `Opts', which are
%% then passed to `ImportFun' untouched (for faces such as `hb_beamr').
-spec call_with_timeout(instance(), func_ref(), [value()], import_fun(), State, map(), timeout()) ->
          {ok, [value()], State} | {error, term(), State}.
call_with_timeout(I, Func, Args, ImportFun, State, Opts, Timeout) when is_function(ImportFun, 3) ->
    case func_ref(Func) of
        {ok, Ref} when is_list(Args) ->
            Deadline = deadline(Timeout),
            Step = step(I, {call, Ref, Args}, Deadline),
            drive(Step, {I, ImportFun, Opts, Deadline}, State);
        {ok, _} ->
            {error, {bad_args, Args}, State};
        error ->
            {error, {bad_func, Func}, State}
    end;
call_with_timeout(_I, _Func, _Args, ImportFun, State, _Opts, _Timeout) ->
    {error, {bad_import_fun, ImportFun}, State}.

drive({ok, Results}, _Ctx, State) ->
    {ok, Results, State};
drive({error, Reason}, _Ctx, State) ->
    {error, Reason, State};
drive(yield, {I, _, _, Deadline} = Ctx, State) ->
    drive(step(I, proceed, Deadline), Ctx, State);
drive({import, Module, Name, Args, Sig}, {I, ImportFun, Opts, Deadline} = Ctx, State) ->
    Request = #{instance => I, module => Module, func => Name, args => Args, func_sig => Sig},
    try ImportFun(State, Request, Opts) of
        {ok, Results, State2} when is_list(Results) ->
            case step(I, {resume, Results}, Deadline) of
                {bad_import_result, Why} ->
                    abort(Ctx, {bad_import_result, Module, Name, Why}, State2);
                Step ->
                    drive(Step, Ctx, State2)
            end;
        Other ->
            abort(Ctx, {bad_import_return, Module, Name, Other}, State)
    catch
        Class:Reason ->
            abort(Ctx, {import_crashed, Module, Name, Class, Reason}, State)
    end.

%% Fails the pending import so that WASM unwinds out of this call level.
abort({I, _, _, Deadline}, Reason, State) ->
    Message = iolist_to_binary(io_lib:format("~0p", [Reason], [{chars_limit, 512}])),
    case step(I, {fail, Message}, Deadline) of
        {error, stopped} -> {error, stopped, State};
        {error, timeout} -> {error, timeout, State};
        _ -> {error, Reason, State}
    end.

unhandled_import(_State, #{module := Module, func := Name}, _Opts) ->
    throw({unhandled_import, Module, Name}).

%% @doc The size of the default memory in bytes.
-spec size(instance()) -> {ok, non_neg_integer()} | {error, term()}.
size(I) ->
    step(I, size, infinity).

%% @doc Reads `Length' bytes of the default memory at `Offset'.
-spec read(instance(), non_neg_integer(), non_neg_integer()) -> {ok, binary()} | {error, term()}.
read(I, Offset, Length) ->
    step(I, {read, Offset, Length}, infinity).

%% @doc Writes `Data' into the default memory at `Offset'.
-spec write(instance(), non_neg_integer(), binary()) -> ok | {error, term()}.
write(I, Offset, Data) when is_binary(Data) ->
    step(I, {write, Offset, Data}, infinity);
write(_I, _Offset, Data) ->
    {error, {bad_data, Data}}.

%% @doc Stops the instance and frees its state now. A call in progress ends with
%% `{error, stopped}' within about a millisecond; later calls return the same.
-spec stop(instance()) -> ok.
stop(I) ->
    beamr_nif:stop(I).

%% @doc Whether {@link stop/1} was called on the instance.
-spec is_stopped(instance()) -> boolean().
is_stopped(I) ->
    beamr_nif:is_stopped(I).

%% @doc How many modules this node has compiled since beamr loaded. Starting bytes
%% already compiled (same SHA-256, still in the cache) reuses that compilation and
%% leaves this count unchanged.
-spec compilations() -> non_neg_integer().
compilations() ->
    beamr_nif:compilations().

%%% Internals

func_ref(Name) when is_binary(Name) -> {ok, Name};
func_ref(Index) when is_integer(Index), Index >= 0 -> {ok, Index};
func_ref(Name) when is_list(Name) ->
    try list_to_binary(Name) of
        Bin -> {ok, Bin}
    catch
        error:badarg -> func_ref_unicode(Name)
    end;
func_ref(Name) when is_atom(Name) -> {ok, atom_to_binary(Name)};
func_ref(_) -> error.

func_ref_unicode(Name) ->
    try unicode:characters_to_binary(Name) of
        Bin when is_binary(Bin) -> {ok, Bin};
        _ -> error
    catch
        error:badarg -> error
    end.

deadline(infinity) -> infinity;
deadline(Ms) when is_integer(Ms), Ms >= 0 -> erlang:monotonic_time(millisecond) + Ms;
deadline(Other) -> {bad, Other}.

remaining(infinity) -> infinity;
remaining({bad, Other}) -> Other;
remaining(At) -> max(0, At - erlang:monotonic_time(millisecond)).

%% One NIF step. While the instance is busy with another caller, waits for its
%% `{'$beamr_ready', I}' (in `receive', not on a scheduler) and tries again; a wake-up
%% that arrives after a timed-out wait is flushed.
step(I, Op, Deadline) ->
    case nif(I, Op, Deadline) of
        busy -> wait(I, Op, Deadline);
        Result -> Result
    end.

nif(I, {call, Ref, Args}, Deadline) -> beamr_nif:call(I, Ref, Args, remaining(Deadline));
nif(I, {resume, Results}, _) -> beamr_nif:resume(I, Results);
nif(I, proceed, _) -> beamr_nif:proceed(I);
nif(I, {fail, Message}, _) -> beamr_nif:fail_import(I, Message);
nif(I, size, _) -> beamr_nif:size(I);
nif(I, {read, Offset, Length}, _) when is_integer(Length), Length > ?DIRTY_BYTES ->
    beamr_nif:read_dirty(I, Offset, Length);
nif(I, {read, Offset, Length}, _) -> beamr_nif:read(I, Offset, Length);
nif(I, {write, Offset, Data}, _) when byte_size(Data) > ?DIRTY_BYTES ->
    beamr_nif:write_dirty(I, Offset, Data);
nif(I, {write, Offset, Data}, _) -> beamr_nif:write(I, Offset, Data).

wait(I, Op, Deadline) ->
    case remaining(Deadline) of
        0 ->
            flush_ready(I),
            {error, timeout};
        Wait ->
            receive
                {'$beamr_ready', I} -> ok
            after min(Wait, ?WAIT_RETRY_MS) -> ok
            end,
            case nif(I, Op, Deadline) of
                busy ->
                    wait(I, Op, Deadline);
                Result ->
                    flush_ready(I),
                    Result
            end
    end.

flush_ready(I) ->
    receive
        {'$beamr_ready', I} -> flush_ready(I)
    after 0 -> ok
    end.
