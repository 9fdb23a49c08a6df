%%% @doc Starting the same large module binary again skips hashing it (the NIF remembers
%%% the hash of recent off-heap binaries); these tests check that what is remembered is
%%% always right: same bytes, same compilation; other bytes, their own.
-module(beamr_image_hash_tests).

-include_lib("eunit/include/eunit.hrl").

%% A module over 64 KiB (so its binary is off-heap) whose `first' export reads the
%% first byte of its data.
image(Byte) ->
    Data = binary:copy(<<Byte>>, 100000),
    {ok, Wasm} = beamr:wat_to_wasm(iolist_to_binary(
        ["(module (memory 2) (data (i32.const 0) \"", Data, "\")
           (func (export \"first\") (result i32) i32.const 0 i32.load8_u))"])),
    ?assert(byte_size(Wasm) > 65536),
    Wasm.

same_binary_reuses_its_compilation_test() ->
    Wasm = image($a),
    {ok, I1} = beamr:start(Wasm),
    N = beamr:compilations(),
    {ok, I2} = beamr:start(Wasm),
    {ok, M} = beamr:compile(Wasm),
    ?assertEqual(N, beamr:compilations()),
    ?assertEqual(crypto:hash(sha256, Wasm), beamr:module_hash(M)),
    ?assertEqual({ok, [$a]}, beamr:call(I1, <<"first">>, [])),
    ?assertEqual({ok, [$a]}, beamr:call(I2, <<"first">>, [])).

other_bytes_of_the_same_size_are_their_own_module_test() ->
    A = image($c),
    B = image($d),
    ?assertEqual(byte_size(A), byte_size(B)),
    {ok, IA} = beamr:start(A),
    {ok, IB} = beamr:start(B),
    ?assertEqual({ok, [$c]}, beamr:call(IA, <<"first">>, [])),
    ?assertEqual({ok, [$d]}, beamr:call(IB, <<"first">>, [])),
    %% Many binaries come and go (more than are remembered); each still starts as itself.
    [begin
         W = image(C),
         {ok, I} = beamr:start(W),
         ?assertEqual({ok, [C]}, beamr:call(I, <<"first">>, [])),
         {ok, M} = beamr:compile(W),
         ?assertEqual(crypto:hash(sha256, W), beamr:module_hash(M))
     end || C <- lists:seq($e, $z)].

%% Small binaries are remembered by a copy of their bytes: the same size with other
%% bytes is another module, on the quick start path as on the compiling one, through
%% more binaries than are remembered, again and again.
small_binaries_are_their_own_modules_test() ->
    Small = fun(C) -> iolist_to_binary(io_lib:format(
                          "(module (func (export \"first\") (result i32) i32.const ~3..0b))", [C]))
            end,
    Codes = lists:seq(100, 130),
    ?assertEqual(1, length(lists:usort([byte_size(Small(C)) || C <- Codes]))),
    [begin
         W = Small(C),
         {ok, I} = beamr:start(W),
         ?assertEqual({ok, [C]}, beamr:call(I, <<"first">>, [])),
         {ok, M} = beamr:compile(W),
         ?assertEqual(crypto:hash(sha256, W), beamr:module_hash(M))
     end || _ <- [1, 2, 3], C <- Codes].
