%%% @doc HyperBEAM's WASM device (`WASM-64@1.0'), on beamr: the same keys and
%%% message layout as HyperBEAM's `dev_wasm', with wasmtime (through
%%% {@link hb_beamr}) instead of WAMR.
%%%
%%% <pre>
%%%   init      reads the image from `[InPrefix]/image' (an ID, a message with a
%%%             `body', or a binary), else from `body'; `[InPrefix]/Mode' is
%%%             `WASM' or `AOT' (AOT only if the node option `wasm_allow_aot' is
%%%             true). Writes priv/[Prefix]/instance, import-resolver, write, read.
%%%   compute   on pass 1 (or no pass): calls `function' with `parameters', each
%%%             taken from M2/body, then M2, then M1. Writes
%%%             results/[Prefix]/type (`ok' or `error') and results/[Prefix]/output.
%%%   import    answers an import from [Prefix]/stdlib/[module]/[func]; an
%%%             import nobody defines is recorded under
%%%             state/results/[Prefix]/undefined-calls and answered `[0]'.
%%%   snapshot  `#{<<"body">> => hb_beamr:serialize(Instance)}'.
%%%   normalize with no live instance: init, then restore
%%%             snapshot/[device-key]/body; the hashpath is not touched.
%%%   terminate stops the instance and unsets priv/[Prefix]/instance.
%%% </pre>
%%%
%%% `Prefix' is `output-prefix' and `InPrefix' is `input-prefix' (both default
%%% empty). The device runs in one of two worlds, fixed at first use (see
%%% {@link world/0} and {@link dev_wasm_env}): inside a HyperBEAM node it uses
%%% HyperBEAM's own message modules; on plain OTP it uses beamr's standalone
%%% message layer, a documented subset ({@link beamr_msg}).
%%%
%%% Where HyperBEAM crashes with a badmatch, this device returns an error tuple:
%%% `{error, {wasm_init_error, Why}}', `{error, no_wasm_instance_or_snapshot}',
%%% `{error, {wasm_restore_error, Why}}', `{error, {wasm_snapshot_error, Why}}'.
%%% A call that fails (a trap, an unknown function, a bad argument) is not an
%%% error of the device: compute writes `type' `error' and the reason as `output'.
%%% A base message or node options that are not maps (or an import request without
%%% binary `module' and `func') are `{error, {badarg, Args}}'.
-module(dev_wasm).

-export([info/2, init/3, compute/3, import/3, terminate/3, snapshot/3, normalize/3]).
%% For other devices (excluded from resolution by info/2):
-export([instance/3]).
%% Which world the device runs in:
-export([world/0]).
%% HyperBEAM's test API (other devices' tests use it):
-export([cache_wasm_image/1, cache_wasm_image/2]).

%% @doc Every function is a device key except `instance' (and `world').
-spec info(term(), map()) -> #{excludes := [atom()]}.
info(_Msg, _Opts) ->
    #{excludes => [instance, world, cache_wasm_image]}.

%% @doc `hyperbeam' inside a HyperBEAM node, `standalone' on plain OTP.
-spec world() -> dev_wasm_env:world().
world() ->
    dev_wasm_env:world().

%% @doc Stores the WASM file `Image' (as `#{<<"body">> => Bin}') and returns a
%% message that boots it by ID: `#{<<"device">> => <<"wasm-64@1.0">>, <<"image">> => ID}'.
-spec cache_wasm_image(file:filename_all()) -> map().
cache_wasm_image(Image) ->
    cache_wasm_image(Image, #{}).

%% @doc As {@link cache_wasm_image/1}, with node options for the cache.
%% A file that cannot be read (or stored) is `{error, Reason}'.
-spec cache_wasm_image(file:filename_all(), map()) -> map() | {error, term()}.
cache_wasm_image(Image, Opts) when is_map(Opts) ->
    case read_image_file(Image) of
        {ok, Bin} ->
            case dev_wasm_env:write_image(#{<<"body">> => Bin}, Opts) of
                {ok, ID} -> #{<<"device">> => <<"wasm-64@1.0">>, <<"image">> => ID};
                {error, _} = Error -> Error
            end;
        {error, _} = Error ->
            Error
    end;
cache_wasm_image(Image, Opts) ->
    {error, {badarg, [Image, Opts]}}.

%% file:read_file/1 raises for a name that is no filename (a deep improper list, say).
read_image_file(Image) when is_binary(Image); is_list(Image); is_atom(Image) ->
    try file:read_file(Image)
    catch
        error:_ -> {error, {badarg, [Image]}}
    end;
read_image_file(Image) ->
    {error, {badarg, [Image]}}.

%% @doc Boots the image and stores the instance and its helpers in `priv/[Prefix]/'.
-spec init(map(), term(), map()) -> {ok, map()} | {error, term()}.
init(M1, M2, Opts) when is_map(M1), is_map(Opts) ->
    InPrefix = dev_wasm_env:input_prefix(M1, M2, Opts),
    Prefix = dev_wasm_env:prefix(M1, M2, Opts),
    case image(InPrefix, M1, Opts) of
        {ok, ImageBin} ->
            case mode(InPrefix, M1, Opts) of
                {ok, Mode} -> start(ImageBin, Mode, Prefix, M1, Opts);
                {error, _} = Error -> Error
            end;
        {error, _} = Error ->
            Error
    end;
init(M1, M2, Opts) ->
    badarg(M1, M2, Opts).

%% @doc Calls the WASM function named by the messages (on pass 1 or no pass).
-spec compute(map(), term(), map()) -> {ok, map()} | {error, term()}.
compute(RawM1, M2, Opts) when is_map(RawM1), is_map(Opts) ->
    case normalize(RawM1, M2, Opts) of
        {ok, M1} ->
            case dev_wasm_env:get(pass, M1, Opts) of
                Pass when Pass == 1; Pass == not_found -> execute(M1, M2, Opts);
                _ -> {ok, M1}
            end;
        {error, _} = Error ->
            Error
    end;
compute(M1, M2, Opts) ->
    badarg(M1, M2, Opts).

%% @doc Ensures a live instance: without one, boots the image and restores the
%% state in `snapshot/[device-key]/body'. Removes `snapshot' either way.
-spec normalize(map(), term(), map()) -> {ok, map()} | {error, term()}.
normalize(RawM1, M2, Opts) when is_map(RawM1), is_map(Opts) ->
    Normalized =
        case instance(RawM1, M2, Opts) of
            not_found -> restore(RawM1, M2, Opts);
            _ -> {ok, RawM1}
        end,
    case Normalized of
        {ok, M} -> {ok, dev_wasm_env:set(M, #{<<"snapshot">> => unset}, Opts)};
        {error, _} = Error -> Error
    end;
normalize(M1, M2, Opts) ->
    badarg(M1, M2, Opts).

%% @doc The instance's state as `#{<<"body">> => Binary}'.
-spec snapshot(map(), term(), map()) -> {ok, #{binary() => binary()}} | {error, term()}.
snapshot(M1, M2, Opts) when is_map(M1), is_map(Opts) ->
    case instance(M1, M2, Opts) of
        Instance when is_pid(Instance) ->
            case hb_beamr:serialize(Instance) of
                {ok, Serialized} -> {ok, #{<<"body">> => Serialized}};
                {error, Reason} -> {error, {wasm_snapshot_error, Reason}}
            end;
        _ ->
            {error, no_wasm_instance}
    end;
snapshot(M1, M2, Opts) ->
    badarg(M1, M2, Opts).

%% @doc Stops the instance and removes it from `priv/[Prefix]/instance'.
-spec terminate(map(), term(), map()) -> {ok, map()} | {error, term()}.
terminate(M1, M2, Opts) when is_map(M1), is_map(Opts) ->
    Prefix = dev_wasm_env:prefix(M1, M2, Opts),
    case instance(M1, M2, Opts) of
        Instance when is_pid(Instance) -> ok = hb_beamr:stop(Instance);
        _ -> ok
    end,
    {ok, dev_wasm_env:priv_set(M1, #{<<Prefix/binary, "/instance">> => unset}, Opts)};
terminate(M1, M2, Opts) ->
    badarg(M1, M2, Opts).

%% @doc The instance in `priv/[Prefix]/instance', or `not_found'.
-spec instance(map(), term(), map()) -> pid() | not_found | term().
instance(M1, M2, Opts) when is_map(M1), is_map(Opts) ->
    Prefix = dev_wasm_env:prefix(M1, M2, Opts),
    dev_wasm_env:priv_get(<<Prefix/binary, "/instance">>, M1, Opts#{hashpath => ignore});
instance(_M1, _M2, _Opts) ->
    not_found.

%% @doc Answers an import from `[Prefix]/stdlib/[module]/[func]', resolved against
%% `Msg1' with `Msg1' placed at `[Prefix]/stdlib/[module]/state'; an import that
%% is not found there goes to the undefined-import stub. Returns
%% `{ok, #{state => NextState, results => Results}}' (either key form).
-spec import(map(), map(), map()) -> {ok, term()} | {error, term()}.
import(Msg1, Msg2, Opts) when is_map(Msg1), is_map(Msg2), is_map(Opts) ->
    case {dev_wasm_env:get(<<"module">>, Msg2, Opts), dev_wasm_env:get(<<"func">>, Msg2, Opts)} of
        {ModName, FuncName} when is_binary(ModName), is_binary(FuncName) ->
            import(ModName, FuncName, Msg1, Msg2, Opts);
        _ ->
            badarg(Msg1, Msg2, Opts)
    end;
import(Msg1, Msg2, Opts) ->
    badarg(Msg1, Msg2, Opts).

import(ModName, FuncName, Msg1, Msg2, Opts) ->
    Prefix = dev_wasm_env:prefix(Msg1, Msg2, Opts),
    LibPath = <<Prefix/binary, "/stdlib/", ModName/binary>>,
    AdjustedMsg2 = Msg2#{<<"path">> => <<LibPath/binary, "/", FuncName/binary>>},
    AdjustedMsg1 =
        dev_wasm_env:set(Msg1, #{<<LibPath/binary, "/state">> => Msg1},
                         Opts#{hashpath => ignore}),
    case dev_wasm_env:resolve(AdjustedMsg1, AdjustedMsg2, Opts) of
        {ok, Res} -> {ok, Res};
        {error, not_found} -> undefined_import_stub(Msg1, Msg2, Opts);
        {error, _} = Error -> Error
    end.

%%% Internal

badarg(M1, M2, Opts) ->
    {error, {badarg, [M1, M2, Opts]}}.

%% The image binary: [InPrefix]/image as an ID, a message or a binary; else body.
image(InPrefix, M1, Opts) ->
    case dev_wasm_env:get(<<InPrefix/binary, "/image">>, M1, Opts) of
        not_found ->
            case dev_wasm_env:get(<<"body">>, M1, Opts) of
                Bin when is_binary(Bin) -> {ok, Bin};
                _ -> {error, {wasm_init_error,
                              <<"No viable image found in ", InPrefix/binary, "/image.">>}}
            end;
        ImageID when is_binary(ImageID) ->
            case dev_wasm_env:is_id(ImageID) of
                true ->
                    case dev_wasm_env:read_image(ImageID, Opts) of
                        {ok, ImageMsg} -> body(ImageMsg, Opts);
                        not_found -> {error, {wasm_init_error, {image_not_found, ImageID}}}
                    end;
                false ->
                    {ok, ImageID}
            end;
        ImageMsg when is_map(ImageMsg) ->
            body(ImageMsg, Opts);
        Other ->
            {error, {wasm_init_error, {bad_image, Other}}}
    end.

body(ImageMsg, Opts) ->
    case dev_wasm_env:get(<<"body">>, ImageMsg, Opts) of
        Bin when is_binary(Bin) -> {ok, Bin};
        _ -> {error, {wasm_init_error, image_without_body}}
    end.

%% `[InPrefix]/Mode': WASM (the default) or AOT, which the node must allow.
mode(InPrefix, M1, Opts) ->
    Mode =
        case dev_wasm_env:get(<<InPrefix/binary, "/Mode">>, M1, Opts) of
            not_found -> dev_wasm_env:get(<<InPrefix/binary, "/mode">>, M1, Opts);
            Found -> Found
        end,
    case Mode of
        not_found -> {ok, wasm};
        <<"WASM">> -> {ok, wasm};
        <<"AOT">> ->
            case dev_wasm_env:opt(wasm_allow_aot, false, Opts) of
                true -> {ok, aot};
                _ -> {ok, wasm}
            end;
        Other -> {error, {wasm_init_error, {bad_mode, Other}}}
    end.

start(ImageBin, Mode, Prefix, M1, Opts) ->
    case hb_beamr:start(ImageBin, Mode) of
        {ok, Instance, _Imports, _Exports} ->
            {ok, dev_wasm_env:priv_set(M1,
                    #{<<Prefix/binary, "/write">> => write_fun(Instance),
                      <<Prefix/binary, "/read">> => read_fun(Instance),
                      <<Prefix/binary, "/instance">> => Instance,
                      <<Prefix/binary, "/import-resolver">> => fun default_import_resolver/3},
                    Opts)};
        {error, Reason} ->
            {error, {wasm_init_error, Reason}}
    end.

%% The string closures HyperBEAM's JSON interface uses: write a binary into
%% memory the module allocates (returns `{ok, Ptr}'), read a NUL-terminated
%% string at a pointer (or a one-element result list).
write_fun(Instance) ->
    fun(Binary) -> hb_beamr_io:write_string(Instance, Binary) end.

read_fun(Instance) ->
    fun Reader([Ptr]) -> Reader(Ptr);
        Reader(Ptr) -> hb_beamr_io:read_string(Instance, Ptr)
    end.

restore(RawM1, M2, Opts) ->
    DeviceKey =
        case dev_wasm_env:get(<<"device-key">>, RawM1, Opts) of
            not_found -> [];
            Key when is_binary(Key) -> [Key];
            Key -> {error, {wasm_restore_error, {bad_device_key, Key}}}
        end,
    case is_list(DeviceKey) andalso
         dev_wasm_env:get_message([<<"snapshot">>] ++ DeviceKey ++ [<<"body">>], RawM1, Opts) of
        false ->
            DeviceKey;
        State when is_binary(State) ->
            case init(RawM1, State, Opts) of
                {ok, M1} ->
                    case hb_beamr:deserialize(instance(M1, M2, Opts), State) of
                        ok -> {ok, M1};
                        {error, Reason} -> {error, {wasm_restore_error, Reason}}
                    end;
                {error, _} = Error ->
                    Error
            end;
        _ ->
            {error, no_wasm_instance_or_snapshot}
    end.

execute(M1, M2, Opts) ->
    Prefix = dev_wasm_env:prefix(M1, M2, Opts),
    Function =
        dev_wasm_env:get_first(
            [{M2, <<"body/function">>}, {M2, <<"function">>}, {M1, <<"function">>}], Opts),
    Params =
        dev_wasm_env:get_first(
            [{M2, <<"body/parameters">>}, {M2, <<"parameters">>}, {M1, <<"parameters">>}], Opts),
    case Function of
        not_found ->
            {ok, M1};
        _ ->
            Resolver =
                case dev_wasm_env:priv_get(<<Prefix/binary, "/import-resolver">>, M1, Opts) of
                    Fun when is_function(Fun, 3) -> Fun;
                    _ -> fun default_import_resolver/3
                end,
            Args = case Params of not_found -> []; _ -> Params end,
            {Type, Output, After} =
                hb_beamr:call(instance(M1, M2, Opts), Function, Args, Resolver, M1, Opts),
            {ok, dev_wasm_env:set(After,
                    #{<<"results/", Prefix/binary, "/type">> => Type,
                      <<"results/", Prefix/binary, "/output">> => Output},
                    Opts)}
    end.

%% The import fun given to hb_beamr: resolves `import' on the message (with the
%% live instance in priv) and returns its `results' and next `state'.
default_import_resolver(Msg1, #{instance := WASM, module := Module, func := Func,
                                args := Args} = Req, Opts) ->
    Prefix = dev_wasm_env:prefix(Msg1, Req, Opts),
    ImportReq = #{<<"path">> => <<"import">>,
                  <<"module">> => bin(Module),
                  <<"func">> => bin(Func),
                  <<"args">> => Args,
                  <<"func-sig">> => bin(maps:get(func_sig, Req, <<>>))},
    WithInstance = dev_wasm_env:priv_set(Msg1, #{<<Prefix/binary, "/instance">> => WASM}, Opts),
    case dev_wasm_env:resolve_import(WithInstance, ImportReq, Opts) of
        {ok, Res} ->
            {ok, dev_wasm_env:get(results, Res, Opts), dev_wasm_env:get(state, Res, Opts)};
        {error, Reason} ->
            %% hb_beamr turns this into {error, {import_crashed, ...}, State}.
            error({import_failed, bin(Module), bin(Func), Reason})
    end.

%% Records an import nobody defines and answers it with [0].
undefined_import_stub(Msg1, Msg2, Opts) ->
    Prefix = dev_wasm_env:prefix(Msg1, Msg2, Opts),
    Path = <<"state/results/", Prefix/binary, "/undefined-calls">>,
    Seen =
        case dev_wasm_env:get(Path, Msg1, Opts) of
            not_found -> [];
            Calls -> Calls
        end,
    {ok, #{state => dev_wasm_env:set(Msg1, #{Path => [Msg2 | Seen]}, Opts), results => [0]}}.

bin(List) when is_list(List) -> list_to_binary(List);
bin(Bin) when is_binary(Bin) -> Bin.
