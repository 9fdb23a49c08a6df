%%% @doc The beamr application: applies its environment (module cache, memory budget)
%%% and starts {@link beamr_sup}.
%%%
%%% Environment keys: `module_cache_dir' (the on-disk module cache's root directory,
%%% default `filename:basedir(user_cache, "beamr")'; `false' turns the cache off),
%%% `module_cache_max_bytes' (its byte budget, default 1 GiB, least recently used
%%% artifacts evicted past it), `memory_budget' (see {@link beamr:set_memory_budget/1}),
%%% `spectre_guard' (default `true'; `false' drops the speculation barrier after each
%%% bounds check of modules compiled from then on: wasm runs faster, and a guest able to
%%% time the cache may read the node's memory, its keys included, speculatively; only
%%% for a node that runs no untrusted wasm).
%%% A cache directory that cannot be written is logged once and leaves the cache off;
%%% it never fails the start.
-module(beamr_app).
-behaviour(application).

-export([start/2, stop/1]).
-export([ensure_table/1]).

-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    ok = module_cache(),
    case application:get_env(beamr, memory_budget) of
        {ok, Bytes} -> ok = beamr:set_memory_budget(Bytes);
        undefined -> ok
    end,
    case application:get_env(beamr, max_nesting) of
        {ok, Levels} -> ok = beamr:set_max_nesting(Levels);
        undefined -> ok
    end,
    ok = beamr_nif:set_spectre_guard(application:get_env(beamr, spectre_guard, true) =/= false),
    beamr_sup:start_link().

-spec stop(term()) -> ok.
stop(_State) ->
    ok.

%% Configures the on-disk module cache from the environment; never fails.
module_cache() ->
    case application:get_env(beamr, module_cache_max_bytes) of
        {ok, Max} ->
            case beamr_opts:module_cache_max_bytes(Max) of
                ok ->
                    ok = beamr_nif:set_cache_max_bytes(Max);
                {error, _} ->
                    logger:warning("beamr: module_cache_max_bytes ~0p is no byte count; "
                                   "the default budget applies", [Max])
            end;
        undefined ->
            ok
    end,
    case application:get_env(beamr, module_cache_dir, default) of
        false ->
            beamr:set_module_cache_dir(undefined);
        default ->
            cache_dir(filename:basedir(user_cache, "beamr"));
        Dir ->
            cache_dir(Dir)
    end.

cache_dir(Dir) ->
    case beamr:set_module_cache_dir(Dir) of
        ok ->
            ok;
        {error, Reason} ->
            logger:warning("beamr: module cache directory ~0p unusable (~0p); "
                           "the on-disk module cache is off", [Dir, Reason]),
            beamr:set_module_cache_dir(undefined)
    end.

%% @doc Starts the beamr application unless `Table', an ETS table one of its servers
%% owns, already exists: for API functions called before the application started.
-spec ensure_table(atom()) -> ok | {error, term()}.
ensure_table(Table) ->
    case ets:whereis(Table) of
        undefined ->
            case application:ensure_all_started(beamr) of
                {ok, _} -> ok;
                {error, _} = Error -> Error
            end;
        _ ->
            ok
    end.
