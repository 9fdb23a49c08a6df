%%% @doc Pid-named instances used from another node of an Erlang cluster: the
%%% protocol between a caller on one node and an instance held on another (see
%%% {@link beamr_proc}), placement ({@link start_on/3}) and moves ({@link move/2}).
%%%
%%% A call or memory operation spawns a worker on the instance's node
%%% (`erlang:spawn_request/5', monitored, no reply unless the spawn fails), which
%%% finds the instance in that node's table (a pid that holds none answers `stopped'
%%% or `{moved, NewPid}', so no request waits on a process that will never answer),
%%% drives the call with beamr's call driver and sends each import request to the
%%% caller (to an alias, dropped when the call ends) and waits for the answer: an
%%% import crosses the network once each way, and the import fun runs in the calling
%%% process with its state, which never travels. While the caller runs the import
%%% fun, its calls and memory operations on the same instance go to that worker
%%% (remembered in the caller's dictionary), which owns the suspended call and so
%%% reaches the live state. The caller's monitor on the worker turns a lost node into
%%% `{nodedown, Node}'; the worker monitors the caller while it waits on an import,
%%% so a dead caller fails the import, which releases the instance.
%%%
%%% Moving an instance snapshots it, starts a copy on the target node (whose module
%%% bytes are sent only if that node holds none with the same SHA-256, see
%%% {@link beamr_proc:module_bytes/1}), restores the snapshot there and stops the
%%% original. The old pid then answers `{error, {moved, NewPid}}' until the new
%%% instance ends.
-module(beamr_remote).

-export([call/7, op/2]).
-export([worker/4, run_op/2]).
-export([start_on/3, start_here/3, move/2, relocate/4]).
-export_type([op/0]).

-define(CTX(Holder), {'$beamr_remote_ctx', Holder}).
%% Bound on a placement's remote steps (transfer, compile, restore).
-define(RPC_TIMEOUT, 600000).

-type op() :: size | {read, integer(), integer()} | {write, integer(), binary()}
            | {read_string, integer()} | serialize | {deserialize, binary()} | stop
            | {move, node()}.

%%% The caller's side

%% @doc Calls a function of the instance held by `Holder' (a pid of another node),
%% answering its imports with `ImportFun' in this process. Results are those of
%% `beamr_call:call/7'; a lost node is `{error, {nodedown, Node}, State}'.
%% `Opts' stay here except `fuel'.
-spec call(pid(), beamr:func_ref(), [beamr:value()], beamr:import_fun(), State, map(),
           timeout()) -> {ok, [beamr:value()], State} | {error, term(), State}.
call(Holder, Func, Args, ImportFun, State, Opts, Timeout) ->
    WOpts = (maps:with([fuel], Opts))#{timeout => Timeout},
    case get(?CTX(Holder)) of
        {Worker, Alias, Mon} ->
            %% From an import fun of a call on this instance: the worker that holds
            %% the suspended call runs this one inside it.
            Ref = make_ref(),
            Worker ! {Alias, call, Ref, Func, Args, WOpts},
            wait(Ref, {Worker, Alias, Mon}, Holder, ImportFun, State, Opts);
        undefined ->
            {Alias, Mon} = spawn_worker(Holder, {call, Func, Args, WOpts}),
            Result = wait(Alias, {undefined, Alias, Mon}, Holder, ImportFun, State, Opts),
            finish(Alias, Mon),
            Result
    end.

%% @doc Runs a memory or snapshot operation, `stop' or `{move, Node}' on the instance
%% held by `Holder', on its node; errors as for {@link call/7}. A move from inside an
%% import fun of a call on the instance is `{error, busy}'.
-spec op(pid(), op()) -> term().
op(Holder, Op) ->
    case get(?CTX(Holder)) of
        {_, _, _} when element(1, Op) =:= move ->
            %% The move would wait for the call this process is inside.
            {error, busy};
        {Worker, Alias, Mon} when Op =/= stop ->
            Ref = make_ref(),
            Worker ! {Alias, op, Ref, Op},
            wait_done(Ref, Alias, Mon, Holder);
        _ ->
            {Alias, Mon} = spawn_worker(Holder, Op),
            Result = wait_done(Alias, Alias, Mon, Holder),
            finish(Alias, Mon),
            Result
    end.

spawn_worker(Holder, Request) ->
    Alias = alias(),
    Mon = erlang:spawn_request(node(Holder), ?MODULE, worker, [Holder, Alias, self(), Request],
                               [monitor, {reply, error_only}]),
    {Alias, Mon}.

finish(Alias, Mon) ->
    _ = unalias(Alias),
    _ = demonitor(Mon, [flush]),
    receive {spawn_reply, Mon, _, _} -> ok after 0 -> ok end.

wait(Ref, {_, Alias, Mon} = Ctx, Holder, ImportFun, State, Opts) ->
    receive
        {Ref, import, Worker, Module, Name, Args, Sig} ->
            Request = #{instance => Holder, module => Module, func => Name, args => Args,
                        func_sig => Sig},
            {Answer, State2} = run_import(Holder, {Worker, Alias, Mon}, ImportFun, State,
                                          Request, Opts),
            Worker ! {Ref, answer, Answer},
            wait(Ref, Ctx, Holder, ImportFun, State2, Opts);
        {Ref, done, {ok, Results}} ->
            {ok, Results, State};
        {Ref, done, {error, Reason}} ->
            {error, Reason, State};
        {spawn_reply, Mon, error, Why} ->
            {error, spawn_failed(Holder, Why), State};
        {'DOWN', Mon, process, _, Why} = Msg ->
            {error, lost(Ref, Alias, Msg, down_reason(Holder, Why)), State}
    end.

