%%% @doc PropEr properties: every export of `beamr', `hb_beamr', `hb_beamr_io' and
%%% `dev_wasm', called with random and hostile terms (wrong types, bignums, huge and
%%% sub-binaries, improper lists, stopped instances, instances of another module,
%%% module handles, dead pids), answers with a term of its documented shape, within a
%%% bound, and leaves the VM and the instance usable. Import funs that throw, exit,
%%% return garbage, stop or re-enter the instance, sleep or kill their own process
%%% end the call with an error, never a hang.
%%%
%%% Generated terms name run-time values by placeholders (`'$good'', `'$huge'', ...)
%%% that each case resolves in its own process, so that counterexamples print small
%%% and every case gets fresh instances. PropEr is used through its functions (Debian's
%%% `erlang-proper' ships no header).
-module(beamr_prop_tests).

-include_lib("eunit/include/eunit.hrl").

-import(proper_types, [oneof/1, elements/1, list/1, vector/2, integer/0, float/0,
                       binary/0, binary/1, tuple/1, frequency/1]).

%% How long one case may take before it counts as a hang.
-define(CASE_MS, 10000).

main_wat() ->
    <<"(module
         (import \"env\" \"imp\" (func $imp (param i32) (result i32)))
         (memory (export \"memory\") 1 4)
         (global (export \"g\") (mut i32) (i32.const 0))
         (global (export \"c\") i64 (i64.const 7))
         (table (export \"__indirect_function_table\") 2 funcref)
         (elem (i32.const 0) $id)
         (func $id (export \"id\") (param i32) (result i32) local.get 0)
         (func (export \"add\") (param i64 f64) (result f64) local.get 1)
         (func (export \"via_import\") (param i32) (result i32) local.get 0 call $imp)
         (func (export \"twice_import\") (param i32) (result i32)
           local.get 0 call $imp call $imp)
         (func (export \"trap\") unreachable)
         (data (i32.const 16) \"hello\\00\"))">>.

other_wat() ->
    <<"(module (memory (export \"memory\") 1)
               (func (export \"id\") (param f64) (result f64) local.get 0))">>.

%%% Properties, run by eunit

beamr_test_() ->
    property(prop_beamr(), 1500).

imports_test_() ->
    property(prop_import_funs(), 500).

beamr_call_test_() ->
    property(prop_beamr_call(), 500).

hb_beamr_test_() ->
    property(prop_hb(), 600).

dev_wasm_test_() ->
    property(prop_dev_wasm(), 500).

cache_dir_test_() ->
    property(prop_cache_dir(), 200).

memory_budget_test_() ->
    property(prop_memory_budget(), 300).

max_nesting_test_() ->
    property(prop_max_nesting(), 300).

property(Prop, N) ->
    {timeout, 300,
     fun() ->
             {ok, _} = application:ensure_all_started(beamr),
             ?assertEqual(true, proper:quickcheck(Prop, [{numtests, N}, {max_shrinks, 30},
                                                         {to_file, user}]))
     end}.

%%% beamr

%% Every export of beamr with random arguments.
prop_beamr() ->
    proper:forall(call_of(beamr, exports(beamr) -- [{set_module_cache_dir, 1},
                                                     {set_memory_budget, 1},
                                                     {set_max_nesting, 1}]),
                  fun(Case) -> check(beamr, Case) end).

%% Every export of the call driver with random arguments (but its import fun for
%% calls that take none, whose whole job is to throw).
prop_beamr_call() ->
    proper:forall(call_of(beamr_call, exports(beamr_call) -- [{unhandled_import, 3}]),
                  fun(Case) -> check(beamr_call, Case) end).

%% set_module_cache_dir is called with terms that are no directory name only: a
%% random name would make the node cache into a random directory.
exports(Module) ->
    [FA || {F, _} = FA <- Module:module_info(exports), F =/= module_info].

%% The first argument is mostly an instance or a module, so that calls get past it.
call_of(Module, Exports) ->
    proper_types:bind(elements(Exports),
                      fun({_, 0} = FA) -> {Module, element(1, FA), []};
                         ({F, Arity}) -> {Module, F, [first_arg() | vector(Arity - 1, arg())]}
                      end, false).

first_arg() ->
    frequency([{6, proper_types:exactly('$good')}, {2, proper_types:exactly('$wat_main')},
               {1, elements(['$module', '$stopped', '$other', '$sub_wat'])}, {2, hostile()}]).

arg() ->
    frequency([{3, plausible()}, {2, hostile()}, {1, options()}]).

plausible() ->
    elements(['$good', '$good', '$stopped', '$other', '$module', '$from', '$wat_main',
              '$wat_other', '$sub_wat', <<"id">>, "id", id, <<"via_import">>,
              <<"twice_import">>, <<"trap">>, <<"add">>, <<"g">>, <<"c">>, <<"memory">>,
              <<"__indirect_function_table">>, 0, 1, 16, 65535, 65536, [1], [1.0], [],
              [1, 2.0], [1, 2], typed, plain, infinity, <<"(module)">>,
              {'$import', ok}, {'$import', throw}, {'$import', exit}, {'$import', stop},
              {'$import', reenter}, {'$import', sleep}, {'$import', garbage},
              {ok, [1]}, {import, <<"env">>, <<"imp">>, [1], <<"(i)i">>}, yield]).

options() ->
    proper_types:bind(
      list(tuple([elements([timeout, fuel, max_memory, max_table_elements, deterministic,
                            aot, links, import_handler, beamr_timeout, passed]),
                  oneof([plausible(), hostile()])])),
      fun maps:from_list/1, false).

hostile() ->
    oneof([integer(), float(), big(), elements(special()), binary(), binary(16),
           list(small()), improper(), tuple([small(), small()]),
           proper_types:bind(list(tuple([small(), small()])), fun maps:from_list/1, false)]).

small() ->
    oneof([integer(), float(), big(), elements(special()), binary()]).

big() ->
    elements([1 bsl 31, 1 bsl 32, 1 bsl 63, 1 bsl 64, (1 bsl 64) - 1, -(1 bsl 63) - 1,
              1 bsl 200, -(1 bsl 200), 1.0e308, -0.0]).

special() ->
    ['$huge', '$sub', '$ref', '$dead_pid', '$fun', '$self', '$stopped', '$other',
     '$module', foo, nan, infinity, neg_infinity, null, undefined, true, false, error,
     ok, [], <<>>, "", {}, #{}].

%% Improper lists are placeholders too: PropEr cannot shrink `elements' of them.
improper() ->
    elements(['$improper', '$improper_ints', '$improper_name', '$improper_float']).

%% Runs one call in a fresh process, within ?CASE_MS; then checks its result's shape,
%% that an async call it started replies, and that the VM and its instance still
%% answer.
check(Module, {Module, F, RawArgs} = Case) ->
    Env = env(),
    Args = resolve(Env, RawArgs),
    Outcome = bounded(fun() -> with_reply(F, apply(Module, F, Args), Args) end),
    Good = maps:get('$good', Env),
    Fine = case Outcome of
               {returned, R} -> shape(Module, F, R);
               _ -> false
           end
        andalso usable(Good),
    Fine orelse io:format(user, "~nFAILED: ~0P~n  -> ~0P~n", [Case, 30, Outcome, 30]),
    cleanup(Env),
    Fine.

%% An async call that returned `ok' must reply to its `From' (when that is this
%% process).
with_reply(call_async, ok, [_, _, _, {Pid, Tag} | _]) when Pid =:= self(), is_reference(Tag) ->
    receive
        {Tag, Reply} -> {ok, Reply}
    after 5000 -> {ok, no_reply}
    end;
