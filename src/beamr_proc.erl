%%% @doc Instances named by a process, for APIs (like HyperBEAM's) whose instance
%%% handle must be a pid.
%%%
%%% {@link start/2} starts a {@link beamr_holder} under {@link beamr_holder_sup} that
%%% holds the instance and keeps it alive until {@link stop/1}; a public ETS table maps
%%% its pid to the instance resource, so that callers on this node reach the instance
%%% with one lookup and no message to that process. This server owns the table; when
%%% a holder dies, however it dies, it stops the instance and removes the entry, so
%%% later calls answer `{error, stopped}'. A holder whose instance moved to another
%%% node ({@link beamr_remote:move/2}) maps to `{moved, NewPid}' instead.
%%%
%%% It also owns the table of module bytes that instances placed here from another
%%% node were started from, by SHA-256 and counted by holder, so that a module crosses
%%% the network once per node while any instance of it lives there
%%% ({@link module_bytes/1}); an entry goes with its last holder.
-module(beamr_proc).
-behaviour(gen_server).

-export([start_link/0, start/2, start/3, lookup/1, stop/1, moved/2, module_bytes/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(TABLE, beamr_procs).
-define(MODULES, beamr_proc_modules).

%% @doc Starts the table owner (normally under {@link beamr_sup}).
-spec start_link() -> {ok, pid()} | ignore | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Starts an instance of `Module' held by a new process; returns that process.
-spec start(binary(), map()) -> {ok, pid(), beamr:instance()} | {error, term()}.
start(Module, Opts) ->
    start(Module, Opts, undefined).

%% @doc As {@link start/2}; `Hash', the SHA-256 of `Module' (or `undefined'), makes
%% the bytes available to {@link module_bytes/1} while the holder lives.
-spec start(binary(), map(), binary() | undefined) ->
          {ok, pid(), beamr:instance()} | {error, term()}.
start(Module, Opts, Hash) ->
    ok = beamr_app:ensure_table(?TABLE),
    case beamr:start(Module, Opts) of
        {ok, I} ->
            case beamr_holder_sup:start_holder({I, Module, Opts}) of
                {ok, Pid} ->
                    _ = Hash =:= undefined orelse
                        ets:update_counter(?MODULES, Hash, {3, 1}, {Hash, Module, 0}),
                    true = ets:insert(?TABLE, {Pid, I, Hash}),
                    gen_server:cast(?MODULE, {watch, Pid}),
                    {ok, Pid, I};
                {error, Reason} ->
                    _ = beamr:stop(I),
                    {error, {holder, Reason}}
            end;
        {error, _} = Error ->
            Error
    end.

%% @doc The module bytes a holder on this node was placed with, by their SHA-256.
-spec module_bytes(term()) -> {ok, binary()} | error.
module_bytes(Hash) ->
    try ets:lookup_element(?MODULES, Hash, 2) of
        Bytes -> {ok, Bytes}
    catch
        error:badarg -> error
    end.

%% @doc Records that the instance `Pid' held moved to `New' (called by the holder):
%% stops it here; lookups answer `{error, {moved, New}}'.
-spec moved(pid(), pid()) -> ok.
moved(Pid, New) ->
    case ets:lookup(?TABLE, Pid) of
        [{Pid, I, Hash}] when is_reference(I) ->
            true = ets:insert(?TABLE, {Pid, {moved, New}, undefined}),
            ok = release(Hash),
            _ = beamr:stop(I),
            ok;
        _ ->
            ok
    end.

%% @doc The instance a process holds.
-spec lookup(pid()) -> {ok, beamr:instance()} | {error, stopped | {moved, pid()}}.
lookup(Pid) ->
    try ets:lookup_element(?TABLE, Pid, 2) of
        {moved, _} = Moved -> {error, Moved};
        I -> {ok, I}
    catch
        error:badarg -> {error, stopped}
    end.

%% @doc Stops the instance a process holds, and the process. A holder whose instance
%% moved answers `{error, {moved, NewPid}}' and stays.
-spec stop(pid()) -> ok | {error, {moved, pid()}}.
stop(Pid) ->
    case lookup(Pid) of
        {ok, I} ->
            ok = beamr:stop(I),
            ok = forget(Pid),
            Pid ! stop,
            ok;
        {error, stopped} ->
            ok;
        {error, {moved, _}} = Moved ->
            Moved
    end.

forget(Pid) ->
    case ets:take(?TABLE, Pid) of
        [{Pid, _, Hash}] -> release(Hash);
        [] -> ok
    end.

release(undefined) ->
    ok;
release(Hash) ->
    try ets:update_counter(?MODULES, Hash, {3, -1}) of
        %% Only a row still at zero: a start may have counted it up meanwhile.
        0 -> _ = ets:select_delete(?MODULES, [{{Hash, '_', 0}, [], [true]}]), ok;
        _ -> ok
    catch
        error:badarg -> ok
    end.

%%% gen_server

-spec init([]) -> {ok, #{}}.
init([]) ->
    ?TABLE = ets:new(?TABLE, [named_table, public, set, {read_concurrency, true}]),
    ?MODULES = ets:new(?MODULES, [named_table, public, set]),
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
            {error, _} -> ok
        end,
    ok = forget(Pid),
    {noreply, State};
handle_info(_Other, State) ->
    {noreply, State}.
