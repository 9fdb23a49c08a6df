#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noshell
-mode(compile).
%%
%% Import cycles in a Rust crate's sources (default: native/beamr_core/src).
%%
%% Every file is a node; an edge runs from a file to each file whose module a path in
%% it names: `use` trees and inline paths starting with `crate::`, `super::`, `self::`
%% or a child module's name. A path is resolved to the deepest module file it passes
%% through, and a name that file re-exports (`pub use`, `pub(crate) use`) is followed to
%% where it is defined, so importing through a re-export is an edge to the definition.
%% Code under `#[cfg(test)]` (test modules, test-only items) is left out: tests may
%% drive the whole crate. Comments and string literals are blanked first.
%%
%% Cycles are looked for at every level of the module tree: among the children of each
%% folder (a child folder counts as one unit, with everything under it) and the folder's
%% own file, and among the top-level modules and lib.rs. A file-level cycle always
%% shows at one of these levels. Exits 1 when there is a cycle, printing each one with
%% the lines that make its edges; `-v` also prints every file's imports, bottom first.
%%
%% Usage: escript scripts/core-imports.escript [-v] [SRC_DIR]

main(Args) ->
    {Verbose, Dir} = case Args of
        ["-v" | Rest] -> {true, dir(Rest)};
        Rest -> {false, dir(Rest)}
    end,
    Files = rust_files(Dir),
    Mods = maps:from_list([{mod_path(Dir, F), F} || F <- Files]),
    Parsed = maps:map(fun(Path, File) -> parse(Path, File) end, Mods),
    Live = live_modules(Parsed),
    Edges = edges(Parsed, Live),
    Verbose andalso print_imports(Edges, Live),
    Cycles = cycles(Edges, Live),
    case Cycles of
        [] ->
            io:format("core-imports: ~b files, ~b import edges, no cycle~n",
                      [length(Live), length(lists:usort([{A, B} || {A, B, _} <- Edges]))]),
            halt(0);
        _ ->
            [print_cycle(C) || C <- Cycles],
            io:format("core-imports: ~b cycle(s)~n", [length(Cycles)]),
            halt(1)
    end.

dir([]) -> "native/beamr_core/src";
dir([D]) -> D.

rust_files(Dir) ->
    filelib:fold_files(Dir, "\\.rs$", true, fun(F, Acc) -> [F | Acc] end, []).

%% The module path of a file: lib.rs is [], a/b.rs and a/b/mod.rs are [a, b].
mod_path(Dir, File) ->
    Rel = string:prefix(File, Dir ++ "/"),
    Parts = filename:split(filename:rootname(Rel)),
    case lists:last(Parts) of
        "lib" when length(Parts) =:= 1 -> [];
        "mod" -> lists:droplast(Parts);
        _ -> Parts
    end.

%% ---------------------------------------------------------------------------------
%% Parsing one file

