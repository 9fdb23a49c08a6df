%%% @doc The call driver: runs a call on an instance to its end, for every face of
%%% beamr ({@link beamr}, {@link beamr_async}, {@link beamr_remote}'s workers and the
%%% HyperBEAM face `hb_beamr').
%%%
%%% A call is a series of NIF steps. The first starts it; one that ran out of its time
%%% slice (`yield') is continued; one that reached an import is answered by running
%%% the caller's import fun in the calling process and resuming with its results (a
%%% call the import fun makes on the same instance nests inside this one); a crashing
%%% or misbehaving import fun fails the import, so that WASM unwinds and the instance
%%% stays usable. While another caller holds the instance a step answers `busy': the
%%% driver then waits in `receive' for the instance's `{'$beamr_ready', I}' wake-up
%%% (never on a scheduler), until the call's deadline. The common call, one that
%%% neither waits, yields nor imports, costs one NIF call.
%%%
%%% Interface: {@link call/3} (no imports, no options), {@link call/7} (an import fun,
%%% its state and options, a timeout), {@link continue/5} (drive a call whose first
%%% step the caller made itself), {@link op/2} (any other one-step NIF operation on
%%% an instance, waiting while it is busy).
-module(beamr_call).

-export([call/3, call/7, continue/5, op/2, unhandled_import/3]).

%% How long a waiter sleeps if a wake-up went missing (its sender exited).
-define(WAIT_RETRY_MS, 50).
%% Further normal-scheduler slices a call runs, the process yielding before each, after
%% its first one ends and before it moves to a dirty scheduler. Calls of a few
%% milliseconds (an AOS evaluation) then stay on their scheduler's core, whose caches
%% hold the guest's working set: moved to a dirty scheduler part way, such a call pays
%% a thread wake-up and refills its caches on another core.
-define(NORMAL_SLICES, 2).

%% @doc Calls a function that reaches no import (one that does ends with
%% `{import_crashed, Module, Name, throw, {unhandled_import, Module, Name}}'). No
%% timeout.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (func (export \"one\") (result i32) i32.const 1))">>),
%% {ok, [1]} = beamr_call:call(I, <<"one">>, []),
%% {error, {bad_func, 1.5}} = beamr_call:call(I, 1.5, []).
%% '''
-spec call(beamr:instance(), beamr:func_ref(), [beamr:value()]) ->
          {ok, [beamr:value()]} | {error, term()}.
call(I, Func, Args) when is_binary(Func) ->
    case beamr_nif:call(I, Func, Args, infinity) of
        {ok, _} = Ok -> Ok;
        {error, _} = Error -> Error;
        busy -> without_state(drive(wait(I, {call, Func, Args}, infinity), plain(I), undefined));
        Step -> without_state(drive(Step, plain(I), undefined))
    end;
call(I, Func, Args) ->
    without_state(call(I, Func, Args, fun unhandled_import/3, undefined, #{}, infinity)).

%% @doc Calls a function, answering its imports with `ImportFun', which gets
%% `Opts' as its third argument; the call, including any wait for the instance, ends
%% with `{error, timeout, State}' when `Timeout' (milliseconds or `infinity') runs
%% out. The only option read here is `fuel' (see {@type beamr:call_opts()}). Results
%% and errors are those of {@link beamr:call/6}.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (import \"env\" \"two\" (func $t (result i32)))
%%                          (func (export \"f\") (result i32) call $t))">>),
%% Two = fun(N, #{func := <<"two">>}, #{passed := through}) -> {ok, [2], N + 1} end,
%% {ok, [2], 1} = beamr_call:call(I, <<"f">>, [], Two, 0, #{passed => through}, 1000),
%% {error, {bad_import_fun, x}, 0} = beamr_call:call(I, <<"f">>, [], x, 0, #{}, 1000),
%% {error, {bad_timeout, soon}, 0} = beamr_call:call(I, <<"f">>, [], Two, 0, #{}, soon).
%% '''
-spec call(beamr:instance(), beamr:func_ref(), [beamr:value()], beamr:import_fun(), State,
           map(), timeout()) ->
          {ok, [beamr:value()], State} | {error, term(), State}.
call(I, Func, Args, ImportFun, State, Opts, Timeout) when is_function(ImportFun, 3) ->
    case func_ref(Func) of
        {ok, Ref} when is_list(Args) ->
            first_step(I, Ref, Args, ImportFun, State, Opts, Timeout);
        {ok, _} ->
            {error, {bad_args, Args}, State};
        error ->
            {error, {bad_func, Func}, State}
    end;
call(_I, _Func, _Args, ImportFun, State, _Opts, _Timeout) ->
    {error, {bad_import_fun, ImportFun}, State}.

%% The first step of a checked call. The common one, with neither a timeout nor fuel,
%% is one NIF call when it neither waits, yields nor imports.
first_step(I, Ref, Args, ImportFun, State, Opts, infinity) when not is_map_key(fuel, Opts) ->
    case beamr_nif:call(I, Ref, Args, infinity) of
        {ok, Results} -> {ok, Results, State};
        {error, Reason} -> {error, Reason, State};
        busy -> drive(wait(I, {call, Ref, Args}, infinity), {I, ImportFun, Opts, infinity}, State);
        Step -> drive(Step, {I, ImportFun, Opts, infinity}, State)
    end;
first_step(I, Ref, Args, ImportFun, State, Opts, Timeout) ->
    case {beamr_opts:fuel(Opts), beamr_opts:deadline(Timeout)} of
        {{error, Reason}, _} ->
            {error, Reason, State};
        {_, {bad, _}} ->
            {error, {bad_timeout, Timeout}, State};
        {none, Deadline} ->
            drive(step(I, {call, Ref, Args}, Deadline), {I, ImportFun, Opts, Deadline}, State);
        {{ok, Fuel}, Deadline} ->
            drive(step(I, {call, Ref, Args, Fuel}, Deadline), {I, ImportFun, Opts, Deadline},
                  State)
    end.

%% @doc Drives on a call whose first step the caller made with `beamr_nif:call/4'
%% itself: `Step' is what that returned, other than `busy'. No timeout.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (import \"env\" \"two\" (func $t (result i32)))
%%                          (func (export \"f\") (result i32) call $t))">>),
%% {import, <<"env">>, <<"two">>, [], <<"()i">>} = Step = beamr_nif:call(I, <<"f">>, [], infinity),
%% {ok, [2], s} = beamr_call:continue(Step, I, fun(S, _, _) -> {ok, [2], S} end, s, #{}),
%% {error, {bad_step, what}, s} = beamr_call:continue(what, I, fun(S, _, _) -> {ok, [], S} end, s, #{}).
%% '''
-spec continue(term(), beamr:instance(), beamr:import_fun(), State, map()) ->
          {ok, [beamr:value()], State} | {error, term(), State}.
continue(Step, I, ImportFun, State, Opts) ->
    drive(Step, {I, ImportFun, Opts, infinity}, State).

%% @doc Runs `Op', one NIF operation on the instance `I' (a read, a write, a
%% snapshot ...), to its answer: while it answers `busy' (another caller holds the
%% instance) it is tried again when the instance is free.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (memory (export \"memory\") 1))">>),
%% {ok, 1} = beamr_call:op(I, fun() -> beamr_nif:memory_pages(I) end),
%% {error, {badarg, [I, pages]}} = beamr_call:op(I, pages).
%% '''
-spec op(beamr:instance(), fun(() -> Result)) -> Result | {error, {badarg, list()}}.
op(I, Op) when is_function(Op, 0) ->
    step(I, {nif, Op}, infinity);
op(I, Op) ->
    {error, {badarg, [I, Op]}}.

%% @doc The import fun of a call that takes no imports: it throws
%% `{unhandled_import, Module, Name}', which fails the call.
%%
%% ```
%% {ok, I} = beamr:start(<<"(module (import \"env\" \"f\" (func $f)) (func (export \"g\") call $f))">>),
%% {error, {import_crashed, <<"env">>, <<"f">>, throw, {unhandled_import, <<"env">>, <<"f">>}}, s} =
%%     beamr_call:call(I, <<"g">>, [], fun beamr_call:unhandled_import/3, s, #{}, infinity).
%% '''
-spec unhandled_import(term(), beamr:import_request(), map()) -> no_return().
unhandled_import(_State, #{module := Module, func := Name}, _Opts) ->
    throw({unhandled_import, Module, Name}).

%%% Driving a call

plain(I) ->
    {I, fun unhandled_import/3, #{}, infinity}.

without_state({ok, Results, _}) -> {ok, Results};
without_state({error, Reason, _}) -> {error, Reason}.

drive({ok, Results}, _Ctx, State) ->
    {ok, Results, State};
drive({error, Reason}, _Ctx, State) ->
    {error, Reason, State};
drive(yield, Ctx, State) ->
    run_on(?NORMAL_SLICES, Ctx, State);
drive({import, Module, Name, Args, Sig}, Ctx, State) ->
    answer(Module, Name, Args, Sig, Ctx, State);
drive(Other, _Ctx, State) ->
    %% Only continue/5 can pass something no NIF returned.
    {error, {bad_step, Other}, State}.

%% Continues a call whose slice ended: on this scheduler for `N' more slices, letting
%% other processes run before each, then on dirty schedulers until it stops yielding
%% (a dirty slice that ends queues again for a dirty scheduler).
run_on(0, {I, _, _, Deadline} = Ctx, State) ->
    case step(I, proceed, Deadline) of
        yield -> run_on(0, Ctx, State);
        Step -> drive(Step, Ctx, State)
    end;
run_on(N, {I, _, _, Deadline} = Ctx, State) ->
    erlang:yield(),
    case step(I, proceed_normal, Deadline) of
        yield -> run_on(N - 1, Ctx, State);
        Step -> drive(Step, Ctx, State)
    end.

%% Answers an import with `ImportFun' and resumes the call. While the call comes back
%% to the same import (`{again, Args}'), only the arguments change. (A new request
%% map costs less than updating the previous one.)
answer(Module, Name, Args, Sig, {I, ImportFun, Opts, Deadline} = Ctx, State) ->
    Request = #{instance => I, module => Module, func => Name, args => Args, func_sig => Sig},
    try ImportFun(State, Request, Opts) of
        {ok, Results, State2} when is_list(Results) ->
            case resume(I, Results, Deadline) of
                {again, Args2} ->
                    answer(Module, Name, Args2, Sig, Ctx, State2);
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

%% step(I, {resume_again, Results}, Deadline) without its dispatch: the one NIF call
%% of an import round trip when nobody else holds the instance.
resume(I, Results, Deadline) ->
    case beamr_nif:resume_again(I, Results) of
        busy -> wait(I, {resume_again, Results}, Deadline);
        Step -> Step
    end.

%% Fails the pending import so that WASM unwinds out of this call level.
abort({I, _, _, Deadline}, Reason, State) ->
    Message = iolist_to_binary(io_lib:format("~0p", [Reason], [{chars_limit, 512}])),
    case step(I, {fail, Message}, Deadline) of
        {error, stopped} -> {error, stopped, State};
        {error, timeout} -> {error, timeout, State};
        _ -> {error, Reason, State}
    end.

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

%%% Waiting for the instance

%% One NIF step. While the instance is busy with another caller, waits for its
%% `{'$beamr_ready', I}' (in `receive', not on a scheduler) and tries again; a wake-up
%% that arrives after a timed-out wait is flushed.
step(I, Op, Deadline) ->
    case nif(I, Op, Deadline) of
        busy -> wait(I, Op, Deadline);
        Result -> Result
    end.

nif(I, {call, Ref, Args}, Deadline) ->
    beamr_nif:call(I, Ref, Args, beamr_opts:remaining(Deadline));
nif(I, {call, Ref, Args, Fuel}, Deadline) ->
    beamr_nif:call_fuel(I, Ref, Args, beamr_opts:remaining(Deadline), Fuel);
nif(I, {resume_again, Results}, _) -> beamr_nif:resume_again(I, Results);
nif(I, proceed, _) -> beamr_nif:proceed(I);
nif(I, proceed_normal, _) -> beamr_nif:proceed_normal(I);
nif(I, {fail, Message}, _) -> beamr_nif:fail_import(I, Message);
nif(_I, {nif, Op}, _) -> Op().

wait(I, Op, Deadline) ->
    case beamr_opts:remaining(Deadline) of
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
