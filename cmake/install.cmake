# cmake --install: public headers (the list from public-headers.cmake) under include/seqgrad/,
# libseqgrad.so.<soversion> + libseqgrad.a, the CMake package (seqgrad::seqgrad, seqgrad::seqgrad_static),
# seqgrad.pc, LICENSE and README, the API reference when built; and `cpack -G DEB`.
include(CMakePackageConfigHelpers)

foreach(_h IN LISTS SEQGRAD_PUBLIC_HEADERS)
  get_filename_component(_d "${_h}" DIRECTORY)
  install(FILES "${PROJECT_SOURCE_DIR}/${_h}" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/seqgrad/${_d}"
          COMPONENT dev)
endforeach()

install(TARGETS seqgrad seqgrad_shared EXPORT seqgrad-targets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT lib NAMELINK_COMPONENT dev
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)

set(SEQGRAD_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/seqgrad")
install(EXPORT seqgrad-targets NAMESPACE seqgrad:: DESTINATION ${SEQGRAD_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(cmake/seqgrad-config.cmake.in
  ${PROJECT_BINARY_DIR}/seqgrad-config.cmake INSTALL_DESTINATION ${SEQGRAD_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/seqgrad-config-version.cmake
  COMPATIBILITY SameMinorVersion)  # 0.x: a minor bump may break the API
install(FILES ${PROJECT_BINARY_DIR}/seqgrad-config.cmake ${PROJECT_BINARY_DIR}/seqgrad-config-version.cmake
  cmake/Findseqgrad_OpenBLAS.cmake cmake/Findseqgrad_DNNL.cmake
  DESTINATION ${SEQGRAD_CMAKE_DIR} COMPONENT dev)

# seqgrad.pc, relocatable (prefix found from the .pc file's own directory)
file(RELATIVE_PATH _pc_up "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" _pc_up "${_pc_up}")
set(SEQGRAD_PC_PREFIX "\${pcfiledir}/${_pc_up}")
set(SEQGRAD_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
set(SEQGRAD_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
set(SEQGRAD_PC_DNNL "")
if(SEQGRAD_HAVE_DNNL)
  get_filename_component(_dnnl_dir "${seqgrad_DNNL_LIBRARY}" DIRECTORY)
  set(SEQGRAD_PC_DNNL "-L${_dnnl_dir} -ldnnl")
endif()
configure_file(cmake/seqgrad.pc.in ${PROJECT_BINARY_DIR}/seqgrad.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/seqgrad.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

install(FILES LICENSE README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT dev)

# ---- Debian package: cpack -G DEB (one package, libseqgrad-dev: library, headers, CMake/pkg-config files, docs)
set(CPACK_PACKAGE_NAME libseqgrad-dev)
set(CPACK_PACKAGE_VENDOR "the seqgrad authors")
set(CPACK_PACKAGE_CONTACT "the seqgrad authors <seqgrad@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "recurrent neural networks in C11 with exact reverse-mode gradients")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
# build and link dependencies: pkg-config --static and seqgrad::seqgrad_static need the -dev packages
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libc6, libgomp1, zlib1g-dev, libopenblas-openmp-dev")
if(SEQGRAD_HAVE_DNNL)
  string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", libdnnl-dev")
endif()
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "pkg-config, cmake")
if(NOT SEQGRAD_WITH_MPI STREQUAL "OFF") # libseqgrad_dist, seqgrad::dist: Open MPI when it was found
  string(APPEND CPACK_DEBIAN_PACKAGE_SUGGESTS ", libopenmpi-dev")
endif()
include(CPack)