-record(file, {name, children = [], test_children = [], uses = [], paths = [], reexports = #{}}).

parse(Path, File) ->
    {ok, Raw} = file:read_file(File),
    Code = drop_test_items(blank(Raw)),
    {Children, TestChildren} = children(Code),
    Uses = use_statements(Code),
    Reexports = maps:from_list(
        [{Alias, Target} || {Vis, Line, Tree} <- Uses, Vis,
                            {Segs, Alias} <- expand(Tree),
                            Alias =/= none,
                            Target <- [{Segs, Line}]]),
    UsePaths = [{Segs, Line} || {_, Line, Tree} <- Uses, {Segs, _} <- expand(Tree)],
    Inline = inline_paths(blank_uses(Code), Children),
    #file{name = File, children = Children, test_children = TestChildren,
          uses = UsePaths, paths = Inline,
          reexports = maps:map(fun(_, {Segs, _}) -> absolute(Path, Children, Segs) end,
                               Reexports)}.

%% Blanks comments, string and char literals (newlines are kept, for line numbers).
blank(Bin) -> list_to_binary(blank(binary_to_list(Bin), [])).

blank([], Acc) -> lists:reverse(Acc);
blank("//" ++ Rest, Acc) ->
    {Skipped, Rest2} = lists:splitwith(fun(C) -> C =/= $\n end, Rest),
    blank(Rest2, spaces(Skipped) ++ "  " ++ Acc);
blank("/*" ++ Rest, Acc) ->
    {Skipped, Rest2} = block_comment(Rest, 1, []),
    blank(Rest2, spaces(Skipped) ++ "  " ++ Acc);
blank([C | Rest], Acc) when C =:= $r; C =:= $b ->
    case raw_string([C | Rest]) of
        {Skipped, Rest2} when is_list(Skipped) -> blank(Rest2, spaces(Skipped) ++ Acc);
        false -> blank_char(C, Rest, Acc)
    end;
blank([$" | Rest], Acc) ->
    {Skipped, Rest2} = string_lit(Rest, []),
    blank(Rest2, spaces(Skipped) ++ " " ++ Acc);
blank([$' | Rest], Acc) ->
    case char_lit(Rest) of
        {Skipped, Rest2} -> blank(Rest2, spaces(Skipped) ++ " " ++ Acc);
        false -> blank(Rest, [$' | Acc])
    end;
blank([C | Rest], Acc) -> blank_char(C, Rest, Acc).

blank_char(C, Rest, Acc) ->
    %% An identifier is copied whole, so that a name ending in r or b is not taken
    %% for a raw-string prefix.
    case is_ident(C) of
        true ->
            {Ident, Rest2} = lists:splitwith(fun is_ident/1, Rest),
            blank(Rest2, lists:reverse([C | Ident]) ++ Acc);
        false -> blank(Rest, [C | Acc])
    end.

is_ident(C) -> (C >= $a andalso C =< $z) orelse (C >= $A andalso C =< $Z)
                   orelse (C >= $0 andalso C =< $9) orelse C =:= $_.

spaces(Skipped) -> [case C of $\n -> $\n; _ -> $\s end || C <- lists:reverse(Skipped)].

block_comment("*/" ++ Rest, 1, Acc) -> {"  " ++ Acc, Rest};
block_comment("*/" ++ Rest, N, Acc) -> block_comment(Rest, N - 1, "  " ++ Acc);
block_comment("/*" ++ Rest, N, Acc) -> block_comment(Rest, N + 1, "  " ++ Acc);
block_comment([C | Rest], N, Acc) -> block_comment(Rest, N, [C | Acc]);
block_comment([], _, Acc) -> {Acc, []}.

%% r"..", r#".."#, br"..", b"..": the prefix, hashes and quotes included.
raw_string("br" ++ Rest) -> raw_hashes(Rest, "rb");
raw_string("b\"" ++ Rest) -> {Skipped, Rest2} = string_lit(Rest, []), {Skipped ++ "\"b", Rest2};
raw_string("r" ++ Rest) -> raw_hashes(Rest, "r");
raw_string(_) -> false.

raw_hashes(Rest, Prefix) ->
    {Hashes, Rest2} = lists:splitwith(fun(C) -> C =:= $# end, Rest),
    case Rest2 of
        [$" | Body] ->
            Close = [$" | Hashes],
            {Skipped, Rest3} = until(Body, Close, []),
            {Skipped ++ [$" | Hashes] ++ Prefix, Rest3};
        _ -> false
    end.

until([], _, Acc) -> {Acc, []};
until(Text, Close, Acc) ->
    case lists:prefix(Close, Text) of
        true -> {lists:reverse(Close) ++ Acc, lists:nthtail(length(Close), Text)};
        false -> until(tl(Text), Close, [hd(Text) | Acc])
    end.

string_lit([$\\, C | Rest], Acc) -> string_lit(Rest, [C, $\\ | Acc]);
string_lit([$" | Rest], Acc) -> {[$" | Acc], Rest};
string_lit([C | Rest], Acc) -> string_lit(Rest, [C | Acc]);
string_lit([], Acc) -> {Acc, []}.

%% A char literal after its opening quote ('x', '\n', '\u{..}', multi-byte 'é');
%% false for a lifetime.
char_lit([$\\ | Rest]) ->
    {Body, [$' | Rest2]} = lists:splitwith(fun(C) -> C =/= $' end, Rest),
    {[$' | lists:reverse(Body)] ++ "\\", Rest2};
char_lit(Text) ->
    case utf8_char(Text) of
        {Char, [$' | Rest]} -> {[$' | lists:reverse(Char)], Rest};
        _ -> false
    end.

utf8_char([C | Rest]) when C < 16#80 -> {[C], Rest};
utf8_char([C | Rest]) when C >= 16#C0 ->
    {Cont, Rest2} = lists:splitwith(fun(B) -> B >= 16#80 andalso B < 16#C0 end, Rest),
    {[C | Cont], Rest2};
utf8_char(_) -> false.

%% Blanks every item under `#[cfg(test)]`: through its matching brace, or its `;`.
drop_test_items(Code) ->
    case binary:match(Code, <<"#[cfg(test)]">>) of
        nomatch -> Code;
        {At, Len} ->
            Start = At + Len,
            After = binary:part(Code, Start, byte_size(Code) - Start),
            End = Start + item_end(binary_to_list(After), 0, 0),
            {Before, Rest} = split_binary(Code, At),
            {Item, Tail} = split_binary(Rest, End - At),
            %% A `mod name;` under cfg(test) is remembered by a marker the blanking keeps.
            Marker = case re:run(Item, "\\bmod\\s+([a-z_0-9]+)\\s*;", [{capture, all_but_first, list}]) of
                {match, [Name]} -> list_to_binary(["@testmod ", Name, ";"]);
                nomatch -> <<>>
            end,
            Blank = list_to_binary(spaces(lists:reverse(binary_to_list(Item)))),
            Pad = binary:part(Blank, byte_size(Marker), byte_size(Blank) - byte_size(Marker)),
            drop_test_items(<<Before/binary, Marker/binary, Pad/binary, Tail/binary>>)
    end.

%% Bytes up to and including the end of the item: its `;` or matching `}`.
item_end([$; | _], N, 0) -> N + 1;
item_end([${ | Rest], N, D) -> item_end(Rest, N + 1, D + 1);
item_end([$} | _], N, 1) -> N + 1;
item_end([$} | Rest], N, D) -> item_end(Rest, N + 1, D - 1);
item_end([_ | Rest], N, D) -> item_end(Rest, N + 1, D);
item_end([], N, _) -> N.

children(Code) ->
    Mods = matches(Code, "(?<![a-z_0-9@])mod\\s+([a-z_0-9]+)\\s*;"),
    Tests = matches(Code, "@testmod ([a-z_0-9]+);"),
    {[list_to_atom(M) || M <- Mods], [list_to_atom(M) || M <- Tests]}.

matches(Code, Re) ->
    case re:run(Code, Re, [global, {capture, all_but_first, list}]) of
        {match, Ms} -> [M || [M] <- Ms];
        nomatch -> []
    end.

%% `use` statements: {Public, Line, TreeText}; public for any `pub(...)` visibility.
use_statements(Code) ->
    Re = "(?<![A-Za-z_0-9])(pub(?:\\s*\\([^)]*\\))?\\s+)?use\\s+([^;]*);",
    case re:run(Code, Re, [global, {capture, all, index}]) of
        {match, Ms} ->
            [{Vis =/= {-1, 0} andalso element(2, Vis) > 0, line_of(Code, S),
              tree_text(binary:part(Code, T))}
             || [{S, _}, Vis, T] <- pad_vis(Ms)];
        nomatch -> []
    end.

pad_vis(Ms) -> [case M of [A, T] -> [A, {-1, 0}, T]; _ -> M end || M <- Ms].

blank_uses(Code) ->
    case re:run(Code, "(?<![A-Za-z_0-9])use\\s+[^;]*;", [global, {capture, first, index}]) of
        {match, Ms} -> blank_ranges(Code, [R || [R] <- Ms], 0, []);
        nomatch -> Code
    end.

blank_ranges(Code, [], From, Acc) ->
    iolist_to_binary(lists:reverse([binary:part(Code, From, byte_size(Code) - From) | Acc]));
blank_ranges(Code, [{S, L} | Rest], From, Acc) ->
    Blank = spaces(lists:reverse(binary_to_list(binary:part(Code, S, L)))),
    blank_ranges(Code, Rest, S + L, [Blank, binary:part(Code, From, S - From) | Acc]).

%% A use tree's text without spaces, `as` written `=>` (a name may contain "as").
tree_text(T) ->
    strip_ws(binary_to_list(re:replace(T, "\\s+as\\s+", "=>", [global, {return, binary}]))).

strip_ws(S) -> [C || C <- S, C =/= $\s, C =/= $\n, C =/= $\t, C =/= $\r].

line_of(Code, Offset) ->
    1 + length([x || <<$\n>> <= binary:part(Code, 0, Offset)]).

%% A use tree (without spaces) as flat paths: [{Segments, Alias | none}].
expand(Tree) -> expand(Tree, []).

expand(Tree, Prefix) ->
    case string:split(Tree, "{") of
        [Flat] -> [flat(Prefix, Flat)];
        [Head, Rest] ->
            Inner = lists:droplast(Rest),  % the matching `}` closes the tree
            Base = Prefix ++ [S || S <- string:split(Head, "::", all), S =/= ""],
            lists:append([expand(Item, Base) || Item <- top_level_split(Inner)])
    end.

flat(Prefix, Item) ->
    {Path, Alias} = case string:split(Item, "=>") of
        [P, A] when A =/= "" -> {P, A};
        _ -> {Item, undefined}
    end,
    Segs = [S || S <- string:split(Path, "::", all), S =/= ""],
    Full = case Segs of
        ["self"] when Prefix =/= [] -> Prefix;
        _ -> Prefix ++ Segs
    end,
    Name = case {Alias, lists:last([""] ++ Full)} of
        {undefined, "*"} -> none;
        {undefined, Last} -> Last;
        {A2, _} -> A2
    end,
    {Full, Name}.

top_level_split(S) -> top_level_split(S, 0, [], []).
top_level_split([], _, Cur, Acc) -> lists:reverse([lists:reverse(Cur) | Acc]) -- [""];
top_level_split([$, | R], 0, Cur, Acc) -> top_level_split(R, 0, [], [lists:reverse(Cur) | Acc]);
top_level_split([${ | R], D, Cur, Acc) -> top_level_split(R, D + 1, [${ | Cur], Acc);
top_level_split([$} | R], D, Cur, Acc) -> top_level_split(R, D - 1, [$} | Cur], Acc);
top_level_split([C | R], D, Cur, Acc) -> top_level_split(R, D, [C | Cur], Acc).

%% Paths written in code: crate::a::b, super::a, self::a, child::a.
inline_paths(Code, Children) ->
    Heads = ["crate", "super", "self" | [atom_to_list(C) || C <- Children]],
    Re = "(?<![A-Za-z_0-9:])(" ++ lists:join("|", Heads) ++ ")((?:\\s*::\\s*[A-Za-z_][A-Za-z_0-9]*)+)",
    case re:run(Code, Re, [global, {capture, [0, 1, 2], index}]) of
        {match, Ms} ->
            [{[binary_to_list(binary:part(Code, H)) | string:split(strip_ws(binary_to_list(binary:part(Code, T))) -- "", "::", all) -- [""]],
              line_of(Code, S)}
             || [{S, _}, H, T] <- Ms];
        nomatch -> []
    end.

%% ---------------------------------------------------------------------------------
%% Resolving paths to files

%% A path from `Path`'s file made absolute: {ok, Segments} or external.
absolute(_Path, _Children, ["crate" | Rest]) -> {ok, Rest};
absolute(Path, _Children, ["self" | Rest]) -> {ok, Path ++ Rest};
absolute(Path, Children, ["super" | Rest]) ->
    Up = lists:droplast(Path),
    case Rest of
        ["super" | _] -> absolute(Up, Children, Rest);
        _ -> {ok, Up ++ Rest}
    end;
absolute(Path, Children, [First | Rest]) ->
    case lists:member(list_to_atom(First), Children) of
        true -> {ok, Path ++ [First | Rest]};
        false -> external
    end;
absolute(_, _, []) -> external.

%% The file a path's item is defined in, following re-exports.
resolve(Segs, Parsed) -> resolve(Segs, Parsed, 8).

resolve(_, _, 0) -> undefined;
resolve(Segs, Parsed, Budget) ->
    {Mod, Rest} = deepest(Segs, Parsed),
    case Rest of
        [Item | _] when Item =/= "*" ->
            case maps:find(Item, (maps:get(Mod, Parsed))#file.reexports) of
                {ok, {ok, Target}} when Target =/= Segs ->
                    case resolve(Target ++ tl(Rest), Parsed, Budget - 1) of
                        undefined -> Mod;
                        Found -> Found
                    end;
                _ -> Mod
            end;
        _ -> Mod
    end.

deepest(Segs, Parsed) -> deepest([], Segs, Parsed).
deepest(Mod, [S | Rest], Parsed) ->
    Next = Mod ++ [S],
    case maps:is_key(Next, Parsed) of
        true -> deepest(Next, Rest, Parsed);
        false -> {Mod, [S | Rest]}
    end;
deepest(Mod, [], _) -> {Mod, []}.

%% Modules compiled outside tests: reached from lib.rs through non-test `mod`s.
live_modules(Parsed) -> live([[]], Parsed, []).
live([], _, Seen) -> lists:sort(Seen);
live([M | Rest], Parsed, Seen) ->
    case lists:member(M, Seen) orelse not maps:is_key(M, Parsed) of
        true -> live(Rest, Parsed, Seen);
        false ->
            #file{children = Cs, test_children = Ts} = maps:get(M, Parsed),
            live([M ++ [atom_to_list(C)] || C <- Cs -- Ts] ++ Rest, Parsed, [M | Seen])
    end.

edges(Parsed, Live) ->
    lists:usort(lists:append([file_edges(M, maps:get(M, Parsed), Parsed, Live) || M <- Live])).

file_edges(M, #file{children = Cs, uses = Uses, paths = Paths, name = Name}, Parsed, Live) ->
    [{M, To, {Name, Line, lists:join("::", Segs)}}
     || {Segs, Line} <- Uses ++ Paths,
        {ok, Abs} <- [absolute(M, Cs, Segs)],
        To <- [resolve(Abs, Parsed)],
        To =/= undefined, To =/= M, lists:member(To, Live)].

%% ---------------------------------------------------------------------------------
%% Cycles at every level of the module tree

cycles(Edges, Live) ->
    Folders = [F || F <- Live, lists:any(fun(M) -> is_under(M, F) end, Live)],
    lists:append([level_cycles(F, Edges) || F <- Folders]).

is_under(M, F) -> lists:prefix(F, M) andalso length(M) > length(F).

%% The unit of folder F a module belongs to: F itself or F's child above it.
unit(F, M) when M =:= F -> F;
unit(F, M) -> lists:sublist(M, length(F) + 1).

level_cycles(F, Edges) ->
    Inside = fun(M) -> M =:= F orelse is_under(M, F) end,
    Level = [{unit(F, A), unit(F, B), Why} || {A, B, Why} <- Edges,
                                             Inside(A), Inside(B), unit(F, A) =/= unit(F, B)],
    G = digraph:new(),
    [begin digraph:add_vertex(G, A), digraph:add_vertex(G, B), digraph:add_edge(G, A, B) end
     || {A, B, _} <- Level],
    Sccs = digraph_utils:cyclic_strong_components(G),
    digraph:delete(G),
    [{F, Scc, [E || {A, B, _} = E <- Level, lists:member(A, Scc), lists:member(B, Scc)]}
     || Scc <- Sccs].

print_cycle({F, Scc, Level}) ->
    io:format("cycle among ~s: ~s~n", [name(F), lists:join(", ", [name(M) || M <- lists:sort(Scc)])]),
    [io:format("  ~s -> ~s   (~s:~b: ~s)~n", [name(A), name(B), File, Line, Path])
     || {A, B, {File, Line, Path}} <- Level].

name([]) -> "lib.rs (crate root)";
name(M) -> lists:join("::", M).

%% Every file's imports, files in an order where each imports only files before it
%% (when there is no cycle).
print_imports(Edges, Live) ->
    G = digraph:new(),
    [digraph:add_vertex(G, M) || M <- Live],
    [digraph:add_edge(G, B, A) || {A, B, _} <- Edges],
    Order = case digraph_utils:topsort(G) of false -> Live; O -> O end,
    digraph:delete(G),
    [io:format("~s <- ~s~n", [name(M), lists:join(", ", [name(T) || T <- lists:usort([B || {A, B, _} <- Edges, A =:= M])])])
     || M <- Order].
