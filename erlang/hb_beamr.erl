%%% @doc HyperBEAM's `hb_beamr' API, on beamr.
%%%
%%% A drop-in for HyperBEAM's module of the same name: the same functions and
%%% shapes, with wasmtime underneath instead of WAMR. The instance is a pid usable from
%%% any process; calls on this node go straight to the instance (see
%%% {@link beamr_proc}), not through that process, and are driven by
%%% {@link beamr_call}, as beamr's own.
%%%
%%% ```
%%% start(Wasm) -> {ok, Instance, Imports, Exports}
%%%     Imports = [{Kind, Module, Name, Signature}], Exports = [{Kind, Name, Signature}],
%%%     names and signatures as charlists, e.g. {func, "env", "mul", "(ii)i"}.
%%% call(Instance, Func, Args) -> {ok, Results} | {error, Reason}
%%% call(Instance, Func, Args, ImportFun[, State[, Opts]]) ->
%%%     {ok, Results, State} | {error, Reason, State}
%%% '''
%%% `Func' is a name (charlist or binary) or an index into the exported
%%% `__indirect_function_table'. `ImportFun(State, Request, Opts)' gets
%%% `#{instance, module, func, args, func_sig}' (charlists for names) and returns
%%% `{ok, Results, State}'. The optional `Opts' key `beamr_timeout' (milliseconds)
%%% bounds the call. Unlike BEAMR, a crashing import fun gives
%%% `{error, {import_crashed, Module, Name, Class, Reason}, State}'.
%%%
%%% Bad input is an error, never an exception: a `PID' that is not a pid, or
%%% arguments of the wrong type, give `{error, {badarg, Args}}' (`Args' the
%%% offending arguments; `{error, badarg, State}' from `call/4,5,6', as BEAMR);
%%% a pid that holds no instance gives `{error, stopped}'.
%%%
%%% The pid works from every node of a cluster: from another node, each function runs
%%% on the pid's node (in a worker spawned there), the import fun still runs in the
%%% calling process
%%% (each import request crosses the network once each way), and a lost node is
%%% `{error, {nodedown, Node}}' (see {@link beamr_remote}). {@link start_on/3} starts
%%% an instance on a chosen node, {@link move/2} moves one; a moved instance's old pid
%%% answers `{error, {moved, NewPid}}'.
-module(hb_beamr).

-define(LAST, '$hb_beamr_last_instance').

-export([with_instance/3]).
-export([load_driver/0]).
-export([start/1, start/2, call/3, call/4, call/5, call/6, stop/1,
         serialize/1, deserialize/2, stub/3]).
-export([start_on/2, start_on/3, move/2]).

%% @doc Starts an instance of a WASM module.
-spec start(binary()) -> {ok, pid(), list(), list()} | {error, term()}.
start(WasmBinary) ->
    start(WasmBinary, wasm).

%% @doc Starts an instance. Mode `aot' takes an artifact of `beamr:precompile/1',
%% accepted only if this node's module cache produced it (anything else is an error
%% and never executed).
-spec start(binary(), wasm | aot) -> {ok, pid(), list(), list()} | {error, term()}.
start(WasmBinary, Mode) when is_binary(WasmBinary), (Mode =:= wasm orelse Mode =:= aot) ->
    Opts = case Mode of aot -> #{aot => true}; wasm -> #{} end,
    case beamr_proc:start(WasmBinary, Opts) of
        {ok, Pid, I} ->
            {ok, Pid, hb_imports(beamr:imports(I)), hb_exports(beamr:exports(I))};
        {error, _} = Error ->
            Error
    end;
start(WasmBinary, Mode) when is_binary(WasmBinary) ->
    {error, {unsupported_mode, Mode}};
start(WasmBinary, Mode) ->
    {error, {badarg, [WasmBinary, Mode]}}.

%% @doc Starts an instance held by a process on `Node' (this node too), usable from
%% every node; the module's bytes cross the network only if no instance on `Node'
%% was placed from the same bytes.
-spec start_on(node(), binary()) -> {ok, pid(), list(), list()} | {error, term()}.
start_on(Node, WasmBinary) ->
    start_on(Node, WasmBinary, wasm).

%% @doc As {@link start_on/2} in mode `wasm' or `aot' (see {@link start/2}: an `aot'
%% artifact only from `Node''s own cache). A lost node is `{error, {nodedown, Node}}'.
-spec start_on(node(), binary(), wasm | aot) -> {ok, pid(), list(), list()} | {error, term()}.
start_on(Node, WasmBinary, Mode) when Node =:= node() ->
    start(WasmBinary, Mode);
