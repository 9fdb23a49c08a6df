%%% @doc The beamr application: starts {@link beamr_sup}.
-module(beamr_app).
-behaviour(application).

-export([start/2, stop/1]).
-export([ensure_table/1]).

-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    case application:get_env(beamr, module_cache_dir) of
        {ok, Dir} -> ok = beamr:set_module_cache_dir(Dir);
        undefined -> ok
    end,
    case application:get_env(beamr, memory_budget) of
        {ok, Bytes} -> ok = beamr:set_memory_budget(Bytes);
        undefined -> ok
    end,
    case application:get_env(beamr, max_nesting) of
        {ok, Levels} -> ok = beamr:set_max_nesting(Levels);
        undefined -> ok
    end,
    beamr_sup:start_link().

-spec stop(term()) -> ok.
stop(_State) ->
    ok.

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
