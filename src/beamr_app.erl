%%% @doc The beamr application: starts {@link beamr_sup}.
-module(beamr_app).
-behaviour(application).

-export([start/2, stop/1]).

-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    case application:get_env(beamr, module_cache_dir) of
        {ok, Dir} -> ok = beamr:set_module_cache_dir(Dir);
        undefined -> ok
    end,
    beamr_sup:start_link().

-spec stop(term()) -> ok.
stop(_State) ->
    ok.
