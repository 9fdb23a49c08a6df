%%% @doc The README's gen_server example, kept compiling and tested: a server that
%%% owns an instance, runs each call with {@link beamr:call_async/5} (so it never blocks
%%% on WASM), and answers the instance's `my_lib.mul' import itself.
-module(beamr_wasm_server).
-behaviour(gen_server).

-export([start_link/1, call/3, imports_answered/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

start_link(Wasm) ->
    gen_server:start_link(?MODULE, Wasm, []).

call(Server, Func, Args) ->
    gen_server:call(Server, {call, Func, Args}).

imports_answered(Server) ->
    gen_server:call(Server, imports_answered).

init(Wasm) ->
    case beamr:start(Wasm) of
        {ok, I} -> {ok, #{instance => I, answered => 0}};
        {error, Reason} -> {stop, Reason}
    end.

handle_call({call, Func, Args}, From, #{instance := I} = State) ->
    %% Returns at once; the worker replies to From when the call ends.
    ok = beamr:call_async(I, Func, Args, From, #{import_handler => self()}),
    {noreply, State};
handle_call(imports_answered, _From, #{answered := N} = State) ->
    {reply, N, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info({beamr_import, ReplyTo, #{module := <<"my_lib">>, func := <<"mul">>, args := [A, B]}},
            #{answered := N} = State) ->
    ok = beamr:reply_import(ReplyTo, [A * B]),
    {noreply, State#{answered := N + 1}};
handle_info({beamr_import, ReplyTo, #{module := M, func := F}}, State) ->
    ok = beamr:reply_import(ReplyTo, {error, {no_such_import, M, F}}),
    {noreply, State};
handle_info(_Other, State) ->
    {noreply, State}.
