%%% @doc Starts of cached modules on the caller's scheduler: a module compiled and
%%% instantiated before, with no start function and small segments, starts through
%%% `beamr_nif:start_cached/2' without a dirty-scheduler hop; anything else is sent to
%%% the dirty-scheduler start.
-module(beamr_quick_start_tests).
-include_lib("eunit/include/eunit.hrl").

unique(Body) ->
    iolist_to_binary(["(module ", Body, io_lib:format(
        " (func (export \"id\") (result i32) i32.const ~b))", [erlang:unique_integer([positive])])]).

cached_module_starts_without_dirty_hop_test() ->
    W = unique("(memory (export \"memory\") 1) (data (i32.const 16) \"quick\")"),
    %% Never compiled: the caller must take the dirty path.
    ?assertEqual(not_cached, beamr_nif:start_cached(W, infinity)),
    {ok, First} = beamr:start(W),
    {ok, [Id]} = beamr:call(First, <<"id">>, []),
    #{hits := Hits} = beamr:cache_info(),
    {ok, I} = beamr_nif:start_cached(W, infinity),
    %% One hit for one start.
    ?assertMatch(#{hits := H} when H =:= Hits + 1, beamr:cache_info()),
    ?assertEqual({ok, [Id]}, beamr:call(I, <<"id">>, [])),
    ?assertEqual({ok, <<"quick">>}, beamr:read(I, 16, 5)),
    %% A fresh instance: the first one's writes are not seen.
    ok = beamr:write(First, 16, <<"dirty">>),
    {ok, J} = beamr:start(W),
    ?assertEqual({ok, <<"quick">>}, beamr:read(J, 16, 5)),
    ?assertEqual({error, {bad_timeout, soon}}, beamr_nif:start_cached(W, soon)).

%% A start function runs guest code: such a start always goes to a dirty scheduler,
%% and the start function runs for every instance.
start_function_is_never_quick_test() ->
    W = unique("(memory (export \"memory\") 1) (func $s i32.const 0 i32.const 7 i32.store8) (start $s)"),
    {ok, A} = beamr:start(W),
    {ok, B} = beamr:start(W),
    ?assertEqual(not_cached, beamr_nif:start_cached(W, infinity)),
    [?assertEqual({ok, <<7>>}, beamr:read(X, 0, 1)) || X <- [A, B]].

%% Data segments past the bound may be copied at every start: not quick either.
large_data_is_never_quick_test() ->
    Big = binary:copy(<<"x">>, (1 bsl 20) + 1),
    W = unique(["(memory 17) (data (i32.const 0) \"", Big, "\")"]),
    {ok, _} = beamr:start(W),
    {ok, _} = beamr:start(W),
    ?assertEqual(not_cached, beamr_nif:start_cached(W, infinity)).

%% Quick starts of a large image (memory64, a 512 KB data segment, 2000 functions)
%% never hold the normal scheduler they run on: the system monitor sees no long
%% schedule of this process at 5 ms over 200 starts.
large_image_quick_starts_hold_no_scheduler_test_() ->
    {timeout, 120, fun large_image_quick_starts_hold_no_scheduler/0}.

large_image_quick_starts_hold_no_scheduler() ->
    Data = binary:copy(<<"beamr!!!">>, 64 * 1024),
    Funcs = [io_lib:format("(func (export \"f~b\") (param i64) (result i64) local.get 0 i64.const ~b i64.add)~n",
                           [K, K]) || K <- lists:seq(1, 2000)],
    {ok, W} = beamr:wat_to_wasm(iolist_to_binary(
        [unique(["(memory i64 192) (data (i64.const 4096) \"", Data, "\")\n", Funcs])])),
    {ok, _} = beamr:start(W),
    {ok, I} = beamr_nif:start_cached(W, infinity),
    ?assertEqual({ok, [8]}, beamr:call(I, <<"f1">>, [7])),
    Self = self(),
    Previous = erlang:system_monitor(self(), [{long_schedule, 5}]),
    try
        [begin {ok, X} = beamr:start(W), ok = beamr:stop(X) end || _ <- lists:seq(1, 200)]
    after
        erlang:system_monitor(Previous)
    end,
    Reports = receive_reports([]),
    ?assertEqual([], [R || {monitor, Pid, long_schedule, _} = R <- Reports, Pid =:= Self]),
    ?assertEqual(not_cached, beamr_nif:start_cached(binary:copy(W), infinity)).

receive_reports(Acc) ->
    receive {monitor, _, long_schedule, _} = R -> receive_reports([R | Acc])
    after 0 -> Acc
    end.

%% A memory64 module whose maximum fits the small reservation runs on an engine of its
%% own (beamr_core's engine::choose); the quick start finds its compilation there.
small_memory64_module_starts_quickly_test() ->
    {ok, W} = beamr:wat_to_wasm(unique("(memory (export \"memory\") i64 1 2) (data (i64.const 8) \"small\")")),
    {ok, First} = beamr:start(W),
    {ok, [Id]} = beamr:call(First, <<"id">>, []),
    {ok, I} = beamr_nif:start_cached(W, infinity),
    ?assertEqual({ok, [Id]}, beamr:call(I, <<"id">>, [])),
    ?assertEqual({ok, <<"small">>}, beamr:read(I, 8, 5)),
    ?assertMatch({error, _}, beamr:read(I, 65535, 2)).

%% The Spectre guard is on by default; the node option turns it off for modules
%% compiled after it, which get an engine of their own: the same bytes compile again.
spectre_guard_option_test() ->
    ?assert(beamr_nif:spectre_guard()),
    {ok, W} = beamr:wat_to_wasm(unique("(memory (export \"memory\") 1) (data (i32.const 0) \"guard\")")),
    {ok, Guarded} = beamr:start(W),
    Before = beamr_nif:compilations(),
    ok = beamr_nif:set_spectre_guard(false),
    try
        ?assertNot(beamr_nif:spectre_guard()),
        {ok, Unguarded} = beamr:start(W),
        ?assertEqual(Before + 1, beamr_nif:compilations()),
        ?assertEqual({ok, <<"guard">>}, beamr:read(Unguarded, 0, 5)),
        ?assertMatch({error, _}, beamr:read(Unguarded, 65535, 2)),
        ?assertEqual({ok, <<"guard">>}, beamr:read(Guarded, 0, 5))
    after
        ok = beamr_nif:set_spectre_guard(true)
    end,
    {ok, _} = beamr:start(W),
    ?assertEqual(Before + 1, beamr_nif:compilations()).
