%%% @doc Helpers shared by beamr's eunit suites: fixtures, bounded waits, RSS.
-module(beamr_test_util).

-export([fixture/1, start/1, within/2, collect/2, collect/3, spawn_reporting/2, rss_bytes/0]).
-export([restore_system_monitor/1, mentions_beamr/1, monitor_messages/0]).

%% @doc The contents of test/fixtures/Name (WAT text, which beamr:start/1 accepts).
fixture(Name) ->
    Candidates =
        [filename:join([code:lib_dir(beamr), "test", "fixtures", Name]),
         filename:join(["test", "fixtures", Name]),
         filename:join([filename:dirname(code:which(?MODULE)), "fixtures", Name])],
    read_first(Name, Candidates).

read_first(Name, []) ->
    error({fixture_not_found, Name});
read_first(Name, [Path | Rest]) ->
    case file:read_file(Path) of
        {ok, Bin} -> Bin;
        {error, _} -> read_first(Name, Rest)
    end.

%% @doc Starts a beamr instance of a fixture, failing the test if that fails.
start(Name) ->
    {ok, I} = beamr:start(fixture(Name)),
    I.

%% @doc Runs Fun in a fresh process and returns its result, or fails with
%% `{did_not_finish_within, Ms}' (killing it) so that a hang never wedges the suite.
within(Ms, Fun) ->
    Parent = self(),
    Ref = make_ref(),
    {Pid, MRef} =
        spawn_monitor(fun() -> Parent ! {Ref, try {value, Fun()} catch C:R:S -> {raised, C, R, S} end} end),
    receive
        {Ref, {value, V}} ->
            erlang:demonitor(MRef, [flush]),
            V;
        {Ref, {raised, C, R, S}} ->
            erlang:demonitor(MRef, [flush]),
            erlang:raise(C, R, S);
        {'DOWN', MRef, process, Pid, Reason} ->
            error({worker_died, Reason})
    after Ms ->
        exit(Pid, kill),
        erlang:demonitor(MRef, [flush]),
        error({did_not_finish_within, Ms})
    end.

%% @doc Spawns Fun; it sends `{Tag, Result}' to the caller when done, or
%% `{Tag, {crashed, Class, Reason}}' if it raised, so that collectors never wait in vain.
spawn_reporting(Tag, Fun) ->
    Parent = self(),
    spawn(fun() ->
                  Parent ! {Tag, try Fun() catch C:R -> {crashed, C, R} end}
          end).

%% @doc Receives N messages `{Tag, X}', in arrival order, within Ms milliseconds overall.
collect(Tag, N) ->
    collect(Tag, N, 30000).

collect(Tag, N, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    collect_loop(Tag, N, Deadline, []).

collect_loop(_Tag, 0, _Deadline, Acc) ->
    lists:reverse(Acc);
collect_loop(Tag, N, Deadline, Acc) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {Tag, X} -> collect_loop(Tag, N - 1, Deadline, [X | Acc])
    after Left ->
        error({missing_messages, Tag, N, got, length(Acc)})
    end.

%% @doc The OS resident set size of this VM, in bytes (from /proc/self/status).
rss_bytes() ->
    {ok, Status} = file:read_file("/proc/self/status"),
    [Line] = [L || L <- binary:split(Status, <<"\n">>, [global]),
                   binary:match(L, <<"VmRSS:">>) =/= nomatch],
    [_, Kb, <<"kB">>] = binary:split(Line, [<<" ">>, <<"\t">>], [global, trim_all]),
    binary_to_integer(Kb) * 1024.

%% Puts back the system monitor `erlang:system_monitor/0' returned before a test.
restore_system_monitor(undefined) ->
    erlang:system_monitor(undefined);
restore_system_monitor({Pid, Opts}) ->
    erlang:system_monitor(Pid, Opts).

%% Whether a monitor report's info names beamr code (a NIF of beamr's running).
mentions_beamr(Info) ->
    string:find(io_lib:format("~p", [Info]), "beamr") =/= nomatch.

%% The long_schedule reports in the mailbox, taken out of it.
monitor_messages() ->
    receive
        {monitor, _, long_schedule, _} = M -> [M | monitor_messages()]
    after 0 -> []
    end.
