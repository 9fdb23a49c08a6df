#!/usr/bin/env escript
%%! -noshell
%% The loops scripts/icount.sh counts instructions of: `call N' makes N beamr:call fac(5.0)
%% calls, `hb_call N' as many hb_beamr:call calls, `import N' makes one call that answers N imports. Run from the repository root.
-mode(compile).

main([Kind, N]) ->
    true = code:add_patha("_build/default/lib/beamr/ebin"),
    {ok, Wat} = file:read_file("bench/fac.wat"),
    {ok, I} = beamr:start(Wat),
    {ok, [120.0]} = beamr:call(I, <<"fac">>, [5.0]),
    run(list_to_atom(Kind), I, list_to_integer(N)).

run(call, I, N) ->
    calls(I, N);
run(nif, _I, N) ->
    nifs(N);
run(hb_call, _I, N) ->
    {ok, Wat} = file:read_file("bench/fac.wat"),
    {ok, Pid, _, _} = hb_beamr:start(Wat),
    hb_calls(Pid, N);
run(import, I, N) ->
    Mul = fun(S, #{args := [A, B]}, _) -> {ok, [A * B], S} end,
    {ok, [1], _} = beamr:call(I, <<"pow">>, [1, N], Mul, ok, #{}).

nifs(0) -> ok;
nifs(N) -> true = is_integer(beamr_nif:compilations()), nifs(N - 1).

hb_calls(_, 0) -> ok;
hb_calls(Pid, N) -> {ok, [120.0]} = hb_beamr:call(Pid, "fac", [5.0]), hb_calls(Pid, N - 1).

calls(_, 0) -> ok;
calls(I, N) -> {ok, [120.0]} = beamr:call(I, <<"fac">>, [5.0]), calls(I, N - 1).
