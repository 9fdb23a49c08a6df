%%% @doc The process behind a pid-named instance (see {@link beamr_proc}): it holds the
%%% instance, as a temporary child of {@link beamr_holder_sup}, so that every such
%%% instance lives inside the application's supervision tree and ends with it. The
%%% instance stops when this process ends by {@link beamr_proc:stop/1} or a shutdown;
%%% a process killed outright is seen by {@link beamr_proc}, which stops it then.
-module(beamr_holder).
-behaviour(gen_server).

-export([start_link/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

%% @doc Starts a holder of `Instance' (called by {@link beamr_holder_sup}).
-spec start_link(beamr:instance()) -> {ok, pid()} | {error, term()}.
start_link(Instance) ->
    gen_server:start_link(?MODULE, Instance, []).

-spec init(beamr:instance()) -> {ok, beamr:instance()}.
init(Instance) ->
    %% A supervisor's shutdown then runs terminate/2, which stops the instance.
    process_flag(trap_exit, true),
    {ok, Instance}.

-spec handle_call(term(), gen_server:from(), beamr:instance()) ->
          {reply, {error, unknown_call}, beamr:instance()}.
handle_call(_Request, _From, Instance) ->
    {reply, {error, unknown_call}, Instance}.

-spec handle_cast(term(), beamr:instance()) -> {noreply, beamr:instance()}.
handle_cast(_Request, Instance) ->
    {noreply, Instance}.

-spec handle_info(term(), beamr:instance()) ->
          {noreply, beamr:instance()} | {stop, normal, beamr:instance()}.
handle_info(stop, Instance) ->
    {stop, normal, Instance};
handle_info({'EXIT', _From, Reason}, Instance) ->
    {stop, Reason, Instance};
handle_info(_Other, Instance) ->
    {noreply, Instance}.

-spec terminate(term(), beamr:instance()) -> ok.
terminate(_Reason, Instance) ->
    _ = beamr:stop(Instance),
    ok.
