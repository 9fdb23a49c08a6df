%%% @doc Instances named by a process, for APIs (like HyperBEAM's) whose instance
%%% handle must be a pid.
%%%
%%% {@link start/2} starts a {@link beamr_holder} under {@link beamr_holder_sup} that
%%% holds the instance and keeps it alive until {@link stop/1}; a public ETS table maps
%%% its pid to the instance resource, so that callers on this node reach the instance
%%% with one lookup and no message to that process. This server owns the table; when
%%% a holder dies, however it dies, it stops the instance and removes the entry, so
%%% later calls answer `{error, stopped}'.
-module(beamr_proc).
-behaviour(gen_server).

-export([start_link/0, start/2, lookup/1, stop/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(TABLE, beamr_procs).

%% @doc Starts the table owner (normally under {@link beamr_sup}).
-spec start_link() -> {ok, pid()} | ignore | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Starts an instance of `Module' held by a new process; returns that process.
-spec start(binary(), map()) -> {ok, pid(), beamr:instance()} | {error, term()}.
start(Module, Opts) ->
    ok = beamr_app:ensure_table(?TABLE),
    case beamr:start(Module, Opts) of
        {ok, I} ->
            case beamr_holder_sup:start_holder(I) of
                {ok, Pid} ->
                    true = ets:insert(?TABLE, {Pid, I}),
                    gen_server:cast(?MODULE, {watch, Pid}),
                    {ok, Pid, I};
                {error, Reason} ->
                    _ = beamr:stop(I),
                    {error, {holder, Reason}}
            end;
        {error, _} = Error ->
            Error
    end.

%% @doc The instance a process holds.
-spec lookup(pid()) -> {ok, beamr:instance()} | {error, stopped}.
lookup(Pid) ->
    try ets:lookup_element(?TABLE, Pid, 2) of
        I -> {ok, I}
    catch
        error:badarg -> {error, stopped}
    end.

%% @doc Stops the instance a process holds, and the process.
-spec stop(pid()) -> ok.
stop(Pid) ->
    case lookup(Pid) of
        {ok, I} ->
            ok = beamr:stop(I),
            ets:delete(?TABLE, Pid),
            Pid ! stop,
            ok;
        {error, stopped} ->
            ok
    end.

%%% gen_server

-spec init([]) -> {ok, #{}}.
init([]) ->
    ?TABLE = ets:new(?TABLE, [named_table, public, set, {read_concurrency, true}]),
    {ok, #{}}.

-spec handle_call(term(), gen_server:from(), map()) -> {reply, {error, unknown_call}, map()}.
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_call}, State}.

-spec handle_cast({watch, pid()}, map()) -> {noreply, map()}.
handle_cast({watch, Pid}, State) ->
    erlang:monitor(process, Pid),
    {noreply, State}.

-spec handle_info({'DOWN', reference(), process, pid(), term()}, map()) -> {noreply, map()}.
handle_info({'DOWN', _Ref, process, Pid, _Reason}, State) ->
    _ = case lookup(Pid) of
            {ok, I} -> beamr:stop(I);
            {error, stopped} -> ok
        end,
    ets:delete(?TABLE, Pid),
    {noreply, State};
handle_info(_Other, State) ->
    {noreply, State}.
