%%% @doc The options of beamr's API and their checks: start, compile and precompile
%%% options, a call's `fuel' and timeout, an async call's `import_handler', the
%%% node-wide settings (`max_nesting', `memory_budget', `module_cache_max_bytes') and
%%% the application env keys that give defaults (`start_timeout', `max_module_size'). Each check turns good
%%% options into what the NIF takes and bad ones into the error tuple the API
%%% documents (`{bad_option, Key, Value}', `{bad_links, Links}', `{bad_timeout, T}',
%%% `{module_too_large, Size, Max}'). The default values of options live here and
%%% nowhere else on the Erlang side.
%%%
%%% It calls nothing of beamr's: every module above may use it.
-module(beamr_opts).

-export([start/1, compile/1, engine/1, fuel/1, import_handler/1, max_nesting/1,
         memory_budget/1, module_cache_max_bytes/1, module_size/1, start_timeout/0, max_module_size/0, name/1,
         deadline/1, remaining/1]).
-export_type([deadline/0, nif_start/0, engine/0]).

-define(DEFAULT_START_TIMEOUT, 30000).
-define(DEFAULT_MAX_MODULE_SIZE, 33554432).
%% The wasm proposals beyond the base set that the `proposals' option may enable.
-define(OPTIONAL_PROPOSALS, [gc, function_references, relaxed_simd, multi_memory,
                             extended_const]).
%% What the NIF takes as a count or a size: an integer in [0, 2^64).
-define(IS_U64(N), (is_integer(N) andalso N >= 0 andalso N < 1 bsl 64)).

%% A point in monotonic milliseconds, `infinity', or a timeout that was no timeout
%% (kept so that the NIF, given it as the time left, names it in its error).
-type deadline() :: integer() | infinity | {bad, term()}.
%% An engine as the NIF reads it: `{Deterministic, Proposals}'.
-type engine() :: {boolean(), [beamr:proposal()]}.
%% An engine choice where each half may be `default' (a module handle keeps its own).
-type engine_choice() :: {boolean() | default, [beamr:proposal()] | default}.
%% The NIF's start options: `{MaxMemory, MaxTableElements, EngineChoice}'.
-type nif_start() :: {non_neg_integer() | default, non_neg_integer() | default, engine_choice()}.

%% @doc Checks the options of `beamr:start/2'. `Plain' is true when none asks for
%% anything but the defaults (the start that can take the quick cached path);
%% `Links' are in the order they are linked; `engine' is the one their sources (and
%% the module's, if it is bytes) are compiled for.
%%
%% ```
%% {ok, #{plain := true, links := [], aot := false}} = beamr_opts:start(#{}),
%% {error, {bad_option, max_memory, -1}} = beamr_opts:start(#{max_memory => -1}),
%% {error, {bad_links, 7}} = beamr_opts:start(#{links => 7}).
%% '''
-spec start(map()) ->
          {ok, #{timeout := timeout(), deadline := deadline(), plain := boolean(),
                 links := [{binary(), binary() | reference()}], nif := nif_start(),
                 engine := engine(), aot := boolean()}}
          | {error, term()}.
start(Opts) ->
    Timeout = maps:get(timeout, Opts, start_timeout()),
    Deadline = deadline(Timeout),
    case {link_list(maps:get(links, Opts, [])), start_limits(Opts), maps:get(aot, Opts, false)} of
        {error, _, _} ->
            {error, {bad_links, maps:get(links, Opts)}};
        {_, {error, _} = Error, _} ->
            Error;
        {_, _, Aot} when not is_boolean(Aot) ->
            {error, {bad_option, aot, Aot}};
        _ when element(1, Deadline) =:= bad ->
            {error, {bad_timeout, Timeout}};
        {{ok, Links}, Limits, Aot} ->
            {_, _, Choice} = Nif = nif_start(Limits),
            {ok, #{timeout => Timeout, deadline => Deadline, plain => Limits =:= plain,
                   links => Links, nif => Nif, engine => fixed_engine(Choice), aot => Aot}}
    end.

%% @doc Checks the options of `beamr:compile/2': the engine to compile for and the
%% deadline of the compilation.
%%
%% ```
%% {ok, {false, []}, _} = beamr_opts:compile(#{}),
%% {error, {bad_timeout, soon}} = beamr_opts:compile(#{timeout => soon}).
%% '''
-spec compile(map()) -> {ok, engine(), deadline()} | {error, term()}.
compile(Opts) ->
    Timeout = maps:get(timeout, Opts, start_timeout()),
    case {engine(Opts), deadline(Timeout)} of
        {{error, _} = Error, _} -> Error;
        {_, {bad, _}} -> {error, {bad_timeout, Timeout}};
        {{ok, Engine}, Deadline} -> {ok, Engine, Deadline}
    end.

%% @doc The engine that `deterministic' and `proposals' ask a fresh compilation for
%% (each absent one the default engine's choice).
%%
%% ```
%% {ok, {true, [gc]}} = beamr_opts:engine(#{deterministic => true, proposals => [gc, gc]}),
%% {error, {bad_option, proposals, [tail_calls]}} = beamr_opts:engine(#{proposals => [tail_calls]}).
%% '''
-spec engine(map()) -> {ok, engine()} | {error, term()}.
engine(Opts) ->
    case engine_choice(Opts) of
        {ok, Choice} -> {ok, fixed_engine(Choice)};
        Error -> Error
    end.

%% @doc A call's `fuel' option: `none' when absent.
%%
%% ```
%% none = beamr_opts:fuel(#{}),
%% {ok, 10} = beamr_opts:fuel(#{fuel => 10}),
%% {error, {bad_option, fuel, -1}} = beamr_opts:fuel(#{fuel => -1}).
%% '''
-spec fuel(term()) -> none | {ok, non_neg_integer()} | {error, {bad_option, fuel, term()}}.
fuel(#{fuel := Fuel}) when ?IS_U64(Fuel) -> {ok, Fuel};
fuel(#{fuel := Fuel}) -> {error, {bad_option, fuel, Fuel}};
fuel(_) -> none.

%% @doc An async call's `import_handler': absent, a pid, or a registered name.
%%
%% ```
%% ok = beamr_opts:import_handler(self()),
%% {error, {bad_option, import_handler, 7}} = beamr_opts:import_handler(7).
%% '''
-spec import_handler(term()) -> ok | {error, {bad_option, import_handler, term()}}.
import_handler(Handler) when Handler =:= undefined; is_pid(Handler) ->
    ok;
import_handler(Handler) when is_atom(Handler) ->
    case whereis(Handler) of
        undefined -> {error, {bad_option, import_handler, Handler}};
        _ -> ok
    end;
import_handler(Handler) ->
    {error, {bad_option, import_handler, Handler}}.

%% @doc The node's limit on calls nested inside imports, as the NIF takes it.
%%
%% ```
%% ok = beamr_opts:max_nesting(1000),
%% {error, {bad_option, max_nesting, -1}} = beamr_opts:max_nesting(-1).
%% '''
-spec max_nesting(term()) -> ok | {error, {bad_option, max_nesting, term()}}.
max_nesting(Levels) when is_integer(Levels), Levels >= 0, Levels < 1 bsl 32 -> ok;
max_nesting(Levels) -> {error, {bad_option, max_nesting, Levels}}.

%% @doc The node-wide memory budget, in bytes, as the NIF takes it.
%%
%% ```
%% ok = beamr_opts:memory_budget(1 bsl 30),
%% {error, {bad_option, memory_budget, x}} = beamr_opts:memory_budget(x).
%% '''
-spec memory_budget(term()) -> ok | {error, {bad_option, memory_budget, term()}}.
memory_budget(Bytes) when ?IS_U64(Bytes) -> ok;
memory_budget(Bytes) -> {error, {bad_option, memory_budget, Bytes}}.

%% @doc The on-disk module cache's byte budget, as the NIF takes it.
%%
%% ```
%% ok = beamr_opts:module_cache_max_bytes(1 bsl 30),
%% {error, {bad_option, module_cache_max_bytes, -1}} = beamr_opts:module_cache_max_bytes(-1).
%% '''
-spec module_cache_max_bytes(term()) -> ok | {error, {bad_option, module_cache_max_bytes, term()}}.
module_cache_max_bytes(Bytes) when ?IS_U64(Bytes) -> ok;
module_cache_max_bytes(Bytes) -> {error, {bad_option, module_cache_max_bytes, Bytes}}.

%% @doc Whether module bytes are within {@link max_module_size/0}.
%%
%% ```
%% ok = beamr_opts:module_size(<<"(module)">>).
%% '''
-spec module_size(binary()) -> ok | {error, {module_too_large, non_neg_integer(), non_neg_integer()}}.
module_size(Bytes) when is_binary(Bytes) ->
    case max_module_size() of
        Max when byte_size(Bytes) > Max -> {error, {module_too_large, byte_size(Bytes), Max}};
        _ -> ok
    end.

%% @doc The timeout of a start or compile that gives none: the application env key
%% `start_timeout' [30000].
%%
%% ```
%% true = is_integer(beamr_opts:start_timeout()).
%% '''
-spec start_timeout() -> timeout().
start_timeout() ->
    application:get_env(beamr, start_timeout, ?DEFAULT_START_TIMEOUT).

%% @doc The largest module a start or compile accepts, in bytes: the application env
%% key `max_module_size' [33554432].
%%
%% ```
%% true = beamr_opts:max_module_size() > 0.
%% '''
-spec max_module_size() -> non_neg_integer().
max_module_size() ->
    application:get_env(beamr, max_module_size, ?DEFAULT_MAX_MODULE_SIZE).

%% @doc A name given as a binary, an atom or a string, as a binary; raises `badarg'
%% for anything else.
%%
%% ```
%% <<"f">> = beamr_opts:name(f),
%% <<"é"/utf8>> = beamr_opts:name("é").
%% '''
-spec name(binary() | atom() | string()) -> binary().
name(Name) when is_binary(Name) -> Name;
name(Name) when is_atom(Name) -> atom_to_binary(Name);
name(Name) when is_list(Name) ->
    case unicode:characters_to_binary(Name) of
        Bin when is_binary(Bin) -> Bin;
        _ -> error(badarg)
    end.

%% @doc The deadline of a timeout that starts now.
%%
%% ```
%% infinity = beamr_opts:deadline(infinity),
%% {bad, soon} = beamr_opts:deadline(soon).
%% '''
-spec deadline(term()) -> deadline().
deadline(infinity) -> infinity;
deadline(Ms) when is_integer(Ms), Ms >= 0 -> erlang:monotonic_time(millisecond) + Ms;
deadline(Other) -> {bad, Other}.

%% @doc The milliseconds left until a deadline (a bad timeout as it was given).
%%
%% ```
%% 0 = beamr_opts:remaining(beamr_opts:deadline(0)),
%% infinity = beamr_opts:remaining(infinity).
%% '''
-spec remaining(deadline()) -> timeout() | term().
remaining(infinity) -> infinity;
remaining({bad, Other}) -> Other;
remaining(At) -> max(0, At - erlang:monotonic_time(millisecond)).

%%% Internals

link_list(Links) when is_map(Links) ->
    link_list(lists:sort(maps:to_list(Links)));
link_list(Links) when is_list(Links) ->
    try [{name(Name), Module} || {Name, Module} <- Links,
                                 is_binary(Module) orelse is_reference(Module)] of
        Resolved when length(Resolved) =:= length(Links) -> {ok, Resolved};
        _ -> error
    catch
        error:_ -> error
    end;
link_list(_) ->
    error.

%% The limits and engine a start asks for, or `plain' when it gives none of them. Each
%% stays `default' where absent: the NIF applies the core's defaults, and a module
%% handle keeps its own engine.
start_limits(Opts) ->
    Get = fun(K, D) -> maps:get(K, Opts, D) end,
    case {Get(max_memory, default), Get(max_table_elements, default), engine_choice(Opts)} of
        {M, _, _} when M =/= default, not ?IS_U64(M) ->
            {error, {bad_option, max_memory, M}};
        {_, T, _} when T =/= default, not ?IS_U64(T) ->
            {error, {bad_option, max_table_elements, T}};
        {_, _, {error, _} = Error} ->
            Error;
        {default, default, {ok, {default, default}}} ->
            plain;
        {M, T, {ok, Engine}} ->
            {ok, {M, T, Engine}}
    end.

nif_start(plain) -> {default, default, {default, default}};
nif_start({ok, Nif}) -> Nif.

%% The engine the options ask for: `{Deterministic, Proposals}', each `default' when
%% its option is absent.
engine_choice(Opts) ->
    case {maps:get(deterministic, Opts, default), maps:get(proposals, Opts, default)} of
        {D, _} when D =/= default, not is_boolean(D) ->
            {error, {bad_option, deterministic, D}};
        {D, default} ->
            {ok, {D, default}};
        {D, P} ->
            case known_proposals(P) of
                true -> {ok, {D, lists:usort(P)}};
                false -> {error, {bad_option, proposals, P}}
            end
    end.

%% Whether `P' is a proper list of optional proposals.
known_proposals([]) -> true;
known_proposals([P | Rest]) -> lists:member(P, ?OPTIONAL_PROPOSALS) andalso known_proposals(Rest);
known_proposals(_) -> false.

fixed_engine({D, P}) -> {default(D, false), default(P, [])}.

default(default, D) -> D;
default(V, _) -> V.
