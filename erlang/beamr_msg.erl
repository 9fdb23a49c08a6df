%%% @doc A small standalone message layer: the subset of HyperBEAM's AO-Core
%%% message handling that the `dev_wasm' device needs when no HyperBEAM node is
%%% loaded. It is not HyperBEAM: there are no hashpaths, no commitments, no
%%% device dispatch beyond what is written here, and no persistent cache.
%%%
%%% What it offers:
%%% <ul>
%%% <li>Messages are maps with binary keys. Atom keys are read too (an atom key
%%%     `state' answers a lookup of `<<"state">>'), as HyperBEAM normalises them.</li>
%%% <li>Paths are `<<"a/b/c">>' binaries or lists of keys; empty segments are
%%%     dropped, so `<<"/instance">>' is `<<"instance">>'. {@link get/2} walks
%%%     nested maps; {@link set/2} writes nested keys, creating maps on the way;
%%%     the value `unset' removes a key.</li>
%%% <li>The private area is the `priv' key: {@link priv_get/2} and
%%%     {@link priv_set/2} (a deep merge, as `hb_private:set/3').</li>
%%% <li>{@link resolve/3} runs a path against a message: it walks the keys and,
%%%     at the last one, calls a fun found there (`Fun(Msg, Req, Opts)' or
%%%     `Fun(Msg, Req)', where `Msg' is the map holding the fun), or the
%%%     function of that name exported by the module under the map's `device'
%%%     key. A module name met while walking stands for `#{<<"device">> => Module}'.
%%%     Anything else is `{error, not_found}'.</li>
%%% </ul>
-module(beamr_msg).

-export([get/2, get/3, get_first/1, set/2, set/3, path/1,
         priv/1, priv_get/2, priv_set/2,
         input_prefix/1, output_prefix/1, resolve/3]).
-export_type([msg/0, path/0]).

-type msg() :: map().
-type path() :: binary() | atom() | [binary() | atom()].

%% @doc The value at `Path' in `Msg', or `not_found'.
-spec get(path(), term()) -> term().
get(Path, Msg) ->
    get(Path, Msg, not_found).

%% @doc The value at `Path' in `Msg', or `Default'.
-spec get(path(), term(), term()) -> term().
get(Path, Msg, Default) ->
    case walk(path(Path), Msg) of
        {ok, Value} -> Value;
        not_found -> Default
    end.

%% @doc The first value found among `[{Msg, Path}]', or `not_found'.
-spec get_first([{term(), path()}]) -> term().
get_first([]) ->
    not_found;
get_first([{Msg, Path} | Rest]) ->
    case get(Path, Msg) of
        not_found -> get_first(Rest);
        Value -> Value
    end.

%% @doc Sets every `Path => Value' of `Changes' in `Msg' (`unset' removes).
-spec set(msg(), #{path() => term()}) -> msg().
set(Msg, Changes) when is_map(Msg), is_map(Changes) ->
    maps:fold(fun(Path, Value, Acc) -> set(Acc, Path, Value) end, Msg, Changes).

%% @doc Sets `Path' in `Msg' to `Value' (`unset' removes the key).
-spec set(msg(), path(), term()) -> msg().
set(Msg, Path, Value) when is_map(Msg) ->
    case path(Path) of
        [] -> Msg;
        Keys -> deep_set(Keys, Value, Msg)
    end.

%% @doc A path as a list of binary keys.
-spec path(path()) -> [binary()].
path(Path) when is_binary(Path) ->
    binary:split(Path, <<"/">>, [global, trim_all]);
path(Path) when is_atom(Path) ->
    [atom_to_binary(Path, utf8)];
path(Path) when is_list(Path) ->
    lists:append([path(Part) || Part <- Path]);
path(Path) when is_integer(Path) ->
    [integer_to_binary(Path)].

%% @doc The private area of a message (`#{}' if there is none).
-spec priv(term()) -> map().
priv(Msg) when is_map(Msg) ->
    case Msg of
        #{<<"priv">> := Priv} when is_map(Priv) -> Priv;
        #{priv := Priv} when is_map(Priv) -> Priv;
        _ -> #{}
    end;
priv(_) ->
    #{}.

%% @doc The value at `Path' in the private area (a leading `priv' is dropped).
-spec priv_get(path(), term()) -> term().
priv_get(Path, Msg) ->
    get(drop_priv(path(Path)), priv(Msg)).

%% @doc Deep-merges `Changes' (keys may be paths) into the private area.
-spec priv_set(msg(), #{path() => term()}) -> msg().
priv_set(Msg, Changes) when is_map(Msg), is_map(Changes) ->
    Priv = maps:fold(fun(Path, Value, Acc) -> merge_at(drop_priv(path(Path)), Value, Acc) end,
                     priv(Msg), Changes),
    Msg#{<<"priv">> => Priv}.

%% @doc Where the device reads its inputs from: `input-prefix', default `<<>>'.
-spec input_prefix(term()) -> binary().
input_prefix(Msg) ->
    prefix(<<"input-prefix">>, Msg).

%% @doc Where the device writes its state and results: `output-prefix', default `<<>>'.
-spec output_prefix(term()) -> binary().
output_prefix(Msg) ->
    prefix(<<"output-prefix">>, Msg).

%% @doc Resolves the `path' of `Req' against `Msg' (see the module doc).
-spec resolve(msg(), msg(), map()) -> {ok, term()} | {error, not_found}.
resolve(Msg, Req, Opts) ->
    case path(get(<<"path">>, Req, <<>>)) of
        [] -> {ok, Msg};
        Keys -> resolve_keys(Keys, Msg, Req, Opts)
    end.

%%% Internal

prefix(Key, Msg) ->
    case get(Key, Msg) of
        Prefix when is_binary(Prefix) -> Prefix;
        _ -> <<>>
    end.

drop_priv([<<"priv">> | Rest]) -> Rest;
drop_priv(Keys) -> Keys.

walk([], Value) ->
    {ok, Value};
walk([Key | Rest], Msg) when is_map(Msg) ->
    case lookup(Key, Msg) of
        {ok, Value} -> walk(Rest, Value);
        not_found -> not_found
    end;
walk(_, _) ->
    not_found.

lookup(Key, Msg) ->
    case Msg of
        #{Key := Value} -> {ok, Value};
        _ ->
            case existing_atom(Key) of
                {ok, Atom} when is_map_key(Atom, Msg) -> {ok, map_get(Atom, Msg)};
                _ -> not_found
            end
    end.

existing_atom(Key) ->
    try {ok, binary_to_existing_atom(Key, utf8)}
    catch error:badarg -> error
    end.

deep_set([Key], unset, Msg) ->
    case existing_atom(Key) of
        {ok, Atom} -> maps:remove(Atom, maps:remove(Key, Msg));
        error -> maps:remove(Key, Msg)
    end;
deep_set([Key], Value, Msg) ->
    Msg#{Key => Value};
deep_set([Key | Rest], Value, Msg) ->
    Inner =
        case lookup(Key, Msg) of
            {ok, Map} when is_map(Map) -> Map;
            {ok, Module} when is_atom(Module), Module =/= not_found -> #{<<"device">> => Module};
            _ -> #{}
        end,
    Msg#{Key => deep_set(Rest, Value, Inner)}.

%% A deep merge at a path: maps merge key by key, anything else replaces.
merge_at([], Value, _Old) ->
    Value;
merge_at(Keys, Value, Msg) when not is_map(Msg) ->
    merge_at(Keys, Value, #{});
merge_at([Key], unset, Msg) ->
    maps:remove(Key, Msg);
merge_at([Key], Value, Msg) when is_map(Value) ->
    Old = case Msg of #{Key := M} when is_map(M) -> M; _ -> #{} end,
    Msg#{Key => maps:fold(fun(K, V, Acc) -> merge_at(path(K), V, Acc) end, Old, Value)};
merge_at([Key], Value, Msg) ->
    Msg#{Key => Value};
merge_at([Key | Rest], Value, Msg) ->
    Msg#{Key => merge_at(Rest, Value, maps:get(Key, Msg, #{}))}.

resolve_keys([Key], Msg, Req, Opts) when is_map(Msg) ->
    case lookup(Key, Msg) of
        {ok, Fun} when is_function(Fun, 3) -> Fun(Msg, Req, Opts);
        {ok, Fun} when is_function(Fun, 2) -> Fun(Msg, Req);
        {ok, Value} -> {ok, Value};
        not_found -> call_device(Key, Msg, Req, Opts)
    end;
resolve_keys([Key | Rest], Msg, Req, Opts) when is_map(Msg) ->
    case lookup(Key, Msg) of
        {ok, Inner} when is_map(Inner) -> resolve_keys(Rest, Inner, Req, Opts);
        {ok, Module} when is_atom(Module) ->
            resolve_keys(Rest, #{<<"device">> => Module}, Req, Opts);
        _ -> {error, not_found}
    end;
resolve_keys(_Keys, _Value, _Req, _Opts) ->
    {error, not_found}.

call_device(Key, Msg, Req, Opts) ->
    case lookup(<<"device">>, Msg) of
        {ok, Module} when is_atom(Module) ->
            %% Loading the module first makes its function names existing atoms.
            _ = code:ensure_loaded(Module),
            case existing_atom(Key) of
                {ok, Func} -> call_exported(Module, Func, Msg, Req, Opts);
                error -> {error, not_found}
            end;
        _ ->
            {error, not_found}
    end.

call_exported(Module, Func, Msg, Req, Opts) ->
    case erlang:function_exported(Module, Func, 3) of
        true -> Module:Func(Msg, Req, Opts);
        false ->
            case erlang:function_exported(Module, Func, 2) of
                true -> Module:Func(Msg, Req);
                false -> {error, not_found}
            end
    end.
