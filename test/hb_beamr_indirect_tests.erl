%%% @doc Indirect calls: `hb_beamr:call(I, Index, Args)' calls entry `Index' of the
%%% module's `__indirect_function_table', type-checked against `Args', with clear
%%% errors for a null entry, an index past the table, and arguments of the wrong type
%%% or number. Fixture: `test/fixtures/indirect.wat' (its entries are listed there).
-module(hb_beamr_indirect_tests).

-include_lib("eunit/include/eunit.hrl").

-import(beamr_test_util, [fixture/1]).

start() ->
    {ok, Pid, _Imports, _Exports} = hb_beamr:start(fixture("indirect.wat")),
    Pid.

twice(S, #{func := "twice", args := [X]}, _Opts) -> {ok, [2 * X], S + 1}.

calls_by_index_test() ->
    I = start(),
    ?assertEqual({ok, [5]}, hb_beamr:call(I, 1, [2, 3])),
    ?assertEqual({ok, [-16#7FFFFFFFFFFFFFFF]}, hb_beamr:call(I, 4, [16#7FFFFFFFFFFFFFFF])),
    ?assertEqual({ok, [2.0]}, hb_beamr:call(I, 5, [1.5, 0.5])),
    %% An entry that is an import, and one that calls an import: both reach the import
    %% fun, whose state comes back (counted once per import call).
    ?assertEqual({ok, [42], 1}, hb_beamr:call(I, 2, [21], fun twice/3, 0)),
    ?assertEqual({ok, [43], 1}, hb_beamr:call(I, 3, [21], fun twice/3, 0)).

argument_type_errors_test() ->
    I = start(),
    ?assertEqual({error, {bad_arg, 2, i32, 1.5}}, hb_beamr:call(I, 1, [1, 1.5])),
    ?assertEqual({error, {bad_arg, 1, i32, foo}}, hb_beamr:call(I, 1, [foo, 1])),
    ?assertEqual({error, {bad_arg, 1, i64, 1 bsl 64}}, hb_beamr:call(I, 4, [1 bsl 64])),
    ?assertEqual({error, {bad_arg, 1, f64, <<"x">>}}, hb_beamr:call(I, 5, [<<"x">>, 1.0])),
    ?assertEqual({error, {bad_arity, 2, 1}}, hb_beamr:call(I, 1, [1])),
    ?assertEqual({error, {bad_arity, 1, 3}}, hb_beamr:call(I, 4, [1, 2, 3])),
    %% The instance is fine afterwards.
    ?assertEqual({ok, [7]}, hb_beamr:call(I, 1, [3, 4])).

bad_index_errors_test() ->
    I = start(),
    ?assertEqual({error, {bad_table_index, 0}}, hb_beamr:call(I, 0, [])),
    ?assertEqual({error, {bad_table_index, 6}}, hb_beamr:call(I, 6, [1, 2])),
    ?assertEqual({error, {bad_table_index, 1 bsl 63}}, hb_beamr:call(I, 1 bsl 63, [])),
    ?assertMatch({error, {bad_func, -1}}, hb_beamr:call(I, -1, [])),
    ?assertMatch({error, {bad_func, _}}, hb_beamr:call(I, 1 bsl 64, [])),
    ?assertEqual({ok, [5]}, hb_beamr:call(I, 1, [2, 3])).

table_changes_are_seen_test() ->
    I = start(),
    ?assertEqual({error, {bad_table_index, 7}}, hb_beamr:call(I, 7, [1, 2])),
    ?assertEqual({ok, [6]}, hb_beamr:call(I, "grow", [])),
    ?assertEqual({error, {bad_table_index, 6}}, hb_beamr:call(I, 6, [1, 2])),
    ?assertEqual({ok, [30]}, hb_beamr:call(I, 7, [10, 20])).

no_table_test() ->
    {ok, P, _, _} = hb_beamr:start(fixture("pow_calculator.wat")),
    ?assertEqual({error, no_indirect_function_table}, hb_beamr:call(P, 0, [])).
