%%% @doc Tests of beamr_wasi: WASI preview1 imports of real wasm (wasm32 and memory64
%%% fixtures) answered through the real NIF, with memory laid out and checked here.
-module(beamr_wasi_tests).

-include_lib("eunit/include/eunit.hrl").

-define(EBADF, 8).
-define(EFAULT, 21).
-define(EINVAL, 28).
-define(ENOENT, 44).
-define(ENOSYS, 52).
-define(ENOTCAPABLE, 76).
-define(ESPIPE, 70).

%% Both layouts: {pointer width, fixture}.
layouts() ->
    [{32, "wasi32.wat"}, {64, "wasi64.wat"}].

%% Runs Test(Width, Instance) on a fresh instance of each fixture.
both(Test) ->
    lists:foreach(fun({W, Fixture}) -> Test(W, beamr_test_util:start(Fixture)) end, layouts()).

call(I, Func, Args, State) ->
    beamr_wasi:call(I, Func, Args, State).

read_uint(I, Ptr, Bits) ->
    {ok, <<N:Bits/little>>} = beamr:read(I, Ptr, Bits div 8),
    N.

iovecs(W, Vecs) ->
    << <<Base:W/little, Len:W/little>> || {Base, Len} <- Vecs >>.

%%% stdout, stderr, stdin

hello_stdout_test() ->
    both(fun(_W, I) ->
                 {ok, [14], S} = call(I, <<"hello">>, [], beamr_wasi:new()),
                 ?assertEqual(<<"Hello, world!\n">>, beamr_wasi:stdout(S)),
                 ?assertEqual(<<>>, beamr_wasi:stderr(S)),
                 %% Output accumulates over calls that share the state.
                 {ok, [14], S2} = call(I, <<"hello">>, [], S),
                 ?assertEqual(<<"Hello, world!\nHello, world!\n">>, beamr_wasi:stdout(S2))
         end).

stderr_and_nwritten_test() ->
    both(fun(W, I) ->
                 ok = beamr:write(I, 1000, <<"oops: ">>),
                 ok = beamr:write(I, 1100, <<"disk full\n">>),
                 ok = beamr:write(I, 2000, iovecs(W, [{1000, 6}, {1050, 0}, {1100, 10}])),
                 {ok, [0], S} = call(I, <<"w_fd_write">>, [2, 2000, 3, 3000], beamr_wasi:new()),
                 ?assertEqual(<<"oops: disk full\n">>, beamr_wasi:stderr(S)),
                 ?assertEqual(<<>>, beamr_wasi:stdout(S)),
                 ?assertEqual(16, read_uint(I, 3000, W))
         end).

write_to_bad_fd_test() ->
    both(fun(W, I) ->
                 ok = beamr:write(I, 2000, iovecs(W, [{16, 7}])),
                 S0 = beamr_wasi:new(),
                 ?assertMatch({ok, [?EBADF], _}, call(I, <<"w_fd_write">>, [9, 2000, 1, 3000], S0)),
                 ?assertMatch({ok, [?EBADF], _}, call(I, <<"w_fd_write">>, [0, 2000, 1, 3000], S0)),
                 %% A closed stdout refuses writes.
                 {ok, [0], S1} = call(I, <<"w_fd_close">>, [1], S0),
                 ?assertMatch({ok, [?EBADF], _}, call(I, <<"w_fd_write">>, [1, 2000, 1, 3000], S1)),
                 ?assertMatch({ok, [?EBADF], _}, call(I, <<"w_fd_close">>, [1], S1))
         end).

write_out_of_bounds_is_efault_test() ->
    both(fun(W, I) ->
                 {ok, Size} = beamr:size(I),
                 ok = beamr:write(I, 2000, iovecs(W, [{16, 7}, {Size - 2, 5}])),
                 {ok, [?EFAULT], S} = call(I, <<"w_fd_write">>, [1, 2000, 2, 3000], beamr_wasi:new()),
                 ?assertEqual(<<>>, beamr_wasi:stdout(S)),
                 %% An iovec array that itself lies past the end.
                 ?assertMatch({ok, [?EFAULT], _},
                              call(I, <<"w_fd_write">>, [1, Size - 4, 1, 3000], beamr_wasi:new()))
         end).

