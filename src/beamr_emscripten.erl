%%% @doc The emscripten `env' functions that AOS-style images import, answered from
%%% Erlang: a handler for {@link beamr_imports}, or `fun beamr_emscripten:import/3'
%%% as the import fun of {@link beamr:call/6}.
%%%
%%% - `__syscall_*': negative errno values, as emscripten's syscalls return `-errno':
%%%   `ioctl' on fds 0-2 succeeds (they are terminals, so stdio is line-buffered, as in
%%%   emscripten's own runtime) and answers -ENOTTY elsewhere; the path lookups
%%%   (`openat', `stat64', `lstat64', `newfstatat', `faccessat', `readlinkat') answer
%%%   -ENOENT; every other syscall -ENOSYS.
%%% - `getentropy' (emscripten 3.1.6's import): bytes from the state's
%%%   {@link beamr_random} generator, the one WASI's `random_get' uses.
%%% - `_emscripten_system': -1; `_mmap_js', `_munmap_js': -ENOSYS. `exit(Code)' ends the
%%%   call as WASI's `proc_exit' does (`{ok, {exit, Code}, State}'). `abort', `_abort_js', `__assert_fail': end the call
%%%   (see {@link beamr_imports:call/6}: `{error, {abort, Module, Name}, State}').
%%% - Time, deterministic by default (the state's {@link beamr_clock}):
%%%   `emscripten_date_now' (ms since the epoch), `emscripten_get_now' (ms since start),
%%%   `_emscripten_get_now_is_monotonic' (1); the time zone is UTC:
%%%   `_tzset_js' writes offset 0, no daylight saving, names "UTC"; `_gmtime_js',
%%%   `_localtime_js', `_mktime_js', `_timegm_js' convert in UTC.
%%% - Memory: `emscripten_resize_heap' grows the default memory to at least the
%%%   requested size with {@link beamr:memory_grow/2} (the instance's `max_memory' and
%%%   the memory's own maximum still apply) and answers 1, or 0 when it cannot grow.
%%%   Option `grow': `memory' (the default), `none' (always 0, as a fixed heap), or a
%%%   fun `fun(Instance, RequestedBytes) -> ok | {error, _}'. `emscripten_get_heap_max'
%%%   answers the current memory size with `none', else the pointer width's maximum.
%%%   `emscripten_memcpy_big' / `emscripten_memcpy_js' / `_emscripten_memcpy_js' copy; `emscripten_notify_memory_growth'
%%%   does nothing; `setTempRet0' / `getTempRet0' keep their value in the state (beamr
%%%   answers them natively when they have emscripten's signatures, so these clauses
%%%   serve only other shapes).
%%%
%%% `invoke_*', `_emscripten_throw_longjmp' and `__cxa_throw' are not answered here
%%% (beamr handles them natively); like any other import they pass to the next handler.
%%% Pointer widths (wasm32, memory64) come from each import's signature.
-module(beamr_emscripten).

-export([new/0, new/1, handle/3, import/3]).
-export_type([opts/0]).

-type opts() :: #{grow => memory | none
                          | fun((beamr:instance(), non_neg_integer()) -> ok | {error, term()}),
                  clock => beamr_clock:opts(),
                  seed => integer(),
                  random => host}.

