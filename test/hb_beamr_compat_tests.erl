%%% @doc HyperBEAM's own calls on beamr's `hb_beamr', `hb_beamr_io' and `dev_wasm':
%%% every function that HyperBEAM's modules and tests (permaweb/HyperBEAM, src/) call
%%% on them is exported, `load_driver/0' answers as HyperBEAM's `driver_loads_test'
%%% expects, and memory size is the module's own (no WAMR host-heap page).
-module(hb_beamr_compat_tests).

-include_lib("eunit/include/eunit.hrl").

-import(beamr_test_util, [fixture/1]).

%% What HyperBEAM calls, from its modules (dev_wasm, dev_wasi, dev_emscripten,
%% dev_json_iface, dev_process and their tests) and from the tests inside the three
%% modules beamr replaces, once those are moved out and their local calls qualified.
%% The README lists what is deliberately left out (BEAMR's port protocol and test
%% helpers) and why.
hyperbeam_calls() ->
    [{hb_beamr, start, 1}, {hb_beamr, start, 2},
     {hb_beamr, call, 3}, {hb_beamr, call, 4}, {hb_beamr, call, 5}, {hb_beamr, call, 6},
     {hb_beamr, stop, 1}, {hb_beamr, serialize, 1}, {hb_beamr, deserialize, 2},
     {hb_beamr, stub, 3}, {hb_beamr, load_driver, 0},
     {hb_beamr_io, size, 1}, {hb_beamr_io, read, 3}, {hb_beamr_io, write, 3},
     {hb_beamr_io, read_string, 2}, {hb_beamr_io, read_string, 3},
     {hb_beamr_io, write_string, 2}, {hb_beamr_io, malloc, 2}, {hb_beamr_io, free, 2},
     {dev_wasm, info, 2}, {dev_wasm, init, 3}, {dev_wasm, compute, 3},
     {dev_wasm, import, 3}, {dev_wasm, terminate, 3}, {dev_wasm, snapshot, 3},
     {dev_wasm, normalize, 3}, {dev_wasm, instance, 3},
     {dev_wasm, cache_wasm_image, 1}, {dev_wasm, cache_wasm_image, 2}].

hyperbeam_calls_are_exported_test() ->
    Missing = [MFA || {M, F, A} = MFA <- hyperbeam_calls(),
                      not ({module, M} =:= code:ensure_loaded(M)
                           andalso erlang:function_exported(M, F, A))],
    ?assertEqual([], Missing).

%% HyperBEAM's driver_loads_test, then a call as its simple_wasm_test makes one.
load_driver_test() ->
    ?assertEqual(ok, hb_beamr:load_driver()),
    ?assertEqual(ok, hb_beamr:load_driver()),
    {ok, WASM, _Imports, _Exports} = hb_beamr:start(fixture("test.wat")),
    ?assertEqual({ok, [120.0]}, hb_beamr:call(WASM, "fac", [5.0])),
    ok = hb_beamr:stop(WASM).

%% HyperBEAM's size_test expects one page more than an AOS image declares: WAMR's
%% host-managed heap page. beamr, like V8, reports the module's own memory.
size_is_the_modules_own_memory_test() ->
    Wat = <<"(module (memory (export \"memory\") 3 10))">>,
    {ok, WASM, _, _} = hb_beamr:start(Wat),
    ?assertEqual({ok, 3 * 65536}, hb_beamr_io:size(WASM)),
    ok = hb_beamr:stop(WASM).
