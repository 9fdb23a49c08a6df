%%% @doc Tests of beamr_imports: composing import handlers (the defaults and a user's)
%%% and the undefined-import policy, on real wasm through the real NIF.
-module(beamr_imports_tests).

-include_lib("eunit/include/eunit.hrl").

start() ->
    beamr_test_util:start("mixed_imports.wat").

state() ->
    maps:merge(beamr_wasi:new(), beamr_emscripten:new()).

%% A user's handler: host_double, and an override of _emscripten_system.
user(S, #{module := <<"env">>, func := <<"host_double">>, args := [X]}, _Opts) ->
    {ok, [2 * X], S#{doubled => [X | maps:get(doubled, S, [])]}};
user(S, #{module := <<"env">>, func := <<"_emscripten_system">>}, _Opts) ->
    {ok, [42], S};
user(_S, _Request, _Opts) ->
    unhandled.

defaults_composed_test() ->
    I = start(),
    Fun = beamr_imports:new([beamr_wasi, beamr_emscripten]),
    {ok, [0], S} = beamr_imports:call(I, <<"greet">>, [], Fun, state(), #{}),
    ?assertEqual(<<"hi\n">>, beamr_wasi:stdout(S)),
    ?assertMatch({ok, [-1], _}, beamr_imports:call(I, <<"system">>, [], Fun, state(), #{})),
    ?assertMatch({ok, [1700000000000.0], _}, beamr_imports:call(I, <<"now">>, [], Fun, state(), #{})),
    %% Usable directly as beamr:call/6's import fun too.
    ?assertMatch({ok, [0], _}, beamr:call(I, <<"greet">>, [], Fun, state(), #{})).

user_fun_takes_precedence_test() ->
    I = start(),
    First = beamr_imports:new([fun user/3, beamr_wasi, beamr_emscripten]),
    ?assertMatch({ok, [42], _}, beamr_imports:call(I, <<"system">>, [], First, state(), #{})),
    {ok, [14], S} = beamr_imports:call(I, <<"double">>, [7], First, state(), #{}),
    ?assertEqual([7], maps:get(doubled, S)),
    %% Placed last, the user's override loses to the default; host_double still reaches it.
    Last = beamr_imports:new([beamr_wasi, beamr_emscripten, fun user/3]),
    ?assertMatch({ok, [-1], _}, beamr_imports:call(I, <<"system">>, [], Last, state(), #{})),
    ?assertMatch({ok, [14], _}, beamr_imports:call(I, <<"double">>, [7], Last, state(), #{})).

policy_error_test() ->
    I = start(),
    Fun = beamr_imports:new([fun user/3, beamr_wasi, beamr_emscripten]),
    S0 = state(),
    ?assertEqual({error, {unhandled_import, <<"env">>, <<"missing_many">>}, S0},
                 beamr_imports:call(I, <<"many">>, [1, 1.0], Fun, S0, #{})),
    Explicit = beamr_imports:new([beamr_wasi], #{undefined => error}),
    ?assertEqual({error, {unhandled_import, <<"other">>, <<"missing_none">>}, S0},
                 beamr_imports:call(I, <<"none">>, [1], Explicit, S0, #{})),
    %% Through plain beamr:call/6 the refusal is the import fun's throw.
    ?assertMatch({error, {import_crashed, <<"env">>, <<"missing_many">>, throw,
                          {unhandled_import, <<"env">>, <<"missing_many">>}}, _},
                 beamr:call(I, <<"many">>, [1, 1.0], Fun, S0, #{})),
    %% The instance stays usable.
    ?assertMatch({ok, [14], _}, beamr_imports:call(I, <<"double">>, [7], Fun, S0, #{})).

policy_stub_test() ->
    I = start(),
    Fun = beamr_imports:new([fun user/3, beamr_wasi, beamr_emscripten], #{undefined => stub}),
    {ok, [0, 0, +0.0, +0.0], S1} = beamr_imports:call(I, <<"many">>, [5, 2.5], Fun, state(), #{}),
    ?assertEqual([{<<"env">>, <<"missing_many">>, [5, 2.5]}], beamr_imports:undefined_calls(S1)),
    {ok, [1], S2} = beamr_imports:call(I, <<"none">>, [-3], Fun, S1, #{}),
    ?assertEqual([{<<"env">>, <<"missing_many">>, [5, 2.5]}, {<<"other">>, <<"missing_none">>, [-3]}],
                 beamr_imports:undefined_calls(S2)),
    ?assertEqual([], beamr_imports:undefined_calls(state())).

whole_program_test() ->
    I = start(),
    Fun = beamr_imports:new([fun user/3, beamr_wasi, beamr_emscripten], #{undefined => stub}),
    %% double(5) = 10, system() = 42 (the user's), many's first result 0 (stubbed).
    {ok, [52], S} = beamr_imports:call(I, <<"all">>, [5], Fun, state(), #{}),
    ?assertEqual(<<"hi\n">>, beamr_wasi:stdout(S)),
    ?assertEqual([5], maps:get(doubled, S)),
    ?assertEqual([{<<"other">>, <<"missing_none">>, [5]}, {<<"env">>, <<"missing_many">>, [5, 0.5]}],
                 beamr_imports:undefined_calls(S)),
    %% With x = 99 the program exits with the sum, 198 + 42.
    {ok, {exit, 240}, S99} = beamr_imports:call(I, <<"all">>, [99], Fun, state(), #{}),
    ?assertEqual(<<"hi\n">>, beamr_wasi:stdout(S99)),
    ?assertEqual([99], maps:get(doubled, S99)).

bad_handler_return_test() ->
    I = start(),
    Bad = fun(_S, _R, _O) -> oops end,
    Fun = beamr_imports:new([Bad, beamr_wasi]),
    ?assertMatch({error, {import_crashed, <<"env">>, <<"host_double">>, error,
                          {bad_handler_return, _, oops}}, _},
                 beamr_imports:call(I, <<"double">>, [1], Fun, state(), #{})).

bad_construction_test() ->
    ?assertError({bad_handler, 42}, beamr_imports:new([42])),
    ?assertError({bad_policy, ignore}, beamr_imports:new([], #{undefined => ignore})).

%%% Signatures: full form and BEAMR's form with the last character cut.

signature_test() ->
    ?assertEqual("iI", beamr_imports:param_types(<<"(iI)fF">>)),
    ?assertEqual("fF", beamr_imports:result_types(<<"(iI)fF">>)),
    ?assertEqual("", beamr_imports:result_types(<<"(ii)">>)),
    %% "(ii" is BEAMR's cut form of "(ii)": no results.
    ?assertEqual("ii", beamr_imports:param_types(<<"(ii">>)),
    ?assertEqual("", beamr_imports:result_types(<<"(ii">>)),
    ?assertEqual("i", beamr_imports:result_types("(I)i")),
    ?assertEqual([0, 0, 0.0, 0.0, <<0:128>>, null], beamr_imports:zeros(<<"()iIfFve">>)),
    ?assertEqual([3, 0.0], beamr_imports:results(<<"(i)iF">>, [3])),
    ?assertEqual([2.0], beamr_imports:results(<<"()F">>, [2])),
    ?assertEqual([], beamr_imports:results(<<"(i)">>, [52])),
    ?assertError({bad_signature, <<"ii">>}, beamr_imports:result_types(<<"ii">>)).

stub_follows_the_signature_test() ->
    %% The stub answers per the request's signature, whichever form it comes in.
    Fun = beamr_imports:new([], #{undefined => stub}),
    Req = fun(Sig) -> #{instance => undefined, module => <<"m">>, func => <<"f">>,
                        args => [1], func_sig => Sig} end,
    ?assertMatch({ok, [0, +0.0], _}, Fun(#{}, Req(<<"(i)iF">>), #{})),
    ?assertMatch({ok, [], _}, Fun(#{}, Req(<<"(i">>), #{})),
    %% A state that is not a map is answered but not recorded.
    ?assertEqual({ok, [0], nomap}, Fun(nomap, Req(<<"(i)i">>), #{})).