-define(ENOENT, 44).
-define(ENOSYS, 52).
-define(ENOTTY, 59).
%% Days from 0000-01-01 (calendar's day 0) to 1970-01-01.
-define(UNIX_EPOCH_DAYS, 719528).

%% @doc The state with the default heap growth and clock.
-spec new() -> map().
new() ->
    new(#{}).

%% @doc A handler state `#{emscripten => ...}', plus `clock' if `clock' is given and
%% `random' if `seed' or `random => host' is (so that merging it with
%% {@link beamr_wasi:new/1}'s state keeps that one's clock and generator otherwise).
-spec new(opts()) -> map().
new(Opts) when is_map(Opts) ->
    Em = #{grow => maps:get(grow, Opts, memory), temp_ret0 => 0},
    State = case Opts of
                #{clock := Clock} -> #{emscripten => Em, clock => beamr_clock:new(Clock)};
                _ -> #{emscripten => Em}
            end,
    case Opts of
        #{random := host} -> State#{random => beamr_random:new(host)};
        #{seed := Seed} -> State#{random => beamr_random:new(#{seed => Seed})};
        _ -> State
    end.

%% @doc An import fun for {@link beamr:call/6}: emscripten imports answered, any
%% other import refused (`throw({unhandled_import, Module, Name})').
-spec import(map(), beamr:import_request(), map()) -> {ok, [beamr:value()], map()}.
import(State, Request, Opts) ->
    case handle(State, Request, Opts) of
        {ok, _, _} = Answer -> Answer;
        unhandled -> throw({unhandled_import, maps:get(module, Request), maps:get(func, Request)})
    end.

%% @doc A handler for {@link beamr_imports}: answers the `env' functions above,
%% `unhandled' for any other import (and for a state that is not a map); a bad guest pointer
%% fails the call with `{bad_guest_pointer, Name, Reason}' (emscripten's JS would throw).
-spec handle(map(), beamr:import_request(), map()) -> {ok, [beamr:value()], map()} | unhandled.
handle(State, #{module := <<"env">>, func := Name, args := Args, func_sig := Sig,
                instance := I}, _Opts) when is_map(State) ->
    Ctx = #{i => I, sig => Sig, name => Name},
    try env(Name, beamr_guest:unsigned_args(Args, Sig), Args, Ctx, State) of
        unhandled -> unhandled;
        {Values, State2} -> {ok, beamr_imports:results(Sig, Values), State2}
    catch
        throw:{beamr_fault, Reason} -> erlang:error({bad_guest_pointer, Name, Reason})
    end;
handle(_State, _Request, _Opts) ->
    unhandled.

em(#{emscripten := Em}) -> Em;
em(_) -> maps:get(emscripten, new()).

%%% The functions. Each returns {Values, State}; values are shaped to the import's
%%% result types by beamr_imports:results/2.

env(<<"__syscall_", Call/binary>>, Args, _Raw, _Ctx, State) ->
    {[syscall(Call, Args)], State};
env(<<"_emscripten_system">>, _, _, _, State) ->
    {[-1], State};
env(Mmap, _, _, _, State) when Mmap =:= <<"_mmap_js">>; Mmap =:= <<"_munmap_js">> ->
    {[-?ENOSYS], State};
env(<<"exit">>, [Code], _, _, State) ->
    beamr_imports:exit(Code, State);
env(Abort, _, _, _, State)
  when Abort =:= <<"abort">>; Abort =:= <<"_abort_js">>; Abort =:= <<"__assert_fail">> ->
    beamr_imports:abort(State);
env(<<"emscripten_date_now">>, _, _, _, State) ->
    {Ns, State2} = beamr_clock:read(realtime, State),
    {[Ns / 1000000], State2};
env(<<"emscripten_get_now">>, _, _, _, State) ->
    {Ns, State2} = beamr_clock:read(monotonic, State),
    {[Ns / 1000000], State2};
env(<<"_emscripten_get_now_is_monotonic">>, _, _, _, State) ->
    {[1], State};
env(<<"getentropy">>, [Buf, Len], _, #{i := I}, State) when Len =< 256 ->
    {ok, Size} = beamr:size(I),
    case Buf + Len =< Size of
        true ->
            {Bytes, State2} = beamr_random:bytes(Len, State),
            beamr_guest:write(I, Buf, Bytes),
            {[0], State2};
        false ->
            {[-1], State}
    end;
env(<<"getentropy">>, _, _, _, State) ->
    %% POSIX caps a request at 256 bytes (EIO otherwise); -1 as libc's getentropy.
    {[-1], State};
env(<<"emscripten_notify_memory_growth">>, _, _, _, State) ->
    {[], State};
env(<<"emscripten_resize_heap">>, [Requested], _, #{i := I}, State) ->
    case maps:get(grow, em(State)) of
        none ->
            {[0], State};
        memory ->
            {[grow_memory(I, Requested)], State};
        Grow ->
            case Grow(I, Requested) of
                ok -> {[1], State};
                _ -> {[0], State}
            end
    end;
env(<<"emscripten_get_heap_max">>, _, _, #{i := I, sig := Sig}, State) ->
    case maps:get(grow, em(State)) of
        none ->
            {ok, Size} = beamr:size(I),
            {[Size], State};
        _ ->
            Max = case beamr_imports:result_types(Sig) of
                      [$I] -> 1 bsl 34;
                      _ -> 1 bsl 31
                  end,
            {[Max], State}
    end;
env(Memcpy, [Dest, Src, Len], _, #{i := I}, State)
  when Memcpy =:= <<"emscripten_memcpy_big">>; Memcpy =:= <<"emscripten_memcpy_js">>;
       Memcpy =:= <<"_emscripten_memcpy_js">> ->
    beamr_guest:write(I, Dest, beamr_guest:read(I, Src, Len)),
    {[Dest], State};
env(<<"setTempRet0">>, [Value], _, _, State) ->
    {[], State#{emscripten => (em(State))#{temp_ret0 => Value}}};
env(<<"getTempRet0">>, [], _, _, State) ->
    {[maps:get(temp_ret0, em(State))], State};
env(<<"_tzset_js">>, Args, _, Ctx, State) ->
    tzset(Args, Ctx),
    {[], State};
env(Name, _Args, Raw, Ctx, State)
  when Name =:= <<"_gmtime_js">>; Name =:= <<"_localtime_js">> ->
    {Secs, TmPtr, Width} = time_and_pointer(Raw, Ctx),
    write_tm(Ctx, TmPtr, Width, Secs, Name =:= <<"_localtime_js">>),
    {[], State};
env(Name, [TmPtr], _, #{sig := Sig} = Ctx, State)
  when Name =:= <<"_mktime_js">>; Name =:= <<"_timegm_js">> ->
    Width = beamr_guest:width(Sig, 1),
    Secs = tm_seconds(Ctx, TmPtr),
    write_tm(Ctx, TmPtr, Width, Secs, false),
    {[time_result(Secs, Sig)], State};
env(_Name, _Args, _Raw, _Ctx, _State) ->
    unhandled.

syscall(<<"ioctl">>, [Fd | _]) when Fd =< 2 -> 0;
syscall(<<"ioctl">>, _) -> -?ENOTTY;
syscall(Lookup, _)
  when Lookup =:= <<"openat">>; Lookup =:= <<"stat64">>; Lookup =:= <<"lstat64">>;
       Lookup =:= <<"newfstatat">>; Lookup =:= <<"faccessat">>; Lookup =:= <<"readlinkat">> ->
    -?ENOENT;
syscall(_, _) ->
    -?ENOSYS.

%%% Time, in UTC

%% Newer emscripten: (timezone, daylight, std_name, dst_name), names written into
%% 7-byte buffers; 3.1.6: (timezone, daylight, tzname), where tzname would need
%% malloc'd strings and is left alone (libc's default names stand).
tzset([Timezone, Daylight | Names], #{i := I, sig := Sig}) ->
    beamr_guest:write_uint(I, Timezone, beamr_guest:width(Sig, 1), 0),
    beamr_guest:write_uint(I, Daylight, 32, 0),
    case Names of
        [Std, Dst] ->
            beamr_guest:write(I, Std, <<"UTC", 0>>),
            beamr_guest:write(I, Dst, <<"UTC", 0>>);
        _ ->
            ok
    end.

%% The time argument comes in one of the forms emscripten versions use: two i32 halves
%% (wasm32, no BigInt), an i64 or f64 value, or (3.1.6) a pointer to an i32 time_t.
time_and_pointer([Low, High, Ptr], #{sig := Sig}) ->
    <<Secs:64/signed>> = <<(High band 16#FFFFFFFF):32, (Low band 16#FFFFFFFF):32>>,
    {Secs, Ptr band 16#FFFFFFFF, beamr_guest:width(Sig, 3)};
time_and_pointer([Time, Ptr], #{i := I, sig := Sig}) ->
    Width = beamr_guest:width(Sig, 2),
    TmPtr = Ptr band ((1 bsl Width) - 1),
    case beamr_imports:param_types(Sig) of
        [$i, $i] ->
            <<Secs:32/little-signed>> = beamr_guest:read(I, Time band 16#FFFFFFFF, 4),
            {Secs, TmPtr, Width};
        [$F | _] ->
            {trunc(Time), TmPtr, Width};
        _ ->
            {Time, TmPtr, Width}
    end.

%% struct tm: nine i32 fields (sec, min, hour, mday, mon, year, wday, yday, isdst),
%% then a long tm_gmtoff (4 bytes at 36 in wasm32, 8 at 40 in memory64).
write_tm(#{i := I}, TmPtr, Width, Secs, Local) ->
    case broken_down(Secs) of
        {ok, Fields} ->
            beamr_guest:write(I, TmPtr, << <<F:32/little-signed>> || F <- Fields >>),
            case {Local, Width} of
                {true, 32} -> beamr_guest:write_uint(I, TmPtr + 36, 32, 0);
                {true, 64} -> beamr_guest:write_uint(I, TmPtr + 40, 64, 0);
                {false, _} -> ok
            end;
        error ->
            ok
    end.

broken_down(Secs) when is_integer(Secs) ->
    Days = floor_div(Secs, 86400),
    InDay = Secs - Days * 86400,
    case Days + ?UNIX_EPOCH_DAYS of
        Gregorian when Gregorian >= 0, Gregorian < 3652425 ->
            {Y, M, D} = calendar:gregorian_days_to_date(Gregorian),
            YDay = Gregorian - calendar:date_to_gregorian_days(Y, 1, 1),
            WDay = floor_mod(Days + 4, 7),
            {ok, [InDay rem 60, (InDay div 60) rem 60, InDay div 3600, D, M - 1, Y - 1900,
                  WDay, YDay, 0]};
        _ ->
            error
    end;
broken_down(_) ->
    error.

%% The seconds since the epoch that a struct tm names, its fields normalised as
%% mktime does (a 13th month is January of the next year, and so on).
tm_seconds(#{i := I}, TmPtr) ->
    <<Sec:32/little-signed, Min:32/little-signed, Hour:32/little-signed,
      MDay:32/little-signed, Mon:32/little-signed, Year:32/little-signed>> =
        beamr_guest:read(I, TmPtr, 24),
    Y = Year + 1900 + floor_div(Mon, 12),
    M = floor_mod(Mon, 12) + 1,
    case Y >= 0 andalso Y < 10000 of
        true ->
            Days = calendar:date_to_gregorian_days(Y, M, 1) - ?UNIX_EPOCH_DAYS + MDay - 1,
            Days * 86400 + Hour * 3600 + Min * 60 + Sec;
        false ->
            -1
    end.

time_result(Secs, Sig) ->
    case beamr_imports:result_types(Sig) of
        [$i] when Secs < -16#80000000; Secs > 16#7FFFFFFF -> -1;
        _ -> Secs
    end.

floor_div(A, B) -> (A - floor_mod(A, B)) div B.

floor_mod(A, B) ->
    case A rem B of
        R when R < 0 -> R + B;
        R -> R
    end.

%% Grows the default memory to hold `Requested' bytes: 1 on success, 0 otherwise.
grow_memory(I, Requested) ->
    case beamr:size(I) of
        {ok, Size} when Requested =< Size ->
            1;
        {ok, Size} ->
            case beamr:memory_grow(I, (Requested - Size + 65535) div 65536) of
                {ok, _} -> 1;
                {error, _} -> 0
            end;
        {error, _} ->
            0
    end.
