%%% @doc Asynchronous calls for OTP code: {@link beamr:call_async/5}.
%%%
%%% A call started here runs in a fresh worker process, so the caller (typically a
%%% `gen_server' in `handle_call/3') returns at once and stays responsive. The result is
%%% delivered with `gen_server:reply(From, Result)', `Result' being what
%%% {@link beamr:call/4} returns. The worker answers the call's imports by asking the
%%% process named as `import_handler', with the message
%%% `{beamr_import, ReplyTo, Request}' (`Request' as for an import fun); the handler
%%% answers with {@link beamr:reply_import/2}. While it handles the request the call is
%%% suspended, and the handler may read and write the instance's memory and globals.
%%% A handler that exits fails the call with
%%% `{import_crashed, Module, Name, error, {import_handler_down, Reason}}'.
-module(beamr_async).

-export([start/5, reply/2]).

%% @doc Starts the worker that runs the call and replies to `From'.
-spec start(beamr:instance(), beamr:func_ref(), [beamr:value()], gen_server:from(),
            beamr:async_opts()) -> ok.
start(I, Func, Args, From, Opts) ->
    Handler = maps:get(import_handler, Opts, undefined),
    Timeout = maps:get(timeout, Opts, infinity),
    _ = spawn(fun() -> run(I, Func, Args, From, Handler, Timeout) end),
    ok.

%% @doc Answers an import request with its results (or `{error, Reason}', which
%% fails the import).
-spec reply({pid(), reference()}, [beamr:value()] | {error, term()}) -> ok.
reply({Worker, Tag}, {error, Reason}) ->
    Worker ! {Tag, {error, Reason}},
    ok;
reply({Worker, Tag}, Results) when is_list(Results) ->
    Worker ! {Tag, {ok, Results}},
    ok.

run(I, Func, Args, From, Handler, Timeout) ->
    Monitor = case Handler of
                  undefined -> undefined;
                  _ -> monitor(process, Handler)
              end,
    Ask = fun(State, Request, _Opts) -> ask(Handler, Monitor, Request, State) end,
    %% Whatever happens, `From' gets an answer: a caller must never wait forever.
    Result = try beamr_call:call(I, Func, Args, Ask, undefined, #{}, Timeout) of
                 {ok, Results, _} -> {ok, Results};
                 {error, Reason, _} -> {error, Reason}
             catch
                 Class:Why -> {error, {crashed, Class, Why}}
             end,
    gen_server:reply(From, Result).

ask(Handler, Monitor, #{module := M, func := N} = Request, State) ->
    case Handler of
        undefined ->
            throw({unhandled_import, M, N});
        _ ->
            Tag = make_ref(),
            Handler ! {beamr_import, {self(), Tag}, Request},
            receive
                {Tag, {ok, Results}} -> {ok, Results, State};
                {Tag, {error, Reason}} -> throw(Reason);
                {'DOWN', Monitor, process, _, Reason} -> error({import_handler_down, Reason})
            end
    end.
