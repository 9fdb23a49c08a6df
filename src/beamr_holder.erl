%%% @doc The process behind a pid-named instance (see {@link beamr_proc}): it holds the
%%% instance, as a temporary child of {@link beamr_holder_sup}, so that every such
%%% instance lives inside the application's supervision tree and ends with it. The
%%% instance stops when this process ends by {@link beamr_proc:stop/1} or a shutdown;
%%% a process killed outright is seen by {@link beamr_proc}, which stops it then.
%%%
%%% Callers on other nodes reach the instance through this process
%%% ({@link beamr_remote}): it starts a worker per request, stops the instance on
%%% request, and moves it to another node, after which it answers every request with
%%% `{error, {moved, NewPid}}' until the new holder ends.
-module(beamr_holder).
-behaviour(gen_server).

-export([start_link/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-type state() :: #{instance := beamr:instance(), module := binary(), opts := map(),
                   workers := #{reference() => reference()}}
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
    {ok, #{instance => Instance, module => Module, opts => Opts, workers => #{}}}.

-spec handle_call(term(), gen_server:from(), state()) ->
          {reply, {error, unknown_call}, state()}.
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
handle_info({'$beamr_remote', _Kind, Alias, _}, #{moved := New} = State)
        when is_reference(Alias) ->
    Alias ! {Alias, done, {error, {moved, New}}},
    {noreply, State};
handle_info({'$beamr_remote', call, Alias, _, _, _, _}, #{moved := New} = State)
        when is_reference(Alias) ->
    Alias ! {Alias, done, {error, {moved, New}}},
    {noreply, State};
handle_info({'$beamr_remote', op, Alias, stop}, State) when is_reference(Alias) ->
    ok = beamr_proc:stop(self()),
    Alias ! {Alias, done, ok},
    {noreply, State};
handle_info({'$beamr_remote', move, Alias, Node}, State) when is_reference(Alias) ->
    move(Alias, Node, State);
handle_info({'$beamr_remote', _, _, _} = Request, State) ->
    {noreply, serve(Request, State)};
handle_info({'$beamr_remote', _, _, _, _, _, _} = Request, State) ->
    {noreply, serve(Request, State)};
handle_info({'DOWN', Ref, process, _, _}, #{moved := _, monitor := Ref} = State) ->
    {stop, normal, State};
handle_info({'DOWN', Ref, process, _, Reason}, #{workers := Workers} = State) ->
    case maps:take(Ref, Workers) of
        {Alias, Rest} ->
            %% A worker ends normally after it has answered; any other end would
            %% leave its caller waiting.
            _ = Reason =:= normal orelse (Alias ! {Alias, worker_down, Reason}),
            {noreply, State#{workers := Rest}};
        error ->
            {noreply, State}
    end;
handle_info(_Other, State) ->
    {noreply, State}.

-spec terminate(term(), state()) -> ok.
terminate(_Reason, #{instance := Instance}) ->
    _ = beamr:stop(Instance),
    ok;
terminate(_Reason, _State) ->
    ok.

serve(Request, #{instance := I, workers := Workers} = State) ->
    case beamr_remote:serve(Request, I) of
        {worker, Mon, Alias} -> State#{workers := Workers#{Mon => Alias}};
        none -> State
    end;
serve(_Request, State) ->
    State.

move(Alias, Node, #{instance := I, module := Module, opts := Opts} = State) ->
    case beamr_remote:relocate(I, Module, Opts, Node) of
        {ok, New, _Imports, _Exports} ->
            ok = beamr_proc:moved(self(), New),
            Alias ! {Alias, done, {ok, New}},
            {noreply, #{moved => New, monitor => monitor(process, New)}};
        {error, _} = Error ->
            Alias ! {Alias, done, Error},
            {noreply, State}
    end.
