%%% @doc Tests of HyperBEAM's API shapes (hb_beamr, hb_beamr_io) on beamr.
-module(hb_beamr_tests).

-include_lib("eunit/include/eunit.hrl").

-import(beamr_test_util, [fixture/1, within/2]).

start(Name) ->
    {ok, Pid, _Imports, _Exports} = hb_beamr:start(fixture(Name)),
    Pid.

mul(S, #{args := [A, B]}, _Opts) -> {ok, [A * B], S}.

%%% hb_beamr

start_shapes_test() ->
    {ok, Pid, Imports, Exports} = hb_beamr:start(fixture("test.wat")),
    ?assert(is_pid(Pid)),
    ?assertEqual([], Imports),
    ?assert(lists:member({func, "fac", "(F)F"}, Exports)),
    ?assert(lists:member({func, "pair", "(iI)iI"}, Exports)),
    ?assert(lists:member({memory, "memory", ""}, Exports)),
    ?assert(lists:member({table, "__indirect_function_table", ""}, Exports)),
    {ok, Pow, PowImports, PowExports} = hb_beamr:start(fixture("pow_calculator.wat")),
    ?assert(is_pid(Pow)),
    ?assertEqual([{func, "my_lib", "mul", "(ii)i"}], PowImports),
    ?assertEqual([{func, "pow", "(ii)i"}], PowExports).

start_errors_test() ->
    ?assertMatch({error, _}, hb_beamr:start(<<"not wasm">>)),
    ?assertMatch({error, _}, hb_beamr:start(fixture("test.wat"), aot)).

simple_call_test() ->
    Pid = start("test.wat"),
    ?assertEqual({ok, [120.0]}, hb_beamr:call(Pid, "fac", [5.0])),
    ?assertEqual({ok, [120.0]}, hb_beamr:call(Pid, <<"fac">>, [5.0])),
    ?assertEqual({ok, [120.0]}, hb_beamr:call(Pid, 1, [5.0])),
    ?assertEqual({ok, [7, 1 bsl 40]}, hb_beamr:call(Pid, "pair", [7, 1 bsl 40])),
    ?assertMatch({error, {trap, _}}, hb_beamr:call(Pid, "div_s", [1, 0])),
    ?assertMatch({error, _}, hb_beamr:call(Pid, "nope", [])),
    ?assertEqual({ok, [6.0]}, hb_beamr:call(Pid, "fac", [3.0])).

%% HyperBEAM's default import fun answers every import with [0].
stub_import_test() ->
    Pid = start("pow_calculator.wat"),
    ?assertEqual({ok, [0]}, hb_beamr:call(Pid, "pow", [2, 5])),
    ?assertEqual({ok, [1]}, hb_beamr:call(Pid, "pow", [2, 0])).

%% A process remembers the instance it called last; calls through that memory see a
%% stop, and never reach another instance.
remembered_instance_test() ->
    Pid = start("test.wat"),
    Other = start("test.wat"),
    ?assertEqual({ok, [120.0]}, hb_beamr:call(Pid, "fac", [5.0])),
    ?assertEqual({ok, [120.0]}, hb_beamr:call(Pid, <<"fac">>, [5.0])),
    ?assertEqual({error, {bad_arg, 1, f64, x}}, hb_beamr:call(Pid, "fac", [x])),
    ok = hb_beamr:stop(Pid),
    ?assertEqual({error, stopped}, hb_beamr:call(Pid, "fac", [5.0])),
    ?assertEqual({error, stopped}, hb_beamr_io:size(Pid)),
    ?assertEqual({ok, [6.0]}, hb_beamr:call(Other, "fac", [3.0])),
    ?assertEqual({ok, [6.0]}, hb_beamr:call(Other, "fac", [3.0])),
    ?assertEqual({error, stopped}, hb_beamr:call(Pid, "fac", [5.0])).

imported_function_test() ->
    Pid = start("pow_calculator.wat"),
    Fun = fun(Msg1, #{args := [Arg1, Arg2]}, _Opts) -> {ok, [Arg1 * Arg2], Msg1} end,
    ?assertEqual({ok, [32], #{}}, hb_beamr:call(Pid, <<"pow">>, [2, 5], Fun)),
    ?assertEqual({ok, [32], #{}}, hb_beamr:call(Pid, "pow", [2, 5], Fun)),
    ?assertEqual({ok, [100000], #{}}, hb_beamr:call(Pid, "pow", [10, 5], fun mul/3)).

import_request_shape_test() ->
    Pid = start("pow_calculator.wat"),
    Fun = fun(Seen, Req, Opts) ->
                  #{args := [A, B]} = Req,
                  {ok, [A * B], [{Req, Opts} | Seen]}
          end,
    {ok, [3], Seen} = hb_beamr:call(Pid, "pow", [3, 1], Fun, [], #{my_opt => 1}),
    ?assertMatch([{_, _}], Seen),
    [{Req, Opts}] = Seen,
    ?assertEqual(#{instance => Pid, module => "my_lib", func => "mul", args => [1, 3],
                   func_sig => "(ii)i"},
                 Req),
    ?assertEqual(1, maps:get(my_opt, Opts)).

state_threading_test() ->
    Pid = start("pow_calculator.wat"),
    Count = fun(N, #{args := [A, B]}, _) -> {ok, [A * B], N + 1} end,
    ?assertEqual({ok, [32], 5}, hb_beamr:call(Pid, "pow", [2, 5], Count, 0)),
    ?assertEqual({ok, [9], 7}, hb_beamr:call(Pid, "pow", [3, 2], Count, 5, #{})),
    %% A failing import keeps the state from before it.
    Fail = fun(C, _, _) when C >= 2 -> throw(enough);
              (C, #{args := [A, B]}, _) -> {ok, [A * B], C + 1}
           end,
    {error, {import_crashed, M, N, throw, enough}, 2} =
        hb_beamr:call(Pid, "pow", [2, 5], Fail, 0, #{}),
    %% The names may come back as binaries or charlists.
    ?assertEqual({"my_lib", "mul"}, {unicode:characters_to_list(M), unicode:characters_to_list(N)}),
    ?assertEqual({ok, [8], 3}, hb_beamr:call(Pid, "pow", [2, 3], Count, 0, #{})).

call_timeout_option_test() ->
    Pid = start("test.wat"),
    ?assertEqual({error, timeout, s},
                 within(3000, fun() ->
                                      hb_beamr:call(Pid, "spin", [], fun hb_beamr:stub/3, s,
                                                    #{beamr_timeout => 50})
                              end)),
    ?assertEqual({ok, [120.0]}, hb_beamr:call(Pid, "fac", [5.0])).

%% HyperBEAM's multiclient test: one process starts the instance (and exits), another
%% calls it.
multiclient_test() ->
    Self = self(),
    ExecPID = spawn(fun() ->
                            receive {wasm, WASM} ->
                                    Self ! {result, hb_beamr:call(WASM, "fac", [5.0])}
                            after 5000 -> ok
                            end
                    end),
    _StartPID = spawn(fun() ->
                              {ok, WASM, _, _} = hb_beamr:start(fixture("test.wat")),
                              ExecPID ! {wasm, WASM}
                      end),
    ?assertEqual([{ok, [120.0]}], beamr_test_util:collect(result, 1, 5000)).

stop_test() ->
    Pid = start("test.wat"),
    ?assertEqual(ok, hb_beamr:stop(Pid)),
    ?assertMatch({error, _}, within(2000, fun() -> hb_beamr:call(Pid, "fac", [5.0]) end)),
    ?assertMatch({error, _, st},
                 within(2000, fun() -> hb_beamr:call(Pid, "fac", [5.0], fun mul/3, st) end)),
    ?assertMatch({error, _}, hb_beamr_io:size(Pid)),
    ?assertMatch({error, _}, hb_beamr_io:read(Pid, 66, 13)),
    ?assertMatch({error, _}, hb_beamr_io:write(Pid, 0, <<1>>)),
    ?assertMatch({error, _}, hb_beamr:serialize(Pid)),
    ?assertEqual(ok, hb_beamr:stop(Pid)),
    MRef = erlang:monitor(process, Pid),
    receive {'DOWN', MRef, process, Pid, _} -> ok after 2000 -> error(holder_still_alive) end.

stop_during_call_test() ->
    Pid = start("test.wat"),
    Self = self(),
    spawn(fun() -> Self ! {spun, hb_beamr:call(Pid, "spin", [])} end),
    timer:sleep(20),
    ok = hb_beamr:stop(Pid),
    ?assertEqual([{error, stopped}], beamr_test_util:collect(spun, 1, 2000)).

%% The process behind an instance is a child of beamr_holder_sup; killing it stops the
%% instance, also one in the middle of a call, and later calls get an error.
supervised_holder_test() ->
    Pid = start("test.wat"),
    ?assert(lists:member(Pid, [C || {_, C, _, _} <- supervisor:which_children(beamr_holder_sup)])),
    {ok, I} = beamr_proc:lookup(Pid),
    Self = self(),
    spawn(fun() -> Self ! {spun, hb_beamr:call(Pid, "spin", [])} end),
    timer:sleep(20),
    MRef = erlang:monitor(process, Pid),
    exit(Pid, kill),
    receive {'DOWN', MRef, process, Pid, killed} -> ok after 2000 -> error(holder_alive) end,
    ?assertEqual([{error, stopped}], beamr_test_util:collect(spun, 1, 2000)),
    ?assert(beamr:is_stopped(I)),
    ?assertEqual({error, stopped}, hb_beamr:call(Pid, "fac", [5.0])),
    _ = sys:get_state(beamr_holder_sup),
    ?assertNot(lists:member(Pid, [C || {_, C, _, _} <- supervisor:which_children(beamr_holder_sup)])).

%%% hb_beamr_io

io_size_test() ->
    Pid = start("test.wat"),
    ?assertEqual({ok, 65536}, hb_beamr_io:size(Pid)),
    P64 = start("test-64.wat"),
    ?assertEqual({ok, 131072}, hb_beamr_io:size(P64)),
    Pow = start("pow_calculator.wat"),
    ?assertMatch({error, _}, hb_beamr_io:size(Pow)).

io_read_test() ->
    Pid = start("test.wat"),
    ?assertEqual({ok, <<"Hello, World!">>}, hb_beamr_io:read(Pid, 66, 13)),
    ?assertMatch({error, _}, hb_beamr_io:read(Pid, 1000000, 13)),
    ?assertMatch({error, _}, hb_beamr_io:read(Pid, 65530, 13)),
    ?assertMatch({error, _}, hb_beamr_io:read(Pid, -1, 13)),
    ?assertMatch({error, _}, hb_beamr_io:read(Pid, 0, -13)),
    ?assertMatch({error, _}, hb_beamr_io:read(Pid, 1 bsl 64, 1)),
    ?assertEqual({ok, <<"Hello, World!">>}, hb_beamr_io:read(Pid, 66, 13)).

io_write_test() ->
    Pid = start("test.wat"),
    ?assertEqual(ok, hb_beamr_io:write(Pid, 0, <<"Hello, World!">>)),
    ?assertEqual({ok, <<"Hello, World!">>}, hb_beamr_io:read(Pid, 0, 13)),
    ?assertMatch({error, _}, hb_beamr_io:write(Pid, 1000000, <<"Bad hello world!">>)),
    ?assertMatch({error, _}, hb_beamr_io:write(Pid, 65530, <<"Bad hello world!">>)),
    ?assertMatch({error, _}, hb_beamr_io:write(Pid, -1, <<"x">>)),
    ?assertMatch({error, _}, hb_beamr_io:write(Pid, 1 bsl 64, <<"x">>)),
    ?assertEqual({ok, <<0, 0, 0, 0, 0, 0>>}, hb_beamr_io:read(Pid, 65530, 6)),
    %% The wasm code sees what was written.
    ok = hb_beamr_io:write(Pid, 300, <<123456:32/little>>),
    ?assertEqual({ok, [123456]}, hb_beamr:call(Pid, "load_i32", [300])).

io_malloc_test() ->
    Pid = start("imports.wat"),
    {ok, P1} = hb_beamr_io:malloc(Pid, 100),
    ?assert(P1 > 0),
    {ok, P2} = hb_beamr_io:malloc(Pid, 100),
    ?assert(P2 >= P1 + 100),
    ?assertEqual(ok, hb_beamr_io:free(Pid, P1)),
    %% Memory is at most 4 pages: a 128 MiB allocation fails cleanly.
    ?assertMatch({error, _}, hb_beamr_io:malloc(Pid, 128 * 1024 * 1024)),
    {ok, P3} = hb_beamr_io:malloc(Pid, 100000),
    ?assert(P3 > P2),
    ?assertEqual(ok, hb_beamr_io:write(Pid, P3 + 99990, <<"0123456789">>)),
    ?assertEqual({ok, <<"0123456789">>}, hb_beamr_io:read(Pid, P3 + 99990, 10)),
    %% No malloc export: an error, not a crash.
    T = start("test.wat"),
    ?assertMatch({error, _}, hb_beamr_io:malloc(T, 10)),
    ?assertMatch({error, _}, hb_beamr_io:free(T, 10)).

io_string_test() ->
    Pid = start("imports.wat"),
    {ok, Ptr} = hb_beamr_io:write_string(Pid, <<"Hello, World!">>),
    ?assertEqual({ok, <<"Hello, World!">>}, hb_beamr_io:read_string(Pid, Ptr)),
    ?assertEqual({ok, <<"Hello, World!", 0>>}, hb_beamr_io:read(Pid, Ptr, 14)),
    {ok, Ptr2} = hb_beamr_io:write_string(Pid, ["io", $l, <<"ist">>]),
    ?assertEqual({ok, <<"iolist">>}, hb_beamr_io:read_string(Pid, Ptr2)),
    {ok, Ptr3} = hb_beamr_io:write_string(Pid, <<>>),
    ?assertEqual({ok, <<>>}, hb_beamr_io:read_string(Pid, Ptr3)),
    Long = binary:copy(<<"abcdefghij">>, 500),
    {ok, Ptr4} = hb_beamr_io:write_string(Pid, Long),
    ?assertEqual({ok, Long}, hb_beamr_io:read_string(Pid, Ptr4)),
    ?assertEqual({ok, Long}, hb_beamr_io:read_string(Pid, Ptr4, 3)),
    ?assertEqual({ok, <<"efghij">>}, hb_beamr_io:read_string(Pid, Ptr4 + 4994, 1)),
    %% Strings that run off the end, or start outside memory, are errors.
    {ok, Size} = hb_beamr_io:size(Pid),
    ok = hb_beamr_io:write(Pid, Size - 4, <<"abcd">>),
    ?assertMatch({error, _}, hb_beamr_io:read_string(Pid, Size - 4)),
    ?assertMatch({error, _}, hb_beamr_io:read_string(Pid, Size)),
    ?assertMatch({error, _}, hb_beamr_io:read_string(Pid, -1)),
    ?assertMatch({error, _}, hb_beamr_io:read_string(Pid, 1 bsl 40)).

%% An import fun works on the live memory through hb_beamr_io and the pid.
io_inside_import_test() ->
    Pid = start("imports.wat"),
    Peek = fun(S, #{instance := W, func := "peek", args := [Addr, 4]}, _) ->
                   {ok, <<V:32/little>>} = hb_beamr_io:read(W, Addr, 4),
                   ok = hb_beamr_io:write(W, Addr + 4, <<(V + 1):32/little>>),
                   {ok, Str} = hb_beamr_io:write_string(W, <<"inside">>),
                   {ok, [0], [Str | S]}
           end,
    {ok, [778], [StrPtr]} = hb_beamr:call(Pid, "call_peek", [64, 777], Peek, []),
    ?assertEqual({ok, <<"inside">>}, hb_beamr_io:read_string(Pid, StrPtr)).

serialize_test() ->
    Pid = start("test.wat"),
    {ok, Mem} = hb_beamr:serialize(Pid),
    ?assertMatch(<<"BEAMRSNP", _/binary>>, Mem),
    %% Change the memory, then restore it.
    ok = hb_beamr_io:write(Pid, 66, <<"Goodbye!">>),
    {ok, []} = hb_beamr:call(Pid, "store_i32", [1000, 42]),
    ?assertEqual(ok, hb_beamr:deserialize(Pid, Mem)),
    ?assertEqual({ok, <<"Hello, World!">>}, hb_beamr_io:read(Pid, 66, 13)),
    ?assertEqual({ok, Mem}, hb_beamr:serialize(Pid)),
    ?assertEqual({ok, [0]}, hb_beamr:call(Pid, "load_i32", [1000])),
    %% And move a state into a fresh instance.
    ok = hb_beamr_io:write(Pid, 2000, <<4242:32/little>>),
    {ok, Mem2} = hb_beamr:serialize(Pid),
    Fresh = start("test.wat"),
    ?assertEqual(ok, hb_beamr:deserialize(Fresh, Mem2)),
    ?assertEqual({ok, [4242]}, hb_beamr:call(Fresh, "load_i32", [2000])),
    ?assertEqual({ok, Mem2}, hb_beamr:serialize(Fresh)).

serialize_memory64_test() ->
    Pid = start("test-64.wat"),
    {ok, Mem} = hb_beamr:serialize(Pid),
    {ok, Raw} = hb_beamr_io:read(Pid, 0, 131072),
    ?assertEqual(<<"above 64k">>, binary:part(Raw, 70000, 9)),
    Fresh = start("test-64.wat"),
    ok = hb_beamr_io:write(Fresh, 70000, <<"XXXXXXXXX">>),
    ?assertEqual(ok, hb_beamr:deserialize(Fresh, Mem)),
    ?assertEqual({ok, <<"above 64k">>}, hb_beamr_io:read(Fresh, 70000, 9)),
    ?assertEqual({ok, [120.0]}, hb_beamr:call(Fresh, "fac", [5.0])).
