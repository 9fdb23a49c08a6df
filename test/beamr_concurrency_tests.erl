%%% @doc Concurrency tests: many instances, many parked calls, shared instances, dead owners.
-module(beamr_concurrency_tests).

-include_lib("eunit/include/eunit.hrl").

-import(beamr_test_util, [start/1, within/2, collect/3, spawn_reporting/2]).

%% The import multiplies as i32.mul does.
mul(S, #{args := [A, B]}, _Opts) -> {ok, [i32(A * B)], S + 1}.

ipow(_B, 0) -> 1;
ipow(B, K) -> B * ipow(B, K - 1).

%% Wraps like i32 does, so expected values match for any base and power.
i32(N) ->
    <<V:32/signed>> = <<N:32>>,
    V.

%%% Many instances

parallel_instances_test_() ->
    {timeout, 30, fun parallel_instances/0}.

parallel_instances() ->
    Instances = [start("pow_calculator.wat") || _ <- lists:seq(1, 100)],
    lists:foreach(
      fun({N, I}) ->
              spawn_reporting(
                done,
                fun() ->
                        {N, [{B, K, beamr:call(I, <<"pow">>, [B, K], fun mul/3, 0, #{})}
                             || K <- lists:seq(0, 12), B <- [N, N + 1, -N]]}
                end)
      end,
      lists:zip(lists:seq(1, 100), Instances)),
    Results = collect(done, 100, 25000),
    ?assertEqual([], [C || {crashed, _, _} = C <- Results]),
    ?assertEqual(lists:seq(1, 100), lists:sort([N || {N, _} <- Results])),
    lists:foreach(
      fun({_N, Got}) ->
              lists:foreach(fun({B, K, R}) ->
                                    ?assertEqual({B, K, {ok, [i32(ipow(B, K))], K}}, {B, K, R})
                            end, Got)
      end,
      Results).

%% 1000 calls, each on its own instance, all suspended in an import at the same time.
thousand_parked_test_() ->
    {timeout, 60, fun thousand_parked/0}.

thousand_parked() ->
    Self = self(),
    N = 1000,
    Instances = [start("pow_calculator.wat") || _ <- lists:seq(1, N)],
    Park = fun(Parked, #{args := [A, B]}, _) ->
                   case Parked of
                       false ->
                           Self ! {parked, self()},
                           receive go -> ok after 30000 -> exit(never_released) end;
                       true ->
                           ok
                   end,
                   {ok, [A * B], true}
           end,
    Pids = [spawn_link(fun() ->
                               Self ! {result, {K, beamr:call(I, <<"pow">>, [K, 2], Park, false, #{})}}
                       end)
            || {K, I} <- lists:zip(lists:seq(1, N), Instances)],
    Parked = collect(parked, N, 30000),
    ?assertEqual(lists:sort(Pids), lists:sort(Parked)),
    %% All are parked now; nothing can have finished.
    receive {result, Early} -> error({finished_while_parked, Early}) after 0 -> ok end,
    [P ! go || P <- Pids],
    Results = lists:sort(collect(result, N, 30000)),
    ?assertEqual([{K, {ok, [K * K], true}} || K <- lists:seq(1, N)], Results),
    [beamr:stop(I) || I <- Instances].

%%% One instance, several processes

%% Two processes sharing an instance with imports: calls are serialized (no call ever
%% sees another call's import in between its own), and every result is right.
shared_instance_serialized_test_() ->
    {timeout, 30, fun shared_instance_serialized/0}.

shared_instance_serialized() ->
    I = start("pow_calculator.wat"),
    Tab = ets:new(shared_owner, [public, set]),
    true = ets:insert(Tab, {owner, none}),
    %% First import of a call claims the instance; later ones must find their own claim.
    Fun = fun(First, #{args := [A, B]}, _) ->
                  case First of
                      true -> ets:insert(Tab, {owner, self()});
                      false -> [{owner, Me}] = ets:lookup(Tab, owner), Me = self()
                  end,
                  erlang:yield(),
                  {ok, [A * B], false}
          end,
    Worker = fun(Base) ->
                     fun() ->
                             {Base, [{K, beamr:call(I, <<"pow">>, [Base, K rem 9 + 1], Fun, true, #{})}
                                     || K <- lists:seq(1, 200)]}
                     end
             end,
    spawn_reporting(done, Worker(2)),
    spawn_reporting(done, Worker(3)),
    Results = collect(done, 2, 25000),
    ?assertEqual([], [C || {crashed, _, _} = C <- Results]),
    ?assertEqual([2, 3], lists:sort([B || {B, _} <- Results])),
    lists:foreach(
      fun({Base, Got}) ->
              ?assertEqual([{K, {ok, [ipow(Base, K rem 9 + 1)], false}} || K <- lists:seq(1, 200)],
                           Got)
      end,
      Results).

%% Plain beamr:call/3 from two processes at once, on one instance.
shared_instance_plain_calls_test_() ->
    {timeout, 30, fun shared_instance_plain_calls/0}.

shared_instance_plain_calls() ->
    I = start("test.wat"),
    Worker = fun(Tag) ->
                     fun() -> {Tag, [beamr:call(I, <<"add">>, [Tag, K]) || K <- lists:seq(1, 2000)]} end
             end,
    [spawn_reporting(done, Worker(T)) || T <- [1000, 2000, 3000]],
    Results = collect(done, 3, 25000),
    ?assertEqual([], [C || {crashed, _, _} = C <- Results]),
    ?assertEqual([1000, 2000, 3000], lists:sort([T || {T, _} <- Results])),
    lists:foreach(
      fun({Tag, Got}) ->
              ?assertEqual([{ok, [Tag + K]} || K <- lists:seq(1, 2000)], Got)
      end,
      Results).

%% Three processes hammer one instance with calls of a few microseconds, so that they
%% often find it taken. A call on an idle instance takes and releases it without the
%% control lock; one that finds it taken is queued and must be sent
%% `{'$beamr_ready', I}' when it frees up. The workers drive the NIF themselves and
%% wait for that message with no retry, so a lost wake-up shows as a 5 s silence
%% (however loaded the machine) rather than as a slow call; no stray wake-up may be
%% left in a mailbox either.
contended_calls_lose_no_wakeup_test_() ->
    {timeout, 120, fun contended_calls_lose_no_wakeup/0}.

contended_calls_lose_no_wakeup() ->
    {ok, I} = beamr:start(<<"(module (func (export \"spin\") (param i32) (result i32)
                               (loop local.get 0 i32.const 1 i32.sub local.tee 0 br_if 0)
                               i32.const 7))">>),
    Worker = fun() ->
                     Waits = lists:foldl(fun(_, N) -> N + contended_call(I, 0) end, 0,
                                         lists:seq(1, 20000)),
                     {messages, Left} = process_info(self(), messages),
                     {Waits, Left}
             end,
    [spawn_reporting(done, Worker) || _ <- lists:seq(1, 3)],
    Results = collect(done, 3, 115000),
    ?assertEqual([], [C || {crashed, _, _} = C <- Results]),
    ?assertEqual([], [Left || {_, Left} <- Results, Left =/= []]),
    %% The instance was contended: someone was queued and woken.
    ?assert(lists:sum([W || {W, _} <- Results]) > 0).

%% One call; returns how many times it was queued and woken.
contended_call(I, Waits) ->
    case beamr_nif:call(I, <<"spin">>, [2000], infinity) of
        busy ->
            receive
                {'$beamr_ready', I} -> contended_call(I, Waits + 1)
            after 5000 ->
                error(lost_wakeup)
            end;
        {ok, [7]} ->
            Waits;
        Step ->
            %% Out of time slice (a descheduled thread): let beamr drive it on.
            {ok, [7], _} = beamr_call:continue(Step, I, fun unexpected_import/3, none, #{}),
            Waits
    end.

unexpected_import(_, Request, _) -> error({unexpected_import, Request}).

%% A call made while another process's call is parked in an import waits, then succeeds.
waits_for_parked_call_test() ->
    Self = self(),
    I = start("imports.wat"),
    A = spawn_parked(I, Self),
    B = spawn_reporting(b, fun() -> beamr:call(I, <<"double">>, [21]) end),
    %% B cannot finish while A's call holds the instance.
    receive {b, Early} -> error({b_finished_while_a_parked, Early}) after 200 -> ok end,
    ?assert(is_process_alive(B)),
    A ! go,
    ?assertEqual([{ok, [8], released}], collect(a, 1, 5000)),
    ?assertEqual([{ok, [42]}], collect(b, 1, 5000)).

%% A waiting caller's timeout covers its wait for the instance.
wait_timeout_test() ->
    Self = self(),
    I = start("imports.wat"),
    A = spawn_parked(I, Self),
    ?assertEqual({error, timeout},
                 within(3000, fun() -> beamr:call(I, <<"double">>, [1], #{timeout => 100}) end)),
    A ! go,
    ?assertEqual([{ok, [8], released}], collect(a, 1, 5000)),
    ?assertEqual({ok, [2]}, within(2000, fun() -> beamr:call(I, <<"double">>, [1]) end)).

%% Stopping an instance releases a caller waiting for it, as well as the parked call.
stop_releases_waiter_test() ->
    Self = self(),
    I = start("imports.wat"),
    A = spawn_parked(I, Self),
    spawn_reporting(b, fun() -> beamr:call(I, <<"double">>, [5], #{}) end),
    receive {b, Early} -> error({b_finished_while_a_parked, Early}) after 100 -> ok end,
    ok = beamr:stop(I),
    ?assertEqual([{error, stopped}], collect(b, 1, 1000)),
    A ! go,
    ?assertEqual([{error, stopped, released}], collect(a, 1, 1000)).

%% Memory stays reachable from other processes while a call is parked in an import.
memory_while_parked_test() ->
    Self = self(),
    I = start("imports.wat"),
    A = spawn_parked(I, Self),
    ?assertEqual({ok, 65536}, within(2000, fun() -> beamr:size(I) end)),
    ?assertEqual(ok, within(2000, fun() -> beamr:write(I, 4000, <<"hi">>) end)),
    ?assertEqual({ok, <<"hi">>}, within(2000, fun() -> beamr:read(I, 4000, 2) end)),
    A ! go,
    ?assertEqual([{ok, [8], released}], collect(a, 1, 5000)).

%% A call that ran out of its first time slice sits between polls until its owner
%% drives it on; its store cannot be reached then. A memory read or write from another
%% process in that window waits for the call to end (as a size always did), rather
%% than answering `{error, busy}'.
memory_while_running_test() ->
    {ok, I} = beamr:start(<<"(module (memory (export \"memory\") 1)
                               (func (export \"spin\") (param i32) (result i32)
                                 (loop local.get 0 i32.const 1 i32.sub local.tee 0 br_if 0)
                                 i32.const 0 i32.const 7 i32.store8 i32.const 7))">>),
    yield = beamr_nif:call(I, <<"spin">>, [1000000000], infinity),
    ?assertEqual(busy, beamr_nif:read(I, 0, 1)),
    ?assertEqual(busy, beamr_nif:write(I, 1, <<"hi">>)),
    ?assertEqual(busy, beamr_nif:read_string(I, 1, 10)),
    spawn_reporting(b, fun() ->
                               {beamr:read(I, 0, 1), beamr:write(I, 1, <<"hi">>),
                                beamr:read_string(I, 1)}
                       end),
    receive {b, Early} -> error({b_finished_while_the_call_ran, Early}) after 100 -> ok end,
    ?assertMatch({ok, [7], _}, beamr_call:continue(yield, I, fun unexpected_import/3, s, #{})),
    %% The call wrote 7 at 0 just before it ended: b's read came after it.
    ?assertEqual([{{ok, <<7>>}, ok, {ok, <<"hi">>}}], collect(b, 1, 10000)),
    flush_ready(I).

flush_ready(I) ->
    receive {'$beamr_ready', I} -> flush_ready(I) after 0 -> ok end.

%% An owner killed while parked in an import does not wedge the instance.
owner_killed_while_parked_test() ->
    Self = self(),
    I = start("imports.wat"),
    A = spawn_parked(I, Self),
    exit(A, kill),
    ?assertEqual({ok, [42]}, within(1000, fun() -> beamr:call(I, <<"double">>, [21], #{}) end)),
    ok = assert_imports_work(I).

%% ... also when the other caller was already waiting when the owner died.
owner_killed_with_waiter_test() ->
    Self = self(),
    I = start("imports.wat"),
    A = spawn_parked(I, Self),
    spawn_reporting(b, fun() -> beamr:call(I, <<"double">>, [5], #{}) end),
    receive {b, Early} -> error({b_finished_while_a_parked, Early}) after 100 -> ok end,
    exit(A, kill),
    ?assertEqual([{ok, [10]}], collect(b, 1, 1000)),
    ok = assert_imports_work(I).

%% A caller waiting for another process's call is told when that owner dies: the
%% wake-up message itself arrives (the waiter does not rely on its retry timer).
owner_death_wakes_waiter_test() ->
    Self = self(),
    I = start("imports.wat"),
    A = spawn_parked(I, Self),
    ?assertEqual(busy, beamr_nif:call(I, <<"double">>, [4], infinity)),
    exit(A, kill),
    receive {'$beamr_ready', I} -> ok after 2000 -> error(not_woken) end,
    ?assertEqual({ok, [8]}, beamr:call(I, <<"double">>, [4])).

%% ... and when it dies while its call is executing (not parked).
owner_killed_while_spinning_test() ->
    I = start("imports.wat"),
    A = spawn(fun() -> beamr:call(I, <<"spin">>, []) end),
    timer:sleep(20),
    exit(A, kill),
    ?assertEqual({ok, [42]}, within(1000, fun() -> beamr:call(I, <<"double">>, [21], #{}) end)),
    ok = assert_imports_work(I).

%% ... and when it dies parked two levels deep (a re-entrant call inside an import).
owner_killed_while_parked_nested_test() ->
    Self = self(),
    I = start("imports.wat"),
    Outer = fun(S, #{func := <<"reenter">>, args := [X]}, _) ->
                    Inner = fun(S2, _, _) ->
                                    Self ! {parked, self()},
                                    receive go -> {ok, [0], S2} after 10000 -> exit(never) end
                            end,
                    {ok, [Y], _} = beamr:call(I, <<"call_add64">>, [X, 1], Inner, in, #{}),
                    {ok, [Y], S}
            end,
    A = spawn(fun() -> beamr:call(I, <<"call_reenter">>, [1], Outer, out, #{}) end),
    [A] = collect(parked, 1, 5000),
    exit(A, kill),
    ?assertEqual({ok, [42]}, within(1000, fun() -> beamr:call(I, <<"double">>, [21], #{}) end)),
    ok = assert_imports_work(I).

%%% Helpers

%% Spawns a process whose call_add64(3, 5) parks in its import until sent `go';
%% returns once it is parked. The process then sends `{a, Result}'.
spawn_parked(I, Self) ->
    A = spawn(fun() ->
                      Park = fun(_, #{args := [X, Y]}, _) ->
                                     Self ! {parked, self()},
                                     receive go -> {ok, [X + Y], released}
                                     after 10000 -> exit(never_released)
                                     end
                             end,
                      Self ! {a, beamr:call(I, <<"call_add64">>, [3, 5], Park, s, #{})}
              end),
    [A] = collect(parked, 1, 5000),
    A.

assert_imports_work(I) ->
    Add = fun(S, #{args := [X, Y]}, _) -> {ok, [X + Y], S} end,
    ?assertEqual({ok, [7], s},
                 within(1000, fun() -> beamr:call(I, <<"call_add64">>, [3, 4], Add, s, #{}) end)),
    ok.
