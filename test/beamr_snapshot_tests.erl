%%% @doc Snapshots, limits, fuel, determinism and the module caches, through the real
%%% NIF.
-module(beamr_snapshot_tests).

-include_lib("eunit/include/eunit.hrl").

%% State in a non-exported mutable global, memory and a table.
-define(STATEFUL, <<"(module
  (memory 1 100)
  (global $counter (mut i32) (i32.const 0))
  (table $t 4 funcref)
  (func $one (result i32) i32.const 1)
  (func $two (result i32) i32.const 2)
  (elem (i32.const 0) $one $two)
  (func (export \"bump\") (result i32)
    global.get $counter i32.const 1 i32.add global.set $counter global.get $counter)
  (func (export \"counter\") (result i32) global.get $counter)
  (func (export \"grow\") (param i32) (result i32) local.get 0 memory.grow)
  (func (export \"pages\") (result i32) memory.size)
  (func (export \"load\") (param i32) (result i32) local.get 0 i32.load)
  (func (export \"store\") (param i32 i32) local.get 0 local.get 1 i32.store)
  (func (export \"swap\") (table.set $t (i32.const 3) (table.get $t (i32.const 1))))
  (func (export \"slot\") (param i32) (result i32)
    local.get 0 table.get $t ref.is_null if (result i32) i32.const -1
    else local.get 0 call_indirect $t (result i32) end))">>).

-define(LOOP, <<"(module (memory 1)
  (global $acc (mut f64) (f64.const 0))
  (func (export \"work\") (param i32) (result i32) (local i32)
    block loop local.get 0 i32.eqz br_if 1
      local.get 1 local.get 0 i32.add local.set 1
      global.get $acc f64.const 0 f64.const 0 f64.div f64.add global.set $acc
      local.get 0 i32.const 1 i32.sub local.set 0 br 0 end end
    i32.const 8 global.get $acc f64.store
    local.get 1))">>).

start(Wat) ->
    {ok, I} = beamr:start(Wat),
    I.

globals_memory_and_tables_restored_test() ->
    A = start(?STATEFUL),
    {ok, [1]} = beamr:call(A, <<"bump">>, []),
    {ok, [2]} = beamr:call(A, <<"bump">>, []),
    {ok, []} = beamr:call(A, <<"swap">>, []),
    {ok, [1]} = beamr:call(A, <<"grow">>, [2]),
    {ok, []} = beamr:call(A, <<"store">>, [3 * 65536 - 4, 77]),
    {ok, Snap} = beamr:serialize(A),
    ?assertMatch(<<"BEAMRSNP", 1:32/little, _/binary>>, Snap),
    B = start(?STATEFUL),
    ?assertEqual({ok, [0]}, beamr:call(B, <<"counter">>, [])),
    ?assertEqual(ok, beamr:deserialize(B, Snap)),
    ?assertEqual({ok, [2]}, beamr:call(B, <<"counter">>, [])),
    ?assertEqual({ok, [3]}, beamr:call(B, <<"pages">>, [])),
    ?assertEqual({ok, [77]}, beamr:call(B, <<"load">>, [3 * 65536 - 4])),
    ?assertEqual({ok, [2]}, beamr:call(B, <<"slot">>, [3])),
    ?assertEqual({ok, Snap}, beamr:serialize(B)),
    ?assertEqual({ok, [3]}, beamr:call(B, <<"bump">>, [])).

beamr_raw_snapshot_accepted_test() ->
    A = start(?STATEFUL),
    Raw = <<0:(300 * 8), 9:32/little, 0:((2 * 65536 - 304) * 8)>>,
    ?assertEqual(ok, beamr:deserialize(A, Raw)),
    ?assertEqual({ok, [2]}, beamr:call(A, <<"pages">>, [])),
    ?assertEqual({ok, [9]}, beamr:call(A, <<"load">>, [300])).

refusals_test() ->
    A = start(?STATEFUL),
    {ok, [1]} = beamr:call(A, <<"bump">>, []),
    {ok, Snap} = beamr:serialize(A),
    Other = start(<<"(module (memory 1) (global (mut i32) (i32.const 0)))">>),
    ?assertEqual({error, {snapshot, wrong_module}}, beamr:deserialize(Other, Snap)),
    <<Magic:8/binary, _:32, Rest/binary>> = Snap,
    ?assertEqual({error, {snapshot, version, 9}},
                 beamr:deserialize(A, <<Magic/binary, 9:32/little, Rest/binary>>)),
    ?assertEqual({error, {snapshot, truncated}},
                 beamr:deserialize(A, binary:part(Snap, 0, byte_size(Snap) - 20))),
    Flipped = flip(Snap, byte_size(Snap) - 30),
    ?assertEqual({error, {snapshot, corrupt}}, beamr:deserialize(A, Flipped)),
    %% Nothing changed.
    ?assertEqual({ok, [1]}, beamr:call(A, <<"counter">>, [])).

flip(Bin, At) ->
    <<Pre:At/binary, B, Post/binary>> = Bin,
    <<Pre/binary, (B bxor 16#55), Post/binary>>.

snapshot_inside_import_test() ->
    Wat = <<"(module (import \"env\" \"tick\" (func $tick)) (memory 1)
        (global $g (mut i32) (i32.const 0))
        (func (export \"run\") (result i32) i32.const 41 global.set $g call $tick global.get $g)
        (func (export \"g\") (result i32) global.get $g))">>,
    A = start(Wat),
    Self = self(),
    Tick = fun(S, #{instance := I}, _) -> Self ! {snap, beamr:serialize(I)}, {ok, [], S} end,
    {ok, [41], _} = beamr:call(A, <<"run">>, [], Tick, ok, #{}),
    {ok, Snap} = receive {snap, R} -> R after 1000 -> error(no_snapshot) end,
    B = start(Wat),
    ok = beamr:deserialize(B, Snap),
    ?assertEqual({ok, [41]}, beamr:call(B, <<"g">>, [])).

memory_limit_test() ->
    {ok, I} = beamr:start(?STATEFUL, #{max_memory => 3 * 65536}),
    ?assertEqual({ok, [1]}, beamr:call(I, <<"grow">>, [2])),
    ?assertEqual({ok, [-1]}, beamr:call(I, <<"grow">>, [1])),
    ?assertEqual({ok, [3]}, beamr:call(I, <<"pages">>, [])),
    ?assertEqual({ok, [1]}, beamr:call(I, <<"bump">>, [])),
    ?assertEqual({error, {bad_option, max_memory, -1}},
                 beamr:start(?STATEFUL, #{max_memory => -1})).

%% Module handles and links take start options: the handle keeps its engine unless
%% told otherwise, limits apply to every memory in the store, links share the engine.
handle_and_link_options_test() ->
    {ok, M} = beamr:compile(?STATEFUL, #{deterministic => true}),
    {ok, I} = beamr:start(M, #{max_memory => 2 * 65536}),
    ?assertEqual({ok, [1]}, beamr:call(I, <<"grow">>, [1])),
    ?assertEqual({ok, [-1]}, beamr:call(I, <<"grow">>, [1])),
    ?assertEqual({error, out_of_fuel}, beamr:call(I, <<"bump">>, [], #{fuel => 1})),
    {ok, J} = beamr:start(M),
    ?assertEqual({ok, undefined}, beamr:fuel_consumed(J)),
    ?assertMatch({error, {instantiate, _}}, beamr:start(M, #{deterministic => false})),
    {ok, Plain} = beamr:compile(?STATEFUL),
    ?assertEqual({error, not_metered}, beamr:fuel_consumed(element(2, beamr:start(Plain)))),
    ?assertMatch({error, {instantiate, _}}, beamr:start(Plain, #{deterministic => true})),
    %% A link and its consumer, both metered and both under the memory limit.
    Lib = <<"(module (memory (export \"mem\") 1)
        (func (export \"grow\") (param i32) (result i32) local.get 0 memory.grow))">>,
    Main = <<"(module (import \"lib\" \"grow\" (func $g (param i32) (result i32)))
        (func (export \"grow_lib\") (param i32) (result i32) local.get 0 call $g))">>,
    {ok, K} = beamr:start(Main, #{links => #{lib => Lib}, deterministic => true,
                                  max_memory => 3 * 65536}),
    ?assertEqual({ok, [1]}, beamr:call(K, <<"grow_lib">>, [2])),
    ?assertEqual({ok, [-1]}, beamr:call(K, <<"grow_lib">>, [1])),
    ?assertEqual({error, out_of_fuel}, beamr:call(K, <<"grow_lib">>, [0], #{fuel => 1})),
    ?assertMatch({error, {unsupported_options, _}},
                 beamr:start(Main, #{links => #{lib => Lib}, aot => true})),
    ?assertEqual({error, {bad_option, aot, 'maybe'}}, beamr:start(Main, #{aot => 'maybe'})).

table_limit_test() ->
    Wat = <<"(module (table $t 1 funcref)
        (func (export \"grow\") (param i32) (result i32) ref.null func local.get 0 table.grow $t))">>,
    {ok, I} = beamr:start(Wat, #{max_table_elements => 10}),
    ?assertEqual({ok, [1]}, beamr:call(I, <<"grow">>, [9])),
    ?assertEqual({ok, [-1]}, beamr:call(I, <<"grow">>, [1])).

stack_overflow_test() ->
    I = start(<<"(module (func $r (export \"r\") (param i32) (result i32)
        local.get 0 i32.const 1 i32.add call $r) (func (export \"ok\") (result i32) i32.const 7))">>),
    ?assertMatch({error, {trap, _}}, beamr:call(I, <<"r">>, [0])),
    ?assertEqual({ok, [7]}, beamr:call(I, <<"ok">>, [])).

fuel_test() ->
    {ok, I} = beamr:start(?LOOP, #{deterministic => true}),
    ?assertEqual({ok, undefined}, beamr:fuel_consumed(I)),
    ?assertEqual({error, out_of_fuel}, beamr:call(I, <<"work">>, [100000], #{fuel => 500})),
    ?assertEqual({ok, 500}, beamr:fuel_consumed(I)),
    ?assertEqual({ok, [55]}, beamr:call(I, <<"work">>, [10], #{fuel => 100000})),
    {ok, Used} = beamr:fuel_consumed(I),
    ?assert(Used > 10 andalso Used < 100000),
    %% Without a budget a call is unbounded.
    ?assertEqual({ok, [705082704]}, beamr:call(I, <<"work">>, [100000])),
    Plain = start(?LOOP),
    ?assertEqual({error, not_metered}, beamr:call(Plain, <<"work">>, [1], #{fuel => 10})),
    ?assertEqual({error, not_metered}, beamr:fuel_consumed(Plain)).

deterministic_runs_equal_test() ->
    Run = fun() ->
                  {ok, I} = beamr:start(?LOOP, #{deterministic => true}),
                  {ok, Out} = beamr:call(I, <<"work">>, [20000]),
                  {ok, Fuel} = beamr:fuel_consumed(I),
                  {ok, Snap} = beamr:serialize(I),
                  {Out, Fuel, Snap}
          end,
    First = Run(),
    ?assertEqual([First, First, First], [Run() || _ <- lists:seq(1, 3)]),
    {_, _, Snap} = First,
    {ok, I} = beamr:start(?LOOP, #{deterministic => true}),
    ok = beamr:deserialize(I, Snap),
    %% The canonical NaN was stored, not the host's.
    {ok, <<0:64, 16#7ff8000000000000:64/little>>} = beamr:read(I, 0, 16).

disk_cache_hit_after_clear_test() ->
    Dir = filename:join(["/tmp", "beamr-eunit-cache-" ++ os:getpid()]),
    ok = beamr:set_module_cache_dir(Dir),
    try
        Wat = <<"(module (func (export \"n\") (result i32) i32.const 31337))">>,
        {ok, I} = beamr:start(Wat),
        #{disk := #{files := Files, hits := Hits}} = beamr:cache_info(),
        ?assert(Files >= 1),
        ok = beamr:clear_cache(),
        #{modules := 0} = beamr:cache_info(),
        {ok, J} = beamr:start(Wat),
        #{disk := #{hits := Hits2}, modules := 1} = beamr:cache_info(),
        ?assertEqual(Hits + 1, Hits2),
        ?assertEqual({ok, [31337]}, beamr:call(J, <<"n">>, [])),
        ?assertEqual({ok, [31337]}, beamr:call(I, <<"n">>, []))
    after
        ok = beamr:set_module_cache_dir(undefined),
        os:cmd("rm -rf " ++ Dir)
    end.

aot_test() ->
    Wat = <<"(module (func (export \"n\") (result i32) i32.const 4242))">>,
    {ok, Artifact} = beamr:precompile(Wat),
    ok = beamr:clear_cache(),
    {ok, Pid, _, [{func, "n", "()i"}]} = hb_beamr:start(Artifact, aot),
    ?assertEqual({ok, [4242]}, hb_beamr:call(Pid, "n", [])),
    hb_beamr:stop(Pid),
    %% Tampered, truncated or plain wasm: refused, never run.
    ?assertMatch({error, {aot, _}}, hb_beamr:start(flip(Artifact, byte_size(Artifact) div 2), aot)),
    ?assertMatch({error, {aot, _}},
                 hb_beamr:start(binary:part(Artifact, 0, byte_size(Artifact) - 1), aot)),
    ?assertMatch({error, {aot, _}}, hb_beamr:start(Wat, aot)).

exports_hide_reserved_names_test() ->
    I = start(?STATEFUL),
    ?assertEqual([], [N || {_, N, _} <- beamr:exports(I), binary:match(N, <<"__beamr">>) =/= nomatch]).