with_reply(_, Result, _) ->
    Result.

bounded(Fun) ->
    Parent = self(),
    Ref = make_ref(),
    {Pid, MRef} =
        spawn_monitor(fun() ->
                              Parent ! {Ref, try {returned, Fun()}
                                             catch C:R:S -> {raised, C, R, S} end}
                      end),
    receive
        {Ref, Outcome} ->
            erlang:demonitor(MRef, [flush]),
            Outcome;
        {'DOWN', MRef, process, Pid, Why} ->
            {died, Why}
    after ?CASE_MS ->
        exit(Pid, kill),
        erlang:demonitor(MRef, [flush]),
        hung
    end.

%% The instance answers a good call (or says it was stopped), from another process,
%% and a fresh instance works.
usable(Good) ->
    Answer = bounded(fun() -> beamr:call(Good, <<"id">>, [7]) end),
    Fresh = bounded(fun() ->
                            {ok, I} = beamr:start(main_wat()),
                            beamr:call(I, <<"id">>, [8])
                    end),
    (Answer =:= {returned, {ok, [7]}} orelse Answer =:= {returned, {error, stopped}})
        andalso Fresh =:= {returned, {ok, [8]}}.

shape(beamr, F, R) when F =:= call_async; F =:= reply_import ->
    case R of
        ok -> true;
        {ok, {ok, L}} -> is_list(L);
        {ok, {error, _}} -> true;
        {error, _} -> true;
        _ -> false
    end;
