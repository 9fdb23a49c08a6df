%%% @doc A guest cannot hang or starve the node: long calls and start functions take
%%% turns on the dirty schedulers, abandoned starts free theirs, starts have a default
%%% deadline, and compilation answers within its timeout off the schedulers.
-module(beamr_contain_tests).

-include_lib("eunit/include/eunit.hrl").

-export([nest/3]).

-define(SPIN, <<"(module (func (export \"spin\") (loop br 0)))">>).
-define(SPIN_START, <<"(module (func $s (loop br 0)) (start $s))">>).
-define(COUNT, <<"(module (func (export \"count\") (param $n i64) (result i64)
                   (loop $l (local.set $n (i64.sub (local.get $n) (i64.const 1)))
                            (br_if $l (i64.ne (local.get $n) (i64.const 0))))
                   (local.get $n)))">>).

%% As many calls spinning forever as there are dirty CPU schedulers leave room for a
%% call that needs many slices: it finishes.
spinners_do_not_starve_long_calls_test_() ->
    {timeout, 60, fun spinners_do_not_starve_long_calls/0}.

spinners_do_not_starve_long_calls() ->
    N = erlang:system_info(dirty_cpu_schedulers),
    {ok, C} = beamr:start(?COUNT),
    %% A count that needs tens of milliseconds alone: many slices.
    {ok, [0]} = beamr:call(C, <<"count">>, [50000000]),
    Spinners = [spin() || _ <- lists:seq(1, N)],
    timer:sleep(100),
    Self = self(),
    Counter = spawn(fun() -> Self ! {counted, beamr:call(C, <<"count">>, [50000000])} end),
    Result = receive {counted, R} -> R after 20000 -> {still_running, Counter} end,
    [beamr:stop(I) || {I, _} <- Spinners],
    [receive {spun, P, Spun} -> ?assertEqual({error, stopped}, Spun) after 5000 -> error(spinner_left) end
     || {_, P} <- Spinners],
    ?assertEqual({ok, [0]}, Result).

spin() ->
    {ok, I} = beamr:start(?SPIN),
    Self = self(),
    P = spawn(fun() -> Self ! {spun, self(), beamr:call(I, <<"spin">>, [])} end),
    {I, P}.

%% A start whose start function spins forever and whose caller is killed frees its
%% dirty scheduler: after more such starts than there are dirty schedulers, a start
%% and a long call still answer.
abandoned_starts_free_their_scheduler_test_() ->
    {timeout, 60, fun abandoned_starts_free_their_scheduler/0}.

