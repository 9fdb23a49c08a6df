%%% @doc A stdlib module for the dev_wasm tests, in the shape of HyperBEAM's
%%% `Test-Device@1.0': `mul' multiplies its two arguments and hands the state back.
-module(dev_wasm_test_lib).

-export([mul/2]).

%% @doc `Msg' is the stdlib entry (its `state' is the process message); `Req'
%% carries the import's `args'.
-spec mul(map(), map()) -> {ok, map()}.
mul(Msg, Req) ->
    [A, B] = beamr_msg:get(<<"args">>, Req),
    {ok, #{<<"state">> => beamr_msg:get(<<"state">>, Msg), <<"results">> => [A * B]}}.
