%%% @doc Tests of beamr's wider API through the real NIF: typed introspection, exported
%%% globals/tables/memory (between calls and inside imports), module handles and the
%%% cache, links (memory64 with wasm32), and call_async under a gen_server.
-module(beamr_api_tests).

-include_lib("eunit/include/eunit.hrl").

-import(beamr_test_util, [fixture/1, start/1, within/2, collect/2, spawn_reporting/2]).

%%% 1. Introspection

typed_exports_of_memory64_test() ->
    I = start("test-64.wat"),
    Exports = beamr:exports(I, typed),
    ?assertMatch([#{kind := memory, name := <<"memory">>, min := 2, max := infinity,
                    index := i64, shared := false}],
                 [E || E = #{kind := memory} <- Exports]),
    ?assert(lists:member(#{kind => func, name => <<"fac">>, params => [f64], results => [f64]},
                         Exports)),
    ?assert(lists:member(#{kind => func, name => <<"store_i64">>, params => [i64, i64],
                           results => []}, Exports)),
    %% The plain shapes hb_beamr converts are unchanged.
    ?assert(lists:member({func, <<"fac">>, <<"(F)F">>}, beamr:exports(I))).

typed_imports_of_every_kind_test() ->
    Wat = <<"(module (import \"a\" \"f\" (func (param v128 externref) (result f32)))
                     (import \"a\" \"m\" (memory 1 2))
                     (import \"a\" \"t\" (table 0 9 externref))
                     (import \"a\" \"g\" (global i64))
                     (import \"a\" \"e\" (tag (param i32 f64))))">>,
    {ok, M} = beamr:compile(Wat),
    ?assertEqual(
       [#{kind => func, module => <<"a">>, name => <<"f">>, params => [v128, externref],
          results => [f32]},
        #{kind => memory, module => <<"a">>, name => <<"m">>, min => 1, max => 2, index => i32,
          shared => false},
        #{kind => table, module => <<"a">>, name => <<"t">>, element => externref, min => 0,
          max => 9, index => i32},
        #{kind => global, module => <<"a">>, name => <<"g">>, type => i64, mutable => false},
        #{kind => tag, module => <<"a">>, name => <<"e">>, params => [i32, f64]}],
       beamr:imports(M, typed)),
    ?assertEqual([{func, <<"a">>, <<"f">>, <<"(ve)f">>}, {memory, <<"a">>, <<"m">>, <<>>},
                  {table, <<"a">>, <<"t">>, <<>>}, {global, <<"a">>, <<"g">>, <<>>},
                  {tag, <<"a">>, <<"e">>, <<>>}],
                 beamr:imports(M)).

describe_bad_input_test() ->
    ?assertMatch({error, {invalid_module, _}}, beamr:describe(<<"nope">>)),
    Ref = make_ref(),
    ?assertEqual({error, {bad_module, Ref}}, beamr:describe(Ref)),
    ?assertMatch({error, _}, beamr:exports(make_ref())),
    ?assertEqual(false, beamr:function_exists(make_ref(), <<"f">>)),
    ?assertEqual(false, beamr:function_exists(start("test.wat"), [-1])).

%% The hot NIFs (registered without rustler's wrapper) refuse what is not an instance
%% with `{error, {bad_instance, Term}}', like every other NIF, and the instance they
%% were not given stays usable.
hot_nifs_refuse_non_instances_test() ->
    I = start("test.wat"),
    {ok, M} = beamr:compile(fixture("test.wat")),
    [?assertEqual({error, {bad_instance, NotI}}, beamr_nif:call(NotI, <<"fac">>, [5.0], infinity))
     || NotI <- [make_ref(), M, 42, <<"i">>, self()]],
    ?assertEqual({error, {bad_instance, 42}}, beamr_nif:resume_again(42, [])),
    ?assertEqual({error, {bad_instance, M}}, beamr_nif:resume_again(M, [1])),
    ?assertEqual({ok, [120.0]}, beamr:call(I, <<"fac">>, [5.0])).

function_exists_test() ->
    I = start("test.wat"),
    {ok, M} = beamr:compile(fixture("test.wat")),
    [?assert(beamr:function_exists(X, N)) || X <- [I, M], N <- [<<"fac">>, "add", pair]],
    [?assertNot(beamr:function_exists(X, N))
     || X <- [I, M], N <- [<<"memory">>, <<"__indirect_function_table">>, <<"nope">>]].

%%% 2. Globals, tables, memory

-define(ITEMS, <<"(module
    (import \"env\" \"poke\" (func $poke (param i32) (result i32)))
    (memory (export \"memory\") 1 4)
    (global $g (export \"g\") (mut i64) (i64.const 10))
    (global (export \"pi\") f64 (f64.const 3.5))
    (table (export \"t\") 2 8 funcref)
    (elem (i32.const 0) $id)
    (func $id (param i32) (result i32) local.get 0)
    (func (export \"pages\") (result i32) memory.size)
    (func (export \"run\") (param i32) (result i32) local.get 0 call $poke)
    (func (export \"get_g\") (result i64) global.get $g))">>).

globals_between_calls_test() ->
    {ok, I} = beamr:start(?ITEMS),
    ?assertEqual({ok, 10}, beamr:global_get(I, <<"g">>)),
    ?assertEqual(ok, beamr:global_set(I, g, -(1 bsl 63))),
    ?assertEqual({ok, [-(1 bsl 63)]}, beamr:call(I, <<"get_g">>, [])),
    ?assertEqual(ok, beamr:global_set(I, "g", (1 bsl 64) - 1)),
    ?assertEqual({ok, -1}, beamr:global_get(I, <<"g">>)),
    ?assertEqual({error, {bad_arg, 1, i64, 1 bsl 64}}, beamr:global_set(I, <<"g">>, 1 bsl 64)),
    ?assertEqual({error, {bad_arg, 1, i64, 2.0}}, beamr:global_set(I, <<"g">>, 2.0)),
    ?assertEqual({ok, 3.5}, beamr:global_get(I, <<"pi">>)),
    ?assertEqual({error, {immutable_global, <<"pi">>}}, beamr:global_set(I, <<"pi">>, 1.0)),
    ?assertEqual({ok, 3.5}, beamr:global_get(I, <<"pi">>)),
    ?assertEqual({error, {wrong_kind, <<"memory">>, global}}, beamr:global_get(I, <<"memory">>)),
    ?assertEqual({error, {unknown_export, <<"zz">>}}, beamr:global_set(I, <<"zz">>, 1)),
    ?assertEqual({error, {bad_name, 42}}, beamr:global_get(I, 42)).

tables_test() ->
    {ok, I} = beamr:start(?ITEMS),
    ?assertEqual({ok, 2}, beamr:table_size(I, <<"t">>)),
    ?assertEqual({ok, {func, 1, <<"(i)i">>}}, beamr:table_get(I, <<"t">>, 0)),
    ?assertEqual({ok, null}, beamr:table_get(I, <<"t">>, 1)),
    ?assertEqual({error, {bad_table_index, 2}}, beamr:table_get(I, <<"t">>, 2)),
    ?assertEqual({error, {bad_table_index, -1}}, beamr:table_get(I, <<"t">>, -1)),
    ?assertEqual({error, {bad_table_index, 1 bsl 70}}, beamr:table_get(I, <<"t">>, 1 bsl 70)),
    ?assertEqual({error, {wrong_kind, <<"g">>, table}}, beamr:table_size(I, <<"g">>)).

memory_grow_test() ->
    {ok, I} = beamr:start(?ITEMS),
    ?assertEqual({ok, 1}, beamr:memory_grow(I, 0)),
    ?assertEqual({ok, 1}, beamr:memory_grow(I, 2)),
    ?assertEqual({ok, [3]}, beamr:call(I, <<"pages">>, [])),
    ?assertEqual({ok, 3 * 65536}, beamr:size(I)),
    ?assertEqual({error, {cannot_grow, 2, 3}}, beamr:memory_grow(I, 2)),
    ?assertEqual({error, {cannot_grow, 1 bsl 62, 3}}, beamr:memory_grow(I, 1 bsl 62)),
    ?assertEqual({error, {bad_pages, -1}}, beamr:memory_grow(I, -1)),
    ?assertEqual({ok, 3}, beamr:memory_pages(I)),
    {ok, NoMem} = beamr:start(<<"(module)">>),
    ?assertEqual({error, no_memory}, beamr:memory_grow(NoMem, 1)).

%% Entries are told by function index, imported functions included, and still right
%% after wasm has rewritten the table.
table_function_indices_test() ->
    {ok, I} = beamr:start(<<"(module
        (import \"env\" \"h\" (func $h))
        (table (export \"t\") 3 funcref)
        (elem (i32.const 0) $h $b)
        (elem declare func $c)
        (func $a) (func $b) (func $c)
        (func (export \"swap\")
          (table.set (i32.const 1) (ref.func $c))
          (table.set (i32.const 2) (ref.func $h))))">>),
    ?assertEqual({ok, {func, 0, <<"()">>}}, beamr:table_get(I, <<"t">>, 0)),
    ?assertEqual({ok, {func, 2, <<"()">>}}, beamr:table_get(I, <<"t">>, 1)),
    ?assertEqual({ok, null}, beamr:table_get(I, <<"t">>, 2)),
    ?assertEqual({ok, []}, beamr:call(I, <<"swap">>, [])),
    ?assertEqual({ok, {func, 3, <<"()">>}}, beamr:table_get(I, <<"t">>, 1)),
    ?assertEqual({ok, {func, 0, <<"()">>}}, beamr:table_get(I, <<"t">>, 2)),
    %% The reserved exports that make this work stay hidden.
    ?assertEqual([{table, <<"t">>, <<>>}, {func, <<"swap">>, <<"()">>}], beamr:exports(I)).

items_inside_an_import_test() ->
    {ok, I} = beamr:start(?ITEMS),
    Poke = fun(S, #{args := [X]}, _) ->
                   %% The live store of the suspended call.
                   {ok, 10} = beamr:global_get(I, <<"g">>),
                   ok = beamr:global_set(I, <<"g">>, X),
                   {ok, 1} = beamr:memory_grow(I, 1),
                   {ok, 2} = beamr:table_size(I, <<"t">>),
                   {ok, {func, 1, _}} = beamr:table_get(I, <<"t">>, 0),
                   {ok, [X]} = beamr:call(I, <<"get_g">>, []),
                   {ok, [2]} = beamr:call(I, <<"pages">>, []),
                   {ok, [X + 1], S + 1}
           end,
    ?assertEqual({ok, [78], 1}, beamr:call(I, <<"run">>, [77], Poke, 0, #{})),
    ?assertEqual({ok, 77}, beamr:global_get(I, <<"g">>)),
    ?assertEqual({ok, 2}, beamr:memory_pages(I)).

items_wait_for_a_running_call_test() ->
    %% While another process's call executes, item operations queue and then run.
    I = start("test.wat"),
    {ok, M} = beamr:start(?ITEMS),
    Self = self(),
    spawn(fun() -> Self ! {spun, beamr:call(I, <<"spin">>, [], #{timeout => 100})} end),
    timer:sleep(20),
    ?assertEqual({ok, 1}, within(5000, fun() -> beamr:memory_pages(I) end)),
    receive {spun, R} -> ?assertEqual({error, timeout}, R) after 5000 -> error(no_spin) end,
    ?assertEqual({ok, 10}, beamr:global_get(M, <<"g">>)).

%%% 5. Module handles and the cache

compile_and_start_many_test() ->
    {ok, M} = beamr:compile(fixture("test.wat")),
    Is = [begin {ok, I} = beamr:start(M), I end || _ <- lists:seq(1, 5)],
    [?assertEqual({ok, [120.0]}, beamr:call(I, <<"fac">>, [5.0])) || I <- Is],
    %% Separate state per instance.
    [I1, I2 | _] = Is,
    ok = beamr:write(I1, 0, <<"x">>),
    ?assertEqual({ok, <<0>>}, beamr:read(I2, 0, 1)),
    ?assertEqual(crypto:hash(sha256, fixture("test.wat")), beamr:module_hash(M)),
    ?assertMatch({error, {invalid_module, _}}, beamr:compile(<<"(module (func bad))">>)),
    ?assertMatch({error, {badarg, _}}, beamr:compile(not_a_binary)),
    ?assertMatch({error, {badarg, _}}, beamr:start(M, not_a_map)).

count_and_delete_test() ->
    Wat = <<"(module (func (export \"unique_to_count_and_delete\")))">>,
    Before = beamr:module_count(),
    {ok, M} = beamr:compile(Wat),
    ?assertEqual(Before + 1, beamr:module_count()),
    {ok, M2} = beamr:compile(Wat),
    ?assertEqual(Before + 1, beamr:module_count()),
    ?assertEqual(beamr:module_hash(M), beamr:module_hash(M2)),
    ?assert(beamr:delete_module(beamr:module_hash(M))),
    ?assertEqual(Before, beamr:module_count()),
    ?assertNot(beamr:delete_module(M)),
    ?assertNot(beamr:delete_module(<<"short">>)),
    ?assertNot(beamr:delete_module(42)).

delete_while_a_call_is_suspended_test() ->
    Wat = <<"(module (import \"env\" \"wait\" (func $w (result i32)))
                     (memory (export \"memory\") 1)
                     (func (export \"f\") (result i32) call $w i32.const 1 i32.add)
                     (func (export \"delete_test_marker\")))">>,
    {ok, M} = beamr:compile(Wat),
    {ok, I} = beamr:start(M),
    Before = beamr:module_count(),
    Wait = fun(S, _, _) ->
                   %% The call is suspended in this import while its module goes.
                   true = beamr:delete_module(M),
                   erlang:garbage_collect(),
                   ok = beamr:write(I, 0, <<"still here">>),
                   {ok, [41], S}
           end,
    ?assertEqual({ok, [42], x}, beamr:call(I, <<"f">>, [], Wait, x, #{})),
    ?assertEqual(Before - 1, beamr:module_count()),
    ?assertEqual({ok, <<"still here">>}, beamr:read(I, 0, 10)),
    %% The handle still instantiates (from its own compilation, not the cache).
    {ok, I2} = beamr:start(M),
    ?assertEqual({ok, [42], y}, beamr:call(I2, <<"f">>, [], fun(S, _, _) -> {ok, [41], S} end,
                                           y, #{})),
    ?assertEqual(Before - 1, beamr:module_count()).

delete_then_drop_every_handle_test() ->
    %% Nothing crashes when the last holders of a deleted module are collected.
    Wat = <<"(module (func (export \"g\") (result i32) i32.const 5) (func (export \"drop_marker\")))">>,
    Pid = spawn(fun() ->
                        {ok, M} = beamr:compile(Wat),
                        {ok, I} = beamr:start(M),
                        true = beamr:delete_module(M),
                        {ok, [5]} = beamr:call(I, <<"g">>, [])
                end),
    Ref = monitor(process, Pid),
    receive {'DOWN', Ref, process, Pid, R} -> ?assertEqual(normal, R) end,
    erlang:garbage_collect(),
    {ok, I} = beamr:start(Wat),
    ?assertEqual({ok, [5]}, beamr:call(I, <<"g">>, [])).

%%% 3. Links

links_memory64_provider_wasm32_consumer_test() ->
    {ok, Provider} = beamr:compile(fixture("link_provider64.wat")),
    {ok, I} = beamr:start(fixture("link_consumer32.wat"), #{links => #{store => Provider}}),
    %% The consumer's own memory is 32-bit; it copies a cell into the provider's
    %% 64-bit memory through linked functions, with no import fun involved.
    ok = beamr:write(I, 16, <<123456789:32/little>>),
    ?assertEqual({ok, []}, beamr:call(I, <<"copy">>, [16, 4096])),
    ?assertEqual({ok, [123456789]}, beamr:call(I, <<"fetch">>, [4096])),
    %% The linked global is shared: the provider's put counts, the consumer reads.
    ?assertEqual({ok, [1]}, beamr:call(I, <<"count">>, [])),
    ?assertEqual({ok, []}, beamr:call(I, <<"reset">>, [])),
    ?assertEqual({ok, [0]}, beamr:call(I, <<"count">>, [])),
    %% The linked table: call_indirect into the provider's functions.
    ?assertEqual({ok, [14]}, beamr:call(I, <<"apply">>, [0, 7])),
    ?assertEqual({ok, [21]}, beamr:call(I, <<"apply">>, [1, 7])),
    ?assertMatch({error, {trap, _}}, beamr:call(I, <<"apply">>, [2, 7])),
    %% Imports nothing links go to Erlang: the consumer's and the provider's own.
    Answer = fun(S, #{module := Mod, func := F, args := [X], func_sig := Sig}, _) ->
                     {ok, [X + 1000], [{Mod, F, Sig} | S]}
             end,
    ?assertEqual({ok, [1005], [{<<"env">>, <<"bump">>, <<"(i)i">>}]},
                 beamr:call(I, <<"bump">>, [5], Answer, [], #{})),
    ?assertEqual({ok, [1006], [{<<"env">>, <<"log">>, <<"(I)I">>}]},
                 beamr:call(I, <<"log">>, [6], Answer, [], #{})),
    ?assertMatch({error, {import_crashed, <<"env">>, <<"log">>, throw,
                          {unhandled_import, <<"env">>, <<"log">>}}},
                 beamr:call(I, <<"log">>, [6])),
    %% Reads address the consumer's own (first exported) memory.
    ?assertEqual({ok, 65536}, beamr:size(I)).

links_are_private_copies_test() ->
    Provider = fixture("link_provider64.wat"),
    Consumer = fixture("link_consumer32.wat"),
    {ok, A} = beamr:start(Consumer, #{links => [{<<"store">>, Provider}]}),
    {ok, B} = beamr:start(Consumer, #{links => [{"store", Provider}]}),
    ok = beamr:write(A, 0, <<7:32/little>>),
    {ok, []} = beamr:call(A, <<"copy">>, [0, 8]),
    ?assertEqual({ok, [7]}, beamr:call(A, <<"fetch">>, [8])),
    ?assertEqual({ok, [0]}, beamr:call(B, <<"fetch">>, [8])),
    ?assertEqual({ok, [0]}, beamr:call(B, <<"count">>, [])),
    ok = beamr:stop(A),
    ?assertEqual({ok, [0]}, beamr:call(B, <<"fetch">>, [8])).

memory64_consumer_imports_linked_memory_test() ->
    %% A memory64 module imports the linked provider's i64 memory itself.
    Provider = fixture("link_provider64.wat"),
    Main = <<"(module (import \"p\" \"mem\" (memory i64 1))
                      (import \"p\" \"put\" (func $put (param i64 i64)))
                      (func (export \"put_then_load\") (param i64 i64) (result i64)
                        local.get 0 local.get 1 call $put local.get 0 i64.load))">>,
    {ok, I} = beamr:start(Main, #{links => #{<<"p">> => Provider}}),
    ?assertEqual({ok, [1 bsl 40]}, beamr:call(I, <<"put_then_load">>, [100, 1 bsl 40])),
    %% beamr:read addresses the imported (linked) memory.
    ?assertEqual({ok, <<(1 bsl 40):64/little>>}, beamr:read(I, 100, 8)),
    ?assertEqual({ok, 1}, beamr:memory_grow(I, 1)).

link_errors_test() ->
    Consumer = fixture("link_consumer32.wat"),
    %% A link whose items do not match the imports' types.
    Wrong = <<"(module (func (export \"put\") (param i32)))">>,
    ?assertMatch({error, {instantiate, _}},
                 beamr:start(Consumer, #{links => #{<<"store">> => Wrong}})),
    ?assertMatch({error, {invalid_module, _}},
                 beamr:start(Consumer, #{links => #{<<"store">> => <<"junk">>}})),
    ?assertMatch({error, {bad_links, _}}, beamr:start(Consumer, #{links => [{<<"store">>, 42}]})),
    ?assertMatch({error, {bad_links, _}}, beamr:start(Consumer, #{links => nope})),
    %% Without the link, the provider's items are store-local stand-ins and its
    %% functions go to Erlang.
    {ok, I} = beamr:start(Consumer),
    ?assertMatch({error, {import_crashed, <<"store">>, <<"get">>, throw,
                          {unhandled_import, <<"store">>, <<"get">>}}},
                 beamr:call(I, <<"fetch">>, [0])).

link_start_function_reaching_an_import_test() ->
    %% A linked module's start function may not reach an import: nobody is there to
    %% answer it. The error names the linked module's import.
    Lib = <<"(module (import \"env\" \"hello\" (func $h)) (func $s call $h) (start $s)
                     (func (export \"f\")))">>,
    Main = <<"(module (import \"lib\" \"f\" (func)))">>,
    ?assertEqual({error, {import_during_start, <<"env">>, <<"hello">>}},
                 beamr:start(Main, #{links => #{lib => Lib}})).

%%% 4. call_async and a gen_server

call_async_bad_arguments_test() ->
    I = start("test.wat"),
    ?assertMatch({error, {badarg, _}}, beamr:call_async(I, <<"fac">>, [1.0], not_a_from)),
    ?assertMatch({error, {badarg, _}},
                 beamr:call_async(I, <<"fac">>, [1.0], {self(), make_ref()}, not_a_map)).

call_async_replies_to_from_test() ->
    I = start("test.wat"),
    Tag = make_ref(),
    ?assertEqual(ok, beamr:call_async(I, <<"fac">>, [5.0], {self(), Tag})),
    ?assertEqual({ok, [120.0]}, receive {Tag, R} -> R after 5000 -> timeout end),
    ok = beamr:call_async(I, <<"nope">>, [], {self(), Tag}),
    ?assertEqual({error, {unknown_export, <<"nope">>}},
                 receive {Tag, R2} -> R2 after 5000 -> timeout end),
    %% With no handler an import fails the call.
    P = start("pow_calculator.wat"),
    ok = beamr:call_async(P, <<"pow">>, [2, 2], {self(), Tag}),
    ?assertMatch({error, {import_crashed, <<"my_lib">>, <<"mul">>, throw,
                          {unhandled_import, <<"my_lib">>, <<"mul">>}}},
                 receive {Tag, R3} -> R3 after 5000 -> timeout end).

call_async_handler_reads_memory_test() ->
    Wat = <<"(module (import \"env\" \"fill\" (func $fill (param i32 i32)))
                     (memory (export \"memory\") 1)
                     (func (export \"sum\") (param i32) (result i32)
                       local.get 0 i32.const 4 call $fill
                       local.get 0 i32.load8_u local.get 0 i32.load8_u offset=3 i32.add))">>,
    {ok, I} = beamr:start(Wat),
    Self = self(),
    Handler = spawn_link(fun() ->
                                 receive
                                     {beamr_import, ReplyTo, #{instance := I, args := [Ptr, Len]}} ->
                                         ok = beamr:write(I, Ptr, <<10, 0, 0, 32>>),
                                         {ok, Bin} = beamr:read(I, Ptr, Len),
                                         Self ! {handler_read, Bin},
                                         beamr:reply_import(ReplyTo, [])
                                 end
                         end),
    Tag = make_ref(),
    ok = beamr:call_async(I, <<"sum">>, [64], {self(), Tag}, #{import_handler => Handler}),
    ?assertEqual({ok, [42]}, receive {Tag, R} -> R after 5000 -> timeout end),
    ?assertEqual(<<10, 0, 0, 32>>, receive {handler_read, B} -> B after 0 -> none end).

call_async_handler_exit_fails_the_call_test() ->
    P = start("pow_calculator.wat"),
    Handler = spawn(fun() -> receive {beamr_import, _, _} -> exit(gone) end end),
    Tag = make_ref(),
    ok = beamr:call_async(P, <<"pow">>, [2, 3], {self(), Tag}, #{import_handler => Handler}),
    ?assertMatch({error, {import_crashed, <<"my_lib">>, <<"mul">>, error,
                          {import_handler_down, gone}}},
                 receive {Tag, R} -> R after 5000 -> timeout end),
    %% The instance stays usable.
    Tag2 = make_ref(),
    ok = beamr:call_async(P, <<"pow">>, [2, 0], {self(), Tag2}),
    ?assertEqual({ok, [1]}, receive {Tag2, R2} -> R2 after 5000 -> timeout end).

gen_server_wrapping_an_instance_test() ->
    {ok, S} = beamr_wasm_server:start_link(fixture("pow_calculator.wat")),
    ?assertEqual({ok, [1024]}, beamr_wasm_server:call(S, <<"pow">>, [2, 10])),
    ?assertEqual(10, beamr_wasm_server:imports_answered(S)),
    ?assertEqual({error, {unknown_export, <<"nope">>}}, beamr_wasm_server:call(S, <<"nope">>, [])),
    %% Concurrent callers: each gets its own answer; the server keeps serving.
    Callers = [{B, E} || B <- [2, 3, 5], E <- [0, 1, 7, 12]],
    [spawn_reporting(pow, fun() -> {B, E, beamr_wasm_server:call(S, <<"pow">>, [B, E])} end)
     || {B, E} <- Callers],
    Results = collect(pow, length(Callers)),
    ?assertEqual(lists:sort([{B, E, {ok, [pow(B, E)]}} || {B, E} <- Callers]),
                 lists:sort(Results)),
    ?assertEqual(10 + lists:sum([E || {_, E} <- Callers]), beamr_wasm_server:imports_answered(S)),
    unlink(S),
    exit(S, shutdown).

pow(B, E) ->
    %% i32 wrap-around, as the wasm computes it.
    <<R:32/signed>> = <<(trunc(math:pow(B, E))):32>>,
    R.
