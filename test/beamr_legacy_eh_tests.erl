%%% @doc Legacy wasm exception handling (try/catch/catch_all/rethrow/delegate) through
%%% the real NIF: `test/fixtures/legacy_eh.wat' is translated on load and each construct
%%% gives the value derived by hand in that fixture's comments.
-module(beamr_legacy_eh_tests).

-include_lib("eunit/include/eunit.hrl").

-import(beamr_test_util, [start/1, fixture/1]).

-define(FIXTURE, "legacy_eh.wat").

%% Calls Export with each argument list and returns the results in order.
results(I, Export, ArgLists) ->
    [case beamr:call(I, Export, Args) of
         {ok, [V]} -> V;
         Other -> {Args, Other}
     end || Args <- ArgLists].

catch_payload_from_two_frames_down_test() ->
    I = start(?FIXTURE),
    ?assertEqual([7, 105, 0], results(I, <<"catch_payload">>, [[0], [5], [-100]])).

several_clauses_and_catch_all_test() ->
    I = start(?FIXTURE),
    ?assertEqual([10, 61, 37, 99, 50], results(I, <<"clauses">>, [[0], [1], [2], [3], [4]])).

rethrow_test() ->
    I = start(?FIXTURE),
    %% From a catch nested in a catch, to the outer try: the original payload survives.
    ?assertEqual([0, 1009], results(I, <<"rethrow_outer">>, [[0], [9]])),
    %% From catch_all through a block.
    ?assertEqual([41, -2, 0], results(I, <<"rethrow_all">>, [[1], [0], [3]])).

delegate_test() ->
    I = start(?FIXTURE),
    ?assertEqual([1, 305], results(I, <<"delegate_outer">>, [[0], [5]])),
    ?assertEqual([1, 406], results(I, <<"delegate_caller">>, [[0], [6]])),
    ?assertEqual([0, 502], results(I, <<"delegate_block">>, [[0], [2]])),
    ?assertEqual([1, 704], results(I, <<"delegate_rethrow">>, [[0], [4]])),
    %% To a try that itself delegates: on to its own target.
    ?assertEqual([1, 808], results(I, <<"delegate_chain">>, [[0], [8]])).

block_params_and_results_test() ->
    I = start(?FIXTURE),
    ?assertEqual([1010, 2041, 3043, 4000],
                 results(I, <<"params">>, [[7, 3], [7, 1], [7, 2], [7, 0]])).

branches_out_of_try_and_catch_test() ->
    I = start(?FIXTURE),
    ?assertEqual([41, 77, 1006, 6, 6], results(I, <<"br_out">>, [[1], [3], [0], [2], [4]])),
    ?assertEqual([12, 0, 1], results(I, <<"loop_try">>, [[6], [0], [1]])),
    %% A standard try_table inside a legacy try: its catch label is renumbered too.
    ?assertEqual([0, 905], results(I, <<"mixed">>, [[0], [5]])).

uncaught_exception_is_an_error_test() ->
    I = start(?FIXTURE),
    ?assertEqual({error, {trap, <<"uncaught wasm exception">>}},
                 beamr:call(I, <<"uncaught">>, [3])),
    ?assertEqual({error, {trap, <<"uncaught wasm exception">>}},
                 beamr:call(I, <<"delegate_uncaught">>, [3])),
    %% The instance stays usable.
    ?assertEqual({ok, [0]}, beamr:call(I, <<"uncaught">>, [0])),
    ?assertEqual({ok, [105]}, beamr:call(I, <<"catch_payload">>, [5])).

binary_module_is_translated_too_test() ->
    %% Wasm bytes, as HyperBEAM hands them over, written out by hand:
    %% (tag (param i32))
    %% (func (export "f") (param i32) (result i32)
    %%   try (result i32) local.get 0 throw 0 catch 0 i32.const 1 i32.add end)
    %% so f(X) = X + 1, through a throw caught with its payload.
    Wasm = <<0, "asm", 1, 0, 0, 0,
             1, 10, 2, 16#60, 1, 16#7f, 0, 16#60, 1, 16#7f, 1, 16#7f,   % types
             3, 2, 1, 1,                                                 % functions
             13, 3, 1, 0, 0,                                             % tags
             7, 5, 1, 1, "f", 0, 0,                                      % exports
             10, 16, 1, 14, 0,                                           % code
             16#06, 16#7f, 16#20, 0, 16#08, 0, 16#07, 0, 16#41, 1, 16#6a, 16#0b, 16#0b>>,
    {ok, I} = beamr:start(Wasm),
    ?assertEqual({ok, [42]}, beamr:call(I, <<"f">>, [41])).

second_start_reuses_the_compilation_test() ->
    %% A comment makes these bytes unique to this test, so the first start compiles.
    Unique = iolist_to_binary([fixture(?FIXTURE),
                               io_lib:format(";; ~p~n", [erlang:unique_integer()])]),
    Before = beamr:compilations(),
    {ok, I1} = beamr:start(Unique),
    ?assertEqual(Before + 1, beamr:compilations()),
    {ok, I2} = beamr:start(Unique),
    ?assertEqual(Before + 1, beamr:compilations()),
    ?assertEqual({ok, [305]}, beamr:call(I1, <<"delegate_outer">>, [5])),
    ?assertEqual({ok, [305]}, beamr:call(I2, <<"delegate_outer">>, [5])).

invalid_legacy_module_is_a_compile_error_test() ->
    %% rethrow naming a plain block is invalid legacy code.
    Wat = <<"(module (tag $t) (func try block rethrow 0 end catch $t end))">>,
    {error, {invalid_module, Msg}} = beamr:start(Wat),
    ?assertNotEqual(nomatch, binary:match(Msg, <<"legacy exception handling">>)).
