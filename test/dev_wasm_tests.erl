%%% @doc Tests of the `dev_wasm' device in standalone mode (plain OTP, beamr's own
%%% message layer), mirroring what HyperBEAM's dev_wasm tests check: init with
%%% default and custom prefixes, the image as an ID, a message and a binary,
%%% compute with `function'/`parameters' from each place, stdlib imports, the
%%% undefined-import stub, snapshot and restore through normalize, terminate.
-module(dev_wasm_tests).

-include_lib("eunit/include/eunit.hrl").

-import(beamr_test_util, [fixture/1]).

-define(DEVICE, <<"WASM-64@1.0">>).

wasm() -> fixture("dev_wasm_counter.wat").

%% HyperBEAM's `cache_wasm_image': the image stored, the message naming it by ID.
cached_image() ->
    {ok, ID} = beamr_image_store:write(#{<<"body">> => wasm()}),
    #{<<"device">> => ?DEVICE, <<"image">> => ID}.

booted() ->
    booted(cached_image()).

booted(Msg0) ->
    {ok, Msg1} = dev_wasm:init(Msg0, #{}, #{}),
    Msg1.

priv(Path, Msg) ->
    beamr_msg:priv_get(Path, Msg).

output(Msg) -> beamr_msg:get(<<"results/output">>, Msg).
type(Msg) -> beamr_msg:get(<<"results/type">>, Msg).

%% A stdlib `mul' as an Erlang fun that also counts its calls in the state.
counting_mul() ->
    fun(Lib, Req, _Opts) ->
            [A, B] = beamr_msg:get(<<"args">>, Req),
            State = beamr_msg:get(<<"state">>, Lib),
            Count = beamr_msg:get(<<"mul-calls">>, State, 0),
            {ok, #{<<"state">> => State#{<<"mul-calls">> => Count + 1},
                   <<"results">> => [A * B]}}
    end.

compute(Msg, M2) ->
    {ok, Res} = dev_wasm:compute(Msg, M2, #{}),
    Res.

%%% The world

standalone_world_test() ->
    ?assertEqual(false, code:is_loaded(hb_ao)),
    ?assertEqual(standalone, dev_wasm:world()),
    ?assertEqual(standalone, dev_wasm_env:world()).

info_test() ->
    #{excludes := Excluded} = dev_wasm:info(#{}, #{}),
    ?assert(lists:member(instance, Excluded)).

%%% init

%% The device's instance is held by a process under beamr_holder_sup, like every
%% pid-named instance, and goes with its message's terminate.
instance_is_supervised_test() ->
    Msg1 = booted(),
    Pid = dev_wasm:instance(Msg1, #{}, #{}),
    ?assert(is_pid(Pid)),
    ?assert(lists:member(Pid, [C || {_, C, _, _} <- supervisor:which_children(beamr_holder_sup)])),
    {ok, _} = dev_wasm:terminate(Msg1, #{}, #{}),
    _ = sys:get_state(beamr_holder_sup),
    ?assertNot(lists:member(Pid, [C || {_, C, _, _} <- supervisor:which_children(beamr_holder_sup)])).

init_test() ->
    Msg1 = booted(),
    ?assert(is_pid(priv(<<"instance">>, Msg1))),
    ?assert(is_function(priv(<<"import-resolver">>, Msg1), 3)),
    ?assert(is_function(priv(<<"write">>, Msg1), 1)),
    ?assert(is_function(priv(<<"read">>, Msg1), 1)),
    ?assertEqual(priv(<<"instance">>, Msg1), dev_wasm:instance(Msg1, #{}, #{})),
    %% The public part of the message is as it was.
    ?assertEqual(cached_image(), maps:remove(<<"priv">>, Msg1)).

input_prefix_test() ->
    #{<<"image">> := ID} = cached_image(),
    Msg1 = booted(#{<<"device">> => ?DEVICE,
                    <<"input-prefix">> => <<"test-in">>,
                    <<"test-in">> => #{<<"image">> => ID}}),
    ?assert(is_pid(priv(<<"instance">>, Msg1))),
    ?assert(is_function(priv(<<"import-resolver">>, Msg1), 3)).

process_prefixes_test() ->
    Msg1 = booted(#{<<"device">> => ?DEVICE,
                    <<"output-prefix">> => <<"wasm">>,
                    <<"input-prefix">> => <<"process">>,
                    <<"process">> => cached_image()}),
    ?assert(is_pid(priv(<<"wasm/instance">>, Msg1))),
    ?assert(is_function(priv(<<"wasm/import-resolver">>, Msg1), 3)),
    ?assertEqual(not_found, priv(<<"instance">>, Msg1)),
    ?assertEqual(priv(<<"wasm/instance">>, Msg1), dev_wasm:instance(Msg1, #{}, #{})).

image_as_message_binary_and_body_test() ->
    Wasm = wasm(),
    Images = [#{<<"image">> => #{<<"body">> => Wasm}},
              #{<<"image">> => Wasm},
              #{<<"body">> => Wasm},
              cached_image()],
    [begin
         Msg1 = booted(Msg0#{<<"function">> => <<"fac">>, <<"parameters">> => [5.0]}),
         ?assertEqual([120.0], output(compute(Msg1, #{})))
     end || Msg0 <- Images].

cache_wasm_image_test() ->
    File = filename:join(filename:basedir(user_cache, "beamr-dev-wasm-tests"), "counter.wat"),
    ok = filelib:ensure_dir(File),
    ok = file:write_file(File, wasm()),
    #{<<"device">> := <<"wasm-64@1.0">>, <<"image">> := ID} = Msg0 = dev_wasm:cache_wasm_image(File),
    ?assertEqual({ok, #{<<"body">> => wasm()}}, beamr_image_store:read(ID)),
    ?assertEqual([1], output(compute((booted(Msg0))#{<<"function">> => <<"bump">>}, #{}))),
    ok = file:delete(File).

init_errors_test() ->
    ?assertMatch({error, {wasm_init_error, <<"No viable image found in /image.">>}},
                 dev_wasm:init(#{<<"device">> => ?DEVICE}, #{}, #{})),
    Unknown = beamr_image_store:id(<<"never stored">>),
    ?assertEqual({error, {wasm_init_error, {image_not_found, Unknown}}},
                 dev_wasm:init(#{<<"image">> => Unknown}, #{}, #{})),
    ?assertMatch({error, {wasm_init_error, {invalid_module, _}}},
                 dev_wasm:init(#{<<"image">> => <<"definitely not a wasm module">>}, #{}, #{})),
    ?assertMatch({error, {wasm_init_error, image_without_body}},
                 dev_wasm:init(#{<<"image">> => #{<<"no">> => <<"body">>}}, #{}, #{})),
    ?assertMatch({error, {wasm_init_error, {bad_mode, <<"JIT">>}}},
                 dev_wasm:init((cached_image())#{<<"Mode">> => <<"JIT">>}, #{}, #{})).

mode_test() ->
    Msg0 = cached_image(),
    {ok, Wasm} = dev_wasm:init(Msg0#{<<"Mode">> => <<"WASM">>}, #{}, #{}),
    ?assert(is_pid(priv(<<"instance">>, Wasm))),
    %% AOT is taken as WASM unless the node allows AOT...
    {ok, NotAllowed} = dev_wasm:init(Msg0#{<<"Mode">> => <<"AOT">>}, #{}, #{}),
    ?assert(is_pid(priv(<<"instance">>, NotAllowed))),
    %% ...and allowed AOT takes only beamr's own precompiled artifacts: a wasm image
    %% (or a WAMR AOT file) is a clear error, never executed...
    ?assertEqual({error, {wasm_init_error, {aot, <<"not a beamr artifact">>}}},
                 dev_wasm:init(Msg0#{<<"Mode">> => <<"AOT">>}, #{}, #{wasm_allow_aot => true})),
    %% ...while an artifact of beamr:precompile/1 boots and computes.
    {ok, Artifact} = beamr:precompile(fixture("dev_wasm_counter.wat")),
    {ok, Aot} = dev_wasm:init(#{<<"image">> => Artifact, <<"Mode">> => <<"AOT">>}, #{},
                              #{wasm_allow_aot => true}),
    ?assert(is_pid(priv(<<"instance">>, Aot))).

%%% compute

compute_from_m1_test() ->
    Msg1 = booted(),
    Res = compute(Msg1#{<<"function">> => <<"fac">>, <<"parameters">> => [5.0]}, #{}),
    ?assertEqual([120.0], output(Res)),
    ?assertEqual(ok, type(Res)).

compute_from_m2_test() ->
    Msg1 = booted(),
    Res = compute(Msg1, #{<<"function">> => <<"fac">>, <<"parameters">> => [4.0]}),
    ?assertEqual([24.0], output(Res)).

compute_from_m2_body_test() ->
    Msg1 = booted(),
    Res = compute(Msg1, #{<<"body">> => #{<<"function">> => <<"fac">>,
                                          <<"parameters">> => [3.0]}}),
    ?assertEqual([6.0], output(Res)).

compute_precedence_test() ->
    Msg1 = booted(),
    M1 = Msg1#{<<"function">> => <<"bump">>, <<"parameters">> => [1.0]},
    %% M2/body beats M2, which beats M1; function and parameters independently.
    ?assertEqual([6.0], output(compute(M1, #{<<"function">> => <<"fac">>,
                                             <<"parameters">> => [2.0],
                                             <<"body">> => #{<<"parameters">> => [3.0]}}))),
    ?assertEqual([2.0], output(compute(M1, #{<<"function">> => <<"fac">>,
                                             <<"parameters">> => [2.0]}))),
    ?assertEqual([1.0], output(compute(M1, #{<<"body">> => #{<<"function">> => <<"fac">>}}))).

compute_no_params_test() ->
    Res = compute((booted())#{<<"function">> => <<"bump">>}, #{}),
    ?assertEqual([1], output(Res)).

compute_pass_test() ->
    Msg1 = (booted())#{<<"function">> => <<"bump">>},
    ?assertEqual(not_found, output(compute(Msg1#{<<"pass">> => 2}, #{}))),
    ?assertEqual([1], output(compute(Msg1#{<<"pass">> => 1}, #{}))),
    %% Pass 2 did not run the function: pass 1 was the first bump.
    ?assertEqual([2], output(compute(Msg1, #{}))).

compute_without_function_test() ->
    Msg1 = booted(),
    ?assertEqual({ok, Msg1}, dev_wasm:compute(Msg1, #{}, #{})).

compute_failure_is_a_result_test() ->
    Msg1 = booted(),
    Res = compute(Msg1#{<<"function">> => <<"nope">>}, #{}),
    ?assertEqual(error, type(Res)),
    ?assertMatch({unknown_export, _}, output(Res)),
    Bad = compute(Msg1#{<<"function">> => <<"fac">>, <<"parameters">> => [<<"x">>]}, #{}),
    ?assertEqual(error, type(Bad)),
    %% The instance is still good.
    ?assertEqual([2.0], output(compute(Msg1#{<<"function">> => <<"fac">>,
                                             <<"parameters">> => [2.0]}, #{}))).

compute_with_output_prefix_test() ->
    Msg1 = booted((cached_image())#{<<"output-prefix">> => <<"wasm">>}),
    Res = compute(Msg1#{<<"function">> => <<"fac">>, <<"parameters">> => [5.0]}, #{}),
    ?assertEqual([120.0], beamr_msg:get(<<"results/wasm/output">>, Res)),
    ?assertEqual(ok, beamr_msg:get(<<"results/wasm/type">>, Res)).

%%% imports

stdlib_fun_test() ->
    Msg1 = booted(),
    Res = compute(Msg1#{<<"function">> => <<"pow">>, <<"parameters">> => [2, 5],
                        <<"stdlib">> => #{<<"my_lib">> => #{<<"mul">> => counting_mul()}}},
                  #{}),
    ?assertEqual([32], output(Res)),
    %% The state the stdlib handed back is the message compute returns.
    ?assertEqual(5, beamr_msg:get(<<"mul-calls">>, Res)),
    ?assertEqual(not_found, beamr_msg:get(<<"state/results/undefined-calls">>, Res)).

stdlib_module_test() ->
    Msg1 = booted(),
    Libs = [#{<<"my_lib">> => dev_wasm_test_lib},
            #{<<"my_lib">> => #{<<"device">> => dev_wasm_test_lib}}],
    [?assertEqual([32], output(compute(Msg1#{<<"function">> => <<"pow">>,
                                             <<"parameters">> => [2, 5],
                                             <<"stdlib">> => Lib}, #{})))
     || Lib <- Libs].

stdlib_under_prefix_test() ->
    Msg1 = booted((cached_image())#{<<"output-prefix">> => <<"wasm">>}),
    Res = compute(Msg1#{<<"function">> => <<"pow">>, <<"parameters">> => [3, 4],
                        <<"wasm">> => #{<<"stdlib">> => #{<<"my_lib">> => dev_wasm_test_lib}}},
                  #{}),
    ?assertEqual([81], beamr_msg:get(<<"results/wasm/output">>, Res)).

undefined_import_stub_test() ->
    Msg1 = booted(),
    Res = compute(Msg1#{<<"function">> => <<"pow">>, <<"parameters">> => [2, 5]}, #{}),
    %% Every mul is answered [0]: 1*2 -> 0, then 0*2 -> 0, five calls in all.
    ?assertEqual([0], output(Res)),
    Calls = beamr_msg:get(<<"state/results/undefined-calls">>, Res),
    ?assertEqual(5, length(Calls)),
    ?assertEqual([[0, 2], [0, 2], [0, 2], [0, 2], [1, 2]],
                 [beamr_msg:get(<<"args">>, C) || C <- Calls]),
    [?assertMatch(#{<<"module">> := <<"my_lib">>, <<"func">> := <<"mul">>,
                    <<"func-sig">> := <<"(ii)i">>}, C) || C <- Calls],
    %% A stdlib that lacks the function also falls to the stub.
    Other = compute(Msg1#{<<"function">> => <<"pow">>, <<"parameters">> => [2, 1],
                          <<"stdlib">> => #{<<"my_lib">> => #{<<"add">> => counting_mul()}}},
                    #{}),
    ?assertEqual([0], output(Other)),
    ?assertEqual(1, length(beamr_msg:get(<<"state/results/undefined-calls">>, Other))).

import_direct_test() ->
    Msg1 = booted(),
    Req = #{<<"module">> => <<"my_lib">>, <<"func">> => <<"mul">>, <<"args">> => [6, 7]},
    {ok, Res} = dev_wasm:import(Msg1#{<<"stdlib">> => #{<<"my_lib">> => dev_wasm_test_lib}},
                                Req, #{}),
    ?assertEqual([42], beamr_msg:get(<<"results">>, Res)),
    {ok, Stub} = dev_wasm:import(Msg1, Req, #{}),
    ?assertEqual([0], beamr_msg:get(<<"results">>, Stub)),
    ?assertEqual([Req], beamr_msg:get(<<"state/state/results/undefined-calls">>, Stub)).

%%% string closures

write_read_closures_test() ->
    Msg1 = booted(),
    Write = priv(<<"write">>, Msg1),
    Read = priv(<<"read">>, Msg1),
    {ok, Ptr} = Write(<<"hello, device">>),
    ?assert(is_integer(Ptr) andalso Ptr >= 1024),
    ?assertEqual({ok, <<"hello, device">>}, Read(Ptr)),
    ?assertEqual({ok, <<"hello, device">>}, Read([Ptr])),
    {ok, Ptr2} = Write(<<"second">>),
    ?assert(Ptr2 > Ptr),
    ?assertEqual({ok, <<"hello, device">>}, Read(Ptr)),
    ?assertMatch({error, _}, Read(-1)).

%%% snapshot and normalize

state_export_and_restore_test() ->
    Msg0 = cached_image(),
    Extras = #{<<"function">> => <<"bump">>},
    Msg1 = maps:merge(booted(Msg0), Extras),
    Res3 = lists:foldl(fun(_, M) -> compute(M, #{}) end, Msg1, [1, 2, 3]),
    ?assertEqual([3], output(Res3)),
    {ok, #{<<"body">> := Body} = Snapshot} = dev_wasm:snapshot(Res3, #{}, #{}),
    ?assert(is_binary(Body)),
    %% A fresh message, never initialised, restored from the snapshot.
    NewMsg1 = maps:merge(Msg0, Extras#{<<"snapshot">> => Snapshot}),
    ?assertEqual(not_found, dev_wasm:instance(NewMsg1, #{}, #{})),
    Restored = compute(NewMsg1, #{}),
    ?assertEqual([4], output(Restored)),
    ?assertNotEqual(dev_wasm:instance(Res3, #{}, #{}), dev_wasm:instance(Restored, #{}, #{})),
    ?assertEqual(not_found, beamr_msg:get(<<"snapshot">>, Restored)),
    %% The original instance is untouched by the restore.
    ?assertEqual([4], output(compute(Res3, #{}))).

pow_restore_with_stdlib_test() ->
    Msg0 = cached_image(),
    Extras = #{<<"function">> => <<"pow">>, <<"parameters">> => [2, 2],
               <<"stdlib">> => #{<<"my_lib">> => dev_wasm_test_lib}},
    Resa = compute(maps:merge(booted(Msg0), Extras), #{}),
    ?assertEqual([4], output(Resa)),
    {ok, State} = dev_wasm:snapshot(Resa, #{}, #{}),
    NewMsg1 = maps:merge(Msg0, Extras#{<<"snapshot">> => State}),
    ?assertEqual([4], output(compute(NewMsg1, #{}))).

restore_under_device_key_test() ->
    Msg0 = (cached_image())#{<<"device-key">> => <<"wasm">>},
    Res = compute((booted(Msg0))#{<<"function">> => <<"bump">>}, #{}),
    {ok, Snapshot} = dev_wasm:snapshot(Res, #{}, #{}),
    NewMsg1 = Msg0#{<<"function">> => <<"bump">>,
                    <<"snapshot">> => #{<<"wasm">> => Snapshot}},
    ?assertEqual([2], output(compute(NewMsg1, #{}))),
    %% The snapshot at the top level is not the one a device-key names.
    ?assertEqual({error, no_wasm_instance_or_snapshot},
                 dev_wasm:normalize(Msg0#{<<"snapshot">> => Snapshot}, #{}, #{})).

normalize_test() ->
    Msg1 = booted(),
    %% A live instance: the message is kept as it is, only `snapshot' goes.
    ?assertEqual({ok, Msg1}, dev_wasm:normalize(Msg1, #{}, #{})),
    ?assertEqual({ok, Msg1},
                 dev_wasm:normalize(Msg1#{<<"snapshot">> => #{<<"body">> => <<"x">>}}, #{}, #{})),
    ?assertEqual({error, no_wasm_instance_or_snapshot},
                 dev_wasm:normalize(cached_image(), #{}, #{})),
    ?assertEqual({error, no_wasm_instance_or_snapshot},
                 dev_wasm:compute((cached_image())#{<<"function">> => <<"bump">>}, #{}, #{})),
    %% A restored message keeps its public keys.
    {ok, Snap} = dev_wasm:snapshot(Msg1, #{}, #{}),
    Raw = (cached_image())#{<<"snapshot">> => Snap, <<"other">> => 1},
    {ok, Norm} = dev_wasm:normalize(Raw, #{}, #{}),
    ?assertEqual(maps:remove(<<"snapshot">>, Raw), maps:remove(<<"priv">>, Norm)),
    ?assert(is_pid(dev_wasm:instance(Norm, #{}, #{}))).

snapshot_errors_test() ->
    ?assertEqual({error, no_wasm_instance}, dev_wasm:snapshot(cached_image(), #{}, #{})),
    %% A module without memory still has state to snapshot (full-state snapshots)...
    {ok, NoMem} = dev_wasm:init(#{<<"image">> => fixture("pow_calculator.wat")}, #{}, #{}),
    ?assertMatch({ok, #{<<"body">> := <<"BEAMRSNP", _/binary>>}},
                 dev_wasm:snapshot(NoMem, #{}, #{})),
    %% ...but a terminated one has none.
    {ok, Gone} = dev_wasm:terminate(NoMem, #{}, #{}),
    ?assertMatch({error, _}, dev_wasm:snapshot(Gone, #{}, #{})).

%%% terminate

terminate_test() ->
    Msg1 = booted(),
    Instance = dev_wasm:instance(Msg1, #{}, #{}),
    {ok, Msg2} = dev_wasm:terminate(Msg1, #{}, #{}),
    ?assertEqual(not_found, dev_wasm:instance(Msg2, #{}, #{})),
    ?assertEqual({error, stopped}, hb_beamr:call(Instance, "bump", [])),
    ?assertEqual({error, no_wasm_instance_or_snapshot},
                 dev_wasm:compute(Msg2#{<<"function">> => <<"bump">>}, #{}, #{})),
    %% Terminating twice is harmless.
    ?assertMatch({ok, _}, dev_wasm:terminate(Msg2, #{}, #{})).

terminate_with_prefix_test() ->
    Msg1 = booted((cached_image())#{<<"output-prefix">> => <<"wasm">>}),
    Instance = dev_wasm:instance(Msg1, #{}, #{}),
    {ok, Msg2} = dev_wasm:terminate(Msg1, #{}, #{}),
    ?assertEqual(not_found, priv(<<"wasm/instance">>, Msg2)),
    ?assert(is_function(priv(<<"wasm/import-resolver">>, Msg2), 3)),
    ?assertEqual({error, stopped}, hb_beamr:call(Instance, "bump", [])).

%%% the message layer

msg_paths_test() ->
    M = beamr_msg:set(#{}, #{<<"a/b/c">> => 1, <<"/x/">> => 2, <<"k">> => v}),
    ?assertEqual(#{<<"a">> => #{<<"b">> => #{<<"c">> => 1}}, <<"x">> => 2, <<"k">> => v}, M),
    ?assertEqual(1, beamr_msg:get([<<"a">>, <<"b/c">>], M)),
    ?assertEqual(not_found, beamr_msg:get(<<"a/b/c/d">>, M)),
    ?assertEqual(#{<<"a">> => #{<<"b">> => #{}}, <<"x">> => 2, <<"k">> => v},
                 beamr_msg:set(M, #{<<"a/b/c">> => unset})),
    ?assertEqual(3, beamr_msg:get(<<"state">>, #{state => 3})),
    P = beamr_msg:priv_set(#{<<"a">> => 1}, #{<<"w/x">> => 1}),
    P2 = beamr_msg:priv_set(P, #{<<"w">> => #{<<"y">> => 2}}),
    ?assertEqual(#{<<"w">> => #{<<"x">> => 1, <<"y">> => 2}}, beamr_msg:priv(P2)),
    ?assertEqual(2, beamr_msg:priv_get(<<"priv/w/y">>, P2)),
    ?assertEqual(<<>>, beamr_msg:output_prefix(#{})),
    ?assertEqual(<<"p">>, beamr_msg:input_prefix(#{<<"input-prefix">> => <<"p">>})).

image_store_test() ->
    {ok, ID} = beamr_image_store:write(<<"some bytes">>),
    ?assertEqual(43, byte_size(ID)),
    ?assert(beamr_image_store:is_id(ID)),
    ?assertEqual({ok, #{<<"body">> => <<"some bytes">>}}, beamr_image_store:read(ID)),
    ?assertEqual({ok, ID}, beamr_image_store:write(#{<<"body">> => <<"some bytes">>})),
    ok = beamr_image_store:delete(ID),
    ?assertEqual(not_found, beamr_image_store:read(ID)),
    ?assertMatch({error, _}, beamr_image_store:write(#{<<"no">> => <<"body">>})).
