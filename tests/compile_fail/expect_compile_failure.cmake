# Runs COMPILER FLAGS SOURCE and succeeds only if the compile fails with output matching EXPECT.
execute_process(COMMAND ${COMPILER} ${FLAGS} ${SOURCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "${SOURCE} failed to compile, but without the message '${EXPECT}':\n${err}")
endif()
message(STATUS "failed to compile as expected: '${EXPECT}'")
