%%% @doc Doctests: every example in the edoc of `beamr', `beamr_call' and `beamr_opts'
%%% runs, and every exported function of those modules has one.
%%%
%%% OTP 25 has no doctest module, so this one reads each module's source, takes each
%%% verbatim block of its comments (the lines between a comment line holding only
%%% three backquotes and one holding three single quotes), and evaluates it with
%%% `erl_eval'. The examples assert with matches (`{ok, [3]} = beamr:call(...)'), so an
%%% example whose result differs fails with `badmatch'. Each example belongs to the
%%% first `-spec' after it.
-module(beamr_doc_tests).

-include_lib("eunit/include/eunit.hrl").

-define(MODULES, [beamr, beamr_call, beamr_opts]).

source(Module) ->
    Candidates = [proplists:get_value(source, Module:module_info(compile)),
                  filename:join(["src", atom_to_list(Module) ++ ".erl"])],
    hd([F || F <- Candidates, is_list(F), filelib:is_regular(F)]).

%% [{FirstLine, LastLine, Text}] for each verbatim block.
examples(File) ->
    {ok, Bin} = file:read_file(File),
    Ls = binary:split(Bin, <<"\n">>, [global]),
    Lines = lists:zip(lists:seq(1, length(Ls)), Ls),
    blocks(Lines, none, []).

blocks([], _, Acc) ->
    lists:reverse(Acc);
blocks([{N, Line} | Rest], none, Acc) ->
    case comment_text(Line) of
        {ok, <<"```">>} -> blocks(Rest, {N, []}, Acc);
        _ -> blocks(Rest, none, Acc)
    end;
blocks([{N, Line} | Rest], {Start, Text}, Acc) ->
    case comment_text(Line) of
        {ok, <<"'''">>} ->
            blocks(Rest, none, [{Start, N, lists:reverse(Text)} | Acc]);
        {ok, T} ->
            blocks(Rest, {Start, [[T, $\n] | Text]}, Acc);
        error ->
            error({unterminated_example, Start})
    end.

%% The text of a comment line, without its `%'s and the one space after them.
comment_text(Line) ->
    case re:run(Line, <<"^\\s*%+ ?(.*?)\\s*$">>, [{capture, all_but_first, binary}]) of
        {match, [T]} -> {ok, T};
        nomatch -> error
    end.

specs(File) ->
    {ok, Forms} = epp:parse_file(File, []),
    [{erl_anno:line(Anno), FA} || {attribute, Anno, spec, {FA, _}} <- Forms].

owner(End, Specs) ->
    case [FA || {L, FA} <- Specs, L > End] of
        [FA | _] -> FA;
        [] -> none
    end.

run(Text) ->
    {ok, Tokens, _} = erl_scan:string(unicode:characters_to_list(Text)),
    {ok, Exprs} = erl_parse:parse_exprs(Tokens),
    {value, _, _} = erl_eval:exprs(Exprs, erl_eval:new_bindings()),
    ok.

examples_run_test_() ->
    [examples_run(Module) || Module <- ?MODULES].

examples_run(Module) ->
    File = source(Module),
    Specs = specs(File),
    [{lists:flatten(io_lib:format("~p example at line ~p (~p)",
                                  [Module, Start, owner(End, Specs)])),
      fun() -> ?assertEqual(ok, run(Text)) end}
     || {Start, End, Text} <- examples(File)].

every_export_has_an_example_and_a_spec_test() ->
    [begin
         File = source(Module),
         Specs = specs(File),
         Owned = [owner(End, Specs) || {_, End, _} <- examples(File)],
         Exports = [FA || FA <- Module:module_info(exports),
                          not lists:member(FA, [{module_info, 0}, {module_info, 1}])],
         ?assertEqual({Module, []}, {Module, [FA || FA <- Exports, not lists:member(FA, Owned)]}),
         ?assertEqual({Module, []}, {Module, [FA || FA <- Exports, not lists:keymember(FA, 2, Specs)]})
     end || Module <- ?MODULES].

a_failing_example_fails_test() ->
    %% The runner itself: a mismatching example must not pass.
    ?assertError({badmatch, _},
                 run(<<"{ok, I} = beamr:start(<<\"(module)\">>), {ok, [1]} = beamr:call(I, f, []).">>)).