shape(beamr, call, R) ->
    ok_or_error(R) orelse with_state(R);
shape(beamr, F, R) when F =:= start; F =:= compile; F =:= precompile;
                        F =:= wat_to_wasm; F =:= describe; F =:= serialize; F =:= read;
                        F =:= read_string; F =:= size; F =:= global_get; F =:= table_size;
                        F =:= table_get; F =:= memory_grow; F =:= memory_pages;
                        F =:= fuel_consumed ->
    ok_or_error(R);
shape(beamr, F, R) when F =:= write; F =:= deserialize; F =:= global_set; F =:= stop;
                        F =:= set_module_cache_dir; F =:= clear_cache ->
    R =:= ok orelse is_error(R);
shape(beamr, F, R) when F =:= is_stopped; F =:= function_exists; F =:= delete_module ->
    is_boolean(R) orelse is_error(R);
shape(beamr, F, R) when F =:= imports; F =:= exports ->
    is_list(R) orelse is_error(R);
shape(beamr, module_hash, R) ->
    is_binary(R) orelse is_error(R);
shape(beamr, F, R) when F =:= module_count; F =:= compilations ->
    is_integer(R) andalso R >= 0;
shape(beamr, F, R) when F =:= cache_info; F =:= memory_budget ->
    is_map(R);
shape(beamr, start_timeout, R) ->
    R =:= infinity orelse (is_integer(R) andalso R >= 0);
shape(beamr, max_module_size, R) ->
    is_integer(R) andalso R >= 0;
shape(beamr_call, call, R) ->
    ok_or_error(R) orelse with_state(R);
shape(beamr_call, continue, R) ->
    with_state(R);
shape(beamr_call, op, _) ->
    %% Whatever the fun returns (only its arguments are checked).
    true;
shape(hb_beamr, F, R) when F =:= start; F =:= start_on ->
    case R of
        {ok, Pid, Imports, Exports} -> is_pid(Pid) andalso is_list(Imports) andalso is_list(Exports);
        _ -> is_error(R)
    end;
shape(hb_beamr, call, R) ->
    ok_or_error(R) orelse with_state(R);
shape(hb_beamr, with_instance, _) ->
    %% Whatever the fun returns (only its arguments are checked).
    true;
shape(hb_beamr, stub, R) ->
    element(1, R) =:= ok;
shape(hb_beamr, _, R) ->
    R =:= ok orelse ok_or_error(R) orelse is_error(R);
shape(hb_beamr_io, _, R) ->
    R =:= ok orelse ok_or_error(R);
shape(dev_wasm, info, R) ->
    is_map(R);
shape(dev_wasm, world, R) ->
    R =:= standalone;
shape(dev_wasm, instance, _) ->
    true;
shape(dev_wasm, cache_wasm_image, R) ->
    is_map(R) orelse is_error(R);
shape(dev_wasm, _, R) ->
    case R of
        {ok, M} -> is_map(M);
        _ -> is_error(R)
    end.

ok_or_error({ok, _}) -> true;
ok_or_error(R) -> is_error(R).

is_error({error, _}) -> true;
is_error(_) -> false.

with_state({ok, L, _}) -> is_list(L);
with_state({error, _, _}) -> true;
with_state(_) -> false.

