%%% @doc Instances across an Erlang cluster: hb_beamr and hb_beamr_io on pids of
%%% another node, lost nodes and callers, placement and moves, with real peer nodes
%%% (OTP's `peer') on this host.
-module(beamr_cluster_tests).

-include_lib("eunit/include/eunit.hrl").

-import(beamr_test_util, [fixture/1, within/2]).

%%% Peers

%% This node must be distributed; if it is not, it starts as a long name on 127.0.0.1
%% (no host name to resolve), with epmd started if needed; both listen on loopback only.
ensure_dist() ->
    case node() of
        nonode@nohost ->
            _ = os:cmd("ERL_EPMD_ADDRESS=127.0.0.1 epmd -daemon"),
            ok = application:set_env(kernel, inet_dist_use_interface, {127, 0, 0, 1}),
            Name = list_to_atom("beamr_test_" ++ os:getpid() ++ "@127.0.0.1"),
            {ok, _} = net_kernel:start([Name, longnames]),
            ok;
        _ ->
            ok
    end.

%% A peer node with this project's code, beamr started, named like this node.
start_peer() ->
    ok = ensure_dist(),
    Root = code:root_dir(),
    Paths = lists:append([["-pa", D] || D <- code:get_path(), not lists:prefix(Root, D)]),
    Args = ["-kernel", "inet_dist_use_interface", "{127,0,0,1}" | Paths],
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Longnames = net_kernel:longnames(),
    {ok, Peer, Node} = peer:start(#{name => peer:random_name(?MODULE), host => Host,
                                    longnames => Longnames, args => Args}),
    %% As on this node under rebar3 eunit (config/test.config): no disk cache, so the
    %% peer compiles what it is sent and writes nothing into the user cache.
    ok = erpc:call(Node, application, load, [beamr]),
    ok = erpc:call(Node, application, set_env, [beamr, module_cache_dir, false]),
    {ok, _} = erpc:call(Node, application, ensure_all_started, [beamr]),
    {Peer, Node}.

stop_peer({Peer, _Node}) ->
    catch peer:stop(Peer).

on(Node, Name) ->
    {ok, Pid, _Imports, _Exports} = hb_beamr:start_on(Node, fixture(Name)),
    Pid.

cluster_test_() ->
    {setup, fun start_peer/0, fun stop_peer/1,
     fun({_, Node}) ->
             [{title(F), {timeout, 60, with_node(F, Node)}} || F <- [fun call_remote/1, fun io_remote/1,
                                                   fun imports_remote/1, fun reentrant_remote/1,
                                                   fun import_errors_remote/1,
                                                   fun started_by_rpc/1, fun stop_remote/1,
                                                   fun timeout_remote/1, fun not_a_holder/1,
                                                   fun worker_killed/1, fun no_long_schedule/1,
                                                   fun beamr_handle_off_node/1,
                                                   fun move/1, fun move_sends_module_once/1]]
     end}.

title(Fun) ->
    {name, Name} = erlang:fun_info(Fun, name),
    atom_to_list(Name).

with_node(Fun, Node) ->
    fun() -> Fun(Node) end.

%%% Every function on an instance of another node

call_remote(Node) ->
    {ok, Pid, [], Exports} = hb_beamr:start_on(Node, fixture("test.wat")),
    ?assertEqual(Node, node(Pid)),
    ?assert(lists:member({func, "fac", "(F)F"}, Exports)),
    ?assertEqual({ok, [120.0]}, hb_beamr:call(Pid, "fac", [5.0])),
    ?assertEqual({ok, [120.0]}, hb_beamr:call(Pid, <<"fac">>, [5.0])),
    ?assertEqual({ok, [120.0]}, hb_beamr:call(Pid, 1, [5.0])),
    ?assertEqual({ok, [7, 1 bsl 40]}, hb_beamr:call(Pid, "pair", [7, 1 bsl 40])),
    ?assertMatch({error, {trap, _}}, hb_beamr:call(Pid, "div_s", [1, 0])),
    ?assertEqual({error, {bad_arg, 1, f64, x}}, hb_beamr:call(Pid, "fac", [x])),
    ?assertMatch({error, {unknown_export, _}}, hb_beamr:call(Pid, "nope", [])),
    ?assertEqual({ok, [6.0], st}, hb_beamr:call(Pid, "fac", [3.0], fun hb_beamr:stub/3, st)),
    %% Nothing is left behind in the caller.
    ?assertEqual([], [K || {{'$beamr_remote_ctx', _} = K, _} <- get()]),
    ?assertEqual({messages, []}, process_info(self(), messages)).

