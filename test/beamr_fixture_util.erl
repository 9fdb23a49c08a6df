%%% @doc Compiled test fixtures: builds them with scripts/build-fixtures.sh (Debian's
%%% emscripten) and reads them from _build/fixtures. A missing toolchain or a failed
%%% build fails the test that needs the fixture, loudly: nothing is skipped.
-module(beamr_fixture_util).

-export([built/2, root/0]).

%% @doc Builds `Set' (`"cxx"', `"lua"', `"cxx64"' or `"lua64"') if stale and returns fixture `Name''s bytes.
-spec built(string(), string()) -> binary().
built(Set, Name) ->
    Root = root(),
    Script = filename:join([Root, "scripts", "build-fixtures.sh"]),
    Out = os:cmd("sh '" ++ Script ++ "' " ++ Set ++ " 2>&1; echo \"rc=$?\""),
    case lists:reverse(string:split(string:trim(Out), "\n", all)) of
        ["rc=0" | _] -> ok;
        _ -> error({fixture_build_failed, Set, Out})
    end,
    {ok, Bin} = file:read_file(filename:join([Root, "_build", "fixtures", Name])),
    Bin.

%% @doc The project's root: the nearest directory above this module (or the current
%% one) that holds scripts/build-fixtures.sh.
-spec root() -> string().
root() ->
    Starts = [filename:dirname(code:which(?MODULE)), element(2, file:get_cwd())],
    case lists:filtermap(fun find_up/1, Starts) of
        [Root | _] -> Root;
        [] -> error(project_root_not_found)
    end.

find_up(Dir) ->
    case filelib:is_regular(filename:join([Dir, "scripts", "build-fixtures.sh"])) of
        true -> {true, Dir};
        false ->
            case filename:dirname(Dir) of
                Dir -> false;
                Parent -> find_up(Parent)
            end
    end.