%% A term that names no directory is refused and leaves the cache where it was.
prop_cache_dir() ->
    proper:forall(
      %% ([<<"id">> | <<"x">>] is chardata, a fine name.)
      oneof([integer(), float(), big(), tuple([small(), small()]),
             elements(['$improper', '$improper_ints', '$improper_float']),
             elements(['$ref', '$dead_pid', '$fun', '$good', {}, #{}, "", <<>>]),
             list(oneof([float(), big(), elements([-1, {}, [a | b]])]))]),
      fun(Raw) ->
              Before = maps:get(disk, beamr:cache_info()),
              Env = env(),
              Dir = resolve(Env, Raw),
              Result = beamr:set_module_cache_dir(Dir),
              cleanup(Env),
              Fine = Result =:= {error, {badarg, [Dir]}}
                  andalso maps:get(disk, beamr:cache_info()) =:= Before,
              Fine orelse io:format(user, "~nFAILED: ~0P~n  -> ~0P~n", [Raw, 30, Result, 30]),
              Fine
      end).

%% set_memory_budget takes exactly the integers in [0, 2^64); anything else is refused
%% and leaves the budget as it was. The node's budget is put back after each case.
prop_memory_budget() ->
    proper:forall(
      oneof([proper_types:non_neg_integer(), integer(), big(), float(),
             proper_types:atom(), binary(),
             elements([1 bsl 64 - 1, 1 bsl 64, -1, [1 | 2], {}, #{}])]),
      fun(Bytes) ->
              #{budget := Original} = beamr:memory_budget(),
              Result = beamr:set_memory_budget(Bytes),
              #{budget := After} = beamr:memory_budget(),
              ok = beamr:set_memory_budget(Original),
              Valid = is_integer(Bytes) andalso Bytes >= 0 andalso Bytes < 1 bsl 64,
              Fine = case Valid of
                         true -> Result =:= ok andalso After =:= Bytes;
                         false -> Result =:= {error, {bad_option, memory_budget, Bytes}}
                                      andalso After =:= Original
                     end,
              Fine orelse io:format(user, "~nFAILED: ~0P~n  -> ~0P~n", [Bytes, 30, Result, 30]),
              Fine
      end).

%% set_max_nesting takes exactly the integers in [0, 2^32); anything else is refused.
%% The node's limit is put back after each case.
prop_max_nesting() ->
    proper:forall(
      oneof([proper_types:non_neg_integer(), integer(), big(), float(),
             proper_types:atom(), binary(), elements([1 bsl 32 - 1, 1 bsl 32, -1, [1 | 2]])]),
      fun(Levels) ->
              Result = beamr:set_max_nesting(Levels),
              ok = beamr:set_max_nesting(application:get_env(beamr, max_nesting, 1000)),
              Valid = is_integer(Levels) andalso Levels >= 0 andalso Levels < 1 bsl 32,
              Fine = case Valid of
                         true -> Result =:= ok;
                         false -> Result =:= {error, {bad_option, max_nesting, Levels}}
                     end,
              Fine orelse io:format(user, "~nFAILED: ~0P~n  -> ~0P~n", [Levels, 30, Result, 30]),
              Fine
      end).

%%% Run-time values behind the placeholders

env() ->
    {ok, Good} = beamr:start(main_wat()),
    {ok, Stopped} = beamr:start(main_wat()),
    ok = beamr:stop(Stopped),
    {ok, Other} = beamr:start(other_wat()),
    {ok, Module} = beamr:compile(main_wat()),
    {Dead, DeadRef} = spawn_monitor(fun() -> ok end),
    receive {'DOWN', DeadRef, _, _, _} -> ok end,
    Huge = binary:copy(<<"(module)">>, 1 bsl 18),
    #{'$good' => Good, '$stopped' => Stopped, '$other' => Other, '$module' => Module,
      '$dead_pid' => Dead, '$ref' => make_ref(), '$fun' => fun(X) -> X end,
      '$huge' => Huge, '$sub' => binary:part(Huge, 3, 100001),
      '$wat_main' => main_wat(), '$wat_other' => other_wat(),
      '$sub_wat' => binary:part(<<"xx(module)">>, 2, 8),
      '$improper' => [a | b], '$improper_ints' => [1, 2 | 3],
      '$improper_name' => [<<"id">> | <<"x">>], '$improper_float' => [1.0 | infinity]}.

cleanup(Env) ->
    [beamr:stop(I) || K <- ['$good', '$other'], {ok, I} <- [maps:find(K, Env)]],
    ok.

%% Placeholders resolve in the process that makes the call: `'$self'' and `'$from''
%% name it.
resolve(_Env, {'$import', Behaviour}) -> import_fun(Behaviour);
resolve(Env, {'$with', Base, Pairs}) ->
    maps:merge(resolve(Env, Base), maps:from_list(resolve(Env, Pairs)));
resolve(_Env, '$self') -> self();
resolve(_Env, '$from') -> {self(), make_ref()};
resolve(Env, [H | T]) -> [resolve(Env, H) | resolve(Env, T)];
resolve(Env, T) when is_tuple(T) -> list_to_tuple(resolve(Env, tuple_to_list(T)));
resolve(Env, M) when is_map(M) -> maps:from_list(resolve(Env, maps:to_list(M)));
resolve(Env, A) when is_atom(A) -> maps:get(A, Env, A);
resolve(_Env, X) -> X.

%%% Import funs

import_fun(Behaviour) ->
    fun(State, Request, Opts) -> behave(Behaviour, State, Request, Opts) end.

behave(ok, S, #{args := [X]}, _) -> {ok, [X], S};
behave(ok, S, _, _) -> {ok, [], S};
behave(throw, _, _, _) -> throw(nope);
behave(error, _, _, _) -> error(boom);
behave(exit, _, _, _) -> exit(bye);
behave(garbage, _, _, _) -> {ok, [a | b], x};
behave({garbage, T}, _, _, _) -> T;
behave({results, T}, S, _, _) -> {ok, T, S};
behave(stop, S, #{instance := I}, _) ->
    _ = stop_any(I),
    {ok, [1], S};
behave(reenter, S, #{instance := I}, _) ->
    %% A nested call of a function without imports.
    case call_any(I, <<"id">>, [5]) of
        {ok, [V]} -> {ok, [V], S};
        _ -> {ok, [0], S}
    end;
behave(reenter_import, S, #{instance := I}, O) ->
    %% A nested call that reaches the import again, three levels deep at most.
    Depth = case get(reenter_depth) of undefined -> 0; D -> D end,
    case Depth < 3 of
        true ->
            put(reenter_depth, Depth + 1),
            Nested = beamr:call(I, <<"via_import">>, [Depth], import_fun(reenter_import), S, O),
            put(reenter_depth, Depth),
            case Nested of
                {ok, [V], S2} -> {ok, [V], S2};
                _ -> {ok, [0], S}
            end;
        false ->
            {ok, [Depth], S}
    end;
behave(memory, S, #{instance := I}, _) ->
    _ = mem_any(I),
    {ok, [1], S};
behave(sleep, S, _, _) ->
    timer:sleep(20),
    {ok, [1], S};
behave(die, _, _, _) ->
    exit(self(), kill),
    timer:sleep(1000).

%% Requests of hb_beamr carry the instance as its pid.
stop_any(P) when is_pid(P) -> hb_beamr:stop(P);
stop_any(I) -> beamr:stop(I).

call_any(P, F, A) when is_pid(P) -> hb_beamr:call(P, F, A);
call_any(I, F, A) -> beamr:call(I, F, A).

mem_any(P) when is_pid(P) -> {hb_beamr_io:write(P, 0, <<1, 2, 3>>), hb_beamr_io:read(P, 0, 3)};
mem_any(I) -> {beamr:write(I, 0, <<1, 2, 3>>), beamr:read(I, 65530, 100)}.

behaviour() ->
    oneof([elements([ok, throw, error, exit, garbage, stop, reenter, reenter_import, memory,
                     sleep, die]),
           tuple([proper_types:exactly(garbage), hostile()]),
           tuple([proper_types:exactly(results), oneof([hostile(), list(small())])])]).

%% Calls whose imports are answered by a sequence of behaviours (then `ok'); the call
%% ends with a result or an error, and the instance then answers (or is stopped,
%% if the import fun stopped it).
prop_import_funs() ->
    proper:forall(
      {list(behaviour()), elements([<<"via_import">>, <<"twice_import">>]), small(),
       elements([#{}, #{timeout => 2000}, #{passed => through}])},
      fun({Behaviours, Func, State, Opts} = Case) ->
              Env = env(),
              Good = maps:get('$good', Env),
              Fun = sequence(resolve(Env, Behaviours)),
              Outcome = bounded(fun() -> beamr:call(Good, Func, [3], Fun, resolve(Env, State), Opts) end),
              Fine = case Outcome of
                         {returned, R} -> with_state(R);
                         {died, killed} -> lists:member(die, Behaviours);
                         _ -> false
                     end
                  andalso usable(Good),
              Fine orelse io:format(user, "~nFAILED: ~0P~n  -> ~0P~n", [Case, 30, Outcome, 30]),
              cleanup(Env),
              Fine
      end).

%% An import fun that answers the n-th import with the n-th behaviour.
sequence(Behaviours) ->
    fun(State, Request, Opts) ->
            Queue = case get(behaviours) of undefined -> Behaviours; Q -> Q end,
            case Queue of
                [B | Rest] ->
                    put(behaviours, Rest),
                    behave(B, State, Request, Opts);
                [] ->
                    behave(ok, State, Request, Opts)
            end
    end.

%%% hb_beamr and hb_beamr_io

prop_hb() ->
    Exports = [{hb_beamr, FA} || FA <- exports(hb_beamr)]
        ++ [{hb_beamr_io, FA} || FA <- exports(hb_beamr_io)],
    proper:forall(
      proper_types:bind(elements(Exports),
                        fun({M, {F, Arity}}) -> {M, F, vector(Arity, hb_arg())} end, false),
      fun({M, F, RawArgs} = Case) ->
              Env = env(),
              {ok, Pid, _, _} = hb_beamr:start(main_wat()),
              {ok, StoppedPid, _, _} = hb_beamr:start(main_wat()),
              ok = hb_beamr:stop(StoppedPid),
              HbEnv = Env#{'$pid' => Pid, '$stopped_pid' => StoppedPid},
              Args = resolve(HbEnv, RawArgs),
              Outcome = bounded(fun() -> apply(M, F, Args) end),
              Fine = case Outcome of
                         {returned, R} -> shape(M, F, R);
                         _ -> false
                     end
                  andalso hb_usable(Pid),
              Fine orelse io:format(user, "~nFAILED: ~0P~n  -> ~0P~n", [Case, 30, Outcome, 30]),
              _ = hb_beamr:stop(Pid),
              cleanup(Env),
              Fine
      end).

hb_arg() ->
    frequency([{3, elements(['$pid', '$pid', '$stopped_pid', '$dead_pid', '$self', "id",
                             <<"id">>, "via_import", "malloc", 0, 16, 65536, -1, 64, [1],
                             [], <<"data">>, ["io", <<"list">>], wasm, aot, '$wat_main',
                             {'$import', ok}, {'$import', throw}, {'$import', stop},
                             {'$import', reenter}, {'$import', memory}, #{},
                             #{beamr_timeout => 1000}])},
               {2, hostile()}, {1, options()}]).

hb_usable(Pid) ->
    Answer = bounded(fun() -> hb_beamr:call(Pid, "id", [7]) end),
    Answer =:= {returned, {ok, [7]}} orelse Answer =:= {returned, {error, stopped}}.

%%% dev_wasm

prop_dev_wasm() ->
    proper:forall(
      proper_types:bind(elements(exports(dev_wasm)),
                        fun({F, Arity}) -> {dev_wasm, F, vector(Arity, dev_arg())} end, false),
      fun({M, F, RawArgs} = Case) ->
              Env = env(),
              {ok, Booted} = dev_wasm:init(#{<<"body">> => dev_wasm_wat()}, #{}, #{}),
              Args = resolve(Env#{'$booted' => Booted}, RawArgs),
              Outcome = bounded(fun() -> apply(M, F, Args) end),
              Fine = case Outcome of
                         {returned, R} -> shape(M, F, R);
                         _ -> false
                     end
                  andalso usable(maps:get('$good', Env)),
              Fine orelse io:format(user, "~nFAILED: ~0P~n  -> ~0P~n", [Case, 30, Outcome, 30]),
              _ = dev_wasm:terminate(Booted, #{}, #{}),
              cleanup(Env),
              Fine
      end).

dev_wasm_wat() ->
    beamr_test_util:fixture("dev_wasm_counter.wat").

dev_arg() ->
    frequency([{3, message()}, {1, hostile()}, {1, elements(['$booted', #{}])}]).

%% A message: the booted one or an empty one, with hostile values at the keys the
%% device reads.
message() ->
    proper_types:bind(
      {elements(['$booted', #{}]),
       list(tuple([elements([<<"function">>, <<"parameters">>, <<"output-prefix">>,
                             <<"input-prefix">>, <<"image">>, <<"/image">>, <<"body">>,
                             <<"Mode">>, <<"/Mode">>, <<"snapshot">>, <<"device-key">>,
                             <<"pass">>, <<"priv">>, <<"module">>, <<"func">>, <<"path">>,
                             <<"args">>, <<"results">>, <<"state">>, wasm_allow_aot]),
                   oneof([hostile(), plausible(),
                          elements([<<"fac">>, <<"pow">>, <<"bump">>, <<"WASM">>, <<"AOT">>, 1,
                                    <<"env">>, <<"mul">>, '$wat_main'])])]))},
      fun({Base, Pairs}) -> {'$with', Base, Pairs} end, false).