stdin_read_test() ->
    both(fun(W, I) ->
                 S0 = beamr_wasi:new(#{stdin => <<"abcdefghij">>}),
                 ok = beamr:write(I, 2000, iovecs(W, [{1000, 4}, {1100, 3}])),
                 {ok, [0], S1} = call(I, <<"w_fd_read">>, [0, 2000, 2, 3000], S0),
                 ?assertEqual(7, read_uint(I, 3000, W)),
                 ?assertEqual({ok, <<"abcd">>}, beamr:read(I, 1000, 4)),
                 ?assertEqual({ok, <<"efg">>}, beamr:read(I, 1100, 3)),
                 {ok, [0], S2} = call(I, <<"w_fd_read">>, [0, 2000, 2, 3000], S1),
                 ?assertEqual(3, read_uint(I, 3000, W)),
                 ?assertEqual({ok, <<"hij">>}, beamr:read(I, 1000, 3)),
                 %% End of input: zero bytes read.
                 {ok, [0], _} = call(I, <<"w_fd_read">>, [0, 2000, 2, 3000], S2),
                 ?assertEqual(0, read_uint(I, 3000, W)),
                 ?assertMatch({ok, [?EBADF], _}, call(I, <<"w_fd_read">>, [1, 2000, 2, 3000], S2))
         end).

%%% args and environ

args_round_trip_test() ->
    Args = [<<"prog">>, <<"-x">>, <<"h", 16#c3, 16#a9, "llo">>, <<>>],
    both(fun(W, I) ->
                 S = beamr_wasi:new(#{args => Args}),
                 {ok, [0], _} = call(I, <<"w_args_sizes_get">>, [1000, 1008], S),
                 ?assertEqual(4, read_uint(I, 1000, W)),
                 ?assertEqual(5 + 3 + 7 + 1, read_uint(I, 1008, W)),
                 {ok, [0], _} = call(I, <<"w_args_get">>, [2000, 3000], S),
                 ?assertEqual(Args, strings_at(I, W, 2000, 4))
         end).

environ_round_trip_test() ->
    both(fun(W, I) ->
                 S = beamr_wasi:new(#{env => #{"PATH" => "/bin", <<"A">> => <<"1">>}}),
                 {ok, [0], _} = call(I, <<"w_environ_sizes_get">>, [1000, 1008], S),
                 ?assertEqual(2, read_uint(I, 1000, W)),
                 ?assertEqual(4 + 10, read_uint(I, 1008, W)),
                 {ok, [0], _} = call(I, <<"w_environ_get">>, [2000, 3000], S),
                 ?assertEqual([<<"A=1">>, <<"PATH=/bin">>], strings_at(I, W, 2000, 2))
         end).

no_args_test() ->
    both(fun(W, I) ->
                 ok = beamr:write(I, 1000, <<-1:128>>),
                 {ok, [0], _} = call(I, <<"w_args_sizes_get">>, [1000, 1008], beamr_wasi:new()),
                 ?assertEqual(0, read_uint(I, 1000, W)),
                 ?assertEqual(0, read_uint(I, 1008, W))
         end).

%% The N NUL-terminated strings whose pointers are in the array at Array.
strings_at(I, W, Array, N) ->
    {ok, Pointers} = beamr:read(I, Array, N * W div 8),
    [begin
         {ok, Bin} = beamr:read(I, P, 64),
         [S | _] = binary:split(Bin, <<0>>),
         S
     end || <<P:W/little>> <= Pointers].

%%% Clock and randomness

clock_defaults_test() ->
    both(fun(_W, I) ->
                 S0 = beamr_wasi:new(),
                 {ok, [0], S1} = call(I, <<"w_clock_time_get">>, [0, 1, 1000], S0),
                 ?assertEqual(1700000000 * 1000000000, read_uint(I, 1000, 64)),
                 {ok, [0], S2} = call(I, <<"w_clock_time_get">>, [0, 1, 1000], S1),
                 ?assertEqual(1700000000 * 1000000000 + 1000000, read_uint(I, 1000, 64)),
                 %% Monotonic time counts the reads before it, from zero.
                 {ok, [0], _} = call(I, <<"w_clock_time_get">>, [1, 1, 1000], S2),
                 ?assertEqual(2000000, read_uint(I, 1000, 64)),
                 {ok, [0], _} = call(I, <<"w_clock_res_get">>, [0, 1000], S0),
                 ?assertEqual(1000000, read_uint(I, 1000, 64)),
                 ?assertMatch({ok, [?EINVAL], _}, call(I, <<"w_clock_time_get">>, [9, 1, 1000], S0))
         end).

clock_configured_test() ->
    both(fun(_W, I) ->
                 S = beamr_wasi:new(#{clock => #{start => 5000, step => 250}}),
                 {ok, [250], S1} = call(I, <<"tick">>, [], S),
                 {ok, [0], _} = call(I, <<"w_clock_time_get">>, [0, 1, 1000], S1),
                 ?assertEqual(5000 + 2 * 250, read_uint(I, 1000, 64))
         end).

clock_host_opt_in_test() ->
    both(fun(_W, I) ->
                 Before = os:system_time(nanosecond),
                 {ok, [0], _} = call(I, <<"w_clock_time_get">>, [0, 1, 1000],
                                     beamr_wasi:new(#{clock => host})),
                 Read = read_uint(I, 1000, 64),
                 ?assert(Read >= Before andalso Read =< os:system_time(nanosecond))
         end).

%% Reads 64 random bytes twice through random_get; returns them and the final state.
draw(I, S0) ->
    {ok, [0], S1} = call(I, <<"w_random_get">>, [1000, 64], S0),
    {ok, A} = beamr:read(I, 1000, 64),
    {ok, [0], S2} = call(I, <<"w_random_get">>, [1000, 64], S1),
    {ok, B} = beamr:read(I, 1000, 64),
    {A, B, S2}.

random_deterministic_test() ->
    both(fun(_W, I) ->
                 {A1, B1, _} = draw(I, beamr_wasi:new(#{seed => 7})),
                 %% A second run, on a fresh instance, from the same state.
                 {A2, B2, _} = draw(beamr_test_util:start(fixture_of(I)), beamr_wasi:new(#{seed => 7})),
                 ?assertEqual({A1, B1}, {A2, B2}),
                 ?assertNotEqual(A1, B1),
                 {A3, _, _} = draw(I, beamr_wasi:new(#{seed => 8})),
                 ?assertNotEqual(A1, A3),
                 {A4, _, _} = draw(I, beamr_wasi:new(#{random => host})),
                 ?assertNotEqual(A1, A4),
                 ?assertMatch({ok, [?EFAULT], _},
                              call(I, <<"w_random_get">>, [1000, 1 bsl 30], beamr_wasi:new()))
         end).

%% Which fixture an instance runs: memory64 if its memory is two pages.
fixture_of(I) ->
    case beamr:size(I) of
        {ok, 131072} -> "wasi64.wat";
        {ok, 65536} -> "wasi32.wat"
    end.

whole_run_deterministic_test() ->
    both(fun(_W, I) ->
                 Run = fun() ->
                               J = beamr_test_util:start(fixture_of(I)),
                               {ok, [D], S1} = call(J, <<"tick">>, [], beamr_wasi:new()),
                               {A, B, S2} = draw(J, S1),
                               {ok, [14], S3} = call(J, <<"hello">>, [], S2),
                               {D, A, B, beamr_wasi:stdout(S3), maps:get(clock, S3)}
                       end,
                 ?assertEqual(Run(), Run())
         end).

%%% proc_exit, sched_yield, ENOSYS

proc_exit_test() ->
    both(fun(_W, I) ->
                 {ok, {exit, 3}, S} = call(I, <<"main">>, [3], beamr_wasi:new()),
                 ?assertEqual(<<"bye\n">>, beamr_wasi:stdout(S)),
                 {ok, {exit, 0}, _} = call(I, <<"w_proc_exit">>, [0], beamr_wasi:new()),
                 %% The instance stays usable.
                 ?assertMatch({ok, [14], _}, call(I, <<"hello">>, [], beamr_wasi:new()))
         end).

proc_exit_through_plain_call_test() ->
    both(fun(_W, I) ->
                 S0 = beamr_wasi:new(),
                 {error, {import_crashed, <<"wasi_snapshot_preview1">>, <<"proc_exit">>, throw,
                          {beamr_exit, 4, S}}, _} =
                     beamr:call(I, <<"main">>, [4], fun beamr_wasi:import/3, S0, #{}),
                 ?assertEqual(<<"bye\n">>, beamr_wasi:stdout(S))
         end).

sched_yield_and_enosys_test() ->
    both(fun(_W, I) ->
                 ?assertMatch({ok, [0], _}, call(I, <<"w_sched_yield">>, [], beamr_wasi:new())),
                 ?assertMatch({ok, [?ENOSYS], _},
                              call(I, <<"w_fd_pwrite">>, [1, 0, 0, 0, 0], beamr_wasi:new()))
         end).

wasi_unstable_module_test() ->
    Wat = <<"(module
               (import \"wasi_unstable\" \"fd_write\" (func $w (param i32 i32 i32 i32) (result i32)))
               (import \"wasi_unstable\" \"fd_renumber\" (func $r (param i32 i32) (result i32)))
               (memory (export \"memory\") 1) (data (i32.const 8) \"\\10\\00\\00\\00\\02\\00\\00\\00ok\")
               (func (export \"go\") (result i32 i32)
                 (call $w (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 32))
                 (call $r (i32.const 1) (i32.const 2))))">>,
    {ok, I} = beamr:start(Wat),
    {ok, [0, ?ENOSYS], S} = beamr_wasi:call(I, <<"go">>, [], beamr_wasi:new()),
    ?assertEqual(<<"ok">>, beamr_wasi:stdout(S)).

%%% Preopens and files

no_preopens_test() ->
    both(fun(_W, I) ->
                 ?assertMatch({ok, [?EBADF], _}, call(I, <<"w_fd_prestat_get">>, [3, 1000], beamr_wasi:new())),
                 ?assertMatch({ok, [?EBADF], _},
                              call(I, <<"w_path_open">>, [3, 0, 16, 5, 0, 0, 0, 0, 1000], beamr_wasi:new()))
         end).

preopen_listing_test() ->
    both(fun(W, I) ->
                 S = beamr_wasi:new(#{preopens => [<<"/data">>]}),
                 ok = beamr:write(I, 1000, binary:copy(<<255>>, 16)),
                 {ok, [0], _} = call(I, <<"w_fd_prestat_get">>, [3, 1000], S),
                 ?assertEqual(0, read_uint(I, 1000, 8)),
                 ?assertEqual(5, read_uint(I, 1000 + W div 8, W)),
                 {ok, [0], _} = call(I, <<"w_fd_prestat_dir_name">>, [3, 2000, 5], S),
                 ?assertEqual({ok, <<"/data">>}, beamr:read(I, 2000, 5)),
                 ?assertMatch({ok, [?EBADF], _}, call(I, <<"w_fd_prestat_get">>, [4, 1000], S))
         end).

%% path_open(3, 0, Path at 4000, ...) with the given oflags and fdflags; {Errno, Fd, State}.
open(I, Path, OFlags, FdFlags, S) ->
    ok = beamr:write(I, 4000, Path),
    {ok, [Errno], S2} = call(I, <<"w_path_open">>,
                             [3, 0, 4000, byte_size(Path), OFlags, 16#1FFFFFFF, 16#1FFFFFFF,
                              FdFlags, 4100], S),
    {Errno, read_uint(I, 4100, 32), S2}.

read_fd(I, W, Fd, Len, S) ->
    ok = beamr:write(I, 2000, iovecs(W, [{5000, Len}])),
    {ok, [0], S2} = call(I, <<"w_fd_read">>, [Fd, 2000, 1, 3000], S),
    {ok, Data} = beamr:read(I, 5000, read_uint(I, 3000, W)),
    {Data, S2}.

write_fd(I, W, Fd, Data, S) ->
    ok = beamr:write(I, 5000, Data),
    ok = beamr:write(I, 2000, iovecs(W, [{5000, byte_size(Data)}])),
    {ok, [Errno], S2} = call(I, <<"w_fd_write">>, [Fd, 2000, 1, 3000], S),
    {Errno, S2}.

seek(I, Fd, Offset, Whence, S) ->
    {ok, [Errno], S2} = call(I, <<"w_fd_seek">>, [Fd, Offset, Whence, 3000], S),
    {Errno, read_uint(I, 3000, 64), S2}.

file_read_seek_close_test() ->
    both(fun(W, I) ->
                 S0 = beamr_wasi:new(#{preopens => ["/data"],
                                       files => #{"/data/in.txt" => <<"file contents">>}}),
                 {0, Fd, S1} = open(I, <<"in.txt">>, 0, 0, S0),
                 ?assertEqual(4, Fd),
                 {<<"file">>, S2} = read_fd(I, W, Fd, 4, S1),
                 {<<" contents">>, S3} = read_fd(I, W, Fd, 100, S2),
                 {<<>>, S4} = read_fd(I, W, Fd, 100, S3),
                 {0, 5, S5} = seek(I, Fd, 5, 0, S4),
                 {<<"contents">>, S6} = read_fd(I, W, Fd, 100, S5),
                 {0, 9, S7} = seek(I, Fd, -4, 2, S6),
                 {<<"ents">>, S8} = read_fd(I, W, Fd, 100, S7),
                 ?assertMatch({?EINVAL, _, _}, seek(I, Fd, -100, 1, S8)),
                 ?assertMatch({?ESPIPE, _, _}, seek(I, 1, 0, 0, S8)),
                 {ok, [0], S9} = call(I, <<"w_fd_close">>, [Fd], S8),
                 ?assertMatch({ok, [?EBADF], _}, call(I, <<"w_fd_read">>, [Fd, 2000, 1, 3000], S9)),
                 %% "./x/../in.txt" is the same file; a path out of the preopen is refused.
                 ?assertMatch({0, 5, _}, open(I, <<"./x/../in.txt">>, 0, 0, S9)),
                 ?assertMatch({?ENOTCAPABLE, _, _}, open(I, <<"../etc/passwd">>, 0, 0, S9)),
                 ?assertMatch({?ENOENT, _, _}, open(I, <<"missing.txt">>, 0, 0, S9))
         end).

file_create_write_test() ->
    both(fun(W, I) ->
                 S0 = beamr_wasi:new(#{preopens => ["/"], files => #{"/log" => <<"old">>}}),
                 {0, Fd, S1} = open(I, <<"new.txt">>, 1, 0, S0),
                 {0, S2} = write_fd(I, W, Fd, <<"hello">>, S1),
                 {0, 1, S3} = seek(I, Fd, 1, 0, S2),
                 {0, S4} = write_fd(I, W, Fd, <<"EL">>, S3),
                 ?assertEqual(#{<<"/new.txt">> => <<"hELlo">>, <<"/log">> => <<"old">>},
                              beamr_wasi:files(S4)),
                 %% Append mode writes at the end; O_TRUNC empties; O_EXCL refuses an existing file.
                 {0, Log, S5} = open(I, <<"log">>, 0, 1, S4),
                 {0, S6} = write_fd(I, W, Log, <<"+new">>, S5),
                 ?assertEqual(<<"old+new">>, maps:get(<<"/log">>, beamr_wasi:files(S6))),
                 {0, _, S7} = open(I, <<"log">>, 8, 0, S6),
                 ?assertEqual(<<>>, maps:get(<<"/log">>, beamr_wasi:files(S7))),
                 ?assertMatch({20, _, _}, open(I, <<"log">>, 1 bor 4, 0, S7))
         end).

fdstat_test() ->
    both(fun(_W, I) ->
                 S0 = beamr_wasi:new(#{preopens => ["/"], files => #{"/f" => <<"x">>}}),
                 {ok, [0], _} = call(I, <<"w_fd_fdstat_get">>, [1, 1000], S0),
                 {ok, <<Type:8, _:8, _:16, _:32, Rights:64/little, _:64>>} = beamr:read(I, 1000, 24),
                 ?assertEqual(2, Type),
                 ?assertEqual(0, Rights band (4 bor 32)),
                 {0, Fd, S1} = open(I, <<"f">>, 0, 0, S0),
                 {ok, [0], _} = call(I, <<"w_fd_fdstat_get">>, [Fd, 1000], S1),
                 ?assertMatch({ok, <<4:8, _/binary>>}, beamr:read(I, 1000, 24)),
                 {ok, [0], _} = call(I, <<"w_fd_fdstat_get">>, [3, 1000], S1),
                 ?assertMatch({ok, <<3:8, _/binary>>}, beamr:read(I, 1000, 24)),
                 ?assertMatch({ok, [?EBADF], _}, call(I, <<"w_fd_fdstat_get">>, [77, 1000], S1))
         end).

bad_options_test() ->
    ?assertError({bad_path, "../x"}, beamr_wasi:new(#{files => #{"../x" => <<>>}})),
    ?assertError({bad_clock_step, -1}, beamr_wasi:new(#{clock => #{step => -1}})).

%%% Property: fd_write of any iovec list writes exactly their concatenation.

fd_write_concatenates_test_() ->
    {timeout, 120,
     fun() ->
             lists:foreach(
               fun({W, Fixture}) ->
                       I = beamr_test_util:start(Fixture),
                       ?assert(proper:quickcheck(prop_fd_write_concatenates(W, I),
                                                 [{numtests, 150}, {to_file, user}]))
               end, layouts())
     end}.

prop_fd_write_concatenates(W, I) ->
    %% PropEr's API without its header (Debian's erlang-proper ships none).
    Gen = proper_types:tuple([proper_types:list(proper_types:binary()),
                              proper_types:oneof([1, 2])]),
    proper:forall(
      Gen,
      fun({Chunks, Fd}) ->
                %% Chunks laid out at 8 KiB, each after a gap, in order; the iovec array at 1024.
                {Vecs, _} = lists:mapfoldl(
                              fun(C, At) ->
                                      ok = beamr:write(I, At, C),
                                      {{At, byte_size(C)}, At + byte_size(C) + 3}
                              end, 8192, Chunks),
                ok = beamr:write(I, 1024, iovecs(W, Vecs)),
                {ok, [0], S} = beamr_wasi:call(I, <<"w_fd_write">>, [Fd, 1024, length(Vecs), 512],
                                               beamr_wasi:new()),
                Expected = iolist_to_binary(Chunks),
                Out = case Fd of 1 -> beamr_wasi:stdout(S); 2 -> beamr_wasi:stderr(S) end,
                Out =:= Expected andalso read_uint(I, 512, W) =:= byte_size(Expected)
      end).
