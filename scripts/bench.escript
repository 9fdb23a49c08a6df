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
    %% Warm up every path once.
    {ok, [120.0]} = beamr:call(I, <<"fac">>, [5.0]),
    {ok, [120.0]} = hb_beamr:call(Pid, "fac", [5.0]),
    {ok, [1], _} = beamr:call(I, <<"pow">>, [1, 1000], Mul, ok, #{}),
    PingPong = best(fun() -> ping_pong(200000) end),
    Rows = [
        {"Erlang ping-pong round trip", PingPong},
        {"beamr:call fac(5.0)", best(fun() -> calls(500000, fun() -> {ok, [120.0]} = beamr:call(I, <<"fac">>, [5.0]) end) end)},
        {"hb_beamr:call fac(5.0)", best(fun() -> calls(500000, fun() -> {ok, [120.0]} = hb_beamr:call(Pid, "fac", [5.0]) end) end)},
        {"import round trip (pow 1^N)", best(fun() -> imports(I, Mul, 200000) end)},
        {"start + stop small module (cached)", best(fun() -> starts(Wat, 2000) end)}
    ],
    io:format("~n~-38s ~12s ~14s ~10s~n", ["benchmark", "us/op", "ops/s", "ping-pongs"]),
    io:format("~s~n", [lists:duplicate(77, $-)]),
    [io:format("~-38s ~12.3f ~14b ~10.2f~n", [Name, Us, round(1.0e6 / Us), Us / PingPong])
     || {Name, Us} <- Rows],
    hb_beamr:stop(Pid),
    lua(Root, PingPong),
    ok.

%% The AOS-like Lua fixture (scripts/build-fixtures.sh lua; `make bench' builds it and
%% the Rust baseline): `return 1 + 1' through hb_beamr, the same `handle' called from
%% Rust on wasmtime directly and in V8 (node), cold compile and cached start.
lua(Root, PingPong) ->
    Path = filename:join([Root, "_build", "fixtures", "lua-aos.wasm"]),
    {ok, Wasm} = file:read_file(Path),
    {ok, Pid, _, _} = hb_beamr:start(Wasm),
    {ok, [], _} = hb_beamr:call(Pid, "_initialize", [], fun lua_import/3, ok),
    Beamr = median([lua_eval(Pid) || _ <- lists:seq(1, 1000)]),
    hb_beamr:stop(Pid),
    Target = os:getenv("CARGO_TARGET_DIR", filename:join(Root, "target")),
    Rust = external(filename:join([Target, "release", "examples", "lua_handle"]) ++ " " ++ Path),
    Node = external("node " ++ filename:join([Root, "bench", "lua_node.cjs"]) ++ " " ++ Path),
    Cold = median([cold_start(Wasm, K) || K <- lists:seq(1, 5)]),
    Cached = median([element(1, timer:tc(fun() -> {ok, P, _, _} = hb_beamr:start(Wasm),
                                                   hb_beamr:stop(P) end))
                     || _ <- lists:seq(1, 50)]),
    Rows = [{"Lua return 1+1 (hb_beamr:call, median)", Beamr},
            {"Lua return 1+1 (Rust on wasmtime)", Rust},
            {"Lua return 1+1 (V8, node)", Node},
            {"Lua image cold compile + start", Cold},
            {"Lua image start + stop (cached)", Cached}],
    [io:format("~-38s ~12.3f ~14b ~10.2f~n", [Name, float(Us), round(1.0e6 / Us), Us / PingPong])
     || {Name, Us} <- Rows, is_number(Us)],
    [io:format("~-38s ~12s~n", [Name, "n/a"]) || {Name, Us} <- Rows, not is_number(Us)],
    io:format("~nLua hb_beamr / Rust on wasmtime: ~s   hb_beamr / V8: ~s~n",
              [ratio(Beamr, Rust), ratio(Beamr, Node)]).

lua_eval(Pid) ->
    T0 = erlang:monotonic_time(nanosecond),
    {ok, Msg} = hb_beamr_io:write_string(Pid, <<"return 1 + 1">>),
    {ok, [Out], _} = hb_beamr:call(Pid, "handle", [Msg, 0], fun lua_import/3, ok),
    {ok, <<"{\"ok\":true,\"output\":\"2\"}">>} = hb_beamr_io:read_string(Pid, Out),
    ok = hb_beamr_io:free(Pid, Msg),
    (erlang:monotonic_time(nanosecond) - T0) / 1000.

%% The same imports the Rust and node baselines give: zeros (1 + 1 reaches none).
lua_import(S, #{func_sig := Sig}, _) ->
    {ok, [0 || _ <- lists:seq(1, length(lists:last(string:split(Sig, ")"))))], S}.

%% A custom section makes the bytes new to the module cache without changing the code.
cold_start(Wasm, K) ->
    Name = <<"beamr-bench-", (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
    Body = <<(byte_size(Name)), Name/binary, K>>,
    Fresh = <<Wasm/binary, 0, (byte_size(Body)), Body/binary>>,
    {Us, {ok, P, _, _}} = timer:tc(fun() -> hb_beamr:start(Fresh) end),
    hb_beamr:stop(P),
    Us.

median(Xs) ->
    lists:nth(length(Xs) div 2 + 1, lists:sort(Xs)).

%% A baseline program's printed median, or n/a when it cannot run here.
external(Cmd) ->
    Out = string:trim(os:cmd(Cmd ++ " 2>/dev/null")),
    try list_to_float(Out) catch error:badarg -> io:format("(~s: ~s)~n", [Cmd, Out]), na end.

ratio(A, B) when is_number(A), is_number(B) -> io_lib:format("~.2fx", [A / B]);
ratio(_, _) -> "n/a".

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
