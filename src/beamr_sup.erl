%%% @doc Top supervisor of beamr: it keeps {@link beamr_proc}, the owner of the
%%% table that maps instance processes to instances, {@link beamr_holder_sup}, under
%%% which those processes run, and {@link beamr_image_store}, the owner of the
%%% standalone image store.
-module(beamr_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

-spec start_link() -> {ok, pid()} | ignore | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    Proc = #{id => beamr_proc, start => {beamr_proc, start_link, []}},
    Holders = #{id => beamr_holder_sup, start => {beamr_holder_sup, start_link, []},
                type => supervisor, shutdown => infinity},
    Images = #{id => beamr_image_store, start => {beamr_image_store, start_link, []}},
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10}, [Proc, Holders, Images]}}.