wait_done(Ref, Alias, Mon, Holder) ->
    receive
        {Ref, done, Result} ->
            Result;
        {spawn_reply, Mon, error, Why} ->
            {error, spawn_failed(Holder, Why)};
        {'DOWN', Mon, process, _, Why} = Msg ->
            {error, lost(Ref, Alias, Msg, down_reason(Holder, Why))}
    end.

%% A nested level that sees the worker go puts the news back for the levels below
%% it, which wait on the same monitor.
lost(Alias, Alias, _Msg, Reason) ->
    Reason;
lost(_Ref, _Alias, Msg, Reason) ->
    self() ! Msg,
    Reason.

down_reason(Holder, noconnection) -> {nodedown, node(Holder)};
down_reason(_Holder, Why) -> {worker_down, Why}.

spawn_failed(Holder, noconnection) -> {nodedown, node(Holder)};
spawn_failed(_Holder, Why) -> {spawn_failed, Why}.

run_import(Holder, Ctx, ImportFun, State, Request, Opts) ->
    Previous = put(?CTX(Holder), Ctx),
    try ImportFun(State, Request, Opts) of
        {ok, Results, State2} when is_list(Results) -> {{ok, Results}, State2};
        Other -> {{bad_return, Other}, State}
    catch
        Class:Reason -> {{raise, Class, Reason}, State}
    after
        case Previous of
            undefined -> erase(?CTX(Holder));
            _ -> put(?CTX(Holder), Previous)
        end
    end.

%%% The worker, on the instance's node

%% @doc The body of a worker spawned by a caller on another node (or this one):
%% serves one request on the instance `Holder' holds and sends the answer to `Alias'.
-spec worker(pid(), reference(), pid(), term()) -> term().
worker(Holder, Alias, Caller, Request) ->
    Alias ! {Alias, done, serve(Holder, Alias, Caller, Request)}.

serve(Holder, Alias, Caller, Request) ->
    case {beamr_proc:lookup(Holder), Request} of
        {{error, {moved, _}} = Moved, _} -> Moved;
        {_, stop} -> beamr_proc:stop(Holder);
        {{error, stopped}, _} -> {error, stopped};
        {{ok, _}, {move, Node}} -> ask_holder(Holder, {move, Node});
        {{ok, I}, {call, Func, Args, WOpts}} -> level({I, Alias, Caller}, Alias, Func, Args, WOpts);
        {{ok, I}, Op} -> run_op(I, Op)
    end.

ask_holder(Holder, Request) ->
    try gen_server:call(Holder, Request, infinity)
    catch exit:_ -> {error, stopped}
    end.

%% @doc One operation on a local instance.
-spec run_op(beamr:instance(), term()) -> term().
run_op(I, Op) ->
    try op_here(I, Op)
    catch Class:Reason -> {error, {crashed, Class, Reason}}
    end.

op_here(I, size) -> beamr:size(I);
op_here(I, {read, Offset, Len}) -> beamr:read(I, Offset, Len);
op_here(I, {write, Offset, Data}) -> beamr:write(I, Offset, Data);
op_here(I, {read_string, Offset}) -> beamr:read_string(I, Offset);
op_here(I, serialize) -> beamr:serialize(I);
op_here(I, {deserialize, Bin}) -> beamr:deserialize(I, Bin);
op_here(_I, Op) -> {error, {bad_op, Op}}.

%% One call level: the caller's call, or one it made from an import fun.
level(Ctx, Ref, Func, Args, WOpts) ->
    {I, _, _} = Ctx,
    Ask = fun(State, Request, _Opts) -> ask(Ctx, Ref, Request, State) end,
    try beamr_call:call(I, Func, Args, Ask, undefined, maps:with([fuel], WOpts),
                        maps:get(timeout, WOpts, infinity)) of
        {ok, Results, _} -> {ok, Results};
        {error, Reason, _} -> {error, Reason}
    catch
        Class:Reason -> {error, {crashed, Class, Reason}}
    end.

