%%% @doc The clock the default import handlers read, kept in the handler state under
%%% `clock': deterministic unless the user asks for the host's.
%%%
%%% A deterministic clock starts at `start' (nanoseconds since the Unix epoch, default
%%% 1,700,000,000 s: 2023-11-14T22:13:20Z) and advances by `step' nanoseconds (default
%%% 1 ms) at every read, whichever clock is read; the monotonic clock is the time elapsed
%%% since `start'. The same state therefore gives the same readings in every run.
%%% `beamr_clock:new(host)' reads the host's clocks instead (`os:system_time/1' and
%%% `erlang:monotonic_time/1').
-module(beamr_clock).

-export([new/0, new/1, read/2, resolution/1]).
-export_type([clock/0, opts/0, kind/0]).

-define(DEFAULT_START_NS, 1700000000 * 1000000000).
-define(DEFAULT_STEP_NS, 1000000).

-type clock() :: #{source := fixed, start := non_neg_integer(), step := non_neg_integer(),
                   reads := non_neg_integer()}
               | #{source := host, base := integer()}.
-type opts() :: host | #{start => non_neg_integer(), step => non_neg_integer()}.
-type kind() :: realtime | monotonic.

%% @doc A deterministic clock with the default start and step.
-spec new() -> clock().
new() ->
    new(#{}).

%% @doc A clock: `host', or deterministic with `#{start => Ns, step => Ns}'.
-spec new(opts()) -> clock().
new(host) ->
    #{source => host, base => erlang:monotonic_time(nanosecond)};
new(Opts) when is_map(Opts) ->
    Start = maps:get(start, Opts, ?DEFAULT_START_NS),
    Step = maps:get(step, Opts, ?DEFAULT_STEP_NS),
    is_integer(Start) andalso Start >= 0 orelse erlang:error({bad_clock_start, Start}),
    is_integer(Step) andalso Step >= 0 orelse erlang:error({bad_clock_step, Step}),
    #{source => fixed, start => Start, step => Step, reads => 0}.

%% @doc Reads a clock of the handler state `State' (a map; a default clock if it has
%% none): nanoseconds since the epoch (`realtime') or since the clock began
%% (`monotonic'), and the state with the clock advanced.
-spec read(kind(), map()) -> {non_neg_integer(), map()}.
read(Kind, State) ->
    Clock = clock(State),
    {Ns, Clock2} = read_clock(Kind, Clock),
    {Ns, State#{clock => Clock2}}.

read_clock(Kind, #{source := fixed, start := Start, step := Step, reads := N} = C) ->
    Elapsed = N * Step,
    Ns = case Kind of
             realtime -> Start + Elapsed;
             monotonic -> Elapsed
         end,
    {Ns, C#{reads := N + 1}};
read_clock(realtime, #{source := host} = C) ->
    {os:system_time(nanosecond), C};
read_clock(monotonic, #{source := host, base := Base} = C) ->
    {erlang:monotonic_time(nanosecond) - Base, C}.

%% @doc The resolution, in nanoseconds, of the state's clock.
-spec resolution(map()) -> pos_integer().
resolution(State) ->
    case clock(State) of
        #{source := fixed, step := Step} when Step > 0 -> Step;
        _ -> 1
    end.

clock(#{clock := Clock}) -> Clock;
clock(_) -> new().
