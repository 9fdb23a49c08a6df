%%% @doc The AOS-like process fixture (test/fixtures/lua/process.cpp running the
%%% embedded process.lua) driven through HyperBEAM's API as HyperBEAM drives AOS: the
%%% JSON message and environment written with `hb_beamr_io:write_string', the call
%%% through `hb_beamr:call', the JSON reply read back with `hb_beamr_io:read_string'.
%%% Built by scripts/build-fixtures.sh as wasm32 at -O2 (set `aos') and as memory64
%%% (set `aos64'); each suite runs on both. The benchmark's message is checked here to
%%% give the reply the benchmark's harnesses demand of hb_beamr, V8 and wasmtime.
-module(beamr_aos_process_tests).

-include_lib("eunit/include/eunit.hrl").

-define(OWNER, "OwnerAddr7x3kV9qLmZpR2tYw8cNbE4hJd5sGfA1uTQ").

aos_test_() ->
    {timeout, 600, suite("aos", "lua-process.wasm", "(ii)i")}.

aos64_test_() ->
    {timeout, 600, suite("aos64", "lua64-process.wasm", "(II)I")}.

suite(Set, File, HandleSig) ->
    {setup, fun() -> start(Set, File, HandleSig) end, fun hb_beamr:stop/1,
     fun(Pid) ->
             [{Set ++ ": the benchmark message gives the benchmark's reply",
               ?_test(bench_message(Pid))},
              {Set ++ ": state is carried from one message to the next", ?_test(state(Pid))},
              {Set ++ ": a failing Eval is an Error reply", ?_test(failing_eval(Pid))},
              {Set ++ ": handlers match on tags; unmatched go to the Inbox",
               ?_test(handlers(Pid))},
              {Set ++ ": bad JSON is an Error reply", ?_test(bad_json(Pid))}]
     end}.

start(Set, File, HandleSig) ->
    Wasm = beamr_fixture_util:built(Set, File),
    {ok, Pid, _Imports, Exports} = hb_beamr:start(Wasm),
    ?assert(lists:member({func, "handle", HandleSig}, Exports)),
    {ok, [], _} = hb_beamr:call(Pid, "_initialize", [], beamr_lua_tests:import_fun(),
                                beamr_lua_tests:new_state()),
    Pid.

bench_file(Name) ->
    {ok, Bin} = file:read_file(filename:join([beamr_fixture_util:root(), "bench", Name])),
    string:trim(Bin, trailing, "\n").

%% Evaluates the JSON message `Msg' with the benchmark's environment; the reply.
handle(Pid, Msg) ->
    handle(Pid, Msg, bench_file("aos_env.json")).

handle(Pid, Msg, Env) ->
    {ok, M} = hb_beamr_io:write_string(Pid, Msg),
    {ok, E} = hb_beamr_io:write_string(Pid, Env),
    {ok, [Out], _} = hb_beamr:call(Pid, "handle", [M, E], beamr_lua_tests:import_fun(),
                                   beamr_lua_tests:new_state()),
    {ok, Reply} = hb_beamr_io:read_string(Pid, Out),
    ok = hb_beamr_io:free(Pid, M),
    ok = hb_beamr_io:free(Pid, E),
    Reply.

%% A message from `From' with an Action tag and Data, as JSON text.
msg(From, Action, Data) ->
    iolist_to_binary(["{\"From\":\"", From, "\",\"Data\":", json_string(Data),
                      ",\"Tags\":[{\"name\":\"Action\",\"value\":\"", Action, "\"}]}"]).

json_string(S) ->
    Escaped = lists:map(fun($") -> "\\\""; ($\\) -> "\\\\"; ($\n) -> "\\n"; (C) -> C end,
                        unicode:characters_to_list(S)),
    ["\"", unicode:characters_to_binary(Escaped), "\""].

%% The reply for Output `Data', the JSON `Messages' list and, when not ok, `Error'.
reply(Data, Messages) ->
    iolist_to_binary(["{\"ok\":true,\"response\":{\"Assignments\":[],\"Messages\":[", Messages,
                      "],\"Output\":{\"data\":", json_string(Data), "},\"Spawns\":[]}}"]).

error_reply(Error) ->
    iolist_to_binary(["{\"ok\":false,\"response\":{\"Assignments\":[],\"Error\":", json_string(Error),
                      ",\"Messages\":[],\"Output\":{\"data\":\"\"},\"Spawns\":[]}}"]).

bench_message(Pid) ->
    Msg = bench_file("aos_message.json"),
    Expected = bench_file("aos_reply.json"),
    ?assertEqual(Expected, handle(Pid, Msg)),
    ?assertEqual(Expected, handle(Pid, Msg)),
    %% What the message did stays: its Eval set Balances[From].
    ?assertEqual(reply("45827.80", ""),
                 handle(Pid, msg(?OWNER, "Eval", "return Balances[Msg.From]"))),
    %% Floats format, memory64 too (its -O0 build's long double helpers trap).
    ?assertEqual(reply("4.5 0.1 1e+100", ""),
                 handle(Pid, msg(?OWNER, "Eval", "return 1.5 * 3 .. ' ' .. 0.1 .. ' ' .. 1e100"))).

state(Pid) ->
    ?assertEqual(reply("set\nnil", ""),
                 handle(Pid, msg(?OWNER, "Eval",
                                 "local before = Greeting Greeting = 'hi ' .. Msg.From\n"
                                 "print('set') return tostring(before)"))),
    Count = handle(Pid, msg(?OWNER, "Eval", "return Counter")),
    ?assertEqual(reply("hi " ?OWNER, ""), handle(Pid, msg(?OWNER, "Eval", "return Greeting"))),
    {match, [N]} = re:run(Count, "\"data\":\"([0-9]+)\"", [{capture, all_but_first, binary}]),
    ?assertEqual(reply(integer_to_binary(binary_to_integer(N) + 2), ""),
                 handle(Pid, msg(?OWNER, "Eval", "return Counter"))).

failing_eval(Pid) ->
    ?assertEqual(error_reply("eval:1: boom"), handle(Pid, msg(?OWNER, "Eval", "error('boom')"))),
    ?assertEqual(error_reply("eval:1: attempt to index a nil value (global 'nothing')"),
                 handle(Pid, msg(?OWNER, "Eval", "return nothing.here"))),
    ?assertEqual(error_reply("eval:1: unexpected symbol near '+'"),
                 handle(Pid, msg(?OWNER, "Eval", "+"))),
    %% The process goes on, its state intact.
    ?assertEqual(reply("3", ""), handle(Pid, msg(?OWNER, "Eval", "return 1 + 2"))).

handlers(Pid) ->
    Before = inbox_size(Pid),
    %% Only the owner may Eval: anyone else's Eval goes to the Inbox, unevaluated.
    ?assertEqual(reply("New message from stranger: Action = Eval", ""),
                 handle(Pid, msg("stranger", "Eval", "Hijacked = true"))),
    ?assertEqual(Before + 1, inbox_size(Pid)),
    ?assertEqual(reply("nil", ""), handle(Pid, msg(?OWNER, "Eval", "return tostring(Hijacked)"))),
    ?assertEqual(reply("", "{\"Data\":\"pong\",\"Tags\":[{\"name\":\"Action\",\"value\":\"Pong\"}],"
                           "\"Target\":\"alice\"}"),
                 handle(Pid, msg("alice", "Ping", ""))),
    %% A handler added by an Eval matches later messages on their tags.
    ?assertEqual(reply("", ""),
                 handle(Pid, msg(?OWNER, "Eval",
                                 "Handlers.add('echo', {Action = 'Echo', Kind = '_'},\n"
                                 "  function(m) ao.send({Target = m.From, Data = m.Data:upper(),"
                                 " Kind = m.Kind}) end)"))),
    Echo = <<"{\"From\":\"bob\",\"Data\":\"hello\",\"Tags\":[{\"name\":\"Action\",\"value\":\"Echo\"},"
             "{\"name\":\"Kind\",\"value\":\"shout\"}]}">>,
    ?assertEqual(reply("", "{\"Data\":\"HELLO\",\"Tags\":[{\"name\":\"Kind\",\"value\":\"shout\"}],"
                           "\"Target\":\"bob\"}"),
                 handle(Pid, Echo)),
    %% Without the Kind tag the pattern does not match: to the Inbox.
    ?assertEqual(reply("New message from bob: Action = Echo", ""), handle(Pid, msg("bob", "Echo", "x"))),
    ?assertEqual(Before + 2, inbox_size(Pid)).

inbox_size(Pid) ->
    Reply = handle(Pid, msg(?OWNER, "Eval", "return #Inbox")),
    {match, [N]} = re:run(Reply, "\"data\":\"([0-9]+)\"", [{capture, all_but_first, binary}]),
    binary_to_integer(N).

bad_json(Pid) ->
    ?assertEqual(error_reply("json: expected a key at byte 2"), handle(Pid, <<"{bad">>)),
    ?assertEqual(error_reply("json: trailing characters at byte 4"), handle(Pid, <<"{} x">>)),
    ?assertEqual(error_reply("a message must be a JSON object"), handle(Pid, <<"[1, 2]">>)),
    ?assertEqual(error_reply("json: unterminated string at byte 1"), handle(Pid, <<"\"abc">>)),
    ?assertEqual(error_reply("the environment must be a JSON object"),
                 handle(Pid, msg(?OWNER, "Eval", "return 1"), <<"7">>)),
    ?assertEqual(error_reply("the environment must be a JSON object"),
                 handle(Pid, msg(?OWNER, "Eval", "return 1"), <<"[]">>)),
    %% Nesting is bounded: no recursion runs away on hostile input.
    ?assertEqual(error_reply("json: nesting too deep at byte 66"),
                 handle(Pid, binary:copy(<<"[">>, 100000))),
    ?assertEqual(error_reply("json: bad \\u escape at byte 8"),
                 handle(Pid, <<"{\"a\":\"x\\u12\"}">>)),
    ?assertEqual(reply("1", ""), handle(Pid, msg(?OWNER, "Eval", "return 1"))).
