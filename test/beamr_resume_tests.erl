%%% @doc Tests of the import resume step on real wasm through the real NIF:
%%% `beamr_nif:resume_again/2' answers `{again, Args}' exactly when the call parks
%%% again in the import just answered (and full import steps otherwise); the requests
%%% `beamr:call/6' hands its import fun stay complete however the steps came.
-module(beamr_resume_tests).

-include_lib("eunit/include/eunit.hrl").

%% `walk' calls a twice, then b, then a again, then nested(b) re-entrantly calls a
%% from inside import b: each import gets its arguments and returns their sum.
wat() ->
    <<"(module
         (import \"env\" \"a\" (func $a (param i32 i64) (result i64)))
         (import \"env\" \"b\" (func $b (param i32) (result i32)))
         (func (export \"walk\") (result i64)
           (i64.add
             (i64.add (call $a (i32.const 1) (i64.const 2))
                      (call $a (i32.const 3) (i64.const -9223372036854775808)))
             (i64.add (i64.extend_i32_s (call $b (i32.const 5)))
                      (call $a (i32.const 6) (i64.const 7)))))
         (func (export \"inner\") (param i32) (result i64)
           (call $a (local.get 0) (i64.const 100))))">>.

start() ->
    {ok, I} = beamr:start(wat()),
    I.

sum(Args) -> lists:sum(Args).

%% Drives `walk' by hand and returns the steps seen after the first.
steps(I) ->
    {import, <<"env">>, <<"a">>, [1, 2], <<"(iI)I">>} = beamr_nif:call(I, <<"walk">>, [], infinity),
    collect(I, [1, 2], []).

collect(I, Args, Acc) ->
    case beamr_nif:resume_again(I, [sum(Args)]) of
        {again, Next} = Step -> collect(I, Next, [Step | Acc]);
        {import, _, _, Next, _} = Step -> collect(I, Next, [Step | Acc]);
        {ok, _} = Done -> lists:reverse([Done | Acc])
    end.

again_only_for_the_import_just_answered_test() ->
    I = start(),
    Min = -9223372036854775808,
    ?assertEqual([{again, [3, Min]},
                  {import, <<"env">>, <<"b">>, [5], <<"(i)i">>},
                  {import, <<"env">>, <<"a">>, [6, 7], <<"(iI)I">>},
                  {ok, [3 + (3 + Min) + 5 + 13]}],
                 steps(I)).

%% A result that does not fit leaves the import pending.
bad_result_leaves_the_import_pending_test() ->
    I = start(),
    {import, _, _, [1, 2], _} = beamr_nif:call(I, <<"walk">>, [], infinity),
    ?assertMatch({bad_import_result, {bad_arg, 1, i64, 1.5}}, beamr_nif:resume_again(I, [1.5])),
    ?assertEqual({again, [3, -9223372036854775808]}, beamr_nif:resume_again(I, [3])).

%% Every request the import fun sees is whole, including those resumed as `again'
%% and those of a re-entrant call made from inside an import.
import_fun_sees_whole_requests_test() ->
    I = start(),
    Fun = fun Answer(Seen, #{instance := Inst, module := M, func := F, args := Args,
                              func_sig := Sig}, _) ->
                  ?assertEqual(I, Inst),
                  Seen2 = [{M, F, Args, Sig} | Seen],
                  case F of
                      <<"b">> ->
                          {ok, [Inner], Seen3} = beamr:call(I, <<"inner">>, Args, Answer, Seen2, #{}),
                          {ok, [Inner - 100 + sum(Args)], Seen3};
                      <<"a">> ->
                          {ok, [sum(Args)], Seen2}
                  end
          end,
    Min = -9223372036854775808,
    {ok, [Result], Seen} = beamr:call(I, <<"walk">>, [], Fun, [], #{}),
    ?assertEqual(3 + (3 + Min) + (105 - 100 + 5) + 13, Result),
    ?assertEqual([{<<"env">>, <<"a">>, [1, 2], <<"(iI)I">>},
                  {<<"env">>, <<"a">>, [3, Min], <<"(iI)I">>},
                  {<<"env">>, <<"b">>, [5], <<"(i)i">>},
                  {<<"env">>, <<"a">>, [5, 100], <<"(iI)I">>},
                  {<<"env">>, <<"a">>, [6, 7], <<"(iI)I">>}],
                 lists:reverse(Seen)).
