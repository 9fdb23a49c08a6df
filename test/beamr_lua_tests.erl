%%% @doc The AOS-like end-to-end fixture: Lua 5.4 compiled as C++ with em++
%%% -fwasm-exceptions (Lua errors are C++ exceptions, legacy wasm EH), exporting
%%% `handle(msgPtr, envPtr) -> outPtr', driven through HyperBEAM's API exactly as
%%% HyperBEAM drives AOS: the message written with `hb_beamr_io:write_string', the call
%%% through `hb_beamr:call', the JSON result read back with `hb_beamr_io:read_string'.
%%% WASI and emscripten `env' imports are answered by beamr_wasi and beamr_emscripten.
%%% The fixture is built at test time by scripts/build-fixtures.sh (Lua sources from
%%% crates.io's lua-src crate) twice: as wasm32 at -O2, and as memory64 at -O0, as AOS
%%% images are (pointers, `handle''s arguments and result among them, are i64); a failed
%%% build fails these tests.
-module(beamr_lua_tests).

-include_lib("eunit/include/eunit.hrl").

-export([import_fun/0, new_state/0, eval/3]).

lua_test_() ->
    {timeout, 600, suite("lua", "(ii)i")}.

lua64_test_() ->
    {timeout, 600, suite("lua64", "(II)I")}.

suite(Set, HandleSig) ->
    {setup, fun() -> start(Set, HandleSig) end, fun hb_beamr:stop/1,
     fun(Pid) ->
             [{Set ++ ": return 1 + 1 gives 2", ?_test(arith(Pid))},
              {Set ++ ": error() across frames is caught by pcall", ?_test(pcall(Pid))},
              {Set ++ ": an uncaught error() is an error result", ?_test(uncaught(Pid))},
              {Set ++ ": print and io.write land in captured stdout", ?_test(output(Pid))},
              {Set ++ ": memory grows past its initial size", ?_test(grow(Pid))},
              {Set ++ ": 1000 evaluations on one instance stay correct", ?_test(many(Pid))}]
     end}.

start(Set, HandleSig) ->
    Wasm = beamr_fixture_util:built(Set, Set ++ "-aos.wasm"),
    {ok, Pid, _Imports, Exports} = hb_beamr:start(Wasm),
    ?assert(lists:member({func, "handle", HandleSig}, Exports)),
    {ok, [], _} = hb_beamr:call(Pid, "_initialize", [], import_fun(), new_state()),
    Pid.

%% @doc The import fun: HyperBEAM's request shape adapted to beamr's default handlers.
-spec import_fun() -> function().
import_fun() ->
    Defaults = beamr_imports:new([beamr_wasi, beamr_emscripten], #{undefined => stub}),
    fun(State, #{instance := Pid, module := M, func := F, func_sig := S} = Req, Opts) ->
            {ok, I} = beamr_proc:lookup(Pid),
            Defaults(State, Req#{instance := I, module := list_to_binary(M),
                                 func := list_to_binary(F), func_sig := list_to_binary(S)},
                     Opts)
    end.

%% @doc A fresh handler state: empty stdout, deterministic clock.
-spec new_state() -> map().
new_state() ->
    maps:merge(beamr_wasi:new(), beamr_emscripten:new()).

%% @doc Evaluates Lua `Code' through `handle'; returns the JSON reply and the state.
-spec eval(pid(), iodata(), map()) -> {binary(), map()}.
eval(Pid, Code, State) ->
    {ok, Msg} = hb_beamr_io:write_string(Pid, Code),
    {ok, [Out], State2} = hb_beamr:call(Pid, "handle", [Msg, 0], import_fun(), State),
    {ok, Reply} = hb_beamr_io:read_string(Pid, Out),
    ok = hb_beamr_io:free(Pid, Msg),
    {Reply, State2}.

eval(Pid, Code) ->
    element(1, eval(Pid, Code, new_state())).

arith(Pid) ->
    ?assertEqual(<<"{\"ok\":true,\"output\":\"2\"}">>, eval(Pid, "return 1 + 1")).

pcall(Pid) ->
    Code = "local function dive(n) if n == 0 then error('deep', 0) end return dive(n - 1) end\n"
           "local ok, e = pcall(dive, 50)\n"
           "return tostring(ok) .. ' ' .. e",
    ?assertEqual(<<"{\"ok\":true,\"output\":\"false deep\"}">>, eval(Pid, Code)),
    ?assertEqual(<<"{\"ok\":true,\"output\":\"true 3\"}">>,
                 eval(Pid, "local ok, v = pcall(function(a) return a + 2 end, 1)\n"
                           "return tostring(ok) .. ' ' .. v")).

uncaught(Pid) ->
    ?assertEqual(<<"{\"ok\":false,\"error\":\"top\"}">>, eval(Pid, "error('top', 0)")),
    ?assertEqual(<<"{\"ok\":true,\"output\":\"4\"}">>, eval(Pid, "return 2 * 2")).

output(Pid) ->
    {Reply, State} = eval(Pid, "print('hello', 42) io.write('world\\n') return 'done'",
                          new_state()),
    ?assertEqual(<<"{\"ok\":true,\"output\":\"done\"}">>, Reply),
    ?assertEqual(<<"hello\t42\nworld\n">>, beamr_wasi:stdout(State)).

grow(Pid) ->
    {ok, Before} = hb_beamr_io:size(Pid),
    Code = "local t = {} for i = 1, 96 do t[i] = string.rep('x', 65536) .. i end\n"
           "big = t return #t .. ' ' .. #t[96]",
    ?assertEqual(<<"{\"ok\":true,\"output\":\"96 65538\"}">>, eval(Pid, Code)),
    {ok, After} = hb_beamr_io:size(Pid),
    ?assert(After > Before),
    ?assertEqual(<<"{\"ok\":true,\"output\":\"65538\"}">>, eval(Pid, "return #big[96]")),
    eval(Pid, "big = nil collectgarbage() return 0").

many(Pid) ->
    eval(Pid, "counter = 0 return 0"),
    Replies = [eval(Pid, "counter = counter + 1 return counter * 2") || _ <- lists:seq(1, 1000)],
    Expected = [iolist_to_binary(["{\"ok\":true,\"output\":\"", integer_to_list(2 * N), "\"}"])
                || N <- lists:seq(1, 1000)],
    ?assertEqual(Expected, Replies),
    ?assertEqual(<<"{\"ok\":true,\"output\":\"2\"}">>, eval(Pid, "return 1 + 1")).
