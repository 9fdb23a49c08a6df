%%% @doc Tests of beamr_emscripten: emscripten `env' imports of real wasm (wasm32 and
%%% memory64 fixtures) answered through the real NIF.
-module(beamr_emscripten_tests).

-include_lib("eunit/include/eunit.hrl").

layouts() ->
    [{32, "emscripten32.wat"}, {64, "emscripten64.wat"}].

both(Test) ->
    lists:foreach(fun({W, Fixture}) -> Test(W, beamr_test_util:start(Fixture)) end, layouts()).

%% Calls export w_<Name> with the emscripten handler alone.
em(I, Name, Args, State) ->
    beamr_imports:call(I, <<"w_", Name/binary>>, Args, beamr_imports:new([beamr_emscripten]),
                       State, #{}).

em(I, Name, Args) ->
    em(I, Name, Args, beamr_emscripten:new()).

tm_at(I, Ptr) ->
    {ok, Bin} = beamr:read(I, Ptr, 36),
    [F || <<F:32/little-signed>> <= Bin].

syscalls_test() ->
    both(fun(_W, I) ->
                 ?assertMatch({ok, [-44], _}, em(I, <<"__syscall_openat">>, [-100, 16, 0, 0])),
                 ?assertMatch({ok, [0], _}, em(I, <<"__syscall_ioctl">>, [1, 16#5413, 0])),
                 ?assertMatch({ok, [-59], _}, em(I, <<"__syscall_ioctl">>, [5, 16#5413, 0])),
                 ?assertMatch({ok, [-52], _}, em(I, <<"__syscall_fstat64">>, [3, 64])),
                 ?assertMatch({ok, [-1], _}, em(I, <<"_emscripten_system">>, [16]))
         end).

clock_test() ->
    both(fun(_W, I) ->
                 S0 = beamr_emscripten:new(),
                 {ok, [T1], S1} = em(I, <<"emscripten_date_now">>, [], S0),
                 {ok, [T2], S2} = em(I, <<"emscripten_date_now">>, [], S1),
                 ?assertEqual({1700000000000.0, 1700000000001.0}, {T1, T2}),
                 {ok, [Now], _} = em(I, <<"emscripten_get_now">>, [], S2),
                 ?assertEqual(2.0, Now),
                 ?assertMatch({ok, [1], _}, em(I, <<"_emscripten_get_now_is_monotonic">>, [])),
                 %% The same state reads the same time again; a configured clock its own.
                 ?assertMatch({ok, [1700000000000.0], _}, em(I, <<"emscripten_date_now">>, [], S0)),
                 ?assertMatch({ok, [1.5], _},
                              em(I, <<"emscripten_date_now">>, [],
                                 beamr_emscripten:new(#{clock => #{start => 1500000}})))
         end).

heap_test() ->
    both(fun(_W, I) ->
                 {ok, Size} = beamr:size(I),
                 %% By default the memory really grows.
                 ?assertMatch({ok, [1], _}, em(I, <<"emscripten_resize_heap">>, [Size + 1])),
                 ?assertEqual({ok, Size + 65536}, beamr:size(I)),
                 ?assertMatch({ok, [1], _}, em(I, <<"emscripten_resize_heap">>, [Size])),
                 ?assertEqual({ok, Size + 65536}, beamr:size(I)),
                 %% A fixed heap never grows.
                 Fixed = beamr_emscripten:new(#{grow => none}),
                 ?assertMatch({ok, [0], _}, em(I, <<"emscripten_resize_heap">>, [Size * 4], Fixed)),
                 ?assertMatch({ok, [Size2], _} when Size2 =:= Size + 65536,
                              em(I, <<"emscripten_get_heap_max">>, [], Fixed)),
                 ?assertMatch({ok, [], _}, em(I, <<"emscripten_notify_memory_growth">>, [0])),
                 Self = self(),
                 Grow = fun(Inst, Bytes) -> Self ! {grow, Inst, Bytes}, ok end,
                 S = beamr_emscripten:new(#{grow => Grow}),
                 ?assertMatch({ok, [1], _}, em(I, <<"emscripten_resize_heap">>, [Size * 2], S)),
                 receive {grow, I, Requested} -> ?assertEqual(Size * 2, Requested)
                 after 0 -> error(grow_not_called)
                 end
         end).

memcpy_test() ->
    both(fun(_W, I) ->
                 ok = beamr:write(I, 100, <<"copy me">>),
                 ?assertMatch({ok, [], _}, em(I, <<"emscripten_memcpy_big">>, [900, 100, 7])),
                 ?assertEqual({ok, <<"copy me">>}, beamr:read(I, 900, 7)),
                 ?assertMatch({error, {import_crashed, <<"env">>, <<"emscripten_memcpy_big">>, error,
                                       {bad_guest_pointer, _, _}}, _},
                              em(I, <<"emscripten_memcpy_big">>, [900, 1 bsl 30, 7]))
         end).

tzset_test() ->
    both(fun(W, I) ->
                 ok = beamr:write(I, 100, binary:copy(<<255>>, 64)),
                 ?assertMatch({ok, [], _}, em(I, <<"_tzset_js">>, [100, 120, 130, 140])),
                 ?assertEqual({ok, <<0:W>>}, beamr:read(I, 100, W div 8)),
                 ?assertEqual({ok, <<0:32>>}, beamr:read(I, 120, 4)),
                 ?assertEqual({ok, <<"UTC", 0>>}, beamr:read(I, 130, 4)),
                 ?assertEqual({ok, <<"UTC", 0>>}, beamr:read(I, 140, 4))
         end).

gmtime_test() ->
    both(fun(W, I) ->
                 %% 1700000000 is Tuesday 2023-11-14 22:13:20 UTC, day 317 of the year.
                 ?assertMatch({ok, [], _}, em(I, <<"_gmtime_js">>, [1700000000, 200])),
                 ?assertEqual([20, 13, 22, 14, 10, 123, 2, 317, 0], tm_at(I, 200)),
                 %% One second before the epoch: Wednesday 1969-12-31 23:59:59, day 364.
                 ?assertMatch({ok, [], _}, em(I, <<"_gmtime_js">>, [-1, 200])),
                 ?assertEqual([59, 59, 23, 31, 11, 69, 3, 364, 0], tm_at(I, 200)),
                 %% localtime is UTC too, with tm_gmtoff 0.
                 GmtOff = case W of 32 -> 236; 64 -> 240 end,
                 ok = beamr:write(I, GmtOff, <<-1:W>>),
                 ?assertMatch({ok, [], _}, em(I, <<"_localtime_js">>, [951782400, 200])),
                 %% 2000-02-29 00:00:00, a Tuesday, day 59.
                 ?assertEqual([0, 0, 0, 29, 1, 100, 2, 59, 0], tm_at(I, 200)),
                 ?assertEqual({ok, <<0:W>>}, beamr:read(I, GmtOff, W div 8))
         end).

mktime_test() ->
    both(fun(_W, I) ->
                 Tm = fun(Fields) -> << <<F:32/little-signed>> || F <- Fields >> end,
                 ok = beamr:write(I, 200, Tm([20, 13, 22, 14, 10, 123, 0, 0, -1])),
                 ?assertMatch({ok, [1700000000], _}, em(I, <<"_mktime_js">>, [200])),
                 ?assertEqual([20, 13, 22, 14, 10, 123, 2, 317, 0], tm_at(I, 200)),
                 %% Month 12 of 2023 is January 2024: normalised as mktime does.
                 ok = beamr:write(I, 200, Tm([0, 0, 0, 1, 12, 123, 0, 0, 0])),
                 ?assertMatch({ok, [1704067200], _}, em(I, <<"_mktime_js">>, [200])),
                 ?assertEqual([0, 0, 0, 1, 0, 124, 1, 0, 0], tm_at(I, 200))
         end).

legacy_time_forms_test() ->
    %% emscripten 3.1.6 passes a pointer to an i32 time_t; wasm32 without BigInt passes
    %% two i32 halves.
    Wat = <<"(module
               (import \"env\" \"_gmtime_js\" (func $g (param i32 i32)))
               (memory (export \"memory\") 1)
               (func (export \"g\") (param i32 i32) (call $g (local.get 0) (local.get 1))))">>,
    {ok, I} = beamr:start(Wat),
    ok = beamr:write(I, 8, <<1700000000:32/little>>),
    {ok, [], _} = beamr_imports:call(I, <<"g">>, [8, 200], fun beamr_emscripten:import/3,
                                     beamr_emscripten:new(), #{}),
    ?assertEqual([20, 13, 22, 14, 10, 123, 2, 317, 0], tm_at(I, 200)),
    Split = <<"(module
               (import \"env\" \"_gmtime_js\" (func $g (param i32 i32 i32)))
               (memory (export \"memory\") 1)
               (func (export \"g\") (param i32 i32 i32)
                 (call $g (local.get 0) (local.get 1) (local.get 2))))">>,
    {ok, J} = beamr:start(Split),
    %% 2^32 + 5 seconds: 2106-02-07 06:28:21 UTC, a Sunday, day 37.
    {ok, [], _} = beamr_imports:call(J, <<"g">>, [5, 1, 200], fun beamr_emscripten:import/3,
                                     beamr_emscripten:new(), #{}),
    ?assertEqual([21, 28, 6, 7, 1, 206, 0, 37, 0], tm_at(J, 200)).

temp_ret0_test() ->
    both(fun(_W, I) ->
                 {ok, [], S} = em(I, <<"setTempRet0">>, [-7]),
                 ?assertMatch({ok, [-7], _}, em(I, <<"getTempRet0">>, [], S)),
                 %% beamr keeps tempRet0 natively, per instance (emscripten.rs): a
                 %% fresh handler state does not reset it.
                 ?assertMatch({ok, [-7], _}, em(I, <<"getTempRet0">>, []))
         end).

abort_test() ->
    both(fun(_W, I) ->
                 S = (beamr_emscripten:new())#{mark => 1},
                 ?assertEqual({error, {abort, <<"env">>, <<"_abort_js">>}, S},
                              em(I, <<"_abort_js">>, [], S)),
                 %% Usable afterwards.
                 ?assertMatch({ok, [-1], _}, em(I, <<"_emscripten_system">>, [0]))
         end).

%% invoke_* is answered natively by beamr (emscripten.rs), never by a handler: in
%% this fixture, which exports no function table, it fails the call.
invoke_is_not_answered_test() ->
    NoTable = <<"emscripten runtime: the module exports no __indirect_function_table">>,
    both(fun(_W, I) ->
                 ?assertMatch({error, {trap, NoTable}, _}, em(I, <<"invoke_vi">>, [1, 2])),
                 ?assertMatch({error, {trap, NoTable}, _},
                              beamr:call(I, <<"w_invoke_vi">>, [1, 2], fun beamr_emscripten:import/3,
                                         beamr_emscripten:new(), #{}))
         end).

newer_names_and_exit_test() ->
    Wat = <<"(module
               (import \"env\" \"_emscripten_memcpy_js\" (func $cp (param i32 i32 i32)))
               (import \"env\" \"_mmap_js\" (func $mmap (param i32 i32 i32 i32 i64 i32 i32) (result i32)))
               (import \"env\" \"exit\" (func $exit (param i32)))
               (memory (export \"memory\") 1)
               (data (i32.const 8) \"abc\")
               (func (export \"go\") (param i32) (result i32)
                 (call $cp (i32.const 100) (i32.const 8) (i32.const 3))
                 (if (local.get 0) (then (call $exit (local.get 0))))
                 (call $mmap (i32.const 4096) (i32.const 3) (i32.const 34) (i32.const -1)
                             (i64.const 0) (i32.const 200) (i32.const 204))))">>,
    {ok, I} = beamr:start(Wat),
    Fun = beamr_imports:new([beamr_emscripten]),
    ?assertMatch({ok, [-52], _}, beamr_imports:call(I, <<"go">>, [0], Fun, beamr_emscripten:new(), #{})),
    ?assertEqual({ok, <<"abc">>}, beamr:read(I, 100, 3)),
    ?assertMatch({ok, {exit, 9}, _}, beamr_imports:call(I, <<"go">>, [9], Fun, beamr_emscripten:new(), #{})).

getentropy_seeded_test() ->
    Wat = <<"(module
               (import \"env\" \"getentropy\" (func $ge (param i32 i32) (result i32)))
               (memory (export \"memory\") 1)
               (func (export \"ge\") (param i32 i32) (result i32) (call $ge (local.get 0) (local.get 1))))">>,
    {ok, I} = beamr:start(Wat),
    Draw = fun(S) ->
                   {ok, [0], S2} = beamr_imports:call(I, <<"ge">>, [64, 16], fun beamr_emscripten:import/3, S, #{}),
                   {ok, Bytes} = beamr:read(I, 64, 16),
                   {Bytes, S2}
           end,
    {A, S1} = Draw(beamr_emscripten:new(#{seed => 5})),
    {B, _} = Draw(S1),
    {A2, S2} = Draw(beamr_emscripten:new(#{seed => 5})),
    {B2, _} = Draw(S2),
    ?assertEqual({A, B}, {A2, B2}),
    ?assertNotEqual(A, B),
    ?assertNotEqual(A, element(1, Draw(beamr_emscripten:new(#{seed => 6})))),
    %% Shared with WASI: the same seed gives random_get's bytes.
    {Wasi, _} = beamr_random:bytes(16, beamr_wasi:new(#{seed => 5})),
    ?assertEqual(A, Wasi),
    %% More than 256 bytes is refused, as POSIX's getentropy does.
    ?assertMatch({ok, [-1], _}, beamr_imports:call(I, <<"ge">>, [64, 257], fun beamr_emscripten:import/3,
                                                   beamr_emscripten:new(), #{})).
