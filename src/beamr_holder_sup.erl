%%% @doc Supervises the {@link beamr_holder} processes behind pid-named instances:
%%% temporary children, never restarted (a restarted holder would hold no instance).
-module(beamr_holder_sup).
-behaviour(supervisor).

-export([start_link/0, start_holder/1, init/1]).

-spec start_link() -> {ok, pid()} | ignore | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

%% @doc Starts a holder of an instance (with the module and options it was started
%% from) under this supervisor.
-spec start_holder({beamr:instance(), binary(), map()}) -> {ok, pid()} | {error, term()}.
start_holder(Held) ->
    case supervisor:start_child(?MODULE, [Held]) of
        {ok, Pid} -> {ok, Pid};
        {ok, Pid, _Info} -> {ok, Pid};
        {error, _} = Error -> Error
    end.

-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    Holder = #{id => beamr_holder, start => {beamr_holder, start_link, []},
               restart => temporary, shutdown => 1000},
    {ok, {#{strategy => simple_one_for_one, intensity => 0, period => 1}, [Holder]}}.
