#!/usr/bin/env escript
%%! -noshell
%% beamr benchmark: every figure is measured in this run and shown as a ratio to an
%% Erlang process ping-pong round trip measured in the same run. Run with `make bench`.
-mode(compile).

main(_) ->
    Root = filename:dirname(filename:dirname(filename:absname(escript:script_name()))),
    true = code:add_patha(filename:join([Root, "_build", "default", "lib", "beamr", "ebin"])),
    %% The on-disk module cache stays out of the user's cache directory and out of the
    %% rows; those that measure it give it a directory of their own.
    ok = application:load(beamr),
    ok = application:set_env(beamr, module_cache_dir, false),
    {ok, Wat} = file:read_file(filename:join([Root, "bench", "fac.wat"])),
    {ok, I} = beamr:start(Wat),
    {ok, Pid, _, _} = hb_beamr:start(Wat),
    Mul = fun(S, #{args := [A, B]}, _) -> {ok, [A * B], S} end,
    %% An import that calls back into the instance first: a call on a second fiber.
    Reenter = fun(S, #{args := [A, B]}, _) ->
                      {ok, [120.0]} = beamr:call(I, <<"fac">>, [5.0]),
                      {ok, [A * B], S}
              end,
    %% The dev_wasm device (standalone world): a booted message asking for fac(5.0).
    {ok, Booted} = dev_wasm:init(#{<<"image">> => Wat}, #{}, #{}),
    FacMsg = Booted#{<<"function">> => <<"fac">>, <<"parameters">> => [5.0]},
    %% Warm up every path once.
    {ok, [120.0]} = beamr:call(I, <<"fac">>, [5.0]),
    {ok, [120.0]} = hb_beamr:call(Pid, "fac", [5.0]),
    Table = big_table(10000),
    {ok, T} = beamr:start(Table),
    {ok, [9999]} = beamr:call(T, <<"at">>, [9999]),
    beamr:stop(T),
    {ok, [1], _} = beamr:call(I, <<"pow">>, [1, 1000], Mul, ok, #{}),
    [120.0] = compute_output(FacMsg),
    PingPong = best(fun() -> ping_pong(200000) end),
    Rows = [
        {"Erlang ping-pong round trip", PingPong},
        {"beamr:call fac(5.0)", best(fun() -> calls(500000, fun() -> {ok, [120.0]} = beamr:call(I, <<"fac">>, [5.0]) end) end)},
        {"hb_beamr:call fac(5.0)", best(fun() -> calls(500000, fun() -> {ok, [120.0]} = hb_beamr:call(Pid, "fac", [5.0]) end) end)},
        {"  4 processes sharing one instance", best(fun() -> shared(I, 4, 50000) end)},
        {"import round trip (pow 1^N)", best(fun() -> imports(I, Mul, 200000) end)},
        {"  same + re-entrant fac(5.0) inside", best(fun() -> imports(I, Reenter, 100000) end)},
        {"start + stop small module (cached)", best(fun() -> starts(Wat, 2000) end)},
        {"start + stop, 10,000-entry table (cached)", best(fun() -> starts(Table, 2000) end)},
        {"dev_wasm:compute fac(5.0) messages", best(fun() -> calls(200000, fun() -> [120.0] = compute_output(FacMsg) end) end)},
        %% What the BEAM-side figures stand on, in the same run (see README): calls
        %% from Rust, and an empty NIF call on the instance from Erlang.
        {"  wasmtime floor: async typed fac", call_cost(Root, "typed")},
        {"  beamr_core fac call, Rust, no BEAM", call_cost(Root, "target")},
        {"  beamr_core import round trip, Rust", call_cost(Root, "import-reuse")},
        {"  a NIF on the instance (beamr:is_stopped)", best(fun() -> calls(500000, fun() -> false = beamr:is_stopped(I) end) end)},
        %% The bounds on guests: a long call alone and beside as many guests spinning
        %% forever as there are dirty schedulers (dirty slices take turns), and calls
        %% nested inside imports (each level a fiber of its own), per level.
        {"long call (count 2e7), alone", best(fun() -> long_count(0) end)},
        {"  same beside a spinner per dirty scheduler", best(fun() -> long_count(erlang:system_info(dirty_cpu_schedulers)) end)},
        {"nested import calls, depth 100, per level", best(fun() -> nested(100) end)},
        {"  same, depth 1000 (the default limit)", best(fun() -> nested(1000) end)}
    ],
    io:format("~n~-42s ~12s ~14s ~10s~n", ["benchmark", "us/op", "ops/s", "ping-pongs"]),
    io:format("~s~n", [lists:duplicate(81, $-)]),
    [io:format("~-42s ~12.3f ~14b ~10.2f~n", [Name, Us, round(1.0e6 / Us), Us / PingPong])
     || {Name, Us} <- Rows, is_number(Us)],
    [io:format("~-42s ~12s~n", [Name, "n/a"]) || {Name, Us} <- Rows, not is_number(Us)],
    hb_beamr:stop(Pid),
    {ok, _} = dev_wasm:terminate(Booted, #{}, #{}),
    cluster_rows(Root, Wat),
    lua(Root, PingPong),
    aos_rows(Root),
    snapshot_rows(),
    image_rows(),
    ok.

%% An instance on a peer node of this host, called from here, against a remote
%% gen_server:call round trip (to the peer's beamr_proc, which answers any call)
%% measured in the same run.
cluster_rows(Root, Wat) ->
    case start_peer(Root) of
        {ok, Peer, Node} ->
            {ok, Pid, _, _} = hb_beamr:start_on(Node, Wat),
            Mul = fun(S, #{args := [A, B]}, _) -> {ok, [A * B], S} end,
            {ok, [120.0]} = hb_beamr:call(Pid, "fac", [5.0]),
            Server = erpc:call(Node, erlang, whereis, [beamr_proc]),
            {error, _} = gen_server:call(Server, ping),
            RoundTrip = best(fun() -> calls(20000, fun() -> {error, _} = gen_server:call(Server, ping) end) end),
            Rows = [{"remote gen_server:call round trip", RoundTrip},
                    {"remote hb_beamr:call fac(5.0)", best(fun() -> calls(20000, fun() -> {ok, [120.0]} = hb_beamr:call(Pid, "fac", [5.0]) end) end)},
                    {"remote import round trip (pow 1^N)", best(fun() -> timed(20000, fun() -> {ok, [1], _} = hb_beamr:call(Pid, "pow", [1, 20000], Mul) end) end)},
                    {"remote hb_beamr_io:read 16 bytes", best(fun() -> calls(20000, fun() -> {ok, _} = hb_beamr_io:read(Pid, 0, 16) end) end)}],
            io:format("~n~-42s ~12s ~14s ~10s~n", ["cluster (peer node on this host)", "us/op", "ops/s",
                                                   "gen_server"]),
            [io:format("~-42s ~12.3f ~14b ~10.2f~n", [Name, Us, round(1.0e6 / Us), Us / RoundTrip])
             || {Name, Us} <- Rows],
            ok = hb_beamr:stop(Pid),
            peer:stop(Peer);
        {error, Why} ->
            io:format("~ncluster rows: n/a (~0p)~n", [Why])
    end.

start_peer(Root) ->
    _ = os:cmd("ERL_EPMD_ADDRESS=127.0.0.1 epmd -daemon"),
    ok = application:set_env(kernel, inet_dist_use_interface, {127, 0, 0, 1}),
    Name = list_to_atom("beamr_bench_" ++ os:getpid() ++ "@127.0.0.1"),
    case node() =/= nonode@nohost orelse net_kernel:start([Name, longnames]) of
        Started when Started =:= true; element(1, Started) =:= ok ->
            Ebin = filename:join([Root, "_build", "default", "lib", "beamr", "ebin"]),
            [_, Host] = string:split(atom_to_list(node()), "@"),
            {ok, Peer, Node} = peer:start(#{name => peer:random_name(), host => Host,
                                            longnames => net_kernel:longnames(),
                                            args => ["-kernel", "inet_dist_use_interface",
                                                     "{127,0,0,1}", "-pa", Ebin]}),
            {ok, _} = erpc:call(Node, application, ensure_all_started, [beamr]),
            {ok, Peer, Node};
        {error, _} = Error ->
            Error
    end.

compute_output(Msg) ->
    {ok, Res} = dev_wasm:compute(Msg, #{}, #{}),
    beamr_msg:get(<<"results/output">>, Res).

%% A module whose function table holds `N' distinct functions, placed by one element
%% segment (AOS images have such big `__indirect_function_table's): what a start
%% costs beyond a small module is what it spends on the table.
big_table(N) ->
    Funcs = [io_lib:format("(func $f~b (result i32) i32.const ~b)~n", [K, K]) || K <- lists:seq(0, N - 1)],
    Elems = [io_lib:format(" $f~b", [K]) || K <- lists:seq(0, N - 1)],
    {ok, Wasm} = beamr:wat_to_wasm(iolist_to_binary(
        ["(module (table $t (export \"__indirect_function_table\") ", integer_to_list(N), " funcref)\n",
         Funcs, "(elem (i32.const 0) func", Elems, ")\n",
         "(func (export \"at\") (param i32) (result i32) local.get 0 call_indirect $t (result i32)))"])),
    Wasm.

%%% Snapshots and start-up of an AOS-sized image (generated here, not committed).

-define(PAGE, 65536).

snapshot_rows() ->
    io:format("~n~-44s ~10s ~10s ~12s~n", ["snapshot (dense memory)", "ms", "GB/s", "bytes"]),
    io:format("~s~n", [lists:duplicate(79, $-)]),
    [snapshot_row(Pages) || Pages <- [193, 1526]],
    ok.

%% A memory of `Pages' 64 KiB pages filled with non-zero bytes: the worst case for the
%% sparse encoding, so the figures are raw bandwidth.
snapshot_row(Pages) ->
    Wat = iolist_to_binary(io_lib:format("(module (memory ~b) (global (mut i32) (i32.const 0)))", [Pages])),
    {ok, I} = beamr:start(Wat),
    Bytes = Pages * ?PAGE,
    Fill = binary:copy(<<"beamr-snapshot!!">>, Bytes div 16),
    ok = beamr:write(I, 0, Fill),
    {ok, Snap} = beamr:serialize(I),
    Ser = best(fun() -> timed(1, fun() -> {ok, _} = beamr:serialize(I) end) end),
    Res = lists:min([begin
                         {ok, F} = beamr:start(Wat),
                         garbage_collect(),
                         T = timed(1, fun() -> ok = beamr:deserialize(F, Snap) end),
                         beamr:stop(F),
                         T
                     end || _ <- lists:seq(1, 3)]),
    %% Into an instance whose memory is already mapped in (a process restored again).
    Warm = best(fun() -> timed(1, fun() -> ok = beamr:deserialize(I, Snap) end) end),
    MB = io_lib:format("~.1f MB", [Bytes / 1.0e6]),
    io:format("~-44s ~10.2f ~10.2f ~12b~n", ["serialize " ++ MB, Ser / 1000, Bytes / Ser / 1000, byte_size(Snap)]),
    io:format("~-44s ~10.2f ~10.2f ~12b~n", ["restore into a fresh instance " ++ MB, Res / 1000, Bytes / Res / 1000, byte_size(Snap)]),
    io:format("~-44s ~10.2f ~10.2f ~12b~n", ["restore into a live instance " ++ MB, Warm / 1000, Bytes / Warm / 1000, byte_size(Snap)]),
    beamr:stop(I).

image_rows() ->
    Wasm = aos_like_image(),
    Dir = filename:join(["/tmp", "beamr-bench-cache-" ++ os:getpid()]),
    io:format("~n~-44s ~10s~n", ["AOS-sized image (memory64, 192 pages)", "value"]),
    io:format("~s~n", [lists:duplicate(79, $-)]),
    ok = beamr:set_module_cache_dir(undefined),
    ok = beamr:clear_cache(),
    Cold = timed(1, fun() -> {ok, X} = beamr:start(Wasm), beamr:stop(X) end),
    Cached = best(fun() -> starts(Wasm, 200) end),
    %% A new copy of the same bytes each time: the hash is computed, not remembered.
    Copies = [binary:copy(Wasm) || _ <- lists:seq(1, 50)],
    CachedCopy = best(fun() -> timed(50, fun() -> [begin {ok, X} = beamr:start(C), beamr:stop(X) end
                                                   || C <- Copies] end) end),
    ok = beamr:set_module_cache_dir(Dir),
    ok = beamr:clear_cache(),
    {ok, W} = beamr:start(Wasm),
    beamr:stop(W),
    Disk = lists:min([begin
                          ok = beamr:clear_cache(),
                          timed(1, fun() -> {ok, X} = beamr:start(Wasm), beamr:stop(X) end)
                      end || _ <- lists:seq(1, 5)]),
    ok = beamr:set_module_cache_dir(undefined),
    os:cmd("rm -rf " ++ Dir),
    FreshVm = fresh_vm_start(Wasm),
    {ok, S} = beamr:start(Wasm),
    {ok, [_]} = beamr:call(S, <<"f1">>, [1]),
    {ok, Snap} = beamr:serialize(S),
    {ok, Mem} = beamr:size(S),
    N = 200,
    Live = [begin {ok, X} = beamr:start(Wasm), {ok, [_]} = beamr:call(X, <<"f1">>, [1]), X end
            || _ <- lists:seq(1, N)],
    Rss1 = rss(),
    [beamr:stop(X) || X <- Live],
    garbage_collect(),
    %% Measured as what stopping them gives back: RSS freed by earlier rows' garbage
    %% would otherwise blur a growth measurement. Big stores are freed on beamr's
    %% reaper thread, so wait for RSS to settle.
    Rss0 = settled_rss(rss()),
    Row = fun(Name, Fmt, V) -> io:format("~-44s " ++ Fmt ++ "~n", [Name, V]) end,
    Row("module size (wasm, bytes)", "~10b", byte_size(Wasm)),
    Row("start, cold compile (ms)", "~10.2f", Cold / 1000),
    Row("start, in-memory cache, same binary (ms)", "~10.3f", Cached / 1000),
    Row("start, in-memory cache, new binary (ms)", "~10.3f", CachedCopy / 1000),
    Row("start, from the disk cache (ms)", "~10.2f", Disk / 1000),
    Row("first start in a new VM, disk cache (ms)", "~10.2f", FreshVm / 1000),
    Row("RSS per live instance (KB)", "~10.1f", (Rss1 - Rss0) / N / 1024),
    Row("memory (bytes)", "~10b", Mem),
    Row("snapshot, sparse (bytes)", "~10b", byte_size(Snap)),
    Row("snapshot size / memory size", "~10.3f", byte_size(Snap) / Mem),
    beamr:stop(S).

%% A node restarted: the first `beamr:start' of the image in a new VM (the NIF's
%% engine set up, the artifact read and loaded), once another VM has compiled it into
%% the cache directory; the best of three new VMs, in microseconds.
fresh_vm_start(Wasm) ->
    Dir = filename:join(["/tmp", "beamr-bench-vm-" ++ os:getpid()]),
    ok = filelib:ensure_path(Dir),
    File = filename:join(Dir, "image.wasm"),
    ok = file:write_file(File, Wasm),
    Ebin = filename:dirname(code:which(beamr)),
    Eval = "{ok, _} = application:ensure_all_started(beamr), {ok, B} = file:read_file(\"" ++ File
        ++ "\"), {T, {ok, _}} = timer:tc(beamr, start, [B]), io:format(\"~b~n\", [T]), halt().",
    Cmd = "erl -noshell -pa " ++ Ebin ++ " -beamr module_cache_dir '\"" ++ Dir ++ "/cache\"' -eval '"
        ++ Eval ++ "' 2>&1",
    Times = [os:cmd(Cmd) || _ <- lists:seq(1, 4)],
    os:cmd("rm -rf " ++ Dir),
    %% The first VM compiled; the others started from the cache.
    try lists:min([list_to_integer(string:trim(T)) || T <- tl(Times)])
    catch error:_ -> io:format("(new VM start: ~p)~n", [Times]), 0
    end.

%% RSS once it has stopped falling for five samples 20 ms apart (at most 100 samples).
settled_rss(Last) -> settled_rss(Last, 0, 100).

settled_rss(Last, Steady, Left) when Steady >= 5; Left =:= 0 -> Last;
settled_rss(Last, Steady, Left) ->
    timer:sleep(20),
    case rss() of
        Now when Now < Last -> settled_rss(Now, 0, Left - 1);
        _ -> settled_rss(Last, Steady + 1, Left - 1)
    end.

rss() ->
    {ok, Status} = file:read_file("/proc/self/status"),
    {match, [Kb]} = re:run(Status, "VmRSS:\\s+(\\d+) kB", [{capture, all_but_first, binary}]),
    binary_to_integer(Kb) * 1024.

%% A memory64 module shaped like AOS: 192 pages of memory, a 512 KB data segment of
%% varied bytes, a `__stack_pointer'-style mutable global, and about 250 KB of code.
aos_like_image() ->
    Data = << <<((X * 7919) rem 251 + 1)>> || X <- lists:seq(1, 512 * 1024) >>,
    Escaped = [io_lib:format("\\~2.16.0b", [B]) || <<B>> <= Data],
    Funcs = [io_lib:format("(func (export \"f~b\") (param i64) (result i64)
        local.get 0 i64.const ~b i64.add i64.const 3 i64.mul i64.const ~b i64.xor
        global.get $sp i64.extend_i32_u i64.add local.tee 0 i64.const 7 i64.rotl
        local.get 0 i64.const ~b i64.and i64.or i64.const 1 i64.shr_u)~n", [K, K, K * 31, K * 17])
             || K <- lists:seq(1, 4000)],
    Wat = iolist_to_binary(["(module (memory i64 192)
        (global $sp (mut i32) (i32.const 1048576))
        (data (i64.const 4096) \"", Escaped, "\")\n", Funcs, ")"]),
    %% A node is given the binary, so the binary is what is started and hashed.
    {ok, Wasm} = beamr:wat_to_wasm(Wat),
    Wasm.

%% The AOS-like Lua fixture (scripts/build-fixtures.sh lua; `make bench' builds it and
%% the Rust baseline): `return 1 + 1' through hb_beamr, the same `handle' called from
%% Rust on wasmtime directly and in V8 (node), cold compile and cached start.
lua(Root, PingPong) ->
    Path = filename:join([Root, "_build", "fixtures", "lua-aos.wasm"]),
    {ok, Wasm} = file:read_file(Path),
    {ok, Pid, _, _} = hb_beamr:start(Wasm),
    {ok, [], _} = hb_beamr:call(Pid, "_initialize", [], fun lua_import/3, ok),
    Beamr = median([lua_eval(Pid) || _ <- lists:seq(1, 1000)]),
    hb_beamr:stop(Pid),
    Target = os:getenv("CARGO_TARGET_DIR", filename:join(Root, "target")),
    LuaHandle = filename:join([Target, "release-lto", "examples", "lua_handle"]) ++ " " ++ Path,
    Rust = external(LuaHandle ++ " 1000 bare"),
    Floor = external(LuaHandle ++ " 1000 beamr-config"),
    Node = external("node " ++ filename:join([Root, "bench", "lua_node.cjs"]) ++ " " ++ Path),
    Cold = median([cold_start(Wasm, K) || K <- lists:seq(1, 5)]),
    Cached = median([element(1, timer:tc(fun() -> {ok, P, _, _} = hb_beamr:start(Wasm),
                                                   hb_beamr:stop(P) end))
                     || _ <- lists:seq(1, 50)]),
    Rows = [{"Lua return 1+1 (hb_beamr:call, median)", Beamr},
            {"Lua return 1+1 (Rust on wasmtime)", Rust},
            {"  same, epochs on + async fibers", Floor},
            {"Lua return 1+1 (V8, node)", Node},
            {"Lua image cold compile + start", Cold},
            {"Lua image start + stop (cached)", Cached}],
    [io:format("~-42s ~12.3f ~14b ~10.2f~n", [Name, float(Us), round(1.0e6 / Us), Us / PingPong])
     || {Name, Us} <- Rows, is_number(Us)],
    [io:format("~-42s ~12s~n", [Name, "n/a"]) || {Name, Us} <- Rows, not is_number(Us)],
    io:format("~nLua hb_beamr / Rust on wasmtime: ~s   hb_beamr / V8: ~s~n"
              "Lua hb_beamr / Rust with beamr's engine config (epochs, fibers): ~s~n",
              [ratio(Beamr, Rust), ratio(Beamr, Node), ratio(Beamr, Floor)]).

%% The AOS-like process (scripts/build-fixtures.sh aos, aos64: process.lua behind
%% handle(msg, env)) evaluating the message in bench/aos_message.json, whose time is
%% Lua's: through hb_beamr, in V8 (node) and on wasmtime from Rust. Each figure is the
%% median of ?AOS_EVALS evaluations after ?AOS_WARMUP untimed ones, every reply checked
%% against bench/aos_reply.json; the harnesses take turns for ?AOS_ROUNDS rounds and
%% each keeps its best round, so that load from elsewhere drifting during the run
%% does not land on one harness alone. Every harness answers each import with zeros.
-define(AOS_EVALS, 600).
-define(AOS_WARMUP, 300).
-define(AOS_ROUNDS, 5).

aos_rows(Root) ->
    Bench = fun(Name) -> filename:join([Root, "bench", Name]) end,
    Text = fun(Name) -> {ok, B} = file:read_file(Bench(Name)), string:trim(B, trailing, "\n") end,
    Work = {Text("aos_message.json"), Text("aos_env.json"), Text("aos_reply.json")},
    Files = string:join([Bench(F) || F <- ["aos_message.json", "aos_env.json", "aos_reply.json"]], " "),
    Args = " " ++ integer_to_list(?AOS_EVALS) ++ " ~s " ++ Files ++ " " ++ integer_to_list(?AOS_WARMUP),
    Target = os:getenv("CARGO_TARGET_DIR", filename:join(Root, "target")),
    LuaHandle = filename:join([Target, "release-lto", "examples", "lua_handle"]),
    %% node 20 runs memory64 behind a flag that later nodes may not know.
    Node = case os:cmd("node --experimental-wasm-memory64 -e 0 2>&1; echo $?") of
               "0\n" -> "node --experimental-wasm-memory64 ";
               _ -> "node "
           end ++ filename:join([Root, "bench", "lua_node.cjs"]),
    Title = io_lib:format("AOS-like evaluation (median, best of ~b)", [?AOS_ROUNDS]),
    io:format("~n~-42s ~12s ~14s ~10s~n", [Title, "us/op", "ops/s", "V8"]),
    io:format("~s~n", [lists:duplicate(81, $-)]),
    Ratios = [aos_build(Label, filename:join([Root, "_build", "fixtures", File]), Work, Args,
                        LuaHandle, Node)
              || {Label, File} <- [{"wasm32 -O2", "lua-process.wasm"},
                                   {"memory64", "lua64-process.wasm"}]],
    io:format("~n"),
    [io:format("AOS ~-10s hb_beamr / V8: ~s   hb_beamr / plain wasmtime: ~s   "
               "hb_beamr / wasmtime with beamr's config: ~s~n", [Label, ratio(B, V), ratio(B, P), ratio(B, C)])
     || {Label, B, V, P, C} <- Ratios],
    ok.

aos_build(Label, Path, {Msg, Env, Reply}, Args, LuaHandle, Node) ->
    {ok, Wasm} = file:read_file(Path),
    {ok, Pid, _, _} = hb_beamr:start(Wasm),
    {ok, [], _} = hb_beamr:call(Pid, "_initialize", [], fun lua_import/3, ok),
    Eval = fun() -> aos_eval(Pid, Msg, Env, Reply) end,
    Harnesses = [fun() ->
                         _ = [Eval() || _ <- lists:seq(1, ?AOS_WARMUP)],
                         median([Eval() || _ <- lists:seq(1, ?AOS_EVALS)])
                 end,
                 fun() -> external(LuaHandle ++ " " ++ Path ++ io_lib:format(Args, ["default"])) end,
                 fun() -> external(LuaHandle ++ " " ++ Path ++ io_lib:format(Args, ["beamr-config"])) end,
                 fun() -> external(Node ++ " " ++ Path ++ io_lib:format(Args, [""])) end],
    Rounds = [[H() || H <- Harnesses] || _ <- lists:seq(1, ?AOS_ROUNDS)],
    hb_beamr:stop(Pid),
    [Beamr, Plain, Config, V8] = [best_of([lists:nth(K, R) || R <- Rounds]) || K <- lists:seq(1, 4)],
    Rows = [{Label ++ ": hb_beamr", Beamr},
            {"  plain wasmtime (sync, default config)", Plain},
            {"  wasmtime, beamr's engine config", Config},
            {"  V8 (node)", V8}],
    [io:format("~-42s ~12.3f ~14b ~10s~n", [Name, float(Us), round(1.0e6 / Us), ratio(Us, V8)])
     || {Name, Us} <- Rows, is_number(Us)],
    [io:format("~-42s ~12s~n", [Name, "n/a"]) || {Name, Us} <- Rows, not is_number(Us)],
    {Label, Beamr, V8, Plain, Config}.

%% The smallest figure, or n/a when a harness could not run.
best_of(Figures) ->
    case [F || F <- Figures, is_number(F)] of
        [] -> na;
        Numbers -> lists:min(Numbers)
    end.

%% One evaluation as HyperBEAM drives AOS: message and environment written, handle
%% called, the reply read, both freed; microseconds.
aos_eval(Pid, Msg, Env, Reply) ->
    T0 = erlang:monotonic_time(nanosecond),
    {ok, M} = hb_beamr_io:write_string(Pid, Msg),
    {ok, E} = hb_beamr_io:write_string(Pid, Env),
    {ok, [Out], _} = hb_beamr:call(Pid, "handle", [M, E], fun lua_import/3, ok),
    {ok, Reply} = hb_beamr_io:read_string(Pid, Out),
    ok = hb_beamr_io:free(Pid, M),
    ok = hb_beamr_io:free(Pid, E),
    (erlang:monotonic_time(nanosecond) - T0) / 1000.

lua_eval(Pid) ->
    T0 = erlang:monotonic_time(nanosecond),
    {ok, Msg} = hb_beamr_io:write_string(Pid, <<"return 1 + 1">>),
    {ok, [Out], _} = hb_beamr:call(Pid, "handle", [Msg, 0], fun lua_import/3, ok),
    {ok, <<"{\"ok\":true,\"output\":\"2\"}">>} = hb_beamr_io:read_string(Pid, Out),
    ok = hb_beamr_io:free(Pid, Msg),
    (erlang:monotonic_time(nanosecond) - T0) / 1000.

%% The same imports the Rust and node baselines give: zeros (1 + 1 reaches none).
lua_import(S, #{func_sig := Sig}, _) ->
    {ok, [0 || _ <- lists:seq(1, length(lists:last(string:split(Sig, ")"))))], S}.

%% A custom section makes the bytes new to the module cache without changing the code.
cold_start(Wasm, K) ->
    Name = <<"beamr-bench-", (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
    Body = <<(byte_size(Name)), Name/binary, K>>,
    Fresh = <<Wasm/binary, 0, (byte_size(Body)), Body/binary>>,
    {Us, {ok, P, _, _}} = timer:tc(fun() -> hb_beamr:start(Fresh) end),
    hb_beamr:stop(P),
    Us.

median(Xs) ->
    lists:nth(length(Xs) div 2 + 1, lists:sort(Xs)).

%% A baseline program's printed median, or n/a when it cannot run here.
%% The best of three runs of the call_cost example in `Mode', in microseconds per call.
call_cost(Root, Mode) ->
    Target = os:getenv("CARGO_TARGET_DIR", filename:join(Root, "target")),
    Cmd = filename:join([Target, "release-lto", "examples", "call_cost"]) ++ " 1000000 " ++ Mode,
    Runs = [string:trim(os:cmd(Cmd ++ " 2>/dev/null")) || _ <- lists:seq(1, 3)],
    Ns = [Ns || Out <- Runs,
                {match, [Ns]} <- [re:run(Out, ": ([0-9.]+) ns/call", [{capture, all_but_first, list}])]],
    case Ns of
        [] -> io:format("(~s: ~s)~n", [Cmd, hd(Runs)]), na;
        _ -> lists:min([list_to_float(N) || N <- Ns]) / 1000
    end.

external(Cmd) ->
    Out = string:trim(os:cmd(Cmd ++ " 2>/dev/null")),
    try list_to_float(Out) catch error:badarg -> io:format("(~s: ~s)~n", [Cmd, Out]), na end.

ratio(A, B) when is_number(A), is_number(B) -> io_lib:format("~.2fx", [A / B]);
ratio(_, _) -> "n/a".

%% The best of three runs, in microseconds per operation.
best(Run) ->
    lists:min([Run() || _ <- lists:seq(1, 3)]).

timed(N, Fun) ->
    T0 = erlang:monotonic_time(nanosecond),
    Fun(),
    (erlang:monotonic_time(nanosecond) - T0) / N / 1000.

calls(N, Call) ->
    timed(N, fun() -> repeat(N, Call) end).

repeat(0, _) -> ok;
repeat(N, F) -> F(), repeat(N - 1, F).

ping_pong(N) ->
    Echo = spawn(fun Loop() -> receive {From, X} -> From ! X, Loop(); stop -> ok end end),
    Us = timed(N, fun() -> repeat(N, fun() -> Echo ! {self(), ping}, receive ping -> ok end end) end),
    Echo ! stop,
    Us.

%% `Procs' processes each make `N' calls on one instance at once: the time per call
%% overall, with the instance passed between them (a call that finds it taken waits).
shared(I, Procs, N) ->
    Self = self(),
    Call = fun() -> {ok, [120.0]} = beamr:call(I, <<"fac">>, [5.0]) end,
    timed(Procs * N, fun() ->
        Pids = [spawn_link(fun() -> repeat(N, Call), Self ! {done, self()} end)
                || _ <- lists:seq(1, Procs)],
        [receive {done, P} -> ok end || P <- Pids]
    end).

imports(I, Mul, N) ->
    timed(N, fun() -> {ok, [1], _} = beamr:call(I, <<"pow">>, [1, N], Mul, ok, #{}) end).

-define(COUNT, <<"(module (func (export \"count\") (param $n i64) (result i64)
                   (loop $l (local.set $n (i64.sub (local.get $n) (i64.const 1)))
                            (br_if $l (i64.ne (local.get $n) (i64.const 0))))
                   (local.get $n)))">>).

%% One long call, with `Spinners' calls spinning forever on other instances meanwhile.
long_count(Spinners) ->
    {ok, C} = beamr:start(?COUNT),
    Spin = [begin
                {ok, S} = beamr:start(<<"(module (func (export \"spin\") (loop br 0)))">>),
                spawn(fun() -> beamr:call(S, <<"spin">>, []) end),
                S
            end || _ <- lists:seq(1, Spinners)],
    timer:sleep(50),
    Us = timed(1, fun() -> {ok, [0]} = beamr:call(C, <<"count">>, [20000000]) end),
    [beamr:stop(S) || S <- Spin],
    Us.

%% f(N) calls an import whose fun calls f(N - 1) on the same instance.
nested(Depth) ->
    {ok, I} = beamr:start(<<"(module (import \"env\" \"g\" (func $g (param i32) (result i32)))
                            (func (export \"f\") (param i32) (result i32) local.get 0 call $g))">>),
    Us = timed(Depth, fun() -> {ok, [Depth], ok} = beamr:call(I, <<"f">>, [Depth], fun nest/3, ok, #{}) end),
    beamr:stop(I),
    Us.

nest(S, #{args := [0]}, _) -> {ok, [0], S};
nest(S, #{args := [N], instance := I}, O) ->
    {ok, [R], S2} = beamr:call(I, <<"f">>, [N - 1], fun nest/3, S, O),
    {ok, [R + 1], S2}.

starts(Wat, N) ->
    timed(N, fun() -> repeat(N, fun() -> {ok, X} = beamr:start(Wat), beamr:stop(X) end) end).
