# API reference: `docs` target runs Doxygen (Debian's doxygen) over the public header set
# (SEQGRAD_PUBLIC_HEADERS) into BUILD/docs/html, failing on any undocumented public symbol or doc
# error (docs/Doxyfile.in: WARN_IF_UNDOCUMENTED + WARN_AS_ERROR). The CTest `docs` runs the same
# when doxygen is installed and reports SKIPPED otherwise. Installed to share/doc/seqgrad/html
# when it has been built.
find_program(SEQGRAD_DOXYGEN doxygen)
set(SEQGRAD_DOCS_OUT ${PROJECT_BINARY_DIR}/docs)
set(SEQGRAD_DOCS_INPUT "")
# headers not checked yet (none: add one here only while it is being rewritten)
set(SEQGRAD_DOCS_PENDING "")
foreach(_h IN LISTS SEQGRAD_PUBLIC_HEADERS)
  if(_h IN_LIST SEQGRAD_DOCS_PENDING)
    continue()
  endif()
  string(APPEND SEQGRAD_DOCS_INPUT " \\\n    ${PROJECT_SOURCE_DIR}/${_h}")
endforeach()
# libseqgrad_dist's header (installed beside the others, not included by seqgrad.h)
string(APPEND SEQGRAD_DOCS_INPUT " \\\n    ${PROJECT_SOURCE_DIR}/dist/dist.h")
string(APPEND SEQGRAD_DOCS_INPUT " \\\n    ${PROJECT_SOURCE_DIR}/docs/mainpage.md")
configure_file(${PROJECT_SOURCE_DIR}/docs/Doxyfile.in ${SEQGRAD_DOCS_OUT}/Doxyfile @ONLY)
set(_sg_docs_cmd ${CMAKE_COMMAND} -DDOXYGEN=${SEQGRAD_DOXYGEN} -DOUT=${SEQGRAD_DOCS_OUT}
    -P ${PROJECT_SOURCE_DIR}/cmake/run-doxygen.cmake)
if(SEQGRAD_DOXYGEN)
  add_custom_target(docs COMMAND ${_sg_docs_cmd} COMMENT "Doxygen API reference -> ${SEQGRAD_DOCS_OUT}/html"
                    VERBATIM)
else()
  add_custom_target(docs COMMAND ${CMAKE_COMMAND} -E echo "docs: doxygen not found (apt-get install doxygen)"
                    COMMAND ${CMAKE_COMMAND} -E false)
endif()
if(SEQGRAD_TESTS)
  # a separate output directory so that the test and the target never write the same files
  add_test(NAME docs COMMAND sh -c [[d=$(command -v doxygen) || { echo "SKIPPED: doxygen not installed (apt-get install doxygen)"; exit 77; }; exec "$0" -DDOXYGEN="$d" "$@"]]
           ${CMAKE_COMMAND} -DOUT=${SEQGRAD_DOCS_OUT} -DTEST_OUT=${PROJECT_BINARY_DIR}/docs_test
           -P ${PROJECT_SOURCE_DIR}/cmake/run-doxygen.cmake)
  set_tests_properties(docs PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
endif()
install(DIRECTORY ${SEQGRAD_DOCS_OUT}/html/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/html COMPONENT dev OPTIONAL)
