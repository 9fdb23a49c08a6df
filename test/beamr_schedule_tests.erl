%%% @doc Scheduler and memory behaviour: no long schedules while spinning, flat RSS.
-module(beamr_schedule_tests).

-include_lib("eunit/include/eunit.hrl").

-import(beamr_test_util, [start/1, collect/3, rss_bytes/0]).

%% A call spinning forever never holds a normal scheduler for long, and stop ends it.
spin_no_long_schedule_test_() ->
    {timeout, 20, fun spin_no_long_schedule/0}.

spin_no_long_schedule() ->
    I = start("test.wat"),
    flush_monitor_messages(),
    Previous = erlang:system_monitor(self(), [{long_schedule, 5}]),
    Spinner =
        try
            S = beamr_test_util:spawn_reporting(spun, fun() -> beamr:call(I, <<"spin">>, []) end),
            timer:sleep(1000),
            S
        after
            beamr_test_util:restore_system_monitor(Previous)
        end,
    Reports = beamr_test_util:monitor_messages(),
    %% It really was still spinning.
    ?assert(is_process_alive(Spinner)),
    receive {spun, Early} -> error({spin_returned, Early}) after 0 -> ok end,
    T0 = erlang:monotonic_time(millisecond),
    ok = beamr:stop(I),
    ?assertEqual([{error, stopped}], collect(spun, 1, 500)),
    ?assert(erlang:monotonic_time(millisecond) - T0 =< 500),
    %% Only reports about the spinner or a beamr NIF count: another process's long
    %% schedule says nothing about beamr.
    ?assertEqual([], [R || {_, Pid, _, Info} = R <- Reports,
                           Pid =:= Spinner orelse beamr_test_util:mentions_beamr(Info)]).

%% Every first slice of a spinning call ends within about a millisecond, whether the
%% epoch ticker was running or parked for want of work: 40 fresh spinners (the last
%% eight after a pause long enough for the ticker to park), none seen by the monitor
%% at 4 ms. (The ticker's wake-ups used to wait for the busy scheduler thread's kernel
%% time slice: 3-5 ms in four starts of ten, and 5 ms in every start after a park.)
first_slices_stay_short_test_() ->
    {timeout, 30, fun first_slices_stay_short/0}.

first_slices_stay_short() ->
    Wat = beamr_test_util:fixture("test.wat"),
    Pauses = lists:duplicate(32, 5) ++ lists:duplicate(8, 250),
    flush_monitor_messages(),
    Previous = erlang:system_monitor(self(), [{long_schedule, 4}]),
    Spinners =
        try
            [spin_briefly(Wat, Pause) || Pause <- Pauses]
        after
            beamr_test_util:restore_system_monitor(Previous)
        end,
    ?assertEqual([], [R || {_, Pid, _, _} = R <- beamr_test_util:monitor_messages(),
                           lists:member(Pid, Spinners)]).

