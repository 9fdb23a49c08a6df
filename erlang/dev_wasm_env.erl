%%% @doc The world `dev_wasm' runs in, and the message operations it needs there.
%%%
%%% Inside a HyperBEAM node (`hb_ao' loadable) every operation is HyperBEAM's
%%% own: `hb_ao', `hb_private', `dev_stack', `hb_cache', `hb_opts'. Without
%%% HyperBEAM (plain OTP) they run on beamr's standalone layer: {@link beamr_msg}
%%% for messages and paths, {@link beamr_image_store} for images by ID, and a
%%% direct call of `dev_wasm:import/3' where a node would dispatch to the device.
%%% The standalone layer is a subset, not HyperBEAM (see {@link beamr_msg}).
%%%
%%% The choice is made once, at first use, and kept in `persistent_term';
%%% {@link world/0} tells which one is active.
-module(dev_wasm_env).

-export([world/0, get/3, get_message/3, get_first/2, set/3, priv/1, priv_get/3, priv_set/3,
         input_prefix/3, prefix/3, read_image/2, write_image/2, is_id/1, opt/3,
         resolve/3, resolve_import/3]).

-define(KEY, {?MODULE, world}).

-type world() :: hyperbeam | standalone.
-export_type([world/0]).

%% @doc `hyperbeam' if HyperBEAM's `hb_ao' is loadable on this node, else
%% `standalone'. Decided on the first call and fixed after that.
-spec world() -> world().
world() ->
    case persistent_term:get(?KEY, undefined) of
        undefined ->
            World =
                case code:ensure_loaded(hb_ao) of
                    {module, hb_ao} -> hyperbeam;
                    {error, _} -> standalone
                end,
            persistent_term:put(?KEY, World),
            World;
        World ->
            World
    end.

%% @doc The value at `Path' in `Msg', or `not_found'.
-spec get(beamr_msg:path(), term(), map()) -> term().
get(Path, Msg, Opts) ->
    case world() of
        hyperbeam -> hb_ao:get(Path, Msg, Opts);
        standalone -> beamr_msg:get(Path, Msg)
    end.

%% @doc The value at `Path' in `Msg' read as a plain message (HyperBEAM's
%% `{as, <<"message@1.0">>, Msg}'), so that the message's own device is not asked.
-spec get_message(beamr_msg:path(), term(), map()) -> term().
get_message(Path, Msg, Opts) ->
    case world() of
        hyperbeam -> hb_ao:get(Path, {as, <<"message@1.0">>, Msg}, Opts);
        standalone -> beamr_msg:get(Path, Msg)
    end.

%% @doc The first value found among `[{Msg, Path}]', or `not_found'.
-spec get_first([{term(), beamr_msg:path()}], map()) -> term().
get_first(Candidates, Opts) ->
    case world() of
        hyperbeam -> hb_ao:get_first(Candidates, Opts);
        standalone -> beamr_msg:get_first(Candidates)
    end.

%% @doc Sets each `Path => Value' (`unset' removes).
-spec set(map(), map(), map()) -> map().
set(Msg, Changes, Opts) ->
    case world() of
        hyperbeam -> hb_ao:set(Msg, Changes, Opts);
        standalone -> beamr_msg:set(Msg, Changes)
    end.

%% @doc The private area of a message.
-spec priv(term()) -> map().
priv(Msg) ->
    case world() of
        hyperbeam -> hb_private:from_message(Msg);
        standalone -> beamr_msg:priv(Msg)
    end.

%% @doc The value at `Path' in the private area, or `not_found'.
-spec priv_get(beamr_msg:path(), term(), map()) -> term().
priv_get(Path, Msg, Opts) ->
    case world() of
        hyperbeam -> hb_private:get(Path, Msg, Opts);
        standalone -> beamr_msg:priv_get(Path, Msg)
    end.

%% @doc Deep-merges `Changes' into the private area.
-spec priv_set(map(), map(), map()) -> map().
priv_set(Msg, Changes, Opts) ->
    case world() of
        hyperbeam -> hb_private:set(Msg, Changes, Opts);
        standalone -> beamr_msg:priv_set(Msg, Changes)
    end.

%% @doc The input prefix (`input-prefix', default empty).
-spec input_prefix(map(), term(), map()) -> binary().
input_prefix(M1, M2, Opts) ->
    case world() of
        hyperbeam -> dev_stack:input_prefix(M1, M2, Opts);
        standalone -> beamr_msg:input_prefix(M1)
    end.

%% @doc The output prefix (`output-prefix', default empty).
-spec prefix(map(), term(), map()) -> binary().
prefix(M1, M2, Opts) ->
    case world() of
        hyperbeam -> dev_stack:prefix(M1, M2, Opts);
        standalone -> beamr_msg:output_prefix(M1)
    end.

%% @doc The message stored under an ID: `hb_cache' on a node, the in-memory
%% image store standalone.
-spec read_image(binary(), map()) -> {ok, map()} | not_found.
read_image(ID, Opts) ->
    case world() of
        hyperbeam ->
            case hb_cache:read(ID, Opts) of
                {ok, Msg} -> {ok, Msg};
                _ -> not_found
            end;
        standalone ->
            beamr_image_store:read(ID)
    end.

%% @doc Stores a message (with a `body') and returns its ID: `hb_cache:write/2'
%% on a node, the in-memory image store standalone.
-spec write_image(map(), map()) -> {ok, binary()} | {error, term()}.
write_image(Msg, Opts) ->
    case world() of
        hyperbeam -> hb_cache:write(Msg, Opts);
        standalone -> beamr_image_store:write(Msg)
    end.

%% @doc Whether a term has the shape of an ID (as HyperBEAM's `?IS_ID').
-spec is_id(term()) -> boolean().
is_id(Term) ->
    beamr_image_store:is_id(Term).

%% @doc A node option: `hb_opts:get/3' on a node, the key in `Opts' standalone.
-spec opt(atom(), term(), map()) -> term().
opt(Key, Default, Opts) ->
    case world() of
        hyperbeam -> hb_opts:get(Key, Default, Opts);
        standalone -> maps:get(Key, Opts, Default)
    end.

%% @doc Resolves `Req' (its `path') against `Msg'.
-spec resolve(map(), map(), map()) -> {ok, term()} | {error, term()}.
resolve(Msg, Req, Opts) ->
    case world() of
        hyperbeam -> hb_ao:resolve(Msg, Req, Opts);
        standalone -> beamr_msg:resolve(Msg, Req, Opts)
    end.

%% @doc Sends an import request to the device of `Msg': AO-Core resolution on a
%% node; standalone, the device is `dev_wasm' itself.
-spec resolve_import(map(), map(), map()) -> {ok, term()} | {error, term()}.
resolve_import(Msg, Req, Opts) ->
    case world() of
        hyperbeam -> hb_ao:resolve(Msg, Req, Opts);
        standalone -> dev_wasm:import(Msg, Req, Opts)
    end.
