#!/usr/bin/env escript
%%! -noshell
%% beamr demo: loads examples/pow.wat, calls exports through both APIs, answers an
%% import from Erlang and reads the module's memory. Run with `make demo`.
main(_) ->
    Root = filename:dirname(filename:dirname(filename:absname(escript:script_name()))),
    true = code:add_patha(filename:join([Root, "_build", "default", "lib", "beamr", "ebin"])),
    {ok, Wat} = file:read_file(filename:join([Root, "examples", "pow.wat"])),

    {ok, I} = beamr:start(Wat),
    io:format("exports: ~p~n", [beamr:exports(I)]),
    io:format("imports: ~p~n", [beamr:imports(I)]),
    {ok, [Fac]} = beamr:call(I, <<"fac">>, [10.0]),
    io:format("fac(10.0) = ~p~n", [Fac]),

    Mul = fun(Calls, #{module := <<"my_lib">>, func := <<"mul">>, args := [A, B]}, _Opts) ->
                  {ok, [A * B], Calls + 1}
          end,
    {ok, [Pow], Calls} = beamr:call(I, <<"pow">>, [3, 30], Mul, 0, #{}),
    io:format("pow(3, 30) = ~p (~p imports answered by Erlang)~n", [Pow, Calls]),

    {ok, [Ptr]} = beamr:call(I, <<"greet">>, []),
    {ok, Text} = beamr:read(I, Ptr, 22),
    io:format("memory at ~p: ~s~n", [Ptr, Text]),
    {error, Reason} = beamr:read(I, 65530, 100),
    io:format("out-of-bounds read: ~p~n", [Reason]),

    {ok, Pid, _Imports, _Exports} = hb_beamr:start(Wat),
    {ok, [Fac], _} = hb_beamr:call(Pid, "fac", [10.0], fun hb_beamr:stub/3),
    {ok, [Pow2], _} = hb_beamr:call(Pid, "pow", [2, 10],
                                     fun(S, #{args := [A, B]}, _) -> {ok, [A * B], S} end),
    io:format("hb_beamr (instance ~p): fac(10.0) = ~p, pow(2, 10) = ~p~n", [Pid, Fac, Pow2]),
    ok = hb_beamr:stop(Pid),
    io:format("after stop: ~p~n", [hb_beamr:call(Pid, "fac", [1.0])]),
    beamr:stop(I).
