%%% @doc The layers of the Erlang code, read from its sources: the HyperBEAM face (the
%%% modules of `erlang/') reaches beamr only through documented exports, never
%%% `beamr_nif' and never a function whose doc is `@private'; nothing in `src/' calls
%%% into `erlang/'; every module of both starts with an edoc module doc.
-module(beamr_layers_tests).

-include_lib("eunit/include/eunit.hrl").

root() ->
    Src = filename:dirname(proplists:get_value(source, beamr:module_info(compile))),
    filename:dirname(Src).

files(Dir) ->
    filelib:wildcard(filename:join([root(), Dir, "*.erl"])).

module(File) ->
    list_to_atom(filename:basename(File, ".erl")).

%% Every `M:F(...)' call and `fun M:F/A' of a source file, as `{M, F, A}'.
calls(File) ->
    {ok, Forms} = epp:parse_file(File, []),
    lists:usort(collect(Forms, [])).

collect({call, _, {remote, _, {atom, _, M}, {atom, _, F}}, Args} = Call, Acc) ->
    collect(tuple_to_list(Call), [{M, F, length(Args)} | Acc]);
collect({'fun', _, {function, {atom, _, M}, {atom, _, F}, {integer, _, A}}}, Acc) ->
    [{M, F, A} | Acc];
collect(T, Acc) when is_tuple(T) ->
    collect(tuple_to_list(T), Acc);
collect([H | T], Acc) ->
    collect(T, collect(H, Acc));
collect(_, Acc) ->
    Acc.

%% The functions a source file documents as `@private' (by name).
private(File) ->
    {ok, Bin} = file:read_file(File),
    private(binary:split(Bin, <<"\n">>, [global]), false, []).

private([], _, Acc) ->
    Acc;
private([Line | Rest], Pending, Acc) ->
    case {re:run(Line, <<"^%+ *@private">>), re:run(Line, <<"^([a-z][a-zA-Z0-9_]*)\\(">>,
                                                     [{capture, all_but_first, binary}])} of
        {{match, _}, _} -> private(Rest, true, Acc);
        {_, {match, [Name]}} when Pending -> private(Rest, false, [binary_to_atom(Name) | Acc]);
        _ -> private(Rest, Pending, Acc)
    end.

face_calls() ->
    lists:usort(lists:append([calls(F) || F <- files("erlang")])).

face_never_calls_the_nif_test() ->
    ?assertEqual([], [C || {beamr_nif, _, _} = C <- face_calls()]).

face_calls_only_documented_exports_test() ->
    Src = maps:from_list([{module(F), F} || F <- files("src")]),
    Into = [C || {M, _, _} = C <- face_calls(), is_map_key(M, Src)],
    ?assertNotEqual([], Into),
    Bad = [{M, F, A} || {M, F, A} <- Into,
                        not (code:ensure_loaded(M) =:= {module, M}
                             andalso erlang:function_exported(M, F, A))
                        orelse lists:member(F, private(maps:get(M, Src)))],
    ?assertEqual([], Bad).

src_never_calls_the_face_test() ->
    Face = [module(F) || F <- files("erlang")],
    ?assertEqual([], [{module(File), C} || File <- files("src"), {M, _, _} = C <- calls(File),
                                          lists:member(M, Face)]).

every_module_starts_with_a_module_doc_test() ->
    Files = files("src") ++ files("erlang"),
    ?assert(length(Files) > 20),
    ?assertEqual([], [F || F <- Files, not starts_with_doc(F)]).

starts_with_doc(File) ->
    {ok, Bin} = file:read_file(File),
    match =:= re:run(Bin, <<"\\A%%% @doc \\S">>, [{capture, none}]).