abandoned_starts_free_their_scheduler() ->
    N = erlang:system_info(dirty_cpu_schedulers),
    Starters = [spawn(fun() -> beamr:start(?SPIN_START, #{timeout => infinity}) end)
                || _ <- lists:seq(1, N + 1)],
    timer:sleep(200),
    [exit(P, kill) || P <- Starters],
    Self = self(),
    spawn(fun() ->
                  Started = beamr:start(<<"(module)">>, #{timeout => 5000}),
                  {ok, C} = beamr:start(?COUNT, #{timeout => 5000}),
                  Self ! {after_abandoned, Started, beamr:call(C, <<"count">>, [10000000])}
          end),
    receive
        {after_abandoned, Started, Counted} ->
            ?assertMatch({ok, _}, Started),
            ?assertEqual({ok, [0]}, Counted)
    after 20000 ->
            error(start_after_abandoned_starts_hung)
    end.

%% A start function is cut off by the start's timeout, also while other start
%% functions spin, and the default timeout comes from the application's environment,
%% for `hb_beamr:start' too.
start_function_deadline_test_() ->
    {timeout, 60, fun start_function_deadline/0}.

start_function_deadline() ->
    ?assertEqual({error, timeout}, beamr:start(?SPIN_START, #{timeout => 100})),
    Old = application:get_env(beamr, start_timeout),
    application:set_env(beamr, start_timeout, 150),
    try
        ?assertEqual(150, beamr:start_timeout()),
        ?assertEqual({error, timeout}, beamr:start(?SPIN_START)),
        {ok, Wasm} = beamr:wat_to_wasm(?SPIN_START),
        ?assertEqual({error, timeout}, hb_beamr:start(Wasm))
    after
        restore_env(start_timeout, Old)
    end.

%% Compiling a module built to be slow to compile answers within the start's
%% timeout; the compilation runs on a worker, and a small start still answers while
%% it does.
compile_bomb_times_out_test_() ->
    {timeout, 120, fun compile_bomb_times_out/0}.

compile_bomb_times_out() ->
    Bomb = bomb(1000000),
    ?assert(byte_size(Bomb) < 4 * 1024 * 1024),
    T0 = erlang:monotonic_time(millisecond),
    ?assertEqual({error, timeout}, beamr:start(Bomb, #{timeout => 100})),
    Waited = erlang:monotonic_time(millisecond) - T0,
    ?assertEqual({error, timeout}, beamr:compile(bomb(1000001), #{timeout => 100})),
    ?assertMatch({ok, _}, beamr:start(<<"(module)">>, #{timeout => 5000})),
    %% The bound is the timeout, not the compilation (which takes far longer).
    ?assert(Waited < 5000),
    ?assertEqual(ok, flushed()).

%% A module past the size limit is refused before any work.
module_size_limit_test() ->
    Old = application:get_env(beamr, max_module_size),
    application:set_env(beamr, max_module_size, 100),
    try
        Big = bomb(100),
        Size = byte_size(Big),
        ?assertEqual({error, {module_too_large, Size, 100}}, beamr:start(Big)),
        ?assertEqual({error, {module_too_large, Size, 100}}, beamr:compile(Big)),
        ?assertEqual({error, {module_too_large, Size, 100}},
                     beamr:start(<<"(module)">>, #{links => #{<<"x">> => Big}})),
        ?assertEqual({error, {module_too_large, Size, 100}}, beamr:describe(Big)),
        ?assertEqual({error, {module_too_large, Size, 100}}, beamr:precompile(Big))
    after
        restore_env(max_module_size, Old)
    end.

restore_env(Key, undefined) -> application:unset_env(beamr, Key);
restore_env(Key, {ok, V}) -> application:set_env(beamr, Key, V).

flushed() ->
    receive Any -> {unexpected, Any} after 0 -> ok end.

%% A module of one function whose body is `Depth' nested blocks, unique per call (a
%% custom section), so that no cached compilation answers for it.
bomb(Depth) ->
    Body = iolist_to_binary([0, binary:copy(<<16#02, 16#40>>, Depth),
                             binary:copy(<<16#0b>>, Depth), 16#0b]),
    Code = iolist_to_binary([1, leb(byte_size(Body)), Body]),
    Unique = term_to_binary(make_ref()),
    Custom = iolist_to_binary([1, $u, Unique]),
    iolist_to_binary([<<0, "asm", 1, 0, 0, 0>>,
                      section(0, Custom),
                      section(1, <<1, 16#60, 0, 0>>),
                      section(3, <<1, 0>>),
                      section(7, <<1, 1, $f, 0, 0>>),
                      section(10, Code)]).

section(Id, Content) ->
    [Id, leb(byte_size(Content)), Content].

leb(N) when N < 128 -> <<N>>;
leb(N) -> <<1:1, (N band 127):7, (leb(N bsr 7))/binary>>.

-define(NEST, <<"(module (import \"env\" \"g\" (func $g (param i32) (result i32)))
                  (func (export \"f\") (param i32) (result i32) local.get 0 call $g))">>).

%% f(N) calls the import, whose fun calls f(N - 1) on the same instance: N levels of
%% calls nested inside imports. A level that fails records why and answers -1.
nest(S, #{args := [0]}, _O) ->
    {ok, [0], S};
nest(S, #{args := [N], instance := I}, O) ->
    case beamr:call(I, <<"f">>, [N - 1], fun nest/3, S, O) of
        {ok, [R], S2} -> {ok, [R + 1], S2};
        {error, Reason, S2} -> {ok, [-1], [Reason | S2]}
    end.

%% Calls nested inside imports past the limit end with a clear error at the level
%% that passes it; the levels around it go on, and the instance stays usable.
nesting_limit_test_() ->
    {timeout, 120, fun nesting_limit/0}.

nesting_limit() ->
    {ok, I} = beamr:start(?NEST),
    %% No step of a deep recursion holds a normal scheduler for long.
    Previous = erlang:system_monitor(self(), [{long_schedule, 5}]),
    Deep = try beamr:call(I, <<"f">>, [900], fun nest/3, [], #{})
           after beamr_test_util:restore_system_monitor(Previous)
           end,
    ?assertEqual({ok, [900], []}, Deep),
    Self = self(),
    ?assertEqual([], [M || {monitor, P, long_schedule, Info} = M <- beamr_test_util:monitor_messages(),
                           P =:= Self orelse beamr_test_util:mentions_beamr(Info)]),
    %% 1000 nested levels run; the call that would be the 1001st gets the error, so
    %% its import answers -1 and the 1000 levels around it add one each.
    ?assertEqual({ok, [-1 + 1000], [{nesting_too_deep, 1000}]},
                 beamr:call(I, <<"f">>, [1500], fun nest/3, [], #{})),
    ?assertEqual({ok, [3], []}, beamr:call(I, <<"f">>, [3], fun nest/3, [], #{})),
    ok = beamr:set_max_nesting(10),
    try
        ?assertEqual({ok, [-1 + 10], [{nesting_too_deep, 10}]},
                     beamr:call(I, <<"f">>, [20], fun nest/3, [], #{}))
    after
        beamr:set_max_nesting(1000)
    end,
    ?assertEqual({error, {bad_option, max_nesting, -1}}, beamr:set_max_nesting(-1)).

%% emscripten's `invoke_*' nests calls natively (no round trip to Erlang): the same
%% limit holds, and the whole call fails with it.
invoke_nesting_limit_test_() ->
    {timeout, 120, fun invoke_nesting_limit/0}.

invoke_nesting_limit() ->
    {ok, I} = beamr:start(<<"(module
        (import \"env\" \"invoke_ii\" (func $invoke_ii (param i32 i32) (result i32)))
        (table (export \"__indirect_function_table\") 1 funcref)
        (elem (i32.const 0) $rec)
        (global $sp (mut i32) (i32.const 0))
        (func (export \"stackSave\") (result i32) global.get $sp)
        (func (export \"stackRestore\") (param i32) local.get 0 global.set $sp)
        (func (export \"setThrew\") (param i32 i32))
        (func $rec (export \"rec\") (param $n i32) (result i32)
          (if (result i32) (i32.eqz (local.get $n))
            (then (i32.const 0))
            (else (i32.add (call $invoke_ii (i32.const 0)
                                 (i32.sub (local.get $n) (i32.const 1)))
                           (i32.const 1))))))">>),
    ?assertEqual({ok, [500]}, beamr:call(I, <<"rec">>, [500])),
    ?assertEqual({error, {nesting_too_deep, 1000}}, beamr:call(I, <<"rec">>, [5000])),
    ?assertEqual({ok, [3]}, beamr:call(I, <<"rec">>, [3])).
