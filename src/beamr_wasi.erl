%%% @doc WASI preview1 (`wasi_snapshot_preview1', and `wasi_unstable') answered from
%%% Erlang, over a state the caller owns: captured stdout and stderr, a given stdin,
%%% args and environment, a virtual file system (a map path => binary) with opened fds,
%%% a deterministic clock ({@link beamr_clock}) and a seeded random generator.
%%%
%%% Use `fun beamr_wasi:import/3' as the import fun of {@link beamr:call/6} with the
%%% state from {@link new/1}, or {@link call/5}, which also turns `proc_exit' into a
%%% result; or compose {@link handle/3} with other handlers through
%%% {@link beamr_imports:new/2}.
%%%
%%% Deterministic by default: clock reads come from the state's clock and advance it by
%%% its step; `random_get' draws from `rand''s `exsss' generator seeded with `seed'
%%% (default 0) and kept in the state. `#{clock => host}' and `#{random => host}' opt
%%% in to the host's clocks and randomness.
%%%
%%% `proc_exit(Code)' ends the call: through {@link call/5} (or
%%% {@link beamr_imports:call/6}) the result is `{ok, {exit, Code}, State}', with stdout
%%% and the rest as they were at the exit; through plain {@link beamr:call/6} it is
%%% `{error, {import_crashed, Module, <<"proc_exit">>, throw, {beamr_exit, Code,
%%% State}}, _}'. A preview1 function not implemented here answers ENOSYS (52); a guest
%%% pointer out of bounds answers EFAULT (21). No preopened directory exists unless
%%% `preopens' names some, so `fd_prestat_get' answers EBADF by default.
%%%
%%% Pointer width: the handler reads it from the import's signature (an i64 where a
%%% pointer goes means memory64) and lays out `size_t' values and iovecs accordingly:
%%% an iovec is `{u32 base, u32 len}' in wasm32 and `{u64 base, u64 len}' in memory64.
-module(beamr_wasi).

-export([new/0, new/1, handle/3, import/3, call/4, call/5, stdout/1, stderr/1, files/1]).
-export_type([opts/0]).

-type opts() :: #{args => [iodata()],
                  env => #{iodata() => iodata()} | [{iodata(), iodata()}],
                  stdin => binary(),
                  files => #{iodata() => binary()},
                  preopens => [iodata()],
                  seed => integer(),
                  random => seeded | host,
                  clock => beamr_clock:opts(),
                  max_file_size => non_neg_integer()}.

-define(MODULES, [<<"wasi_snapshot_preview1">>, <<"wasi_unstable">>]).

-define(ESUCCESS, 0).
-define(EBADF, 8).
-define(EEXIST, 20).
-define(EFAULT, 21).
-define(EFBIG, 22).
-define(EINVAL, 28).
-define(EISDIR, 31).
-define(ENOENT, 44).
-define(ENOSYS, 52).
-define(ENOTDIR, 54).
-define(ESPIPE, 70).
-define(ENOTCAPABLE, 76).

