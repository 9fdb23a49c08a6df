%%% @doc Optional wasm proposals through the Erlang API: off by default with an error
%%% naming the option, on where `proposals' asks, and bad values refused.
-module(beamr_proposals_tests).
-include_lib("eunit/include/eunit.hrl").

-define(GC, <<"(module (type $p (struct (field i32)))
               (func (export \"seven\") (result i32)
                 (struct.new $p (i32.const 7)) struct.get $p 0))">>).
-define(MULTI_MEMORY, <<"(module (memory 1) (memory $b 1)
               (func (export \"peek\") (result i32) i32.const 0 i32.load $b))">>).

gc_refused_by_default_test() ->
    {error, {invalid_module, Message}} = beamr:start(?GC),
    ?assertNotEqual(nomatch, binary:match(Message, <<"proposals => [gc]">>)),
    {error, {invalid_module, _}} = beamr:compile(?GC),
    {error, {invalid_module, _}} = beamr:precompile(?GC).

gc_on_by_option_test() ->
    {ok, I} = beamr:start(?GC, #{proposals => [gc]}),
    ?assertEqual({ok, [7]}, beamr:call(I, <<"seven">>, [])),
    {ok, M} = beamr:compile(?GC, #{proposals => [gc]}),
    {ok, I2} = beamr:start(M),
    ?assertEqual({ok, [7]}, beamr:call(I2, <<"seven">>, [])),
    {ok, Artifact} = beamr:precompile(?GC, #{proposals => [gc]}),
    {ok, I3} = beamr:start(Artifact, #{aot => true}),
    ?assertEqual({ok, [7]}, beamr:call(I3, <<"seven">>, [])).

multi_memory_named_test() ->
    {error, {invalid_module, Message}} = beamr:start(?MULTI_MEMORY),
    ?assertNotEqual(nomatch, binary:match(Message, <<"proposals => [multi_memory]">>)),
    {ok, I} = beamr:start(?MULTI_MEMORY, #{proposals => [multi_memory]}),
    ?assertEqual({ok, [0]}, beamr:call(I, <<"peek">>, [])).

handle_engine_must_match_test() ->
    {ok, M} = beamr:compile(?GC, #{proposals => [gc]}),
    ?assertMatch({error, _}, beamr:start(M, #{proposals => []})).

bad_proposals_option_test() ->
    ?assertEqual({error, {bad_option, proposals, [threads]}},
                 beamr:start(<<"(module)">>, #{proposals => [threads]})),
    ?assertEqual({error, {bad_option, proposals, gc}},
                 beamr:compile(<<"(module)">>, #{proposals => gc})),
    ?assertEqual({error, {bad_option, proposals, [gc | x]}},
                 beamr:precompile(<<"(module)">>, #{proposals => [gc | x]})).
