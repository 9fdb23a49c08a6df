%%% @doc HyperBEAM's `hb_beamr_io' API, on beamr: the memory of an instance
%%% started by {@link hb_beamr}.
%%%
%%% Every offset and size is checked: anything outside the memory is an
%%% `{error, _}' tuple. Arguments of the wrong type (a `WASM' that is not a pid, an
%%% offset or size that is not an integer, data that is not a binary or iodata) are
%%% `{error, {badarg, Args}}'; a pid that holds no instance is `{error, stopped}'.
%%% All of these work inside an import fun, on the live memory, and on an instance of
%%% another node (a request to its process, see {@link hb_beamr}).
-module(hb_beamr_io).

-compile({no_auto_import, [size/1]}).

-export([size/1, read/3, write/3, read_string/2, read_string/3, write_string/2,
         malloc/2, free/2]).

%% @doc The size of the instance's memory in bytes.
-spec size(pid()) -> {ok, non_neg_integer()} | {error, term()}.
size(WASM) when is_pid(WASM), node(WASM) =/= node() ->
    beamr_remote:op(WASM, size);
size(WASM) when is_pid(WASM) ->
    with(WASM, fun beamr:size/1);
size(WASM) ->
    {error, {badarg, [WASM]}}.

%% @doc Writes `Data' at `Offset'.
-spec write(pid(), integer(), binary()) -> ok | {error, term()}.
write(WASM, Offset, Data)
        when is_pid(WASM), node(WASM) =/= node(), is_integer(Offset), is_binary(Data) ->
    beamr_remote:op(WASM, {write, Offset, Data});
write(WASM, Offset, Data) when is_pid(WASM), is_integer(Offset), is_binary(Data) ->
    with(WASM, fun(I) -> beamr:write(I, Offset, Data) end);
write(WASM, Offset, Data) ->
    {error, {badarg, [WASM, Offset, Data]}}.

%% @doc Reads `Size' bytes at `Offset'.
-spec read(pid(), integer(), integer()) -> {ok, binary()} | {error, term()}.
read(WASM, Offset, Size)
        when is_pid(WASM), node(WASM) =/= node(), is_integer(Offset), is_integer(Size) ->
    beamr_remote:op(WASM, {read, Offset, Size});
read(WASM, Offset, Size) when is_pid(WASM), is_integer(Offset), is_integer(Size) ->
    with(WASM, fun(I) -> beamr:read(I, Offset, Size) end);
read(WASM, Offset, Size) ->
    {error, {badarg, [WASM, Offset, Size]}}.

%% @doc Reads a NUL-terminated string at `Offset' (without the NUL).
-spec read_string(pid(), integer()) -> {ok, binary()} | {error, term()}.
read_string(WASM, Offset) ->
    read_string(WASM, Offset, 64).

%% @doc As {@link read_string/2}; `ChunkSize' (BEAMR's read size) must be positive.
-spec read_string(pid(), integer(), pos_integer()) -> {ok, binary()} | {error, term()}.
read_string(WASM, Offset, ChunkSize)
        when is_pid(WASM), is_integer(Offset), is_integer(ChunkSize), ChunkSize > 0 ->
    %% BEAMR reads chunk by chunk until the NUL; the NIF scans for it in place, so the
    %% chunk size no longer changes anything but is still checked.
    case node(WASM) =:= node() of
        true -> with(WASM, fun(I) -> beamr:read_string(I, Offset) end);
        false -> beamr_remote:op(WASM, {read_string, Offset})
    end;
read_string(WASM, Offset, ChunkSize) ->
    {error, {badarg, [WASM, Offset, ChunkSize]}}.

%% @doc Allocates room with the module's `malloc', writes `Data' and a NUL there.
-spec write_string(pid(), iodata()) -> {ok, non_neg_integer()} | {error, term()}.
write_string(WASM, Data) when is_pid(WASM), is_list(Data) ->
    case iodata_binary(Data) of
        {ok, Bin} -> write_string(WASM, Bin);
        error -> {error, {badarg, [WASM, Data]}}
    end;
write_string(WASM, Data) when is_pid(WASM), is_binary(Data) ->
    case malloc(WASM, byte_size(Data) + 1) of
        {ok, Ptr} ->
            case write(WASM, Ptr, <<Data/binary, 0>>) of
                ok -> {ok, Ptr};
                {error, _} = Error -> Error
            end;
        {error, _} = Error ->
            Error
    end;
write_string(WASM, Data) ->
    {error, {badarg, [WASM, Data]}}.

%% @doc Calls the module's exported `malloc': `{error, malloc_failed}' if it returns 0,
%% `{error, {bad_malloc_result, Results}}' if it does not return one value.
-spec malloc(pid(), integer()) -> {ok, non_neg_integer()} | {error, term()}.
malloc(WASM, Size) when is_pid(WASM), is_integer(Size) ->
    case hb_beamr:call(WASM, "malloc", [Size]) of
        {ok, [0]} -> {error, malloc_failed};
        {ok, [Ptr]} -> {ok, Ptr};
        {ok, Other} -> {error, {bad_malloc_result, Other}};
        {error, _} = Error -> Error
    end;
malloc(WASM, Size) ->
    {error, {badarg, [WASM, Size]}}.

%% @doc Calls the module's exported `free'.
-spec free(pid(), integer()) -> ok | {error, term()}.
free(WASM, Ptr) when is_pid(WASM), is_integer(Ptr) ->
    case hb_beamr:call(WASM, "free", [Ptr]) of
        {ok, _} -> ok;
        {error, _} = Error -> Error
    end;
free(WASM, Ptr) ->
    {error, {badarg, [WASM, Ptr]}}.

iodata_binary(Data) ->
    try iolist_to_binary(Data) of
        Bin -> {ok, Bin}
    catch
        error:badarg -> error
    end.

with(WASM, Fun) ->
    hb_beamr:with_instance(WASM, Fun, {error, stopped}).