io_remote(Node) ->
    Pid = on(Node, "imports.wat"),
    ?assertEqual({ok, 65536}, hb_beamr_io:size(Pid)),
    ?assertEqual(ok, hb_beamr_io:write(Pid, 100, <<"remote">>)),
    ?assertEqual({ok, <<"remote">>}, hb_beamr_io:read(Pid, 100, 6)),
    ?assertEqual({ok, <<"remote">>}, hb_beamr_io:read_string(Pid, 100)),
    ?assertMatch({error, {out_of_bounds, _, _, _}}, hb_beamr_io:read(Pid, 65530, 13)),
    ?assertMatch({error, _}, hb_beamr_io:write(Pid, -1, <<"x">>)),
    {ok, Ptr} = hb_beamr_io:write_string(Pid, <<"hello">>),
    ?assertEqual({ok, <<"hello">>}, hb_beamr_io:read_string(Pid, Ptr)),
    {ok, P2} = hb_beamr_io:malloc(Pid, 100),
    ?assert(P2 > Ptr),
    ?assertEqual(ok, hb_beamr_io:free(Pid, P2)),
    %% A snapshot taken remotely restores remotely and locally.
    {ok, Snap} = hb_beamr:serialize(Pid),
    ok = hb_beamr_io:write(Pid, 100, <<"CHANGE">>),
    ?assertEqual(ok, hb_beamr:deserialize(Pid, Snap)),
    ?assertEqual({ok, <<"remote">>}, hb_beamr_io:read(Pid, 100, 6)),
    {ok, Local, _, _} = hb_beamr:start(fixture("imports.wat")),
    ok = hb_beamr:deserialize(Local, Snap),
    ?assertEqual({ok, <<"hello">>}, hb_beamr_io:read_string(Local, Ptr)),
    %% Raw memory (BEAMR's snapshot) past the memory's maximum of 4 pages.
    ?assertMatch({error, _}, hb_beamr:deserialize(Pid, binary:copy(<<1>>, 5 * 65536))),
    ?assertEqual({ok, <<"remote">>}, hb_beamr_io:read(Pid, 100, 6)).

%% The import fun runs in the calling process, with its state, once per import.
imports_remote(Node) ->
    Pid = on(Node, "pow_calculator.wat"),
    Self = self(),
    Count = fun(N, #{args := [A, B]} = Req, Opts) ->
                    Self = self(),
                    ?assertEqual(#{instance => Pid, module => "my_lib", func => "mul",
                                   args => [A, B], func_sig => "(ii)i"}, Req),
                    ?assertEqual(#{my_opt => 1}, Opts),
                    {ok, [A * B], N + 1}
            end,
    ?assertEqual({ok, [32], 5}, hb_beamr:call(Pid, "pow", [2, 5], Count, 0, #{my_opt => 1})),
    ?assertEqual({ok, [0]}, hb_beamr:call(Pid, "pow", [2, 5])).

%% Inside the import fun, memory and calls on the instance act on the live state.
reentrant_remote(Node) ->
    Pid = on(Node, "imports.wat"),
    Peek = fun(S, #{func := "peek", args := [Addr, Len]}, _) ->
                   {ok, Bin} = hb_beamr_io:read(Pid, Addr, Len),
                   ok = hb_beamr_io:write(Pid, Addr + 4, Bin),
                   {ok, [Len], [Bin | S]}
           end,
    ?assertEqual({ok, [16#01020304], [<<16#01020304:32/little>>]},
                 hb_beamr:call(Pid, "call_peek", [200, 16#01020304], Peek, [])),
    %% reenter(x) calls double(x) on the same instance from the import fun; that call
    %% reaches peek through its own import, answered here too.
    Reenter = fun(S, #{func := "reenter", args := [X]}, _) ->
                      {ok, [D]} = hb_beamr:call(Pid, "double", [X]),
                      {ok, [N]} = hb_beamr:call(Pid, "malloc", [8]),
                      {ok, [_], S2} = hb_beamr:call(Pid, "call_peek", [N, 7], Peek, S),
                      {ok, Size} = hb_beamr_io:size(Pid),
                      {error, busy} = hb_beamr:move(Pid, node()),
                      {ok, [D + Size div 65536], S2}
              end,
    ?assertMatch({ok, [1043], [<<7:32/little>>]},
                 hb_beamr:call(Pid, "call_reenter", [21], Reenter, [])),
    %% Nothing is left behind in the caller: no context, no message.
    ?assertEqual([], [K || {{'$beamr_remote_ctx', _} = K, _} <- get()]),
    ?assertEqual({messages, []}, process_info(self(), messages)).

import_errors_remote(Node) ->
    Pid = on(Node, "pow_calculator.wat"),
    Fail = fun(C, _, _) when C >= 2 -> throw(enough);
              (C, #{args := [A, B]}, _) -> {ok, [A * B], C + 1}
           end,
    ?assertMatch({error, {import_crashed, _, _, throw, enough}, 2},
                 hb_beamr:call(Pid, "pow", [2, 5], Fail, 0, #{})),
    ?assertMatch({error, {import_crashed, _, _, error, boom}, s},
                 hb_beamr:call(Pid, "pow", [2, 5], fun(_, _, _) -> error(boom) end, s)),
    ?assertMatch({error, {bad_import_return, _, _, what}, s},
                 hb_beamr:call(Pid, "pow", [2, 5], fun(_, _, _) -> what end, s)),
    ?assertMatch({error, {bad_import_result, _, _, _}, t},
                 hb_beamr:call(Pid, "pow", [2, 5], fun(_, _, _) -> {ok, [x], t} end, s)),
    ?assertEqual({ok, [4], 2}, hb_beamr:call(Pid, "pow", [2, 2], Fail, 0)).

%% The issue's first try: an instance started on one node through rpc, called here.
started_by_rpc(Node) ->
    {ok, Pid, _, _} = erpc:call(Node, hb_beamr, start, [fixture("test.wat")]),
    ?assertEqual({ok, [120.0]}, hb_beamr:call(Pid, "fac", [5.0])),
    ?assertEqual({ok, <<"Hello, World!">>}, hb_beamr_io:read(Pid, 66, 13)).

stop_remote(Node) ->
    Pid = on(Node, "test.wat"),
    Self = self(),
    spawn(fun() -> Self ! {spun, hb_beamr:call(Pid, "spin", [])} end),
    timer:sleep(50),
    ?assertEqual(ok, hb_beamr:stop(Pid)),
    ?assertEqual([{error, stopped}], beamr_test_util:collect(spun, 1, 5000)),
    ?assertEqual({error, stopped}, hb_beamr:call(Pid, "fac", [5.0])),
    ?assertEqual({error, stopped, s}, hb_beamr:call(Pid, "fac", [5.0], fun hb_beamr:stub/3, s)),
    ?assertEqual({error, stopped}, hb_beamr_io:size(Pid)),
    ?assertEqual({error, stopped}, hb_beamr:serialize(Pid)),
    ?assertEqual(ok, hb_beamr:stop(Pid)).

timeout_remote(Node) ->
    Pid = on(Node, "test.wat"),
    ?assertEqual({error, timeout, s},
                 within(5000, fun() -> hb_beamr:call(Pid, "spin", [], fun hb_beamr:stub/3, s,
                                                     #{beamr_timeout => 50})
                              end)),
    ?assertEqual({ok, [120.0]}, hb_beamr:call(Pid, "fac", [5.0])).

%% A pid of the other node that holds no instance answers at once, whatever it is.
not_a_holder(Node) ->
    Other = erpc:call(Node, erlang, whereis, [beamr_proc]),
    Dead = erpc:call(Node, erlang, spawn, [fun() -> ok end]),
    [begin
         ?assertEqual({error, stopped}, within(5000, fun() -> hb_beamr:call(P, "fac", [5.0]) end)),
         ?assertEqual({error, stopped, s},
                      within(5000, fun() -> hb_beamr:call(P, "f", [], fun hb_beamr:stub/3, s) end)),
         ?assertEqual({error, stopped}, within(5000, fun() -> hb_beamr_io:size(P) end)),
         ?assertEqual({error, stopped}, within(5000, fun() -> hb_beamr:serialize(P) end)),
         ?assertEqual({error, stopped}, within(5000, fun() -> hb_beamr:move(P, node()) end)),
         ?assertEqual(ok, within(5000, fun() -> hb_beamr:stop(P) end))
     end || P <- [Other, Dead]],
    ?assert(erpc:call(Node, erlang, is_process_alive, [Other])).

%% The process that runs a caller's call on the instance's node, killed: the caller
%% gets an error naming it, and the instance stays usable.
worker_killed(Node) ->
    Pid = on(Node, "test.wat"),
    Self = self(),
    spawn(fun() -> Self ! {result, hb_beamr:call(Pid, "spin", [])} end),
    Find = fun() ->
                   [P || P <- erlang:processes(),
                         erlang:process_info(P, initial_call) =:= {initial_call, {beamr_remote, worker, 4}}]
           end,
    ok = wait_until(fun() -> erpc:call(Node, erlang, apply, [Find, []]) =/= [] end),
    [Worker] = erpc:call(Node, erlang, apply, [Find, []]),
    exit(Worker, kill),
    ?assertEqual([{error, {worker_down, killed}}], beamr_test_util:collect(result, 1, 5000)),
    ?assertEqual({ok, [120.0]}, within(5000, fun() -> hb_beamr:call(Pid, "fac", [5.0]) end)).

%% Remote calls keep the scheduler promise on both nodes: a spinning call and a run
%% of imports leave `long_schedule' (5 ms) quiet for beamr's code.
no_long_schedule(Node) ->
    Pid = on(Node, "imports.wat"),
    Self = self(),
    Watch = fun() ->
                    _ = erlang:system_monitor(self(), [{long_schedule, 5}]),
                    Self ! {watching, self()},
                    receive {report, To} -> To ! {reports, collect_reports()} end
            end,
    Remote = erpc:call(Node, erlang, spawn, [Watch]),
    Local = spawn(Watch),
    [receive {watching, W} -> ok after 5000 -> error(no_watcher) end || W <- [Remote, Local]],
    ?assertEqual({error, timeout, s},
                 hb_beamr:call(Pid, "spin", [], fun hb_beamr:stub/3, s, #{beamr_timeout => 300})),
    Add = fun(N, #{args := [A, B]}, _) -> {ok, [A + B], N + 1} end,
    [{ok, [3], 1} = hb_beamr:call(Pid, "call_add64", [1, 2], Add, 0) || _ <- lists:seq(1, 500)],
    [W ! {report, self()} || W <- [Remote, Local]],
    Reports = lists:append([receive {reports, R} -> R after 5000 -> error(no_reports) end
                            || _ <- [Remote, Local]]),
    ?assertEqual([], [R || {monitor, _, long_schedule, Info} = R <- Reports,
                           string:find(io_lib:format("~p", [Info]), "beamr") =/= nomatch]).

collect_reports() ->
    receive
        {monitor, _, long_schedule, _} = M -> [M | collect_reports()]
    after 0 -> []
    end.

%% A beamr resource cannot cross nodes: off its node it is an error, not a crash.
beamr_handle_off_node(Node) ->
    {ok, I} = beamr:start(fixture("test.wat")),
    ?assertMatch({error, {bad_instance, _}}, erpc:call(Node, beamr, call, [I, <<"fac">>, [5.0]])),
    ?assertMatch({error, {bad_instance, _}}, erpc:call(Node, beamr, read, [I, 0, 1])),
    ?assertEqual({ok, [120.0]}, beamr:call(I, <<"fac">>, [5.0])).

%%% Placement and moves

move(Node) ->
    {ok, Pid, _, _} = hb_beamr:start(fixture("imports.wat")),
    {ok, Ptr} = hb_beamr_io:write_string(Pid, <<"state">>),
    {ok, New} = hb_beamr:move(Pid, Node),
    ?assertEqual(Node, node(New)),
    %% The copy is held under the far node's holder supervisor, like every instance.
    ?assert(lists:member(New, [C || {_, C, _, _} <- erpc:call(Node, supervisor, which_children,
                                                             [beamr_holder_sup])])),
    %% Memory and globals (the allocator's heap pointer) came along.
    ?assertEqual({ok, <<"state">>}, hb_beamr_io:read_string(New, Ptr)),
    {ok, P2} = hb_beamr_io:malloc(New, 8),
    ?assert(P2 > Ptr),
    %% The old pid says where the instance went, on every face.
    ?assertEqual({error, {moved, New}}, hb_beamr:call(Pid, "double", [1])),
    ?assertEqual({error, {moved, New}, s},
                 hb_beamr:call(Pid, "double", [1], fun hb_beamr:stub/3, s)),
    ?assertEqual({error, {moved, New}}, hb_beamr_io:read(Pid, 0, 1)),
    ?assertEqual({error, {moved, New}}, hb_beamr:serialize(Pid)),
    ?assertEqual({error, {moved, New}}, hb_beamr:stop(Pid)),
    ?assertEqual({error, {moved, New}}, hb_beamr:move(Pid, node())),
    %% And back again; a caller on the far node sees the old pid the same way.
    {ok, Back} = hb_beamr:move(New, node()),
    ?assertEqual(node(), node(Back)),
    ?assertEqual({ok, <<"state">>}, hb_beamr_io:read_string(Back, Ptr)),
    ?assertEqual({error, {moved, Back}}, erpc:call(Node, hb_beamr_io, size, [New])),
    ?assertEqual({ok, [4]}, erpc:call(Node, hb_beamr, call, [Back, "double", [2]])),
    %% The old holder ends with the instance it moved to.
    Mon = monitor(process, Pid),
    ok = hb_beamr:stop(Back),
    receive {'DOWN', Mon, process, Pid, _} -> ok after 5000 -> error(old_holder_alive) end,
    ?assertEqual({error, stopped}, hb_beamr:call(Pid, "double", [1])).

%% A module is sent to a node once while an instance of it lives there, and compiled
%% there once: counted in bytes on the distribution connection.
move_sends_module_once(Node) ->
    %% 256 KiB of passive data: the module is big, its memory (one page) small.
    {ok, Wasm} = beamr:wat_to_wasm(iolist_to_binary(
                               ["(module (memory (export \"memory\") 1) (data \"",
                                binary:copy(<<"ab">>, 131072), "\")"
                                "(func (export \"f\") (result i32) i32.const 7))"])),
    ?assert(byte_size(Wasm) > 262144),
    {ok, A, _, _} = hb_beamr:start(Wasm),
    {ok, B, _, _} = hb_beamr:start(Wasm),
    Compiled = erpc:call(Node, beamr, compilations, []),
    {Sent1, {ok, A2}} = sent_to(Node, fun() -> hb_beamr:move(A, Node) end),
    {Sent2, {ok, B2}} = sent_to(Node, fun() -> hb_beamr:move(B, Node) end),
    ?assert(Sent1 > 262144),
    ?assert(Sent2 < 131072),
    ?assertEqual(Compiled + 1, erpc:call(Node, beamr, compilations, [])),
    ?assertEqual({ok, [7]}, hb_beamr:call(A2, "f", [])),
    ?assertEqual({ok, [7]}, hb_beamr:call(B2, "f", [])),
    %% Placement uses the same path: the module is there, so no bytes again.
    {Sent3, {ok, C, _, _}} = sent_to(Node, fun() -> hb_beamr:start_on(Node, Wasm) end),
    ?assert(Sent3 < 131072),
    %% When the last instance goes, so do the bytes kept for it.
    Hash = crypto:hash(sha256, Wasm),
    ?assertMatch({ok, _}, erpc:call(Node, beamr_proc, module_bytes, [Hash])),
    [ok = hb_beamr:stop(P) || P <- [A2, B2, C]],
    ok = wait_until(fun() -> erpc:call(Node, beamr_proc, module_bytes, [Hash]) =:= error end).

sent_to(Node, Fun) ->
    Before = dist_sent(Node),
    Result = Fun(),
    {dist_sent(Node) - Before, Result}.

dist_sent(Node) ->
    {Node, Port} = lists:keyfind(Node, 1, erlang:system_info(dist_ctrl)),
    {ok, [{send_oct, N}]} = inet:getstat(Port, [send_oct]),
    N.

wait_until(Pred) ->
    wait_until(Pred, 100).

wait_until(_Pred, 0) ->
    timeout;
wait_until(Pred, N) ->
    case Pred() of
        true -> ok;
        false -> timer:sleep(20), wait_until(Pred, N - 1)
    end.

%%% Lost nodes and callers: each test loses a peer of its own

node_down_in_import_test_() ->
    {timeout, 60, fun node_down_in_import/0}.

node_down_in_import() ->
    {_, Node} = Peer = start_peer(),
    Pid = on(Node, "pow_calculator.wat"),
    Self = self(),
    Caller = spawn(fun() ->
                           Wait = fun(S, #{args := [A, B]}, _) ->
                                          Self ! {in_import, self()},
                                          receive go -> ok end,
                                          {ok, [A * B], S + 1}
                                  end,
                           Self ! {result, hb_beamr:call(Pid, "pow", [2, 5], Wait, 0)}
                   end),
    receive {in_import, Caller} -> ok after 10000 -> error(no_import) end,
    stop_peer(Peer),
    Caller ! go,
    ?assertEqual([{error, {nodedown, Node}, 1}], beamr_test_util:collect(result, 1, 10000)),
    %% Before a call, too: the node is gone.
    ?assertEqual({error, {nodedown, Node}}, within(10000, fun() -> hb_beamr:call(Pid, "pow", [2, 5]) end)),
    ?assertEqual({error, {nodedown, Node}}, within(10000, fun() -> hb_beamr_io:size(Pid) end)).

node_down_while_running_test_() ->
    {timeout, 60, fun node_down_while_running/0}.

node_down_while_running() ->
    {_, Node} = Peer = start_peer(),
    Pid = on(Node, "test.wat"),
    Self = self(),
    spawn(fun() -> Self ! {result, hb_beamr:call(Pid, "spin", [])} end),
    timer:sleep(100),
    stop_peer(Peer),
    ?assertEqual([{error, {nodedown, Node}}], beamr_test_util:collect(result, 1, 10000)),
    ?assertMatch({error, {nodedown, Node}}, hb_beamr:start_on(Node, fixture("test.wat"))),
    ?assertMatch({error, {nodedown, Node}}, hb_beamr:stop(Pid)).

%% A caller whose node goes down while its import fun runs releases the instance.
caller_node_down_test_() ->
    {timeout, 60, fun caller_node_down/0}.

caller_node_down() ->
    {_, Node} = Peer = start_peer(),
    {ok, Pid, _, _} = hb_beamr:start(fixture("pow_calculator.wat")),
    Self = self(),
    _ = erpc:call(Node, erlang, spawn,
                  [fun() ->
                           Block = fun(_, _, _) -> Self ! in_import, receive never -> ok end end,
                           hb_beamr:call(Pid, "pow", [2, 5], Block, 0)
                   end]),
    receive in_import -> ok after 10000 -> error(no_import) end,
    stop_peer(Peer),
    Mul = fun(S, #{args := [A, B]}, _) -> {ok, [A * B], S} end,
    ?assertEqual({ok, [32], s}, within(10000, fun() -> hb_beamr:call(Pid, "pow", [2, 5], Mul, s) end)),
    %% And a caller process that dies (here on the same node) does the same.
    {_, Node2} = Peer2 = start_peer(),
    Remote = on(Node2, "pow_calculator.wat"),
    Dying = spawn(fun() ->
                          Block = fun(_, _, _) -> Self ! in_import, receive never -> ok end end,
                          hb_beamr:call(Remote, "pow", [2, 5], Block, 0)
                  end),
    receive in_import -> ok after 10000 -> error(no_import) end,
    exit(Dying, kill),
    ?assertEqual({ok, [32], s}, within(10000, fun() -> hb_beamr:call(Remote, "pow", [2, 5], Mul, s) end)),
    %% Its workers are gone: nothing leaks on the instance's node.
    Before = erpc:call(Node2, erlang, system_info, [process_count]),
    [{ok, [32], s} = hb_beamr:call(Remote, "pow", [2, 5], Mul, s) || _ <- lists:seq(1, 50)],
    ok = wait_until(fun() -> erpc:call(Node2, erlang, system_info, [process_count]) =< Before end),
    stop_peer(Peer2).
