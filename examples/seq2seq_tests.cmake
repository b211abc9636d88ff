# Smoke tests of examples/seq2seq (included from the top-level CMakeLists.txt). Tiny settings, no
# data files, about 2 s together: one epoch, then a second one resumed from the checkpoint (sort
# task, beam 2), checking the final line and the exit code (PASS_REGULAR_EXPRESSION replaces
# CTest's exit-code check, so the command ends with "&& echo smoke-exit-0"); and bad arguments,
# which must exit 2 with a message.
if(SEQGRAD_TESTS)
  set(_s2s_out ${CMAKE_CURRENT_BINARY_DIR}/smoke/seq2seq)
  set(_s2s_tiny --steps 4 --hidden 16 --embed 8 --max-len 5 --val 20 --test 20 --beam 2 --threads 1 --quiet
      --out ${_s2s_out})
  add_test(NAME example_seq2seq
    COMMAND sh -c "rm -rf '${_s2s_out}' && mkdir -p '${_s2s_out}' && \"$0\" \"$@\" --epochs 1 && \"$0\" \"$@\" --epochs 2 --resume '${_s2s_out}/seq2seq_sort.ckpt' && echo smoke-exit-0"
      $<TARGET_FILE:seq2seq> --task sort ${_s2s_tiny})
  set_tests_properties(example_seq2seq PROPERTIES TIMEOUT 60 ENVIRONMENT "OMP_WAIT_POLICY=passive"
    PASS_REGULAR_EXPRESSION "sequence accuracy: sort [0-9.]+%\nresumed from [^\n]*seq2seq_sort.ckpt after epoch 1 [^\n]*\n.*\nepoch  2 [^\n]*val accuracy [0-9.]+% .*test \\(20 sequences\\): greedy [0-9.]+% [^\n]*beam 2 [0-9.]+%[^\n]*\nsequence accuracy: sort [0-9.]+%\nsmoke-exit-0")
  add_test(NAME example_seq2seq_bad_args
    COMMAND sh -c "\"$0\" --task shuffle; echo exit=$?; \"$0\" --beam 0 --quiet; echo exit=$?" $<TARGET_FILE:seq2seq>)
  set_tests_properties(example_seq2seq_bad_args PROPERTIES
    PASS_REGULAR_EXPRESSION "unknown or bad option --task.*exit=2.*1 <= --beam <= 16.*exit=2")
endif()
