%%% @doc The on-disk module cache as a node sees it: on by default in the user cache
%%% directory, read by a second VM instead of compiling, switched off and moved by the
%%% application environment, bounded with least-recently-used eviction, and left off
%%% (logged once) when its directory cannot be written. The VMs are `erl -noshell'
%%% children with their own environment, so the machine's real cache is never touched.
-module(beamr_module_cache_tests).
-include_lib("eunit/include/eunit.hrl").

-export([child_main/0]).

%% A memory64 module with a data segment and a mutable global, as AOS images have.
image() ->
    Funcs = [io_lib:format("(func (export \"f~b\") (param i64) (result i64)
        local.get 0 i64.const ~b i64.add global.get $sp i64.add)~n", [K, K])
             || K <- lists:seq(1, 200)],
    {ok, Wasm} = beamr:wat_to_wasm(iolist_to_binary(
        ["(module (memory i64 192) (global $sp (mut i64) (i64.const 7))
          (data (i64.const 4096) \"beamr module cache\")\n", Funcs, ")"])),
    Wasm.

tmp_dir(Tag) ->
    Dir = filename:join(["/tmp", "beamr-mc-" ++ Tag ++ "-" ++ os:getpid() ++ "-"
                         ++ integer_to_list(erlang:unique_integer([positive]))]),
    ok = filelib:ensure_path(Dir),
    Dir.

rm_rf(Dir) ->
    os:cmd("rm -rf '" ++ Dir ++ "'").

%% @private What a child VM runs: starts the application, starts the image at
%% `Wasm', calls it, and writes what it saw into `Out'.
child_main() ->
    [Out, Wasm] = init:get_plain_arguments(),
    {ok, _} = application:ensure_all_started(beamr),
    {ok, Bin} = file:read_file(Wasm),
    Before = beamr:compilations(),
    Started = case beamr:start(Bin) of
                  {ok, I} -> beamr:call(I, <<"f1">>, [1]);
                  Error -> Error
              end,
    Seen = #{started => Started,
             compilations => beamr:compilations() - Before,
             disk => maps:get(disk, beamr:cache_info())},
    ok = file:write_file(Out, term_to_binary(Seen)),
    halt(0).

%% Runs child_main/0 in a fresh VM with OS environment `Env' and application
%% environment `AppEnv' ([{Key, Term}]); returns what it saw and its output.
child(Work, Env, AppEnv) ->
    Out = filename:join(Work, "seen-" ++ integer_to_list(erlang:unique_integer([positive]))),
    Wasm = filename:join(Work, "image.wasm"),
    AppArgs = lists:append([["-beamr", atom_to_list(K), lists:flatten(io_lib:format("~0p", [V]))]
                            || {K, V} <- AppEnv]),
    Args = ["-noshell", "-pa", filename:dirname(code:which(beamr)),
            "-pa", filename:dirname(code:which(?MODULE))] ++ AppArgs ++
           ["-eval", "beamr_module_cache_tests:child_main()", "-extra", Out, Wasm],
    Port = open_port({spawn_executable, os:find_executable("erl")},
                     [{args, Args}, {env, Env}, exit_status, stderr_to_stdout, binary]),
    Output = drain(Port, <<>>),
    {ok, Bin} = file:read_file(Out),
    {binary_to_term(Bin), Output}.

drain(Port, Acc) ->
    receive
        {Port, {data, D}} -> drain(Port, <<Acc/binary, D/binary>>);
        {Port, {exit_status, 0}} -> Acc;
        {Port, {exit_status, N}} -> error({child_failed, N, Acc})
    after 120000 ->
        catch port_close(Port),
        error({child_timeout, Acc})
    end.

module_cache_test_() ->
    {timeout, 300, [fun second_vm_starts_from_default_cache/0,
                    fun switched_off/0,
                    fun unwritable_dir_is_logged_once_and_off/0]}.

