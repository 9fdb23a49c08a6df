%%% @doc emscripten's unwinding on real em++ output: test/fixtures/cxx/unwind.cpp built
%%% with -fwasm-exceptions (legacy wasm EH for throws; invoke_* and
%%% _emscripten_throw_longjmp for longjmp) and with -fexceptions (JS-style: invoke_*,
%%% __cxa_throw and emscripten's exception runtime, answered natively by beamr).
%%% Expected values are derived by hand from the C++ source.
-module(beamr_emcc_tests).

-include_lib("eunit/include/eunit.hrl").

weh_test_() ->
    {timeout, 300, variant("unwind-weh.wasm", <<"_initialize">>)}.

jseh_test_() ->
    {timeout, 300, variant("unwind-jseh.wasm", <<"__wasm_call_ctors">>)}.

%% The memory64 build (-O0, as scripts/build-fixtures.sh says why): C++ throws as legacy
%% wasm EH in a memory64 module, as AOS images have them. Its setjmp/longjmp traps in
%% V8 as well (emscripten 3.1.6's wasm64 output), so only the throws are run.
weh64_test_() ->
    {timeout, 300,
     {setup, fun() -> started("cxx64", "unwind64-weh.wasm", <<"_initialize">>) end,
      fun(I) ->
              [{"memory64: the module's memory is 64-bit",
                ?_assertMatch([#{kind := memory, index := i64}],
                              [E || #{kind := memory} = E <- beamr:exports(I, typed)])},
               {"memory64: repeated throws stay correct",
                ?_test(lists:foreach(
                         fun(N) ->
                                 ?assertEqual({ok, [1001 + N], []},
                                              call(I, <<"throw_across">>, [N]))
                         end,
                         lists:seq(1, 200)))}
               | throws(I)]
      end}}.

variant(File, Init) ->
    {setup, fun() -> started("cxx", File, Init) end,
     fun(I) ->
             throws(I) ++
             [{"longjmp across frames returns to setjmp",
               ?_assertMatch({ok, [71], _}, call(I, <<"longjmp_across">>, [3, 7]))},
              {"repeated throws and longjmps stay correct",
               ?_test(repeat(I))},
              {"an import inside an invoke_ callee reaches Erlang; invoke_ does not",
               ?_test(host_inside_invoke(I))},
              {"an uncaught longjmp fails the call; the instance stays usable",
               ?_test(uncaught(I))},
              {"a deadline ends a loop inside an invoke_ callee",
               ?_test(timeout_inside(I))},
              {"stop ends a loop inside an invoke_ callee",
               ?_test(stop_inside(File, Init))}]
     end}.

%% Starts fixture `File' of `Set' and runs its initializer.
started(Set, File, Init) ->
    {ok, I} = beamr:start(beamr_fixture_util:built(Set, File)),
    {ok, [], _} = call(I, Init, []),
    I.

%% C++ throws: every build runs these.
throws(I) ->
    [{"a throw across frames is caught, destructors run",
      ?_assertMatch({ok, [1004], _}, call(I, <<"throw_across">>, [3]))},
     {"an int passes a catch for another type",
      ?_assertMatch({ok, [42], _}, call(I, <<"throw_typed">>, [2, 21]))},
     {"no throw: the value comes back",
      ?_assertMatch({ok, [5], _}, call(I, <<"no_throw">>, [5]))}].

call(I, Func, Args) ->
    call(I, Func, Args, #{}).

call(I, Func, Args, Opts) ->
    beamr:call(I, Func, Args, fun import/3, [], Opts).

%% host_add answers from Erlang; every import seen is recorded in the state.
import(Seen, #{module := <<"env">>, func := <<"host_add">>, args := [A, B]}, _) ->
    {ok, [A + B], [<<"host_add">> | Seen]};
import(Seen, #{module := M, func := F}, _) ->
    throw({unexpected_import, M, F, Seen}).

repeat(I) ->
    lists:foreach(
      fun(N) ->
              ?assertEqual({ok, [1001 + N], []}, call(I, <<"throw_across">>, [N])),
              ?assertEqual({ok, [N * 10 + 1], []}, call(I, <<"longjmp_across">>, [N, N]))
      end,
      lists:seq(1, 200)).

host_inside_invoke(I) ->
    ?assertEqual({ok, [206], [<<"host_add">>, <<"host_add">>]},
                 call(I, <<"host_in_invoke">>, [5])).

uncaught(I) ->
    ?assertMatch({error, {trap, <<"longjmp with no matching setjmp">>}, []},
                 call(I, <<"longjmp_uncaught">>, [1])),
    ?assertMatch({ok, [1002], _}, call(I, <<"throw_across">>, [1])).

timeout_inside(I) ->
    ?assertMatch({error, timeout, []}, call(I, <<"spin_in_invoke">>, [1], #{timeout => 50})),
    ?assertMatch({ok, [71], _}, call(I, <<"longjmp_across">>, [3, 7])).

stop_inside(File, Init) ->
    I = started("cxx", File, Init),
    Self = self(),
    spawn(fun() -> Self ! {spun, call(I, <<"spin_in_invoke">>, [1])} end),
    timer:sleep(50),
    ok = beamr:stop(I),
    receive {spun, R} -> ?assertMatch({error, stopped, _}, R)
    after 5000 -> error(stop_did_not_end_the_call)
    end.
