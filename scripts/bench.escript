#!/usr/bin/env escript
%%! -noshell
%% beamr benchmark: every figure is measured in this run and shown as a ratio to an
%% Erlang process ping-pong round trip measured in the same run. Run with `make bench`.
-mode(compile).

main(_) ->
    Root = filename:dirname(filename:dirname(filename:absname(escript:script_name()))),
    true = code:add_patha(filename:join([Root, "_build", "default", "lib", "beamr", "ebin"])),
    {ok, Wat} = file:read_file(filename:join([Root, "bench", "fac.wat"])),
    {ok, I} = beamr:start(Wat),
    {ok, Pid, _, _} = hb_beamr:start(Wat),
    Mul = fun(S, #{args := [A, B]}, _) -> {ok, [A * B], S} end,
    %% The dev_wasm device (standalone world): a booted message asking for fac(5.0).
    {ok, Booted} = dev_wasm:init(#{<<"image">> => Wat}, #{}, #{}),
    FacMsg = Booted#{<<"function">> => <<"fac">>, <<"parameters">> => [5.0]},
    %% Warm up every path once.
    {ok, [120.0]} = beamr:call(I, <<"fac">>, [5.0]),
    {ok, [120.0]} = hb_beamr:call(Pid, "fac", [5.0]),
    {ok, [1], _} = beamr:call(I, <<"pow">>, [1, 1000], Mul, ok, #{}),
    [120.0] = compute_output(FacMsg),
    PingPong = best(fun() -> ping_pong(200000) end),
    Rows = [
        {"Erlang ping-pong round trip", PingPong},
        {"beamr:call fac(5.0)", best(fun() -> calls(500000, fun() -> {ok, [120.0]} = beamr:call(I, <<"fac">>, [5.0]) end) end)},
        {"hb_beamr:call fac(5.0)", best(fun() -> calls(500000, fun() -> {ok, [120.0]} = hb_beamr:call(Pid, "fac", [5.0]) end) end)},
        {"import round trip (pow 1^N)", best(fun() -> imports(I, Mul, 200000) end)},
        {"start + stop small module (cached)", best(fun() -> starts(Wat, 2000) end)},
        {"dev_wasm:compute fac(5.0) messages", best(fun() -> calls(200000, fun() -> [120.0] = compute_output(FacMsg) end) end)}
    ],
    io:format("~n~-38s ~12s ~14s ~10s~n", ["benchmark", "us/op", "ops/s", "ping-pongs"]),
    io:format("~s~n", [lists:duplicate(77, $-)]),
    [io:format("~-38s ~12.3f ~14b ~10.2f~n", [Name, Us, round(1.0e6 / Us), Us / PingPong])
     || {Name, Us} <- Rows],
    hb_beamr:stop(Pid),
    {ok, _} = dev_wasm:terminate(Booted, #{}, #{}),
    ok.

compute_output(Msg) ->
    {ok, Res} = dev_wasm:compute(Msg, #{}, #{}),
    beamr_msg:get(<<"results/output">>, Res).

%% The best of three runs, in microseconds per operation.
best(Run) ->
    lists:min([Run() || _ <- lists:seq(1, 3)]).

timed(N, Fun) ->
    T0 = erlang:monotonic_time(nanosecond),
    Fun(),
    (erlang:monotonic_time(nanosecond) - T0) / N / 1000.

calls(N, Call) ->
    timed(N, fun() -> repeat(N, Call) end).

repeat(0, _) -> ok;
repeat(N, F) -> F(), repeat(N - 1, F).

ping_pong(N) ->
    Echo = spawn(fun Loop() -> receive {From, X} -> From ! X, Loop(); stop -> ok end end),
    Us = timed(N, fun() -> repeat(N, fun() -> Echo ! {self(), ping}, receive ping -> ok end end) end),
    Echo ! stop,
    Us.

imports(I, Mul, N) ->
    timed(N, fun() -> {ok, [1], _} = beamr:call(I, <<"pow">>, [1, N], Mul, ok, #{}) end).

starts(Wat, N) ->
    timed(N, fun() -> repeat(N, fun() -> {ok, X} = beamr:start(Wat), beamr:stop(X) end) end).
