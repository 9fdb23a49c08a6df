%%% @doc Guest memory as the default import handlers see it: little-endian integers,
%%% pointer-sized values and iovec lists in a wasm32 or memory64 instance's memory.
%%%
%%% The pointer width of an import is read from its signature: if the parameter that
%%% carries a pointer is an `I' (i64), the module is memory64 and `size_t' values and
%%% pointers stored in memory are 8 bytes, else 4. A memory access out of bounds throws
%%% `{beamr_fault, Reason}', which handlers turn into an errno (EFAULT) rather than a
%%% crash.
-module(beamr_guest).

-export([width/2, unsigned_args/2, read/3, write/3, read_uint/3, write_uint/4,
         read_iovecs/4, read_cstring/3, fault/1]).
-export_type([width/0]).

-type width() :: 32 | 64.

%% Refuse iovec counts above this (POSIX's IOV_MAX is 1024) before reading the array.
-define(MAX_IOVECS, 1048576).

%% @doc The pointer width of an import whose parameter at 1-based `Position' is a
%% pointer or a `size_t'.
-spec width(binary() | string(), pos_integer()) -> width().
width(Sig, Position) ->
    Params = beamr_imports:param_types(Sig),
    case length(Params) >= Position andalso lists:nth(Position, Params) of
        $I -> 64;
        _ -> 32
    end.

%% @doc Integer arguments as unsigned numbers of their parameter's width (beamr passes
%% them signed); other values unchanged.
-spec unsigned_args([beamr:value()], binary() | string()) -> [beamr:value()].
unsigned_args(Args, Sig) ->
    unsigned(Args, beamr_imports:param_types(Sig)).

unsigned([A | As], [$i | Ts]) when is_integer(A) -> [A band 16#FFFFFFFF | unsigned(As, Ts)];
unsigned([A | As], [$I | Ts]) when is_integer(A) -> [A band 16#FFFFFFFFFFFFFFFF | unsigned(As, Ts)];
unsigned([A | As], [_ | Ts]) -> [A | unsigned(As, Ts)];
unsigned(As, []) -> As;
unsigned([], _) -> [].

%% @doc `Length' bytes at `Ptr'.
-spec read(beamr:instance(), non_neg_integer(), non_neg_integer()) -> binary().
read(_I, _Ptr, 0) ->
    <<>>;
read(I, Ptr, Length) ->
    case beamr:read(I, Ptr, Length) of
        {ok, Bin} -> Bin;
        {error, Reason} -> fault(Reason)
    end.

%% @doc Writes `Data' at `Ptr'.
-spec write(beamr:instance(), non_neg_integer(), binary()) -> ok.
write(_I, _Ptr, <<>>) ->
    ok;
write(I, Ptr, Data) ->
    case beamr:write(I, Ptr, Data) of
        ok -> ok;
        {error, Reason} -> fault(Reason)
    end.

%% @doc The unsigned little-endian integer of `Bits' bits at `Ptr'.
-spec read_uint(beamr:instance(), non_neg_integer(), 8 | 16 | 32 | 64) -> non_neg_integer().
read_uint(I, Ptr, Bits) ->
    <<N:Bits/little-unsigned>> = read(I, Ptr, Bits div 8),
    N.

%% @doc Writes `N' as a little-endian integer of `Bits' bits (two's complement if
%% negative) at `Ptr'.
-spec write_uint(beamr:instance(), non_neg_integer(), 8 | 16 | 32 | 64, integer()) -> ok.
write_uint(I, Ptr, Bits, N) ->
    write(I, Ptr, <<N:Bits/little>>).

%% @doc The `Count' iovecs (`{Base, Length}') of the array at `Ptr': 8 bytes each in
%% wasm32 (two u32), 16 in memory64 (two u64).
-spec read_iovecs(beamr:instance(), width(), non_neg_integer(), non_neg_integer()) ->
          [{non_neg_integer(), non_neg_integer()}].
read_iovecs(_I, _Width, _Ptr, Count) when Count > ?MAX_IOVECS ->
    fault({too_many_iovecs, Count});
read_iovecs(I, Width, Ptr, Count) ->
    Bin = read(I, Ptr, Count * 2 * (Width div 8)),
    [{Base, Len} || <<Base:Width/little, Len:Width/little>> <= Bin].

%% @doc The NUL-terminated string at `Ptr', at most `Max' bytes long (without the NUL).
-spec read_cstring(beamr:instance(), non_neg_integer(), non_neg_integer()) -> binary().
read_cstring(I, Ptr, Max) ->
    {ok, Size} = beamr:size(I),
    Avail = min(Max + 1, max(0, Size - Ptr)),
    Bin = read(I, Ptr, Avail),
    case binary:match(Bin, <<0>>) of
        {At, 1} -> binary:part(Bin, 0, At);
        nomatch -> fault({unterminated_string, Ptr})
    end.

%% @doc Throws the fault that the handlers answer with EFAULT.
-spec fault(term()) -> no_return().
fault(Reason) ->
    throw({beamr_fault, Reason}).
