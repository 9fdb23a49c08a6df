%%% @doc How a call continues once its first normal-scheduler slice ends: a few more
%%% normal slices on the caller's scheduler, then dirty ones, which stay dirty.
-module(beamr_slices_tests).

-include_lib("eunit/include/eunit.hrl").

-define(SPIN, <<"(module (func (export \"spin\") (loop br 0))
                  (func (export \"add\") (param i32 i32) (result i32)
                    local.get 0 local.get 1 i32.add))">>).

%% The NIFs a spinning call goes through, in order, traced until `stop' ends it.
continuation_test_() ->
    {timeout, 20, fun continuation/0}.

continuation() ->
    {ok, I} = beamr:start(?SPIN),
    Self = self(),
    Caller = spawn(fun() -> receive go -> ok end, Self ! {spun, beamr:call(I, <<"spin">>, [])} end),
    _ = erlang:trace_pattern({beamr_nif, '_', '_'}, true, [local]),
    try
        1 = erlang:trace(Caller, true, [call]),
        Caller ! go,
        %% Two normal slices of at most a millisecond each, then dirty slices of ten.
        timer:sleep(60),
        ok = beamr:stop(I),
        ?assertEqual({error, stopped}, receive {spun, R} -> R after 2000 -> timeout end)
    after
        erlang:trace_pattern({beamr_nif, '_', '_'}, false, [local])
    end,
    Nifs = traced_nifs([]),
    {Normal, Dirty} = lists:splitwith(fun(F) -> F =/= proceed end, tl(Nifs)),
    ?assertEqual(call, hd(Nifs)),
    ?assertEqual([proceed_normal, proceed_normal], Normal),
    ?assertMatch([_, _ | _], Dirty),
    ?assertEqual([proceed], lists:usort(Dirty)),
    %% The instance is stopped, not broken: a new one calls as before.
    {ok, J} = beamr:start(?SPIN),
    ?assertEqual({ok, [3]}, beamr:call(J, <<"add">>, [1, 2])).

traced_nifs(Acc) ->
    receive {trace, _, call, {beamr_nif, F, _}} -> traced_nifs([F | Acc])
    after 100 -> lists:reverse(Acc)
    end.