ask({_, Alias, Caller} = Ctx, Ref, #{module := M, func := N, args := A, func_sig := S}, State) ->
    Mon = caller_monitor(Caller),
    Alias ! {Ref, import, self(), M, N, A, S},
    await(Ctx, Ref, Mon, State).

%% Waits for the caller's answer, serving the caller's calls and operations on this
%% instance meanwhile (this process owns the suspended call).
await({I, Alias, _} = Ctx, Ref, Mon, State) ->
    receive
        {Ref, answer, {ok, Results}} ->
            {ok, Results, State};
        {Ref, answer, {bad_return, Term}} ->
            Term;
        {Ref, answer, {raise, Class, Reason}} ->
            erlang:raise(Class, Reason, []);
        {Alias, call, Nested, Func, Args, WOpts} ->
            Alias ! {Nested, done, level(Ctx, Nested, Func, Args, WOpts)},
            await(Ctx, Ref, Mon, State);
        {Alias, op, ORef, Op} ->
            Alias ! {ORef, done, run_op(I, Op)},
            await(Ctx, Ref, Mon, State);
        {'DOWN', Mon, process, _, Why} ->
            exit({caller_down, Why})
    end.

caller_monitor(Caller) ->
    case get('$beamr_remote_caller') of
        undefined ->
            Mon = monitor(process, Caller),
            put('$beamr_remote_caller', Mon),
            Mon;
        Mon ->
            Mon
    end.

%%% Placement

%% @doc Starts an instance of `Bytes' held by a process on `Node'. The bytes cross
%% the network only if `Node' holds no module with their SHA-256.
-spec start_on(node(), binary(), map()) ->
          {ok, pid(), list(), list()} | {error, term()}.
start_on(Node, Bytes, Opts) when is_atom(Node), is_binary(Bytes), is_map(Opts) ->
    place(Node, Bytes, crypto:hash(sha256, Bytes), Opts, none);
start_on(Node, Bytes, Opts) ->
    {error, {badarg, [Node, Bytes, Opts]}}.

place(Node, Bytes, Hash, Opts, Snapshot) ->
    Source = case rpc(Node, beamr_proc, module_bytes, [Hash]) of
                 {ok, _} -> {hash, Hash};
                 _ -> {bytes, Bytes}
             end,
    case rpc(Node, ?MODULE, start_here, [Source, Opts, Snapshot]) of
        {error, {unknown_module, _}} ->
            %% Its last holder ended in between.
            rpc(Node, ?MODULE, start_here, [{bytes, Bytes}, Opts, Snapshot]);
        Result ->
            Result
    end.

rpc(Node, M, F, A) ->
    try erpc:call(Node, M, F, A, ?RPC_TIMEOUT)
    catch
        error:{erpc, noconnection} -> {error, {nodedown, Node}};
        Class:Reason -> {error, {remote, Class, Reason}}
    end.

%% @doc (On the target node of a placement.) Starts an instance held by a process
%% here from module bytes or the hash of bytes a holder here already has, and
%% restores `Snapshot' into it (`none': a fresh instance).
-spec start_here({bytes, binary()} | {hash, binary()}, map(), binary() | none) ->
          {ok, pid(), list(), list()} | {error, term()}.
start_here(Source, Opts, Snapshot) ->
    case source_bytes(Source) of
        {ok, Bytes, Hash} ->
            case beamr_proc:start(Bytes, Opts, Hash) of
                {ok, Pid, I} -> restore(Pid, I, Snapshot);
                {error, _} = Error -> Error
            end;
        {error, _} = Error ->
            Error
    end.

source_bytes({bytes, Bytes}) when is_binary(Bytes) ->
    {ok, Bytes, crypto:hash(sha256, Bytes)};
source_bytes({hash, Hash}) ->
    case beamr_proc:module_bytes(Hash) of
        {ok, Bytes} -> {ok, Bytes, Hash};
        error -> {error, {unknown_module, Hash}}
    end;
source_bytes(Other) ->
    {error, {badarg, [Other]}}.

restore(Pid, I, Snapshot) ->
    case Snapshot =:= none orelse beamr:deserialize(I, Snapshot) of
        Restored when Restored =:= true; Restored =:= ok ->
            {ok, Pid, beamr:imports(I), beamr:exports(I)};
        {error, _} = Error ->
            ok = beamr_proc:stop(Pid),
            Error
    end.

%% @doc Moves the instance held by `Holder' to `Node' (see the module doc): returns
%% the new holder, after which `Holder' answers `{error, {moved, NewPid}}'. Meant for
%% an idle instance: a call that runs while the snapshot is taken is waited for,
%% but one that starts after it works on the old copy and its effects are lost.
-spec move(pid(), node()) -> {ok, pid()} | {error, term()}.
move(Holder, Node) when is_pid(Holder), is_atom(Node) ->
    op(Holder, {move, Node});
move(Holder, Node) ->
    {error, {badarg, [Holder, Node]}}.

%% @doc (For the holder of `I'.) Starts a copy of `I', an instance of `Bytes' started
%% with `Opts', on `Node', with its state.
-spec relocate(beamr:instance(), binary(), map(), node()) ->
          {ok, pid(), list(), list()} | {error, term()}.
relocate(I, Bytes, Opts, Node) ->
    case beamr:serialize(I) of
        {ok, Snapshot} -> place(Node, Bytes, crypto:hash(sha256, Bytes), Opts, Snapshot);
        {error, _} = Error -> Error
    end.