start_on(Node, WasmBinary, Mode)
        when is_atom(Node), is_binary(WasmBinary), (Mode =:= wasm orelse Mode =:= aot) ->
    Opts = case Mode of aot -> #{aot => true}; wasm -> #{} end,
    case beamr_remote:start_on(Node, WasmBinary, Opts) of
        {ok, Pid, Imports, Exports} -> {ok, Pid, hb_imports(Imports), hb_exports(Exports)};
        {error, _} = Error -> Error
    end;
start_on(Node, WasmBinary, Mode) ->
    {error, {badarg, [Node, WasmBinary, Mode]}}.

%% @doc Moves an idle instance to `Node' with its whole state (a snapshot; the
%% module's bytes only if `Node' lacks them) and returns its new pid. The old pid
%% then answers `{error, {moved, NewPid}}' (`{error, {moved, NewPid}, State}' from
%% `call/4,5,6') until the new instance ends. A call that starts while it moves runs on
%% the old copy and its effects are lost: move only an instance nobody is calling.
-spec move(pid(), node()) -> {ok, pid()} | {error, term()}.
move(PID, Node) ->
    beamr_remote:move(PID, Node).

%% @doc Calls a function; any import is answered by {@link stub/3}.
-spec call(pid(), beamr:func_ref(), [beamr:value()]) -> {ok, [beamr:value()]} | {error, term()}.
call(PID, FuncRef, Args) ->
    case call(PID, FuncRef, Args, fun stub/3, #{}, #{}) of
        {ok, Results, _} -> {ok, Results};
        {error, Reason, _} -> {error, Reason}
    end.

%% @doc Calls a function, answering imports with `ImportFun'; the state starts as `#{}'.
-spec call(pid(), beamr:func_ref(), [beamr:value()], function()) ->
          {ok, [beamr:value()], term()} | {error, term(), term()}.