-define(FILETYPE_CHARACTER_DEVICE, 2).
-define(FILETYPE_DIRECTORY, 3).
-define(FILETYPE_REGULAR_FILE, 4).
-define(RIGHTS_ALL, 16#1FFFFFFF).
%% A terminal has no seek or tell right: that is how wasi-libc's isatty recognises one,
%% so that stdout is line-buffered.
-define(RIGHTS_TTY, (?RIGHTS_ALL band (bnot (16#4 bor 16#20)))).

-define(OFLAG_CREAT, 1).
-define(OFLAG_DIRECTORY, 2).
-define(OFLAG_EXCL, 4).
-define(OFLAG_TRUNC, 8).
-define(FDFLAG_APPEND, 1).

-define(DEFAULT_MAX_FILE_SIZE, 64 * 1024 * 1024).

%% @doc The state of a process with no args, environment, stdin, files or preopens.
-spec new() -> map().
new() ->
    new(#{}).

%% @doc A handler state: `#{wasi => ..., clock => ...}'. Merge it with other handlers'
%% states (for example {@link beamr_emscripten:new/1}'s) to compose them.
-spec new(opts()) -> map().
new(Opts) when is_map(Opts) ->
    Preopens = [path_key(P) || P <- maps:get(preopens, Opts, [])],
    PreopenFds = maps:from_list(
                   [{3 + N, {preopen, iolist_to_binary(Name), Path}}
                    || {N, {Name, Path}} <- lists:zip(lists:seq(0, length(Preopens) - 1),
                                                      lists:zip(maps:get(preopens, Opts, []),
                                                                Preopens))]),
    Wasi = #{args => [iolist_to_binary(A) || A <- maps:get(args, Opts, [])],
             env => env_strings(maps:get(env, Opts, [])),
             stdin => maps:get(stdin, Opts, <<>>),
             stdout => <<>>,
             stderr => <<>>,
             files => maps:from_list([{path_key(P), B} || {P, B} <- maps:to_list(maps:get(files, Opts, #{}))]),
             fds => PreopenFds#{0 => stdin, 1 => stdout, 2 => stderr},
             next_fd => 3 + length(Preopens),
             random => random(Opts),
             max_file_size => maps:get(max_file_size, Opts, ?DEFAULT_MAX_FILE_SIZE)},
    #{wasi => Wasi, clock => beamr_clock:new(maps:get(clock, Opts, #{}))}.

%% A map's entries are sorted by name, so that the environment does not depend on
%% map iteration order.
env_strings(Env) when is_map(Env) ->
    lists:sort([iolist_to_binary([K, "=", V]) || {K, V} <- maps:to_list(Env)]);
env_strings(Env) when is_list(Env) ->
    [iolist_to_binary([K, "=", V]) || {K, V} <- Env].

random(#{random := host}) -> host;
random(Opts) -> {seeded, rand:seed_s(exsss, maps:get(seed, Opts, 0))}.

%% @doc Everything written to fd 1.
-spec stdout(map()) -> binary().
stdout(State) -> maps:get(stdout, wasi(State)).

%% @doc Everything written to fd 2.
-spec stderr(map()) -> binary().
stderr(State) -> maps:get(stderr, wasi(State)).

%% @doc The virtual file system: path => contents.
-spec files(map()) -> #{binary() => binary()}.
files(State) -> maps:get(files, wasi(State)).

%% @doc {@link call/5} with no options.
-spec call(beamr:instance(), beamr:func_ref(), [beamr:value()], map()) -> beamr_imports:result().
call(I, Func, Args, State) ->
    call(I, Func, Args, State, #{}).

%% @doc Calls `Func' answering WASI imports (any other import ends the call with
%% `{error, {unhandled_import, Module, Name}, State}'); `proc_exit(Code)' gives
%% `{ok, {exit, Code}, State}'.
-spec call(beamr:instance(), beamr:func_ref(), [beamr:value()], map(), beamr:call_opts()) ->
          beamr_imports:result().
call(I, Func, Args, State, Opts) ->
    beamr_imports:call(I, Func, Args, beamr_imports:new([?MODULE]), State, Opts).

%% @doc An import fun for {@link beamr:call/6}: WASI imports answered, any other
%% import refused (`throw({unhandled_import, Module, Name})').
-spec import(map(), beamr:import_request(), map()) -> {ok, [beamr:value()], map()}.
import(State, Request, Opts) ->
    case handle(State, Request, Opts) of
        {ok, _, _} = Answer -> Answer;
        unhandled -> throw({unhandled_import, maps:get(module, Request), maps:get(func, Request)})
    end.

%% @doc A handler for {@link beamr_imports}: answers WASI imports, `unhandled' for others.
-spec handle(map(), beamr:import_request(), map()) -> {ok, [beamr:value()], map()} | unhandled.
handle(State, #{module := Module, func := Name, args := Args, func_sig := Sig, instance := I},
       _Opts) when is_map(State) ->
    case lists:member(Module, ?MODULES) of
        false ->
            unhandled;
        true ->
            Ctx = #{i => I, sig => Sig, unstable => Module =:= <<"wasi_unstable">>,
                    raw => Args},
            {Errno, State2} =
                try
                    wasi_call(Name, beamr_guest:unsigned_args(Args, Sig), Ctx, State)
                catch
                    throw:{beamr_fault, _} -> {?EFAULT, State}
                end,
            {ok, beamr_imports:results(Sig, [Errno]), State2}
    end;
handle(_State, _Request, _Opts) ->
    unhandled.

wasi(#{wasi := Wasi}) -> Wasi;
wasi(_) -> maps:get(wasi, new()).

update(Fun, State) ->
    State#{wasi => Fun(wasi(State))}.

%%% The functions

wasi_call(<<"args_sizes_get">>, [CountPtr, SizePtr], Ctx, State) ->
    sizes(maps:get(args, wasi(State)), CountPtr, SizePtr, Ctx, State);
wasi_call(<<"args_get">>, [Argv, Buf], Ctx, State) ->
    strings(maps:get(args, wasi(State)), Argv, Buf, Ctx, State);
wasi_call(<<"environ_sizes_get">>, [CountPtr, SizePtr], Ctx, State) ->
    sizes(maps:get(env, wasi(State)), CountPtr, SizePtr, Ctx, State);
wasi_call(<<"environ_get">>, [Environ, Buf], Ctx, State) ->
    strings(maps:get(env, wasi(State)), Environ, Buf, Ctx, State);
wasi_call(<<"clock_res_get">>, [Id, ResPtr], #{i := I}, State) when Id =< 3 ->
    beamr_guest:write_uint(I, ResPtr, 64, beamr_clock:resolution(State)),
    {?ESUCCESS, State};
wasi_call(<<"clock_time_get">>, [Id, _Precision, TimePtr], #{i := I}, State) when Id =< 3 ->
    Kind = case Id of 0 -> realtime; _ -> monotonic end,
    {Ns, State2} = beamr_clock:read(Kind, State),
    beamr_guest:write_uint(I, TimePtr, 64, Ns),
    {?ESUCCESS, State2};
wasi_call(Clock, [_ | _], _Ctx, State)
  when Clock =:= <<"clock_res_get">>; Clock =:= <<"clock_time_get">> ->
    {?EINVAL, State};
wasi_call(<<"random_get">>, [Buf, Len], #{i := I}, State) ->
    check_range(I, Buf, Len),
    {Bytes, State2} = random_bytes(Len, State),
    beamr_guest:write(I, Buf, Bytes),
    {?ESUCCESS, State2};
wasi_call(<<"fd_write">>, [Fd, Iovs, Count, WrittenPtr], #{i := I} = Ctx, State) ->
    Width = width(Ctx, 2),
    Data = iolist_to_binary([beamr_guest:read(I, Base, Len)
                             || {Base, Len} <- beamr_guest:read_iovecs(I, Width, Iovs, Count)]),
    case write_fd(Fd, Data, State) of
        {ok, State2} ->
            beamr_guest:write_uint(I, WrittenPtr, Width, byte_size(Data)),
            {?ESUCCESS, State2};
        {error, Errno} ->
            {Errno, State}
    end;
wasi_call(<<"fd_read">>, [Fd, Iovs, Count, ReadPtr], #{i := I} = Ctx, State) ->
    Width = width(Ctx, 2),
    Vecs = beamr_guest:read_iovecs(I, Width, Iovs, Count),
    case read_fd(Fd, lists:sum([Len || {_, Len} <- Vecs]), State) of
        {ok, Data, State2} ->
            scatter(I, Vecs, Data),
            beamr_guest:write_uint(I, ReadPtr, Width, byte_size(Data)),
            {?ESUCCESS, State2};
        {error, Errno} ->
            {Errno, State}
    end;
wasi_call(<<"fd_seek">>, [Fd, _, Whence, NewPtr], #{i := I, raw := [_, Offset | _]} = Ctx, State) ->
    <<Delta:64/signed>> = <<Offset:64>>,
    case seek(Fd, Delta, whence(Whence, Ctx), State) of
        {ok, Pos, State2} ->
            beamr_guest:write_uint(I, NewPtr, 64, Pos),
            {?ESUCCESS, State2};
        {error, Errno} ->
            {Errno, State}
    end;
wasi_call(<<"fd_tell">>, [Fd, Ptr], #{i := I}, State) ->
    case seek(Fd, 0, cur, State) of
        {ok, Pos, State2} ->
            beamr_guest:write_uint(I, Ptr, 64, Pos),
            {?ESUCCESS, State2};
        {error, Errno} ->
            {Errno, State}
    end;
wasi_call(<<"fd_close">>, [Fd], _Ctx, State) ->
    Fds = maps:get(fds, wasi(State)),
    case maps:is_key(Fd, Fds) of
        true -> {?ESUCCESS, update(fun(W) -> W#{fds := maps:remove(Fd, Fds)} end, State)};
        false -> {?EBADF, State}
    end;
wasi_call(<<"fd_fdstat_get">>, [Fd, Buf], #{i := I}, State) ->
    case fd(Fd, State) of
        error ->
            {?EBADF, State};
        {ok, Entry} ->
            {Type, Flags, Rights} = fdstat(Entry),
            beamr_guest:write(I, Buf, <<Type:8, 0:8, Flags:16/little, 0:32,
                                        Rights:64/little, Rights:64/little>>),
            {?ESUCCESS, State}
    end;
wasi_call(<<"fd_filestat_get">>, [Fd, Buf], #{i := I} = Ctx, State) ->
    case fd(Fd, State) of
        error ->
            {?EBADF, State};
        {ok, Entry} ->
            {Type, _, _} = fdstat(Entry),
            Size = case Entry of
                       {file, Path, _, _} -> byte_size(maps:get(Path, files(State), <<>>));
                       _ -> 0
                   end,
            beamr_guest:write(I, Buf, filestat(Type, Size, Ctx)),
            {?ESUCCESS, State}
    end;
wasi_call(<<"fd_prestat_get">>, [Fd, Buf], #{i := I} = Ctx, State) ->
    case fd(Fd, State) of
        {ok, {preopen, Name, _}} ->
            Width = width(Ctx, 2),
            beamr_guest:write(I, Buf, <<0:8, 0:(Width - 8), (byte_size(Name)):Width/little>>),
            {?ESUCCESS, State};
        _ ->
            {?EBADF, State}
    end;
wasi_call(<<"fd_prestat_dir_name">>, [Fd, Ptr, Len], #{i := I}, State) ->
    case fd(Fd, State) of
        {ok, {preopen, Name, _}} ->
            beamr_guest:write(I, Ptr, binary:part(Name, 0, min(Len, byte_size(Name)))),
            {?ESUCCESS, State};
        _ ->
            {?EBADF, State}
    end;
wasi_call(<<"path_open">>, [DirFd, _DirFlags, PathPtr, PathLen, OFlags, _Base, _Inheriting,
                            FdFlags, FdPtr], #{i := I}, State) ->
    Rel = beamr_guest:read(I, PathPtr, PathLen),
    case open(DirFd, Rel, OFlags, FdFlags, State) of
        {ok, Fd, State2} ->
            beamr_guest:write_uint(I, FdPtr, 32, Fd),
            {?ESUCCESS, State2};
        {error, Errno} ->
            {Errno, State}
    end;
wasi_call(<<"proc_exit">>, [Code], _Ctx, State) ->
    beamr_imports:exit(Code, State);
wasi_call(<<"sched_yield">>, [], _Ctx, State) ->
    {?ESUCCESS, State};
wasi_call(_Other, _Args, _Ctx, State) ->
    {?ENOSYS, State}.

width(#{sig := Sig}, Position) ->
    beamr_guest:width(Sig, Position).

%%% args and environ: a count and a total size, then an array of pointers into a buffer
%%% of NUL-terminated strings.

sizes(Strings, CountPtr, SizePtr, #{i := I} = Ctx, State) ->
    Width = width(Ctx, 1),
    beamr_guest:write_uint(I, CountPtr, Width, length(Strings)),
    beamr_guest:write_uint(I, SizePtr, Width, lists:sum([byte_size(S) + 1 || S <- Strings])),
    {?ESUCCESS, State}.

strings(Strings, Array, Buf, #{i := I} = Ctx, State) ->
    Width = width(Ctx, 1),
    {Pointers, _} = lists:mapfoldl(fun(S, At) -> {At, At + byte_size(S) + 1} end, Buf, Strings),
    beamr_guest:write(I, Array, << <<P:Width/little>> || P <- Pointers >>),
    beamr_guest:write(I, Buf, << <<S/binary, 0>> || S <- Strings >>),
    {?ESUCCESS, State}.

%%% Randomness

check_range(I, Ptr, Len) ->
    {ok, Size} = beamr:size(I),
    Ptr + Len =< Size orelse beamr_guest:fault({out_of_bounds, Ptr, Len, Size}).

random_bytes(N, State) ->
    case maps:get(random, wasi(State)) of
        host ->
            {rand:bytes(N), State};
        {seeded, Rand} ->
            {Bytes, Rand2} = rand:bytes_s(N, Rand),
            {Bytes, update(fun(W) -> W#{random := {seeded, Rand2}} end, State)}
    end.

%%% File descriptors

fd(Fd, State) ->
    maps:find(Fd, maps:get(fds, wasi(State))).

files(State, Files) ->
    update(fun(W) -> W#{files := Files} end, State).

put_fd(Fd, Entry, State) ->
    update(fun(#{fds := Fds} = W) -> W#{fds := Fds#{Fd => Entry}} end, State).

fdstat(stdin) -> {?FILETYPE_CHARACTER_DEVICE, 0, ?RIGHTS_TTY};
fdstat(stdout) -> {?FILETYPE_CHARACTER_DEVICE, ?FDFLAG_APPEND, ?RIGHTS_TTY};
fdstat(stderr) -> {?FILETYPE_CHARACTER_DEVICE, ?FDFLAG_APPEND, ?RIGHTS_TTY};
fdstat({preopen, _, _}) -> {?FILETYPE_DIRECTORY, 0, ?RIGHTS_ALL};
fdstat({dir, _}) -> {?FILETYPE_DIRECTORY, 0, ?RIGHTS_ALL};
fdstat({file, _, _, true}) -> {?FILETYPE_REGULAR_FILE, ?FDFLAG_APPEND, ?RIGHTS_ALL};
fdstat({file, _, _, false}) -> {?FILETYPE_REGULAR_FILE, 0, ?RIGHTS_ALL}.

%% preview1's filestat is 64 bytes; wasi_unstable's has a 32-bit nlink, 56 bytes.
filestat(Type, Size, #{unstable := false}) ->
    <<0:64, 0:64, Type:8, 0:56, 1:64/little, Size:64/little, 0:64, 0:64, 0:64>>;
filestat(Type, Size, #{unstable := true}) ->
    <<0:64, 0:64, Type:8, 0:24, 1:32/little, Size:64/little, 0:64, 0:64, 0:64>>.

write_fd(Fd, Data, State) ->
    case fd(Fd, State) of
        {ok, Stream} when Stream =:= stdout; Stream =:= stderr ->
            {ok, update(fun(W) -> W#{Stream := <<(maps:get(Stream, W))/binary, Data/binary>>} end,
                        State)};
        {ok, {file, Path, Offset, Append}} ->
            Old = maps:get(Path, files(State), <<>>),
            At = case Append of true -> byte_size(Old); false -> Offset end,
            case At + byte_size(Data) =< maps:get(max_file_size, wasi(State)) of
                true ->
                    New = splice(Old, At, Data),
                    State2 = files(State, (files(State))#{Path => New}),
                    {ok, put_fd(Fd, {file, Path, At + byte_size(Data), Append}, State2)};
                false ->
                    {error, ?EFBIG}
            end;
        {ok, {preopen, _, _}} -> {error, ?EISDIR};
        {ok, {dir, _}} -> {error, ?EISDIR};
        _ -> {error, ?EBADF}
    end.

%% Old with Data written at At, zero-filled if At is past its end.
splice(Old, At, Data) ->
    Size = byte_size(Old),
    Before = case At =< Size of
                 true -> binary:part(Old, 0, At);
                 false -> <<Old/binary, 0:((At - Size) * 8)>>
             end,
    End = At + byte_size(Data),
    After = case End < Size of
                true -> binary:part(Old, End, Size - End);
                false -> <<>>
            end,
    <<Before/binary, Data/binary, After/binary>>.

read_fd(Fd, Max, State) ->
    case fd(Fd, State) of
        {ok, stdin} ->
            Stdin = maps:get(stdin, wasi(State)),
            N = min(Max, byte_size(Stdin)),
            <<Data:N/binary, Rest/binary>> = Stdin,
            {ok, Data, update(fun(W) -> W#{stdin := Rest} end, State)};
        {ok, {file, Path, Offset, Append}} ->
            Contents = maps:get(Path, files(State), <<>>),
            N = max(0, min(Max, byte_size(Contents) - Offset)),
            Data = binary:part(Contents, min(Offset, byte_size(Contents)), N),
            {ok, Data, put_fd(Fd, {file, Path, Offset + N, Append}, State)};
        {ok, {preopen, _, _}} -> {error, ?EISDIR};
        {ok, {dir, _}} -> {error, ?EISDIR};
        _ -> {error, ?EBADF}
    end.

scatter(_I, _Vecs, <<>>) ->
    ok;
scatter(I, [{Base, Len} | Vecs], Data) ->
    N = min(Len, byte_size(Data)),
    <<Chunk:N/binary, Rest/binary>> = Data,
    beamr_guest:write(I, Base, Chunk),
    scatter(I, Vecs, Rest).

%% preview1 numbers whence SET 0, CUR 1, END 2; wasi_unstable CUR 0, END 1, SET 2.
whence(0, #{unstable := false}) -> set;
whence(1, #{unstable := false}) -> cur;
whence(2, #{unstable := false}) -> 'end';
whence(0, #{unstable := true}) -> cur;
whence(1, #{unstable := true}) -> 'end';
whence(2, #{unstable := true}) -> set;
whence(_, _) -> bad.

seek(Fd, Delta, Whence, State) ->
    case fd(Fd, State) of
        {ok, {file, Path, Offset, Append}} ->
            Size = byte_size(maps:get(Path, files(State), <<>>)),
            Base = case Whence of set -> 0; cur -> Offset; 'end' -> Size; bad -> bad end,
            case Base of
                bad -> {error, ?EINVAL};
                _ when Base + Delta < 0 -> {error, ?EINVAL};
                _ -> {ok, Base + Delta, put_fd(Fd, {file, Path, Base + Delta, Append}, State)}
            end;
        {ok, Entry} when is_atom(Entry) -> {error, ?ESPIPE};
        {ok, _Dir} -> {error, ?EISDIR};
        error -> {error, ?EBADF}
    end.

%%% path_open over the virtual file system. Paths are kept as "/a/b"; a path is a
%%% directory if it is a preopen, the root, or a prefix of some file's path.

open(DirFd, Rel, OFlags, FdFlags, State) ->
    case fd(DirFd, State) of
        {ok, {preopen, _, Dir}} -> open_in(Dir, Rel, OFlags, FdFlags, State);
        {ok, {dir, Dir}} -> open_in(Dir, Rel, OFlags, FdFlags, State);
        {ok, {file, _, _, _}} -> {error, ?ENOTDIR};
        _ -> {error, ?EBADF}
    end.

open_in(Dir, Rel, OFlags, FdFlags, State) ->
    case resolve(Dir, Rel) of
        error ->
            {error, ?ENOTCAPABLE};
        {ok, Path} ->
            Files = files(State),
            Create = OFlags band ?OFLAG_CREAT =/= 0,
            Exclusive = OFlags band ?OFLAG_EXCL =/= 0,
            WantDir = OFlags band ?OFLAG_DIRECTORY =/= 0,
            Append = FdFlags band ?FDFLAG_APPEND =/= 0,
            case {maps:find(Path, Files), is_dir(Path, State)} of
                {{ok, _}, _} when Create, Exclusive -> {error, ?EEXIST};
                {{ok, _}, _} when WantDir -> {error, ?ENOTDIR};
                {{ok, _}, _} ->
                    State2 = case OFlags band ?OFLAG_TRUNC =/= 0 of
                                 true -> files(State, Files#{Path => <<>>});
                                 false -> State
                             end,
                    new_fd({file, Path, 0, Append}, State2);
                {error, true} when Create, Exclusive -> {error, ?EEXIST};
                {error, true} -> new_fd({dir, Path}, State);
                {error, false} when Create, not WantDir ->
                    new_fd({file, Path, 0, Append}, files(State, Files#{Path => <<>>}));
                {error, false} ->
                    {error, ?ENOENT}
            end
    end.

new_fd(Entry, State) ->
    Fd = maps:get(next_fd, wasi(State)),
    State2 = update(fun(W) -> W#{next_fd := Fd + 1} end, State),
    {ok, Fd, put_fd(Fd, Entry, State2)}.

is_dir(<<"/">>, _State) ->
    true;
is_dir(Path, State) ->
    Prefix = <<Path/binary, "/">>,
    Preopens = [P || {preopen, _, P} <- maps:values(maps:get(fds, wasi(State)))],
    lists:member(Path, Preopens) orelse
        lists:any(fun(F) -> binary:longest_common_prefix([F, Prefix]) =:= byte_size(Prefix) end,
                  maps:keys(files(State))).

%% Dir joined with Rel, "." and ".." resolved; error if ".." climbs out of Dir.
resolve(Dir, Rel) ->
    Base = components(Dir),
    case walk(components(Rel), lists:reverse(Base)) of
        {ok, Reversed} ->
            Comps = lists:reverse(Reversed),
            case lists:prefix(Base, Comps) of
                true -> {ok, join(Comps)};
                false -> error
            end;
        error ->
            error
    end.

walk([], Acc) -> {ok, Acc};
walk([<<"..">> | _], []) -> error;
walk([<<"..">> | Rest], [_ | Acc]) -> walk(Rest, Acc);
walk([C | Rest], Acc) -> walk(Rest, [C | Acc]).

components(Path) ->
    [C || C <- binary:split(iolist_to_binary(Path), <<"/">>, [global]), C =/= <<>>, C =/= <<".">>].

join(Comps) ->
    iolist_to_binary(["/" | lists:join("/", Comps)]).

%% The key a user's path (or a preopen's name) has in the file system.
path_key(Path) ->
    case resolve(<<"/">>, Path) of
        {ok, Key} -> Key;
        error -> erlang:error({bad_path, Path})
    end.
