%%% @doc Bad input to every face (`beamr', `hb_beamr', `hb_beamr_io', `dev_wasm') is
%%% an error tuple of a documented shape, never an exception and never silence: one
%%% test per class of input that raised (or never replied) before. The random,
%%% hostile version of the same promise is in {@link beamr_prop_tests}.
-module(beamr_errors_tests).

-include_lib("eunit/include/eunit.hrl").

-import(beamr_test_util, [fixture/1, start/1]).

%% Every function that takes an instance, with plausible other arguments.
instance_ops() ->
    [{call, [<<"fac">>, [1.0]]}, {call, [<<"fac">>, [1.0], #{}]},
     {call, [<<"fac">>, [1.0], fun(S, _, _) -> {ok, [], S} end, s, #{}]},
     {read, [0, 1]}, {read_string, [0]}, {read_string, [0, 10]}, {write, [0, <<1>>]},
     {size, []}, {serialize, []}, {deserialize, [<<>>]}, {fuel_consumed, []},
     {global_get, [<<"g">>]}, {global_set, [<<"g">>, 1]}, {table_size, [<<"t">>]},
     {table_get, [<<"t">>, 0]}, {memory_grow, [1]}, {memory_pages, []},
     {stop, []}, {is_stopped, []}].

no_instance_is_bad_instance_test() ->
    I = start("test.wat"),
    {ok, M} = beamr:compile(fixture("test.wat")),
    NotInstances = [make_ref(), M, 42, <<"i">>, self(), foo, [a | b], 1 bsl 70],
    [?assertEqual({F, NotI, {error, {bad_instance, NotI}}},
                  {F, NotI, without_state(apply(beamr, F, [NotI | Args]))})
     || NotI <- NotInstances, {F, Args} <- instance_ops()],
    ?assertEqual({ok, [120.0]}, beamr:call(I, <<"fac">>, [5.0])).

without_state({error, Reason, s}) -> {error, Reason};
without_state(Other) -> Other.

module_hash_of_no_module_test() ->
    I = start("test.wat"),
    [?assertEqual({error, {bad_module, X}}, beamr:module_hash(X)) || X <- [I, make_ref(), 1]].

options_out_of_range_test() ->
    Big = 1 bsl 64,
    ?assertEqual({error, {bad_option, max_memory, Big}},
                 beamr:start(<<"(module)">>, #{max_memory => Big})),
    ?assertEqual({error, {bad_option, max_table_elements, Big}},
                 beamr:start(<<"(module)">>, #{max_table_elements => Big})),
    {ok, D} = beamr:start(<<"(module (func (export \"f\")))">>, #{deterministic => true}),
    ?assertEqual({error, {bad_option, fuel, Big}}, beamr:call(D, <<"f">>, [], #{fuel => Big})),
    ?assertEqual({ok, []}, beamr:call(D, <<"f">>, [], #{fuel => Big - 1})).

bad_kind_test() ->
    I = start("test.wat"),
    ?assertEqual({error, {bad_kind, tuples}}, beamr:exports(I, tuples)),
    ?assertEqual({error, {bad_kind, 1}}, beamr:imports(I, 1)).

module_functions_take_binaries_test() ->
    ?assertEqual({error, {badarg, [123, #{}]}}, beamr:precompile(123)),
    ?assertEqual({error, {badarg, [<<"(module)">>, x]}}, beamr:precompile(<<"(module)">>, x)),
    ?assertEqual({error, {bad_option, deterministic, yes}},
                 beamr:precompile(<<"(module)">>, #{deterministic => yes})),
    ?assertEqual({error, {badarg, ["(module)"]}}, beamr:wat_to_wasm("(module)")),
    ?assertEqual({error, {badarg, [123]}}, beamr:set_module_cache_dir(123)),
    ?assertEqual({error, {badarg, [[a | b]]}}, beamr:set_module_cache_dir([a | b])),
    ?assertEqual({error, {badarg, [[-1]]}}, beamr:set_module_cache_dir([-1])),
    ?assertEqual({error, {badarg, [""]}}, beamr:set_module_cache_dir("")).

reply_import_bad_arguments_test() ->
    Good = {self(), make_ref()},
    [?assertEqual({error, {badarg, [To, R]}}, beamr:reply_import(To, R))
     || {To, R} <- [{foo, []}, {{self(), 1}, []}, {{1, make_ref()}, []}, {Good, bar},
                    {Good, {error}}, {Good, {ok, [1]}}]],
    ?assertEqual(ok, beamr:reply_import(Good, [1])),
    ?assertEqual(ok, beamr:reply_import(Good, {error, why})).

%% Checked before `ok': a call that could never reply is refused at once.
call_async_refuses_what_never_replies_test() ->
    I = start("test.wat"),
    Tag = make_ref(),
    From = {self(), Tag},
    NotI = make_ref(),
    ?assertEqual({error, {bad_instance, NotI}}, beamr:call_async(NotI, <<"fac">>, [1.0], From)),
    [?assertEqual({error, {bad_option, import_handler, H}},
                  beamr:call_async(I, <<"fac">>, [1.0], From, #{import_handler => H}))
     || H <- [1, "pid", no_such_registered_name, {self()}]],
    ?assertEqual(nothing, receive {Tag, _} = Msg -> Msg after 100 -> nothing end).

%% What is checked only by the call (function, arguments, timeout, a handler that
%% died) is replied, never dropped.
call_async_replies_every_error_test() ->
    I = start("test.wat"),
    Dead = spawn(fun() -> ok end),
    Stopped = start("test.wat"),
    ok = beamr:stop(Stopped),
    Cases = [{I, {x}, [], #{}}, {I, <<"fac">>, [a | b], #{}}, {I, <<"fac">>, not_a_list, #{}},
             {I, <<"fac">>, [1.0], #{timeout => soon}}, {Stopped, <<"fac">>, [1.0], #{}},
             {start("imports.wat"), <<"call_notify">>, [1], #{import_handler => Dead}}],
    lists:foreach(
      fun({Inst, F, A, O}) ->
              Tag = make_ref(),
              ?assertEqual(ok, beamr:call_async(Inst, F, A, {self(), Tag}, O)),
              ?assertMatch({error, _}, receive {Tag, R} -> R after 5000 -> no_reply end)
      end, Cases).

hb_beamr_bad_arguments_test() ->
    ?assertEqual({error, {badarg, [123, wasm]}}, hb_beamr:start(123)),
    ?assertEqual({error, {unsupported_mode, jit}}, hb_beamr:start(<<"(module)">>, jit)),
    ?assertEqual({error, {badarg, [123]}}, hb_beamr:stop(123)),
    ?assertEqual({error, {badarg, [123]}}, hb_beamr:serialize(123)),
    ?assertEqual({error, {badarg, [self(), 1]}}, hb_beamr:deserialize(self(), 1)),
    ?assertEqual({error, {badarg, [x, <<>>]}}, hb_beamr:deserialize(x, <<>>)),
    ?assertEqual({error, badarg}, hb_beamr:call(123, "fac", [])),
    %% A pid that holds no instance: stopped, as before.
    ?assertEqual({error, stopped}, hb_beamr:serialize(self())).

hb_beamr_io_bad_arguments_test() ->
    {ok, W, _, _} = hb_beamr:start(fixture("test.wat")),
    Cases = [{size, [1]}, {read, [W, a, 1]}, {read, [W, 0, 1.0]}, {read, [x, 0, 1]},
             {write, [W, 0, 1]}, {write, [W, 0.0, <<>>]}, {write, [1, 0, <<>>]},
             {read_string, [W, x, 64]}, {read_string, [W, 0, 0]},
             {write_string, [W, [a | b]]}, {write_string, [W, 7]}, {write_string, [1, <<>>]},
             {malloc, [W, a]}, {malloc, [1, 1]}, {free, [W, a]}, {free, [1, 1]}],
    [?assertEqual({F, {error, {badarg, Args}}}, {F, apply(hb_beamr_io, F, Args)})
     || {F, Args} <- Cases],
    ?assertEqual({error, {badarg, [1, 0, 64]}}, hb_beamr_io:read_string(1, 0)),
    ?assertMatch({ok, _}, hb_beamr_io:size(W)),
    ok = hb_beamr:stop(W).

dev_wasm_bad_arguments_test() ->
    [?assertEqual({F, {error, {badarg, [1, #{}, #{}]}}}, {F, dev_wasm:F(1, #{}, #{})})
     || F <- [init, compute, normalize, snapshot, terminate, import]],
    [?assertEqual({F, {error, {badarg, [#{}, #{}, opts]}}}, {F, dev_wasm:F(#{}, #{}, opts)})
     || F <- [init, compute, normalize, snapshot, terminate, import]],
    ?assertEqual({error, {badarg, [#{}, #{}, #{}]}}, dev_wasm:import(#{}, #{}, #{})),
    ?assertEqual({error, {badarg, [#{}, 2, #{}]}}, dev_wasm:import(#{}, 2, #{})),
    ?assertEqual(not_found, dev_wasm:instance(1, 2, 3)),
    ?assertEqual({error, enoent}, dev_wasm:cache_wasm_image("/nonexistent/image.wasm")),
    ?assertEqual({error, {badarg, [1, 2]}}, dev_wasm:cache_wasm_image(1, 2)),
    ?assertEqual({error, {badarg, [1]}}, dev_wasm:cache_wasm_image(1)).

%% An improper argument list is `{bad_args, List}', as a non-list is.
improper_args_are_bad_args_test() ->
    I = start("test.wat"),
    ?assertEqual({error, {bad_args, [5.0 | 1.0]}}, beamr:call(I, <<"fac">>, [5.0 | 1.0])),
    ?assertEqual({error, {bad_args, [1, 2 | 3]}}, beamr:call(I, "add", [1, 2 | 3], #{})),
    ?assertEqual({error, {bad_args, 5.0}}, beamr:call(I, <<"fac">>, 5.0, #{})),
    ?assertEqual({ok, [120.0]}, beamr:call(I, <<"fac">>, [5.0])).