call(PID, FuncRef, Args, ImportFun) ->
    call(PID, FuncRef, Args, ImportFun, #{}).

%% @doc As {@link call/4} with an initial state.
-spec call(pid(), beamr:func_ref(), [beamr:value()], function(), term()) ->
          {ok, [beamr:value()], term()} | {error, term(), term()}.
call(PID, FuncRef, Args, ImportFun, StateMsg) ->
    call(PID, FuncRef, Args, ImportFun, StateMsg, #{}).

%% @doc As {@link call/5} with options passed to `ImportFun'.
-spec call(pid(), beamr:func_ref(), [beamr:value()], function(), term(), map()) ->
          {ok, [beamr:value()], term()} | {error, term(), term()}.
call(PID, FuncRef, Args, ImportFun, StateMsg, Opts)
        when is_pid(PID), is_function(ImportFun, 3), is_map(Opts) ->
    Timeout = case Opts of
                  #{beamr_timeout := T} -> T;
                  _ -> infinity
              end,
    case get(?LAST) of
        {PID, I} ->
            %% The common case, the instance this process used last (always one of this
            %% node): with_instance/3's first lookup, without building its fun unless
            %% the answer is `stopped'.
            Result = beamr_call:call(I, FuncRef, Args, adapt(PID, ImportFun), StateMsg, Opts,
                                     Timeout),
            case says_stopped(Result) of
                false ->
                    Result;
                true ->
                    recheck(PID, I, Result, call_fun(PID, FuncRef, Args, ImportFun, StateMsg,
                                                     Opts, Timeout), {error, stopped, StateMsg})
            end;
        _ when node(PID) =/= node() ->
            beamr_remote:call(PID, FuncRef, Args, adapt(PID, ImportFun), StateMsg, Opts, Timeout);
        _ ->
            with_instance(PID, call_fun(PID, FuncRef, Args, ImportFun, StateMsg, Opts, Timeout),
                          {error, stopped, StateMsg})
    end;
call(_PID, _FuncRef, _Args, _ImportFun, StateMsg, _Opts) ->
    {error, badarg, StateMsg}.

%% @doc Stops an instance. Calls in progress end with `{error, stopped}'.
-spec stop(pid()) -> ok | {error, term()}.
stop(PID) when is_pid(PID), node(PID) =/= node() ->
    case beamr_remote:op(PID, stop) of
        {error, stopped} -> ok;
        Result -> Result
    end;
stop(PID) when is_pid(PID) ->
    beamr_proc:stop(PID);
stop(PID) ->
    {error, {badarg, [PID]}}.

%% @doc The instance's whole state (memory, mutable globals, changed table entries)
%% in beamr's snapshot format; see `beamr:serialize/1'.
-spec serialize(pid()) -> {ok, binary()} | {error, term()}.
serialize(PID) when is_pid(PID), node(PID) =/= node() ->
    beamr_remote:op(PID, serialize);
serialize(PID) when is_pid(PID) ->
    case beamr_proc:lookup(PID) of
        {ok, I} -> beamr:serialize(I);
        {error, _} = Error -> Error
    end;
serialize(PID) ->
    {error, {badarg, [PID]}}.

%% @doc Restores a state produced by {@link serialize/1}, or a BEAMR (raw memory)
%% snapshot; see `beamr:deserialize/2'.
-spec deserialize(pid(), binary()) -> ok | {error, term()}.
deserialize(PID, Bin) when is_pid(PID), is_binary(Bin), node(PID) =/= node() ->
    beamr_remote:op(PID, {deserialize, Bin});
deserialize(PID, Bin) when is_pid(PID), is_binary(Bin) ->
    case beamr_proc:lookup(PID) of
        {ok, I} -> beamr:deserialize(I, Bin);
        {error, _} = Error -> Error
    end;
deserialize(PID, Bin) ->
    {error, {badarg, [PID, Bin]}}.

%% @doc Compatibility with BEAMR, which loads its port driver here (HyperBEAM's
%% `driver_loads_test' calls it). beamr has no driver: its NIF library loads with the
%% `beamr_nif' module, so this only makes sure that module is loaded and returns `ok',
%% or `{error, Reason}' when the library cannot be loaded.
-spec load_driver() -> ok | {error, term()}.
load_driver() ->
    case code:ensure_loaded(beamr_nif) of
        {module, beamr_nif} -> ok;
        {error, Reason} -> {error, Reason}
    end.

%% @doc HyperBEAM's default import fun: answers every import with `[0]'.
-spec stub(term(), map(), map()) -> {ok, [0], term()}.
stub(Msg1, _Msg2, _Opts) ->
    {ok, [0], Msg1}.

to_list(Bin) -> binary_to_list(Bin).

hb_imports(Imports) -> [{K, to_list(M), to_list(N), to_list(S)} || {K, M, N, S} <- Imports].

hb_exports(Exports) -> [{K, to_list(N), to_list(S)} || {K, N, S} <- Exports].

call_fun(PID, FuncRef, Args, ImportFun, StateMsg, Opts, Timeout) ->
    fun(I) -> beamr_call:call(I, FuncRef, Args, adapt(PID, ImportFun), StateMsg, Opts, Timeout) end.

%% HyperBEAM's import request: the instance as its pid, names and signature as lists.
adapt(PID, ImportFun) ->
    fun(State, #{module := M, func := N, func_sig := S} = Request, O) ->
        ImportFun(State,
                  Request#{instance := PID, module := binary_to_list(M),
                           func := binary_to_list(N), func_sig := binary_to_list(S)},
                  O)
    end.

%% @doc Runs `Fun' on the instance behind `PID', a pid of this node (for this module
%% and {@link hb_beamr_io}); `Stopped' when there is none, or `Stopped' with its
%% `stopped' replaced by `{moved, NewPid}' for an instance that moved. An answer that
%% says the instance is stopped is checked against the registry: the remembered
%% instance may belong to a pid since reused.
-spec with_instance(pid(), fun((beamr:instance()) -> Result), Stopped) ->
          Result | Stopped | {error, {badarg, list()}}.
with_instance(PID, Fun, _Stopped) when not is_pid(PID); not is_function(Fun, 1) ->
    {error, {badarg, [PID, Fun]}};
with_instance(PID, Fun, Stopped) ->
    case instance(PID) of
        {ok, I} ->
            Result = Fun(I),
            case says_stopped(Result) of
                false -> Result;
                true -> recheck(PID, I, Result, Fun, Stopped)
            end;
        {error, stopped} ->
            Stopped;
        {error, {moved, _} = Moved} ->
            moved(Stopped, Moved)
    end.

%% `Result', the answer of `Fun' on `I', says the instance is stopped: the pid may
%% since name another instance (run `Fun' there) or one that moved.
recheck(PID, I, Result, Fun, Stopped) ->
    erase(?LAST),
    case instance(PID) of
        {ok, I} -> Result;
        {ok, Other} -> Fun(Other);
        {error, stopped} -> Result;
        {error, {moved, _} = Moved} -> moved(Stopped, Moved)
    end.

%% The answer for an instance that moved, in the shape of `Stopped' (`{error, stopped}'
%% or `{error, stopped, State}').
moved({error, stopped}, Moved) -> {error, Moved};
moved({error, stopped, State}, Moved) -> {error, Moved, State};
moved(Stopped, _Moved) -> Stopped.

says_stopped({error, stopped}) -> true;
says_stopped({error, stopped, _}) -> true;
says_stopped(_) -> false.

%% The instance behind a pid. The last one this process used is remembered in its
%% dictionary (one entry, so nothing accumulates), which saves the registry lookup on
%% the common run of calls to one instance.
instance(PID) ->
    case get(?LAST) of
        {PID, I} ->
            {ok, I};
        _ ->
            case beamr_proc:lookup(PID) of
                {ok, I} = Found ->
                    put(?LAST, {PID, I}),
                    Found;
                {error, _} = NotHere ->
                    NotHere
            end
    end.
