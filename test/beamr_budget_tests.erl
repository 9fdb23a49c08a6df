%%% @doc The node-wide memory budget through the Erlang API.
-module(beamr_budget_tests).
-include_lib("eunit/include/eunit.hrl").

-define(MIB, 1048576).

memory(Pages) ->
    iolist_to_binary(io_lib:format(
        "(module (memory ~b) (func (export \"grow\") (param i32) (result i32)
           local.get 0 memory.grow))", [Pages])).

budget_test() ->
    #{budget := Original} = beamr:memory_budget(),
    Used = settled_used(),
    ?assert(Original > 0),
    try
        ok = beamr:set_memory_budget(Used + 8 * ?MIB),
        {ok, I} = beamr:start(memory(64)),
        ?assertMatch(#{used := U} when U =:= Used + 4 * ?MIB, beamr:memory_budget()),
        Budget = Used + 8 * ?MIB,
        ?assertEqual({error, {memory_budget, 5 * ?MIB, Budget}}, beamr:start(memory(80))),
        ?assertEqual({ok, [-1]}, beamr:call(I, <<"grow">>, [80])),
        ?assertEqual({ok, [64]}, beamr:call(I, <<"grow">>, [64])),
        %% A start that fits once the first instance is gone.
        ok = beamr:stop(I),
        wait_used(Used, 200),
        {ok, _} = beamr:start(memory(80))
    after
        ok = beamr:set_memory_budget(Original)
    end.

bad_budget_test() ->
    ?assertEqual({error, {bad_option, memory_budget, -1}}, beamr:set_memory_budget(-1)),
    ?assertEqual({error, {bad_option, memory_budget, lots}}, beamr:set_memory_budget(lots)),
    ?assertEqual({error, {bad_option, memory_budget, 1 bsl 64}},
                 beamr:set_memory_budget(1 bsl 64)).

%% Stores are freed off the scheduler; wait until the budget has them back.
wait_used(Used, 0) ->
    ?assertMatch(#{used := Used}, beamr:memory_budget());
wait_used(Used, N) ->
    case beamr:memory_budget() of
        #{used := Used} -> ok;
        _ -> timer:sleep(10), wait_used(Used, N - 1)
    end.

%% What live instances hold, once instances of earlier tests have been freed.
settled_used() ->
    #{used := A} = beamr:memory_budget(),
    timer:sleep(50),
    case beamr:memory_budget() of
        #{used := A} -> A;
        _ -> settled_used()
    end.