%% With no configuration the cache is in filename:basedir(user_cache, "beamr") (here
%% under a temporary XDG_CACHE_HOME), in a version subfolder; a second VM starts the
%% image from it without compiling.
second_vm_starts_from_default_cache() ->
    Work = tmp_dir("default"),
    try
        ok = file:write_file(filename:join(Work, "image.wasm"), image()),
        Env = [{"XDG_CACHE_HOME", Work}],
        {First, _} = child(Work, Env, []),
        ?assertMatch(#{started := {ok, [9]}, compilations := 1,
                       disk := #{files := 1, misses := 1, hits := 0}}, First),
        #{disk := #{dir := DirBin}} = First,
        Dir = binary_to_list(DirBin),
        ?assertEqual(filename:join([Work, "beamr", filename:basename(Dir)]), Dir),
        ?assertMatch("beamr-" ++ _, filename:basename(Dir)),
        ?assertMatch([_], filelib:wildcard(filename:join(Dir, "*.cwasm"))),
        {Second, _} = child(Work, Env, []),
        ?assertMatch(#{started := {ok, [9]}, compilations := 0,
                       disk := #{files := 1, hits := 1, misses := 0}}, Second)
    after
        rm_rf(Work)
    end.

%% `module_cache_dir' false: nothing is written, every VM compiles.
switched_off() ->
    Work = tmp_dir("off"),
    try
        ok = file:write_file(filename:join(Work, "image.wasm"), image()),
        Env = [{"XDG_CACHE_HOME", Work}],
        [?assertMatch({#{started := {ok, [9]}, compilations := 1, disk := #{dir := undefined}}, _},
                      child(Work, Env, [{module_cache_dir, false}]))
         || _ <- [1, 2]],
        ?assertEqual([], filelib:wildcard(filename:join([Work, "beamr", "*"])))
    after
        rm_rf(Work)
    end.

%% A directory that cannot be created (it would be under a regular file; the tests
%% run as root, so permissions alone would not stop a write): the application starts,
%% says so once, and runs without the disk cache.
unwritable_dir_is_logged_once_and_off() ->
    Work = tmp_dir("unwritable"),
    try
        ok = file:write_file(filename:join(Work, "image.wasm"), image()),
        File = filename:join(Work, "plain-file"),
        ok = file:write_file(File, <<"not a directory">>),
        Bad = filename:join(File, "cache"),
        {Seen, Output} = child(Work, [], [{module_cache_dir, Bad}]),
        ?assertMatch(#{started := {ok, [9]}, compilations := 1, disk := #{dir := undefined}}, Seen),
        ?assertEqual(1, length(binary:matches(Output, <<"unusable">>))),
        ?assertNotEqual(nomatch, binary:match(Output, list_to_binary(Bad)))
    after
        rm_rf(Work)
    end.

%% Past the byte budget the least recently used artifact goes: a hit makes an
%% artifact recent, so the one not used since is evicted, not the oldest written.
lru_eviction_test() ->
    Dir = tmp_dir("lru"),
    #{disk := #{max_bytes := Default}} = beamr:cache_info(),
    Mod = fun(K) ->
                  iolist_to_binary(io_lib:format("(module (func (export \"k\") (result i32)
                      i32.const ~b))", [K]))
          end,
    [A, B, C] = [Mod(1000 + erlang:unique_integer([positive])) || _ <- [a, b, c]],
    ok = beamr:set_module_cache_dir(Dir),
    try
        Started = fun(W) -> {ok, I} = beamr:start(W), {ok, [_]} = beamr:call(I, <<"k">>, []) end,
        Started(A),
        #{disk := #{bytes := One, files := 1, evictions := E0}} = beamr:cache_info(),
        %% Room for two artifacts of this size, not three.
        ok = beamr_nif:set_cache_max_bytes(One * 5 div 2),
        timer:sleep(20),
        Started(B),
        timer:sleep(20),
        ok = beamr:clear_cache(),
        #{disk := #{hits := H0}} = beamr:cache_info(),
        Started(A),
        #{disk := #{hits := H1, files := 2}} = beamr:cache_info(),
        ?assertEqual(H0 + 1, H1),
        timer:sleep(20),
        Started(C),
        #{disk := #{files := 2, evictions := E1}} = beamr:cache_info(),
        ?assertEqual(E0 + 1, E1),
        %% B went; A and C are served from disk.
        ok = beamr:clear_cache(),
        N = beamr:compilations(),
        Started(A),
        Started(C),
        ?assertEqual(N, beamr:compilations()),
        Started(B),
        ?assertEqual(N + 1, beamr:compilations()),
        %% A budget smaller than any artifact empties the directory at once.
        ok = beamr_nif:set_cache_max_bytes(0),
        ?assertMatch(#{disk := #{files := 0}}, beamr:cache_info())
    after
        ok = beamr_nif:set_cache_max_bytes(Default),
        ok = beamr:set_module_cache_dir(undefined),
        rm_rf(Dir)
    end.

%% The suites' own VM keeps out of the machine's user cache (config/test.config).
eunit_vm_has_the_disk_cache_off_test() ->
    ?assertEqual({ok, false}, application:get_env(beamr, module_cache_dir)).
