%%% @doc The random bytes the default import handlers hand out (WASI's `random_get',
%%% emscripten's `getentropy'), kept in the handler state under `random':
%%% deterministic unless the user asks for the host's.
%%%
%%% By default the bytes come from `rand''s `exsss' generator seeded with an explicit
%%% seed (0 unless given), and the generator's state is kept in the handler state, so
%%% the same state gives the same bytes in every run. `beamr_random:new(host)' draws
%%% from `rand''s process generator instead, seeded by the host (not a cryptographic
%%% source).
-module(beamr_random).

-export([new/0, new/1, bytes/2]).
-export_type([random/0, opts/0]).

-type random() :: {seeded, rand:state()} | host.
-type opts() :: host | #{seed => integer()}.

%% @doc A generator seeded with 0.
-spec new() -> random().
new() ->
    new(#{}).

%% @doc A generator: `host', or seeded with `#{seed => Integer}'.
-spec new(opts()) -> random().
new(host) ->
    host;
new(Opts) when is_map(Opts) ->
    Seed = maps:get(seed, Opts, 0),
    is_integer(Seed) orelse erlang:error({bad_seed, Seed}),
    {seeded, rand:seed_s(exsss, Seed)}.

%% @doc `N' random bytes from the generator of the handler state `State' (a map; a
%% generator seeded with 0 if it has none), and the state with the generator advanced.
-spec bytes(non_neg_integer(), map()) -> {binary(), map()}.
bytes(N, State) ->
    case maps:get(random, State, new()) of
        host ->
            {rand:bytes(N), State};
        {seeded, Rand} ->
            {Bytes, Rand2} = rand:bytes_s(N, Rand),
            {Bytes, State#{random => {seeded, Rand2}}}
    end.
