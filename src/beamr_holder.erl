%%% @doc The process behind a pid-named instance (see {@link beamr_proc}): it holds the
%%% instance, as a temporary child of {@link beamr_holder_sup}, so that every such
%%% instance lives inside the application's supervision tree and ends with it. The
%%% instance stops when this process ends by {@link beamr_proc:stop/1} or a shutdown;
%%% a process killed outright is seen by {@link beamr_proc}, which stops it then.
%%%
%%% It moves its instance to another node on request ({@link beamr_remote:move/2}),
%%% then stays, holding nothing, until the new holder ends, so that its pid answers
%%% `{error, {moved, NewPid}}' meanwhile (see {@link beamr_proc:lookup/1}).
-module(beamr_holder).
-behaviour(gen_server).

-export([start_link/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-type state() :: #{instance := beamr:instance(), module := binary(), opts := map()}
               | #{moved := pid(), monitor := reference()}.

%% @doc Starts a holder of `Instance', started from `Module' with `Opts' (kept to
%% move it), called by {@link beamr_holder_sup}.
-spec start_link({beamr:instance(), binary(), map()}) -> {ok, pid()} | {error, term()}.
start_link(Held) ->
    gen_server:start_link(?MODULE, Held, []).

-spec init({beamr:instance(), binary(), map()}) -> {ok, state()}.
init({Instance, Module, Opts}) ->
    %% A supervisor's shutdown then runs terminate/2, which stops the instance.
    process_flag(trap_exit, true),
    {ok, #{instance => Instance, module => Module, opts => Opts}}.

-spec handle_call(term(), gen_server:from(), state()) ->
          {reply, {ok, pid()} | {error, term()}, state()}.
handle_call({move, Node}, _From, #{instance := I, module := Module, opts := Opts} = State) ->
    case beamr_remote:relocate(I, Module, Opts, Node) of
        {ok, New, _Imports, _Exports} ->
            ok = beamr_proc:moved(self(), New),
            {reply, {ok, New}, #{moved => New, monitor => monitor(process, New)}};
        {error, _} = Error ->
            {reply, Error, State}
    end;
handle_call({move, _Node}, _From, #{moved := New} = State) ->
    {reply, {error, {moved, New}}, State};
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_call}, State}.

-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast(_Request, State) ->
    {noreply, State}.

-spec handle_info(term(), state()) -> {noreply, state()} | {stop, term(), state()}.
handle_info(stop, State) ->
    {stop, normal, State};
handle_info({'EXIT', _From, Reason}, State) ->
    {stop, Reason, State};
handle_info({'DOWN', Ref, process, _, _}, #{monitor := Ref} = State) ->
    {stop, normal, State};
handle_info(_Other, State) ->
    {noreply, State}.

-spec terminate(term(), state()) -> ok.
terminate(_Reason, #{instance := Instance}) ->
    _ = beamr:stop(Instance),
    ok;
terminate(_Reason, _State) ->
    ok.
