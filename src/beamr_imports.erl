%%% @doc Builds one import fun for {@link beamr:call/6} from a list of handlers, with
%%% a policy for the imports none of them answers.
%%%
%%% A handler is a module exporting `handle/3' (such as {@link beamr_wasi} or
%%% {@link beamr_emscripten}) or a fun of arity 3; either is called as
%%% `Handler(State, Request, Opts)' and returns `{ok, Results, NewState}' to answer the
%%% import or `unhandled' to pass it to the next handler. The first handler that answers
%%% wins, so a user's fun placed first overrides the defaults. When none answers, the
%%% `undefined' policy decides: `error' (the default) ends the call with
%%% `{error, {unhandled_import, Module, Name}, State}' (through {@link call/6}), and
%%% `stub' records `{Module, Name, Args}' in the state under `undefined_calls' and
%%% answers zeros of the import's result types, as HyperBEAM's stub does.
%%%
%%% The state shared by the handlers is a map; each default handler keeps its data under
%%% its own key (`wasi', `emscripten', `clock', `undefined_calls') and creates it with
%%% defaults when it is missing, so a user's handler may keep anything under other keys.
%%%
%%% A handler ends the whole call early by throwing through {@link exit/2} (WASI's
%%% `proc_exit') or {@link abort/1} (emscripten's `abort'). Through plain
%%% {@link beamr:call/6} such a throw surfaces as
%%% `{error, {import_crashed, Module, Name, throw, {beamr_exit, Code, State}}, _}';
%%% {@link call/6} maps it to `{ok, {exit, Code}, State}' (and an abort to
%%% `{error, {abort, Module, Name}, State}'), with the state as it was at the exit.
-module(beamr_imports).

-export([new/1, new/2, call/6, exit/2, abort/1, undefined_calls/1,
         param_types/1, result_types/1, zeros/1, results/2]).
-export_type([handler/0, policy/0, result/0]).

-type handler() :: module() | fun((term(), beamr:import_request(), map()) ->
                                         {ok, [beamr:value()], term()} | unhandled).
-type policy() :: error | stub.
-type result() :: {ok, [beamr:value()] | {exit, non_neg_integer()}, term()}
                | {error, term(), term()}.

%% @doc {@link new/2} with the `error' policy.
-spec new([handler()]) -> beamr:import_fun().
new(Handlers) ->
    new(Handlers, #{}).

%% @doc One import fun trying `Handlers' in order; `#{undefined => error | stub}'.
-spec new([handler()], #{undefined => policy()}) -> beamr:import_fun().
new(Handlers, Opts) when is_list(Handlers), is_map(Opts) ->
    Policy = maps:get(undefined, Opts, error),
    lists:foreach(fun check_handler/1, Handlers),
    Policy =:= error orelse Policy =:= stub orelse erlang:error({bad_policy, Policy}),
    fun(State, Request, CallOpts) -> dispatch(Handlers, Policy, State, Request, CallOpts) end.

check_handler(H) when is_atom(H) -> ok;
check_handler(H) when is_function(H, 3) -> ok;
check_handler(H) -> erlang:error({bad_handler, H}).

dispatch([H | Rest], Policy, State, Request, Opts) ->
    case run(H, State, Request, Opts) of
        {ok, Results, State2} when is_list(Results) -> {ok, Results, State2};
        unhandled -> dispatch(Rest, Policy, State, Request, Opts);
        Other -> erlang:error({bad_handler_return, H, Other})
    end;
dispatch([], error, _State, #{module := Module, func := Name}, _Opts) ->
    throw({unhandled_import, Module, Name});
dispatch([], stub, State, #{module := Module, func := Name, args := Args, func_sig := Sig}, _) ->
    {ok, zeros(Sig), record_undefined({Module, Name, Args}, State)}.

run(Module, State, Request, Opts) when is_atom(Module) -> Module:handle(State, Request, Opts);
run(Fun, State, Request, Opts) -> Fun(State, Request, Opts).

%% Newest first in the state, so that recording stays O(1).
record_undefined(Call, State) when is_map(State) ->
    State#{undefined_calls => [Call | maps:get(undefined_calls, State, [])]};
record_undefined(_Call, State) ->
    State.

%% @doc The imports the `stub' policy answered, oldest first: `{Module, Name, Args}'.
-spec undefined_calls(term()) -> [{binary(), binary(), [beamr:value()]}].
undefined_calls(#{undefined_calls := Calls}) -> lists:reverse(Calls);
undefined_calls(_) -> [].

%% @doc {@link beamr:call/6}, with a handler's exit and abort mapped to results:
%% `{ok, {exit, Code}, State}' after `proc_exit(Code)', `{error, {abort, Module, Name},
%% State}' after an abort, and `{error, {unhandled_import, Module, Name}, State}' for an
%% import the `error' policy refused.
-spec call(beamr:instance(), beamr:func_ref(), [beamr:value()], beamr:import_fun(), term(),
           beamr:call_opts()) -> result().
call(I, Func, Args, ImportFun, State, Opts) ->
    case beamr:call(I, Func, Args, ImportFun, State, Opts) of
        {error, {import_crashed, _, _, throw, {beamr_exit, Code, ExitState}}, _} ->
            {ok, {exit, Code}, ExitState};
        {error, {import_crashed, Module, Name, throw, {beamr_abort, AbortState}}, _} ->
            {error, {abort, Module, Name}, AbortState};
        {error, {import_crashed, Module, Name, throw, {unhandled_import, Module, Name}}, S} ->
            {error, {unhandled_import, Module, Name}, S};
        Other ->
            Other
    end.

%% @doc Ends the current call from inside a handler, as `proc_exit(Code)' does; see
%% {@link call/6} for what the caller receives.
-spec exit(non_neg_integer(), term()) -> no_return().
exit(Code, State) ->
    throw({beamr_exit, Code, State}).

%% @doc Ends the current call from inside a handler as an abort of the import it answers.
-spec abort(term()) -> no_return().
abort(State) ->
    throw({beamr_abort, State}).

%%% Signatures: "(" params ")" results, one char per type (i I f F v e). BEAMR cuts the
%%% last character; "(ii" (no ")") is read as that cut form of "(ii)". "(ii)" itself
%%% is read in full form (no results): the cut form of "(ii)i" cannot be told from it.

%% @doc The parameter types of a signature, as characters.
-spec param_types(binary() | string()) -> [char()].
param_types(Sig) ->
    element(1, split_sig(Sig)).

%% @doc The result types of a signature, as characters.
-spec result_types(binary() | string()) -> [char()].
result_types(Sig) ->
    element(2, split_sig(Sig)).

split_sig(Sig) when is_list(Sig) ->
    split_sig(unicode:characters_to_binary(Sig));
split_sig(<<"(", Rest/binary>>) ->
    case binary:split(Rest, <<")">>) of
        [Params, Results] -> {binary_to_list(Params), binary_to_list(Results)};
        [Params] -> {binary_to_list(Params), []}
    end;
split_sig(Sig) ->
    erlang:error({bad_signature, Sig}).

%% @doc Zero of each result type of a signature.
-spec zeros(binary() | string()) -> [beamr:value()].
zeros(Sig) ->
    [zero(T) || T <- result_types(Sig)].

%% @doc `Values' shaped to a signature's results: the first value per result, zeros for
%% results past the values given; extra values are dropped. Integers given for a float
%% result become floats.
-spec results(binary() | string(), [beamr:value()]) -> [beamr:value()].
results(Sig, Values) ->
    shape(result_types(Sig), Values).

shape([], _) -> [];
shape([T | Ts], []) -> [zero(T) | shape(Ts, [])];
shape([T | Ts], [V | Vs]) when (T =:= $f orelse T =:= $F), is_integer(V) -> [float(V) | shape(Ts, Vs)];
shape([_ | Ts], [V | Vs]) -> [V | shape(Ts, Vs)].

zero($i) -> 0;
zero($I) -> 0;
zero($f) -> 0.0;
zero($F) -> 0.0;
zero($v) -> <<0:128>>;
zero(_) -> null.
