%%% @doc Tests of the NIF's own contract, called directly on real wasm: a term that
%%% names no module and an export name that is not UTF-8 are refused with error tuples
%%% carrying the term, and a limit given as `default' takes the core's default while
%%% integers keep working.
-module(beamr_nif_tests).

-include_lib("eunit/include/eunit.hrl").

-import(beamr_test_util, [fixture/1, start/1]).

-define(DEFAULTS, {default, default, {default, default}}).

not_modules() ->
    [make_ref(), 42, self(), foo, [a | b], {1, 2}].

no_module_is_bad_module_test() ->
    Wat = <<"(module (func (export \"f\")))">>,
    [begin
         ?assertEqual({error, {bad_module, NotM}}, beamr_nif:imports(NotM)),
         ?assertEqual({error, {bad_module, NotM}}, beamr_nif:exports(NotM)),
         ?assertEqual({error, {bad_module, NotM}}, beamr_nif:describe_module(NotM)),
         ?assertEqual({error, {bad_module, NotM}},
                      beamr_nif:instantiate(NotM, infinity, [], ?DEFAULTS)),
         ?assertEqual({error, {bad_module, NotM}},
                      beamr_nif:instantiate(Wat, infinity, [{<<"lib">>, NotM}], ?DEFAULTS))
     end || NotM <- not_modules()],
    %% Bytes that do not compile stay a compile error.
    ?assertMatch({error, {invalid_module, _}}, beamr_nif:describe_module(<<"nope">>)),
    %% Instances and module handles are modules.
    I = start("test.wat"),
    {ok, M} = beamr:compile(fixture("test.wat")),
    ?assertEqual(beamr_nif:exports(I), beamr_nif:exports(M)),
    ?assertMatch([_ | _], beamr_nif:exports(I)).

-define(ITEMS, <<"(module
    (global (export \"g\") (mut i32) (i32.const 7))
    (table (export \"t\") 2 funcref))">>).

not_utf8_name_is_bad_name_test() ->
    {ok, I} = beamr:start(?ITEMS),
    [begin
         ?assertEqual({error, {bad_name, Bad}}, beamr:global_get(I, Bad)),
         ?assertEqual({error, {bad_name, Bad}}, beamr:global_set(I, Bad, 1)),
         ?assertEqual({error, {bad_name, Bad}}, beamr:table_size(I, Bad)),
         ?assertEqual({error, {bad_name, Bad}}, beamr:table_get(I, Bad, 0)),
         ?assertEqual({error, {bad_name, Bad}}, beamr_nif:global_get(I, Bad)),
         ?assertEqual({error, {bad_name, Bad}}, beamr_nif:table_get(I, Bad, 0))
     end || Bad <- [<<255>>, <<"g", 16#c3>>, <<16#ed, 16#a0, 16#80>>]],
    %% A valid name that no export has is still an unknown export.
    ?assertEqual({error, {unknown_export, <<"h">>}}, beamr:global_get(I, <<"h">>)),
    ?assertEqual({ok, 7}, beamr:global_get(I, <<"g">>)),
    ?assertEqual({ok, 2}, beamr:table_size(I, <<"t">>)).

%% `table.grow' by the argument, returning the old size or -1.
-define(TABLE, <<"(module (table (export \"t\") 0 funcref)
    (func (export \"grow\") (param i32) (result i32)
      ref.null func local.get 0 table.grow 0))">>).

%% `memory.grow' of a 64-bit memory by the argument, in pages.
-define(MEMORY64, <<"(module (memory i64 1)
    (func (export \"grow\") (param i64) (result i64) local.get 0 memory.grow))">>).

instantiate(Wat, Limits) ->
    {ok, I} = beamr_nif:instantiate(Wat, infinity, [], Limits),
    I.

grow(I, N) ->
    {ok, [Old]} = beamr:call(I, <<"grow">>, [N]),
    Old.

default_table_limit_is_the_cores_test() ->
    %% beamr_core's DEFAULT_MAX_TABLE_ELEMENTS is 2^20.
    T = instantiate(?TABLE, ?DEFAULTS),
    ?assertEqual(0, grow(T, 1 bsl 20)),
    ?assertEqual(-1, grow(T, 1)),
    Five = instantiate(?TABLE, {default, 5, {default, default}}),
    ?assertEqual(-1, grow(Five, 6)),
    ?assertEqual(0, grow(Five, 5)).

default_memory_limit_is_the_cores_test() ->
    %% beamr_core's DEFAULT_MAX_MEMORY is 4 GiB: 65536 pages, one of them there already.
    M = instantiate(?MEMORY64, ?DEFAULTS),
    ?assertEqual(-1, grow(M, 65536)),
    ?assertEqual(1, grow(M, 1)),
    Two = instantiate(?MEMORY64, {2 * 65536, default, {default, default}}),
    ?assertEqual(1, grow(Two, 1)),
    ?assertEqual(-1, grow(Two, 1)).

default_limits_of_an_artifact_start_test() ->
    {ok, Art} = beamr:precompile(?TABLE),
    {ok, T} = beamr_nif:start_aot(Art, infinity, {default, default, default}),
    ?assertEqual(0, grow(T, 1 bsl 20)),
    ?assertEqual(-1, grow(T, 1)),
    {ok, Three} = beamr_nif:start_aot(Art, infinity, {default, 3, false}),
    ?assertEqual(-1, grow(Three, 4)).

limits_of_another_shape_are_badarg_test() ->
    [?assertError(badarg, beamr_nif:instantiate(?TABLE, infinity, [], Opts))
     || Opts <- [{foo, default, {default, default}}, {default, -1, {default, default}},
                 {1 bsl 64, default, {default, default}}, {default, default}]].
