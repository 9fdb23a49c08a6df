%%% @doc An in-memory store of messages keyed by the hash of their content: the
%%% standalone stand-in for HyperBEAM's `hb_cache', enough for the `dev_wasm'
%%% device to take an image as an ID. An ID is the SHA-256 of the message's
%%% `body' (or of the binary itself), base64url without padding: 43 characters,
%%% the shape of an HyperBEAM ID (but not the same value: HyperBEAM hashes the
%%% whole message with its commitments). Entries live until {@link delete/1} or
%%% until the beamr application stops; this process only owns the table.
-module(beamr_image_store).
-behaviour(gen_server).

-export([start_link/0, write/1, read/1, delete/1, id/1, is_id/1]).
-export([init/1, handle_call/3, handle_cast/2]).

-define(TABLE, beamr_image_store).

%% @doc Starts the owner of the table (a child of `beamr_sup').
-spec start_link() -> {ok, pid()} | ignore | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Stores a message (a map with a binary `body') or a bare binary, which is
%% stored as `#{<<"body">> => Bin}'. Returns its ID.
-spec write(map() | binary()) -> {ok, binary()} | {error, term()}.
write(Bin) when is_binary(Bin) ->
    write(#{<<"body">> => Bin});
write(#{<<"body">> := Body} = Msg) when is_binary(Body) ->
    case beamr_app:ensure_table(?TABLE) of
        ok ->
            ID = id(Body),
            true = ets:insert(?TABLE, {ID, Msg}),
            {ok, ID};
        {error, _} = Error ->
            Error
    end;
write(Other) ->
    {error, {not_a_message_with_body, Other}}.

%% @doc The message stored under `ID'.
-spec read(binary()) -> {ok, map()} | not_found.
read(ID) when is_binary(ID) ->
    try ets:lookup(?TABLE, ID) of
        [{ID, Msg}] -> {ok, Msg};
        [] -> not_found
    catch
        error:badarg -> not_found
    end;
read(_) ->
    not_found.

%% @doc Forgets the message stored under `ID'.
-spec delete(binary()) -> ok.
delete(ID) ->
    try ets:delete(?TABLE, ID) of
        true -> ok
    catch
        error:badarg -> ok
    end.

%% @doc The ID of a body: its SHA-256, base64url without padding.
-spec id(binary()) -> binary().
id(Body) when is_binary(Body) ->
    url_safe(base64:encode(crypto:hash(sha256, Body))).

%% @doc Whether a term has the shape of an ID (HyperBEAM's `?IS_ID': a binary of
%% 43 or 32 bytes).
-spec is_id(term()) -> boolean().
is_id(Term) ->
    is_binary(Term) andalso (byte_size(Term) =:= 43 orelse byte_size(Term) =:= 32).

%%% gen_server

-spec init([]) -> {ok, #{}}.
init([]) ->
    ?TABLE = ets:new(?TABLE, [named_table, public, set, {read_concurrency, true}]),
    {ok, #{}}.

-spec handle_call(term(), gen_server:from(), map()) -> {reply, {error, unknown_call}, map()}.
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_call}, State}.

-spec handle_cast(term(), map()) -> {noreply, map()}.
handle_cast(_Msg, State) ->
    {noreply, State}.

%%% Internal

url_safe(B64) ->
    << <<(case C of $+ -> $-; $/ -> $_; _ -> C end)>> || <<C>> <= B64, C =/= $= >>.