%% Starts a spinning call in a new process after `Pause' ms, lets it run 20 ms (its
%% first slice and some of the dirty scheduler's), stops it; returns the process.
spin_briefly(Wat, Pause) ->
    {ok, I} = beamr:start(Wat),
    timer:sleep(Pause),
    Spinner = beamr_test_util:spawn_reporting(spun, fun() -> beamr:call(I, <<"spin">>, []) end),
    timer:sleep(20),
    ok = beamr:stop(I),
    ?assertEqual([{error, stopped}], collect(spun, 1, 1000)),
    Spinner.

%% A memory.fill over 128 MB (70 ms of work) does not hold a normal scheduler: the
%% load-time rewrite does it in chunks, with an epoch check between them. Eight fills,
%% each of fresh memory in its own instance, all kept until the end: first touches of
%% fresh pages are what make a chunk slow (with 1 MiB chunks, about half of such fills
%% held a scheduler for 3-27 ms).
huge_fill_keeps_slices_short_test_() ->
    {timeout, 60, fun huge_fill_keeps_slices_short/0}.

huge_fill_keeps_slices_short() ->
    Wat = <<"(module (memory (export \"memory\") 1 65536)
               (func (export \"fill\") (param i32 i32)
                 local.get 0 i32.const 7 local.get 1 memory.fill))">>,
    Size = 2048 * 65536,
    Instances = [begin
                     {ok, I} = beamr:start(Wat),
                     {ok, 1} = beamr:memory_grow(I, 2047),
                     I
                 end || _ <- lists:seq(1, 8)],
    flush_monitor_messages(),
    Previous = erlang:system_monitor(self(), [{long_schedule, 5}]),
    Fillers =
        try
            [begin
                 F = beamr_test_util:spawn_reporting(filled, fun() ->
                             beamr:call(I, <<"fill">>, [0, Size])
                         end),
                 ?assertEqual([{ok, []}], collect(filled, 1, 20000)),
                 F
             end || I <- Instances]
        after
            beamr_test_util:restore_system_monitor(Previous)
        end,
    ?assertEqual([], [R || {_, Pid, _, _} = R <- beamr_test_util:monitor_messages(),
                           lists:member(Pid, Fillers)]),
    [?assertEqual({ok, <<7, 7>>}, beamr:read(I, Size - 2, 2)) || I <- Instances],
    [ok = beamr:stop(I) || I <- Instances],
    ok.

%% Freeing a big instance unmaps its memory (milliseconds for 100 MB): neither a stop
%% nor the garbage collection of the last reference does that on a normal scheduler.
big_instances_free_off_scheduler_test_() ->
    {timeout, 60, fun big_instances_free_off_scheduler/0}.

big_instances_free_off_scheduler() ->
    Wat = <<"(module (memory (export \"memory\") 1 65536)
               (func (export \"touch\") (param i32 i32)
                 local.get 0 i32.const 1 local.get 1 memory.fill))">>,
    Big = fun() ->
                  {ok, I} = beamr:start(Wat),
                  {ok, 1} = beamr:memory_grow(I, 2047),
                  {ok, []} = beamr:call(I, <<"touch">>, [0, 2048 * 65536]),
                  I
          end,
    Stopped = Big(),
    Holder = spawn(fun() -> _ = Big(), receive drop -> ok end end),
    timer:sleep(200),
    flush_monitor_messages(),
    Previous = erlang:system_monitor(self(), [{long_schedule, 5}]),
    %% Not from this process: the monitor is not told about itself.
    Stopper = spawn(fun() -> receive stop -> ok = beamr:stop(Stopped) end end),
    try
        StopperRef = monitor(process, Stopper),
        Stopper ! stop,
        receive {'DOWN', StopperRef, process, Stopper, normal} -> ok end,
        %% The holder's instance goes when the holder does.
        Ref = monitor(process, Holder),
        Holder ! drop,
        receive {'DOWN', Ref, process, Holder, _} -> ok end,
        timer:sleep(200)
    after
        beamr_test_util:restore_system_monitor(Previous)
    end,
    ?assertEqual([], [R || {_, Pid, _, Info} = R <- beamr_test_util:monitor_messages(),
                           Pid =:= Stopper orelse Pid =:= Holder orelse beamr_test_util:mentions_beamr(Info)]).

flush_monitor_messages() ->
    _ = beamr_test_util:monitor_messages(),
    ok.

%% 200k calls do not grow the VM's memory.
calls_rss_flat_test_() ->
    {timeout, 40, fun calls_rss_flat/0}.

calls_rss_flat() ->
    I = start("test.wat"),
    ok = fac_calls(I, 20000),
    {Erl0, Rss0} = measure(),
    ok = fac_calls(I, 200000),
    {Erl1, Rss1} = measure(),
    Limit = 8 * 1024 * 1024,
    ?assert(Erl1 - Erl0 < Limit, {erlang_memory_growth, Erl1 - Erl0}),
    ?assert(Rss1 - Rss0 < Limit, {rss_growth, Rss1 - Rss0}).

fac_calls(_I, 0) ->
    ok;
fac_calls(I, N) ->
    {ok, [120.0]} = beamr:call(I, <<"fac">>, [5.0]),
    fac_calls(I, N - 1).

%% 2000 start/stop cycles do not grow the VM's memory.
start_stop_rss_flat_test_() ->
    {timeout, 40, fun start_stop_rss_flat/0}.

start_stop_rss_flat() ->
    Wat = beamr_test_util:fixture("test.wat"),
    ok = start_stop(Wat, 200),
    {Erl0, Rss0} = measure(),
    ok = start_stop(Wat, 2000),
    {Erl1, Rss1} = measure(),
    Limit = 16 * 1024 * 1024,
    ?assert(Erl1 - Erl0 < Limit, {erlang_memory_growth, Erl1 - Erl0}),
    ?assert(Rss1 - Rss0 < Limit, {rss_growth, Rss1 - Rss0}).

start_stop(_Wat, 0) ->
    ok;
start_stop(Wat, N) ->
    {ok, I} = beamr:start(Wat),
    {ok, [6.0]} = beamr:call(I, <<"fac">>, [3.0]),
    ok = beamr:stop(I),
    start_stop(Wat, N - 1).

measure() ->
    garbage_collect(),
    {erlang:memory(total), rss_bytes()}.
