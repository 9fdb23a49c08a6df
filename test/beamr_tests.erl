%%% @doc Tests of the BEAM-native `beamr' API against the real NIF and real wasm.
-module(beamr_tests).

-include_lib("eunit/include/eunit.hrl").

-import(beamr_test_util, [start/1, within/2]).

-define(I32_MIN, -16#80000000).
-define(I64_MIN, -16#8000000000000000).
-define(I64_MAX, 16#7FFFFFFFFFFFFFFF).

%%% Starting and calling

start_from_wat_test() ->
    {ok, I} = beamr:start(beamr_test_util:fixture("test.wat")),
    ?assert(is_reference(I)),
    ?assertEqual(false, beamr:is_stopped(I)),
    Exports = beamr:exports(I),
    ?assert(lists:member({func, <<"fac">>, <<"(F)F">>}, Exports)),
    ?assert(lists:member({func, <<"pair">>, <<"(iI)iI">>}, Exports)),
    ?assert(lists:member({memory, <<"memory">>, <<>>}, Exports)),
    ?assertEqual([], beamr:imports(I)).

imports_listed_test() ->
    I = start("pow_calculator.wat"),
    ?assertEqual([{func, <<"my_lib">>, <<"mul">>, <<"(ii)i">>}], beamr:imports(I)).

invalid_module_test() ->
    ?assertMatch({error, {invalid_module, _}}, beamr:start(<<"junk">>)),
    ?assertMatch({error, {invalid_module, _}}, beamr:start(<<0, "asm", 1, 0, 0, 0, 99>>)),
    ?assertMatch({error, {invalid_module, _}},
                 beamr:start(<<"(module (func (result i32) f64.const 1))">>)).

call_results_test() ->
    I = start("test.wat"),
    ?assertEqual({ok, [120.0]}, beamr:call(I, <<"fac">>, [5.0])),
    ?assertEqual({ok, [1.0]}, beamr:call(I, <<"fac">>, [0.0])),
    ?assertEqual({ok, [3628800.0]}, beamr:call(I, "fac", [10])),
    ?assertEqual({ok, [5]}, beamr:call(I, add, [2, 3])),
    ?assertEqual({ok, [-3]}, beamr:call(I, <<"div_s">>, [-7, 2])),
    ?assertEqual({ok, []}, beamr:call(I, <<"store_i32">>, [0, 7])).

multi_value_test() ->
    I = start("test.wat"),
    ?assertEqual({ok, [7, 1 bsl 40]}, beamr:call(I, <<"pair">>, [7, 1 bsl 40])),
    ?assertEqual({ok, [-1, ?I64_MIN]}, beamr:call(I, <<"pair">>, [-1, ?I64_MIN])).

%%% Value checks

i32_range_test() ->
    I = start("test.wat"),
    ?assertEqual({ok, [?I32_MIN]}, beamr:call(I, <<"id_i32">>, [?I32_MIN])),
    ?assertEqual({ok, [16#7FFFFFFF]}, beamr:call(I, <<"id_i32">>, [16#7FFFFFFF])),
    %% The unsigned half wraps to the same bits.
    ?assertEqual({ok, [-1]}, beamr:call(I, <<"id_i32">>, [16#FFFFFFFF])),
    ?assertEqual({ok, [?I32_MIN]}, beamr:call(I, <<"id_i32">>, [16#80000000])),
    ?assertEqual({error, {bad_arg, 1, i32, 1 bsl 32}}, beamr:call(I, <<"id_i32">>, [1 bsl 32])),
    ?assertEqual({error, {bad_arg, 1, i32, ?I32_MIN - 1}},
                 beamr:call(I, <<"id_i32">>, [?I32_MIN - 1])),
    ?assertEqual({error, {bad_arg, 1, i32, 1.0}}, beamr:call(I, <<"id_i32">>, [1.0])),
    ?assertEqual({error, {bad_arg, 2, i32, 1.5}}, beamr:call(I, <<"add">>, [1, 1.5])),
    ?assertEqual({error, {bad_arg, 1, i32, foo}}, beamr:call(I, <<"id_i32">>, [foo])),
    ?assertEqual({error, {bad_arg, 1, i32, nan}}, beamr:call(I, <<"id_i32">>, [nan])),
    ?assertEqual({error, {bad_arg, 1, i32, "1"}}, beamr:call(I, <<"id_i32">>, ["1"])).

i64_range_test() ->
    I = start("test.wat"),
    ?assertEqual({ok, [?I64_MAX]}, beamr:call(I, <<"id_i64">>, [?I64_MAX])),
    ?assertEqual({ok, [?I64_MIN]}, beamr:call(I, <<"id_i64">>, [?I64_MIN])),
    ?assertEqual({ok, [-1]}, beamr:call(I, <<"id_i64">>, [(1 bsl 64) - 1])),
    ?assertEqual({ok, [1 bsl 53 + 1]}, beamr:call(I, <<"id_i64">>, [1 bsl 53 + 1])),
    ?assertEqual({error, {bad_arg, 1, i64, 1 bsl 64}}, beamr:call(I, <<"id_i64">>, [1 bsl 64])),
    ?assertEqual({error, {bad_arg, 1, i64, ?I64_MIN - 1}},
                 beamr:call(I, <<"id_i64">>, [?I64_MIN - 1])),
    ?assertEqual({error, {bad_arg, 1, i64, 2.0}}, beamr:call(I, <<"id_i64">>, [2.0])).

f64_values_test() ->
    I = start("test.wat"),
    ?assertEqual({ok, [3.0]}, beamr:call(I, <<"id_f64">>, [3])),
    ?assertEqual({ok, [-2.5]}, beamr:call(I, <<"id_f64">>, [-2.5])),
    ?assertEqual({ok, [9007199254740992.0]}, beamr:call(I, <<"id_f64">>, [1 bsl 53])),
    ?assertEqual({error, {bad_arg, 1, f64, 1 bsl 53 + 1}},
                 beamr:call(I, <<"id_f64">>, [1 bsl 53 + 1])),
    ?assertEqual({error, {bad_arg, 1, f64, foo}}, beamr:call(I, <<"id_f64">>, [foo])),
    ?assertEqual({ok, [nan]}, beamr:call(I, <<"id_f64">>, [nan])),
    ?assertEqual({ok, [infinity]}, beamr:call(I, <<"id_f64">>, [infinity])),
    ?assertEqual({ok, [neg_infinity]}, beamr:call(I, <<"id_f64">>, [neg_infinity])),
    %% Computed non-finite results come back as the atoms too.
    ?assertEqual({ok, [infinity]}, beamr:call(I, <<"fdiv">>, [1, 0])),
    ?assertEqual({ok, [neg_infinity]}, beamr:call(I, <<"fdiv">>, [-1.0, 0.0])),
    ?assertEqual({ok, [nan]}, beamr:call(I, <<"fdiv">>, [0, 0])),
    ?assertEqual({ok, [0.0]}, beamr:call(I, <<"fdiv">>, [1, infinity])).

f32_values_test() ->
    I = start("test.wat"),
    ?assertEqual({ok, [1.5]}, beamr:call(I, <<"id_f32">>, [1.5])),
    ?assertEqual({ok, [16777216.0]}, beamr:call(I, <<"id_f32">>, [1 bsl 24])),
    ?assertEqual({error, {bad_arg, 1, f32, 1 bsl 24 + 1}},
                 beamr:call(I, <<"id_f32">>, [1 bsl 24 + 1])),
    ?assertEqual({ok, [nan]}, beamr:call(I, <<"id_f32">>, [nan])),
    ?assertEqual({ok, [neg_infinity]}, beamr:call(I, <<"id_f32">>, [neg_infinity])).

v128_and_ref_values_test() ->
    I = start("test.wat"),
    V = <<1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16>>,
    ?assertEqual({ok, [V]}, beamr:call(I, <<"id_v128">>, [V])),
    ?assertEqual({error, {bad_arg, 1, v128, <<1, 2, 3>>}}, beamr:call(I, <<"id_v128">>, [<<1, 2, 3>>])),
    ?assertEqual({error, {bad_arg, 1, v128, 7}}, beamr:call(I, <<"id_v128">>, [7])),
    ?assertEqual({ok, [null]}, beamr:call(I, <<"null_ref">>, [])),
    ?assertEqual({ok, [1]}, beamr:call(I, <<"is_null">>, [null])),
    ?assertEqual({error, {bad_arg, 1, funcref, 0}}, beamr:call(I, <<"is_null">>, [0])).

%%% Start functions and imported memory

start_function_import_test() ->
    Wat = <<"(module (import \"env\" \"f\" (func $f)) (func $s call $f) (start $s))">>,
    ?assertEqual({error, {import_during_start, <<"env">>, <<"f">>}}, beamr:start(Wat)).

start_function_trap_test() ->
    Wat = <<"(module (func $s unreachable) (start $s))">>,
    ?assertMatch({error, {trap, _}}, beamr:start(Wat)).

start_function_timeout_test() ->
    Wat = <<"(module (func $s (loop $l br $l)) (start $s))">>,
    ?assertEqual({error, timeout},
                 within(3000, fun() -> beamr:start(Wat, #{timeout => 50}) end)).

imported_memory_test() ->
    Wat = <<"(module (import \"env\" \"mem\" (memory 1))"
            " (func (export \"get\") (param i32) (result i32) local.get 0 i32.load8_u))">>,
    {ok, I} = beamr:start(Wat),
    ?assertEqual([{memory, <<"env">>, <<"mem">>, <<>>}], beamr:imports(I)),
    ?assertEqual({ok, 65536}, beamr:size(I)),
    ?assertEqual(ok, beamr:write(I, 10, <<99>>)),
    ?assertEqual({ok, [99]}, beamr:call(I, <<"get">>, [10])).

%%% Call errors

unknown_export_test() ->
    I = start("test.wat"),
    ?assertEqual({error, {unknown_export, <<"nope">>}}, beamr:call(I, <<"nope">>, [])),
    ?assertMatch({error, {not_a_function, <<"memory">>}}, beamr:call(I, <<"memory">>, [])),
    ?assertEqual({ok, [120.0]}, beamr:call(I, <<"fac">>, [5.0])).

bad_arity_test() ->
    I = start("test.wat"),
    ?assertEqual({error, {bad_arity, 2, 1}}, beamr:call(I, <<"add">>, [1])),
    ?assertEqual({error, {bad_arity, 1, 0}}, beamr:call(I, <<"fac">>, [])),
    ?assertEqual({error, {bad_arity, 0, 1}}, beamr:call(I, <<"spin">>, [1])).

bad_func_and_args_test() ->
    I = start("test.wat"),
    ?assertMatch({error, {bad_func, _}}, beamr:call(I, {fac}, [5.0])),
    ?assertMatch({error, {bad_func, _}}, beamr:call(I, -1, [5.0])),
    ?assertMatch({error, _}, beamr:call(I, <<"fac">>, 5.0)),
    ?assertMatch({error, _}, beamr:call(I, "fac", 5.0)),
    %% A name that is not UTF-8 names no export (wasm names are UTF-8).
    ?assertMatch({error, {unknown_export, _}}, beamr:call(I, <<255, 0>>, [])),
    ?assertEqual({ok, [120.0]}, beamr:call(I, <<"fac">>, [5.0])).

%% Many exports called on one instance each find their own function, before and
%% after the resolved-export cache outgrows its short list.
many_exports_test() ->
    Funcs = [io_lib:format("(func (export \"f~b\") (result i32) i32.const ~b)", [K, K * 7])
             || K <- lists:seq(1, 20)],
    {ok, I} = beamr:start(iolist_to_binary(["(module ", Funcs, ")"])),
    Names = [iolist_to_binary(io_lib:format("f~b", [K])) || K <- lists:seq(1, 20)],
    [?assertEqual({ok, [K * 7]}, beamr:call(I, Name, []))
     || _ <- [1, 2], {K, Name} <- lists:zip(lists:seq(1, 20), Names)],
    ?assertMatch({error, {unknown_export, <<"f21">>}}, beamr:call(I, <<"f21">>, [])),
    ?assertMatch({error, {unknown_export, <<"f">>}}, beamr:call(I, <<"f">>, [])).

%% An improper argument list is an error, not an exception.
improper_args_test() ->
    I = start("test.wat"),
    ?assertMatch({error, _}, catch_nif(fun() -> beamr:call(I, <<"fac">>, [5.0 | 1.0]) end)),
    ?assertMatch({error, _}, catch_nif(fun() -> beamr:call(I, "add", [1, 2 | 3]) end)),
    ?assertEqual({ok, [120.0]}, beamr:call(I, <<"fac">>, [5.0])).

%% ... and it leaves the instance usable by other processes.
improper_args_then_other_process_test() ->
    I = start("test.wat"),
    _ = catch_nif(fun() -> beamr:call(I, <<"fac">>, [5.0 | 1.0]) end),
    ?assertEqual({ok, [120.0]}, within(2000, fun() -> beamr:call(I, <<"fac">>, [5.0], #{}) end)).

%% An import fun answering with an improper list fails that call, cleanly.
improper_import_results_test() ->
    P = start("pow_calculator.wat"),
    Bad = fun(S, _, _) -> {ok, [1 | 2], S} end,
    ?assertMatch({error, _, s},
                 catch_nif(fun() -> beamr:call(P, <<"pow">>, [2, 2], Bad, s, #{}) end)),
    ?assertEqual({ok, [8], s}, beamr:call(P, <<"pow">>, [2, 3], fun mul/3, s, #{})).

improper_import_results_then_other_process_test() ->
    P = start("pow_calculator.wat"),
    Bad = fun(S, _, _) -> {ok, [1 | 2], S} end,
    _ = catch_nif(fun() -> beamr:call(P, <<"pow">>, [2, 2], Bad, s, #{}) end),
    ?assertEqual({ok, [8], s},
                 within(2000, fun() -> beamr:call(P, <<"pow">>, [2, 3], fun mul/3, s, #{}) end)).

%% Turns an exception into a value that the assertion then rejects.
catch_nif(Fun) ->
    try Fun() catch C:R -> {raised, C, R} end.

trap_test() ->
    I = start("test.wat"),
    {error, {trap, Msg}} = beamr:call(I, <<"div_s">>, [1, 0]),
    ?assert(is_binary(Msg)),
    ?assertNotEqual(nomatch, binary:match(Msg, <<"divide">>)),
    ?assertMatch({error, {trap, _}}, beamr:call(I, <<"div_s">>, [?I32_MIN, -1])),
    %% Out-of-bounds access traps too.
    ?assertMatch({error, {trap, _}}, beamr:call(I, <<"load_i32">>, [65534])),
    ?assertEqual({ok, [3]}, beamr:call(I, <<"div_s">>, [7, 2])),
    ?assertEqual({ok, <<"Hello, World!">>}, beamr:read(I, 66, 13)).

indirect_call_test() ->
    I = start("test.wat"),
    ?assertEqual({ok, [120.0]}, beamr:call(I, 1, [5.0])),
    ?assertEqual({ok, [9]}, beamr:call(I, 2, [4, 5])),
    ?assertEqual({error, {bad_table_index, 0}}, beamr:call(I, 0, [])),
    ?assertEqual({error, {bad_table_index, 3}}, beamr:call(I, 3, [])),
    ?assertEqual({error, {bad_table_index, 1 bsl 40}}, beamr:call(I, 1 bsl 40, [])),
    ?assertEqual({error, {bad_arity, 1, 2}}, beamr:call(I, 1, [1.0, 2.0])),
    P = start("pow_calculator.wat"),
    ?assertEqual({error, no_indirect_function_table}, beamr:call(P, 0, [])).

%%% Imports

mul(S, #{args := [A, B]}, _Opts) -> {ok, [A * B], S}.

pow_import_test() ->
    P = start("pow_calculator.wat"),
    ?assertEqual({ok, [32], st}, beamr:call(P, <<"pow">>, [2, 5], fun mul/3, st, #{})),
    ?assertEqual({ok, [1], st}, beamr:call(P, <<"pow">>, [2, 0], fun mul/3, st, #{})),
    %% Without an import fun the import is refused, and the instance stays usable.
    ?assertEqual({error, {import_crashed, <<"my_lib">>, <<"mul">>, throw,
                          {unhandled_import, <<"my_lib">>, <<"mul">>}}},
                 beamr:call(P, <<"pow">>, [2, 5])),
    ?assertEqual({ok, [81], st}, beamr:call(P, <<"pow">>, [3, 4], fun mul/3, st, #{})).

import_request_test() ->
    P = start("pow_calculator.wat"),
    Fun = fun(Acc, Req, Opts) ->
                  #{args := [A, B]} = Req,
                  {ok, [A * B], [{Req, Opts} | Acc]}
          end,
    {ok, [9], Seen} = beamr:call(P, <<"pow">>, [3, 2], Fun, [], #{tag => 1}),
    ?assertEqual([{#{instance => P, module => <<"my_lib">>, func => <<"mul">>,
                     args => [1, 3], func_sig => <<"(ii)i">>}, #{tag => 1}},
                  {#{instance => P, module => <<"my_lib">>, func => <<"mul">>,
                     args => [3, 3], func_sig => <<"(ii)i">>}, #{tag => 1}}],
                 lists:reverse(Seen)).

import_i64_test() ->
    I = start("imports.wat"),
    A = 1 bsl 40 + 3,
    B = 1 bsl 41 + 5,
    Fun = fun(S, #{func := <<"add64">>, args := [X, Y]}, _) -> {ok, [X + Y], [{X, Y} | S]} end,
    ?assertEqual({ok, [A + B], [{A, B}]}, beamr:call(I, <<"call_add64">>, [A, B], Fun, [], #{})),
    %% Full-width values both ways.
    ?assertEqual({ok, [?I64_MAX], [{?I64_MAX - 1, 1}]},
                 beamr:call(I, <<"call_add64">>, [?I64_MAX - 1, 1], Fun, [], #{})),
    ?assertEqual({ok, [?I64_MIN], [{?I64_MIN, 0}]},
                 beamr:call(I, <<"call_add64">>, [?I64_MIN, 0], Fun, [], #{})),
    %% An unsigned result above 2^63 arrives as the same bits.
    Big = fun(S, _, _) -> {ok, [(1 bsl 64) - 2], S} end,
    ?assertEqual({ok, [-2], s}, beamr:call(I, <<"call_add64">>, [0, 0], Big, s, #{})).

import_f64_and_no_result_test() ->
    I = start("imports.wat"),
    Scale = fun(S, #{args := [X]}, _) -> {ok, [X * 2.5], S} end,
    ?assertEqual({ok, [5.0], s}, beamr:call(I, <<"call_scale">>, [2.0], Scale, s, #{})),
    ScaleInt = fun(S, _, _) -> {ok, [7], S} end,
    ?assertEqual({ok, [7.0], s}, beamr:call(I, <<"call_scale">>, [2.0], ScaleInt, s, #{})),
    Notify = fun(S, #{func := <<"notify">>, args := [X], func_sig := <<"(i)">>}, _) ->
                     {ok, [], [X | S]}
             end,
    ?assertEqual({ok, [42], [41]}, beamr:call(I, <<"call_notify">>, [41], Notify, [], #{})).

import_two_results_test() ->
    I = start("imports.wat"),
    Two = fun(S, #{args := [X], func_sig := <<"(i)iI">>}, _) -> {ok, [X + 1, 1 bsl 50], S} end,
    ?assertEqual({ok, [1 bsl 50, 8], s}, beamr:call(I, <<"call_two">>, [7], Two, s, #{})).

import_result_type_checked_test() ->
    I = start("imports.wat"),
    Float = fun(S, _, _) -> {ok, [1.5], S + 1} end,
    ?assertMatch({error, {bad_import_result, <<"env">>, <<"add64">>, _}, 1},
                 beamr:call(I, <<"call_add64">>, [1, 2], Float, 0, #{})),
    TooBig = fun(S, _, _) -> {ok, [1 bsl 64], S} end,
    ?assertMatch({error, {bad_import_result, <<"env">>, <<"add64">>, {bad_arg, 1, i64, _}}, s},
                 beamr:call(I, <<"call_add64">>, [1, 2], TooBig, s, #{})),
    Atom = fun(S, _, _) -> {ok, [nope], S} end,
    ?assertMatch({error, {bad_import_result, <<"env">>, <<"scale">>, {bad_arg, 1, f64, nope}}, s},
                 beamr:call(I, <<"call_scale">>, [1.0], Atom, s, #{})),
    WrongSecond = fun(S, _, _) -> {ok, [1, 2.5], S} end,
    ?assertMatch({error, {bad_import_result, <<"env">>, <<"two">>, {bad_arg, 2, i64, 2.5}}, s},
                 beamr:call(I, <<"call_two">>, [1], WrongSecond, s, #{})),
    ok = assert_imports_usable(I).

import_result_count_checked_test() ->
    I = start("imports.wat"),
    Two = fun(S, _, _) -> {ok, [1, 2], S} end,
    ?assertMatch({error, {bad_import_result, <<"env">>, <<"add64">>, {bad_arity, 1, 2}}, s},
                 beamr:call(I, <<"call_add64">>, [1, 2], Two, s, #{})),
    None = fun(S, _, _) -> {ok, [], S} end,
    ?assertMatch({error, {bad_import_result, <<"env">>, <<"add64">>, {bad_arity, 1, 0}}, s},
                 beamr:call(I, <<"call_add64">>, [1, 2], None, s, #{})),
    One = fun(S, _, _) -> {ok, [0], S} end,
    ?assertMatch({error, {bad_import_result, <<"env">>, <<"notify">>, {bad_arity, 0, 1}}, s},
                 beamr:call(I, <<"call_notify">>, [1], One, s, #{})),
    ?assertMatch({error, {bad_import_result, <<"env">>, <<"two">>, {bad_arity, 2, 1}}, s},
                 beamr:call(I, <<"call_two">>, [1], One, s, #{})),
    ok = assert_imports_usable(I).

import_fun_failures_test() ->
    I = start("imports.wat"),
    Cases =
        [{fun(_, _, _) -> throw(boom) end,
          {import_crashed, <<"env">>, <<"add64">>, throw, boom}},
         {fun(_, _, _) -> error(badarith) end,
          {import_crashed, <<"env">>, <<"add64">>, error, badarith}},
         {fun(_, _, _) -> exit(gone) end,
          {import_crashed, <<"env">>, <<"add64">>, exit, gone}},
         {fun(_, _, _) -> garbage end,
          {bad_import_return, <<"env">>, <<"add64">>, garbage}},
         {fun(S, _, _) -> {ok, 3, S} end,
          {bad_import_return, <<"env">>, <<"add64">>, {ok, 3, st0}}},
         {fun(_, _, _) -> {ok, [3]} end,
          {bad_import_return, <<"env">>, <<"add64">>, {ok, [3]}}},
         {fun(_, _) -> ok end, badfun}],
    lists:foreach(
      fun({Fun, badfun}) ->
              ?assertMatch({error, _, st0},
                           beamr:call(I, <<"call_add64">>, [1, 2], Fun, st0, #{}));
         ({Fun, Expected}) ->
              ?assertEqual({error, Expected, st0},
                           beamr:call(I, <<"call_add64">>, [1, 2], Fun, st0, #{})),
              ok = assert_imports_usable(I)
      end,
      Cases).

%% An error from a nested import fun reaches only the inner call level.
import_fun_failure_nested_test() ->
    I = start("imports.wat"),
    Outer = fun(S, #{func := <<"reenter">>, args := [X]}, _) ->
                    Inner = fun(_, _, _) -> throw(inner) end,
                    R = beamr:call(I, <<"call_add64">>, [X, 1], Inner, in, #{}),
                    {ok, [X], [R | S]}
            end,
    ?assertEqual({ok, [1005], [{error, {import_crashed, <<"env">>, <<"add64">>, throw, inner}, in}]},
                 beamr:call(I, <<"call_reenter">>, [5], Outer, [], #{})),
    ok = assert_imports_usable(I).

assert_imports_usable(I) ->
    Add = fun(S, #{args := [X, Y]}, _) -> {ok, [X + Y], S} end,
    ?assertEqual({ok, [30], s}, beamr:call(I, <<"call_add64">>, [10, 20], Add, s, #{})),
    ?assertEqual({ok, [10]}, beamr:call(I, <<"double">>, [5])),
    ok.

%%% Memory

memory_between_calls_test() ->
    I = start("test.wat"),
    ?assertEqual({ok, 65536}, beamr:size(I)),
    ?assertEqual({ok, <<"Hello, World!">>}, beamr:read(I, 66, 13)),
    ?assertEqual(ok, beamr:write(I, 100, <<16#12345678:32/little>>)),
    ?assertEqual({ok, [16#12345678]}, beamr:call(I, <<"load_i32">>, [100])),
    ?assertEqual({ok, []}, beamr:call(I, <<"store_i32">>, [200, -2])),
    ?assertEqual({ok, <<254, 255, 255, 255>>}, beamr:read(I, 200, 4)),
    ?assertEqual({ok, <<>>}, beamr:read(I, 65536, 0)),
    ?assertEqual(ok, beamr:write(I, 65532, <<1, 2, 3, 4>>)),
    ?assertEqual({ok, <<1, 2, 3, 4>>}, beamr:read(I, 65532, 4)),
    ?assertEqual(ok, beamr:write(I, 0, <<>>)).

large_memory_access_test() ->
    I = beamr_test_util:start("imports.wat"),
    Add = fun(S, _, _) -> {ok, [0], S} end,
    %% Grow to 4 pages (the maximum) through malloc, then move 2 MiB-ish ranges.
    {ok, [_], s} = beamr:call(I, <<"call_add64">>, [0, 0], Add, s, #{}),
    {ok, [P]} = beamr:call(I, <<"malloc">>, [200000]),
    ?assert(P > 0),
    {ok, Size} = beamr:size(I),
    ?assertEqual(4 * 65536, Size),
    Data = crypto:strong_rand_bytes(Size - 8),
    ?assertEqual(ok, beamr:write(I, 8, Data)),
    ?assertEqual({ok, Data}, beamr:read(I, 8, Size - 8)),
    %% Above the dirty threshold (1 MiB): still bounds-checked.
    ?assertMatch({error, {out_of_bounds, 0, 2097152, Size}}, beamr:read(I, 0, 2097152)),
    ?assertMatch({error, {out_of_bounds, 0, 2097152, Size}},
                 beamr:write(I, 0, binary:copy(<<0>>, 2097152))),
    ?assertEqual({ok, Data}, beamr:read(I, 8, Size - 8)).

memory_inside_import_test() ->
    I = start("imports.wat"),
    Peek = fun(S, #{func := <<"peek">>, args := [Addr, Len]}, _) ->
                   {ok, Bin} = beamr:read(I, Addr, Len),
                   <<V:32/little>> = Bin,
                   {ok, Size} = beamr:size(I),
                   ok = beamr:write(I, Addr + 4, <<(V * 3):32/little>>),
                   {ok, [0], [{V, Size} | S]}
           end,
    ?assertEqual({ok, [3000], [{1000, 65536}]},
                 beamr:call(I, <<"call_peek">>, [512, 1000], Peek, [], #{})),
    %% And the wasm-side writes survive after the call.
    ?assertEqual({ok, <<1000:32/little, 3000:32/little>>}, beamr:read(I, 512, 8)),
    %% An out-of-bounds access inside an import is an error, and the call goes on.
    Hostile = fun(S, _, _) ->
                      R1 = beamr:read(I, 1 bsl 40, 4),
                      R2 = beamr:write(I, 65535, <<1, 2>>),
                      {ok, [0], [R1, R2 | S]}
              end,
    {ok, [_], [R1, R2]} = beamr:call(I, <<"call_peek">>, [16, 1], Hostile, [], #{}),
    ?assertMatch({error, _}, R1),
    ?assertMatch({error, _}, R2).

read_string_test() ->
    I = start("test.wat"),
    ?assertEqual({ok, <<"Hello, World!">>}, beamr:read_string(I, 66)),
    ?assertEqual({ok, <<"World!">>}, beamr:read_string(I, 73, 6)),
    ?assertEqual({error, {string_too_long, 5}}, beamr:read_string(I, 73, 5)),
    ok = beamr:write(I, 1000, <<0>>),
    ?assertEqual({ok, <<>>}, beamr:read_string(I, 1000, 0)),
    %% A string longer than the normal-scheduler scan goes on to a dirty one.
    Big = start("test.wat"),
    {ok, 1} = beamr:memory_grow(Big, 2),
    Long = binary:copy(<<"ab">>, 40000),
    ok = beamr:write(Big, 2000, <<Long/binary, 0>>),
    ?assertEqual({ok, Long}, beamr:read_string(Big, 2000)),
    ?assertEqual({ok, Long}, beamr:read_string(Big, 2000, 80000)),
    ?assertEqual({error, {string_too_long, 79999}}, beamr:read_string(Big, 2000, 79999)),
    %% No NUL before the end of memory; offsets outside it; bad arguments.
    ok = beamr:write(I, 65530, <<"abcdef">>),
    ?assertEqual({error, unterminated_string}, beamr:read_string(I, 65530)),
    ok = beamr:write(I, 0, binary:copy(<<1>>, 65536)),
    ?assertEqual({error, unterminated_string}, beamr:read_string(I, 0)),
    ?assertEqual({error, {out_of_bounds, 65536, 1, 65536}}, beamr:read_string(I, 65536)),
    ?assertMatch({error, _}, beamr:read_string(I, 1 bsl 64)),
    ?assertMatch({error, _}, beamr:read_string(I, -1)),
    ?assertMatch({error, _}, beamr:read_string(I, 0, -1)),
    ?assertMatch({error, _}, beamr:read_string(I, foo)),
    %% Inside an import, it reads the live store.
    J = start("imports.wat"),
    ok = beamr:write(J, 600, <<"inside", 0>>),
    Peek = fun(S, _, _) -> {ok, [0], [beamr:read_string(J, 600) | S]} end,
    ?assertMatch({ok, [_], [{ok, <<"inside">>}]},
                 beamr:call(J, <<"call_peek">>, [16, 1], Peek, [], #{})).

hostile_offsets_test() ->
    I = start("test.wat"),
    Reads = [{-1, 4}, {0, -1}, {1 bsl 64, 1}, {1 bsl 70, 1}, {0, 1 bsl 70}, {0, 1 bsl 64},
             {(1 bsl 64) - 1, 2}, {(1 bsl 64) - 1, 1}, {1, (1 bsl 64) - 1},
             {65536, 1}, {65535, 2}, {0, 65537}, {foo, 1}, {0, bar}, {1.0, 1}, {0, 1.0},
             {[], 1}, {0, <<1>>}],
    lists:foreach(fun({O, L}) ->
                          ?assertMatch({{error, _}, O, L}, {beamr:read(I, O, L), O, L})
                  end, Reads),
    Writes = [{-1, <<1>>}, {1 bsl 64, <<1>>}, {1 bsl 70, <<1>>}, {(1 bsl 64) - 1, <<1, 2>>},
              {65536, <<1>>}, {65535, <<1, 2>>}, {foo, <<1>>}, {1.5, <<1>>},
              {0, "not a binary"}, {0, 5}, {0, <<1:3>>}],
    lists:foreach(fun({O, D}) ->
                          ?assertMatch({{error, _}, O}, {beamr:write(I, O, D), O})
                  end, Writes),
    %% Nothing was written, and the instance and VM are fine.
    ?assertEqual({ok, <<0, 0>>}, beamr:read(I, 65534, 2)),
    ?assertEqual({ok, <<"Hello, World!">>}, beamr:read(I, 66, 13)),
    ?assertEqual({ok, [120.0]}, beamr:call(I, <<"fac">>, [5.0])).

no_memory_test() ->
    P = start("pow_calculator.wat"),
    ?assertEqual({error, no_memory}, beamr:size(P)),
    ?assertEqual({error, no_memory}, beamr:read(P, 0, 1)),
    ?assertEqual({error, no_memory}, beamr:write(P, 0, <<1>>)).

%%% Re-entrancy and other instances

reentrant_call_test() ->
    I = start("imports.wat"),
    Reenter = fun(S, #{func := <<"reenter">>, args := [X]}, _) ->
                      {ok, [Y]} = beamr:call(I, <<"double">>, [X]),
                      {ok, [Y], S + 1}
              end,
    ?assertEqual({ok, [1042], 1}, beamr:call(I, <<"call_reenter">>, [21], Reenter, 0, #{})),
    %% Two levels deep: the inner call reaches an import of its own.
    Deep = fun(S, #{func := <<"reenter">>, args := [X]}, _) ->
                   Add = fun(S2, #{func := <<"add64">>, args := [A, B]}, _) ->
                                 {ok, [A + B], S2 + 1}
                         end,
                   {ok, [Y], 1} = beamr:call(I, <<"call_add64">>, [X, 100], Add, 0, #{}),
                   {ok, [Y], S + 1}
           end,
    ?assertEqual({ok, [1105], 1}, beamr:call(I, <<"call_reenter">>, [5], Deep, 0, #{})),
    %% A trap in the inner call does not end the outer one.
    Trap = fun(S, _, _) ->
                   %% call_peek stores out of bounds before reaching its import.
                   {error, {trap, _}} = beamr:call(I, <<"call_peek">>, [1 bsl 20, 1]),
                   {ok, [7], S}
           end,
    ?assertEqual({ok, [1007], s}, beamr:call(I, <<"call_reenter">>, [0], Trap, s, #{})),
    ?assertEqual({ok, [10]}, beamr:call(I, <<"double">>, [5])).

other_instance_in_import_test() ->
    P = start("pow_calculator.wat"),
    T = start("test.wat"),
    Mul = fun(S, #{args := [A, B]}, _) ->
                  {ok, [F]} = beamr:call(T, <<"fac">>, [3.0]),
                  {ok, [R]} = beamr:call(T, 2, [A * B, 0]),
                  ok = beamr:write(T, 0, <<R:32/little>>),
                  {ok, [R], S + trunc(F)}
          end,
    ?assertEqual({ok, [32], 30}, beamr:call(P, <<"pow">>, [2, 5], Mul, 0, #{})),
    ?assertEqual({ok, <<32:32/little>>}, beamr:read(T, 0, 4)).

%%% Stop and timeouts

stop_test() ->
    I = start("test.wat"),
    ?assertEqual(ok, beamr:stop(I)),
    ?assert(beamr:is_stopped(I)),
    ?assertEqual({error, stopped}, beamr:call(I, <<"fac">>, [5.0])),
    ?assertEqual({error, stopped}, beamr:call(I, 1, [5.0])),
    ?assertEqual({error, stopped}, beamr:size(I)),
    ?assertEqual({error, stopped}, beamr:read(I, 66, 13)),
    ?assertEqual({error, stopped}, beamr:write(I, 0, <<1>>)),
    ?assertEqual(ok, beamr:stop(I)),
    ?assertEqual({error, stopped}, beamr:call(I, <<"fac">>, [5.0])).

stop_inside_import_test() ->
    P = start("pow_calculator.wat"),
    Stop = fun(S, _, _) -> ok = beamr:stop(P), {ok, [1], S + 1} end,
    ?assertEqual({error, stopped, 1},
                 within(2000, fun() -> beamr:call(P, <<"pow">>, [2, 5], Stop, 0, #{}) end)),
    ?assertEqual({error, stopped}, beamr:call(P, <<"pow">>, [2, 5])).

stop_while_parked_test() ->
    P = start("pow_calculator.wat"),
    Self = self(),
    Park = fun(S, #{args := [A, B]}, _) ->
                   Self ! {parked, self()},
                   receive go -> {ok, [A * B], S} after 5000 -> {ok, [0], timeout} end
           end,
    Caller = spawn(fun() -> Self ! {result, beamr:call(P, <<"pow">>, [2, 3], Park, s, #{})} end),
    receive {parked, Caller} -> ok after 5000 -> error(not_parked) end,
    ok = beamr:stop(P),
    Caller ! go,
    ?assertEqual([{error, stopped, s}], beamr_test_util:collect(result, 1, 2000)).

timeout_test() ->
    I = start("test.wat"),
    ?assertEqual({error, timeout},
                 within(3000, fun() -> beamr:call(I, <<"spin">>, [], #{timeout => 50}) end)),
    ?assertEqual({ok, [120.0]}, beamr:call(I, <<"fac">>, [5.0])),
    ?assertEqual({error, timeout},
                 within(3000, fun() -> beamr:call(I, <<"spin">>, [], #{timeout => 0}) end)),
    ?assertEqual({ok, [6.0]}, beamr:call(I, <<"fac">>, [3.0])),
    ?assertMatch({error, {bad_timeout, _}}, beamr:call(I, <<"fac">>, [3.0], #{timeout => -1})),
    ?assertMatch({error, {bad_timeout, _}}, beamr:call(I, <<"fac">>, [3.0], #{timeout => forever})),
    ?assertMatch({error, {bad_timeout, _}}, beamr_nif:call(I, <<"fac">>, [3.0], forever)),
    ?assertEqual({ok, <<"Hello, World!">>}, beamr:read(I, 66, 13)).

%% The timeout of a re-entrant call made inside an import bounds that call.
reentrant_timeout_test() ->
    I = start("imports.wat"),
    Spin = fun(S, #{func := <<"reenter">>}, _) ->
                   R = beamr:call(I, <<"spin">>, [], #{timeout => 50}),
                   {ok, [0], [R | S]}
           end,
    try
        ?assertEqual({ok, [1000], [{error, timeout}]},
                     within(3000, fun() ->
                                          beamr:call(I, <<"call_reenter">>, [1], Spin, [], #{})
                                  end)),
        ?assertEqual({ok, [10]}, beamr:call(I, <<"double">>, [5]))
    after
        %% If the inner call ignored its timeout, it is still spinning: end it.
        beamr:stop(I)
    end.

%% A spinning call with a timeout does not stop other instances from running.
timeout_other_instances_test() ->
    I = start("test.wat"),
    J = start("test.wat"),
    Self = self(),
    spawn(fun() -> Self ! {spun, beamr:call(I, <<"spin">>, [], #{timeout => 300})} end),
    ?assertEqual({ok, [120.0]}, beamr:call(J, <<"fac">>, [5.0])),
    ?assertEqual([{error, timeout}], beamr_test_util:collect(spun, 1, 3000)).

%%% memory64

memory64_test() ->
    I = start("test-64.wat"),
    ?assertEqual({ok, 131072}, beamr:size(I)),
    ?assertEqual({ok, [120.0]}, beamr:call(I, <<"fac">>, [5.0])),
    ?assertEqual({ok, <<"above 64k">>}, beamr:read(I, 70000, 9)),
    ?assertEqual(ok, beamr:write(I, 100000, <<16#0102030405060708:64/little>>)),
    ?assertEqual({ok, [16#0102030405060708]}, beamr:call(I, <<"load_i64">>, [100000])),
    ?assertEqual({ok, []}, beamr:call(I, <<"store_i64">>, [131064, -1])),
    ?assertEqual({ok, <<255, 255, 255, 255, 255, 255, 255, 255>>}, beamr:read(I, 131064, 8)),
    ?assertMatch({error, {trap, _}}, beamr:call(I, <<"load_i64">>, [131068])),
    ?assertMatch({error, {trap, _}}, beamr:call(I, <<"load_i64">>, [1 bsl 40])),
    ?assertMatch({error, _}, beamr:read(I, 131070, 4)).
