# Finds Debian's OpenMP build of OpenBLAS (libopenblas-openmp-dev) and defines seqgrad::OpenBLAS.
# Not the generic libopenblas.so: that is an alternatives link that may point at the pthreads build,
# whose own thread pool fights seqgrad's OpenMP team. Result: seqgrad_OpenBLAS_FOUND,
# seqgrad_OpenBLAS_LIBRARY, seqgrad_OpenBLAS_INCLUDE_DIR, seqgrad_OpenBLAS_LIBDIR.
include(FindPackageHandleStandardArgs)
set(_sg_ob_arch "${CMAKE_LIBRARY_ARCHITECTURE}")
if(NOT _sg_ob_arch)
  set(_sg_ob_arch "x86_64-linux-gnu")
endif()
find_library(seqgrad_OpenBLAS_LIBRARY NAMES openblas
  PATHS "/usr/lib/${_sg_ob_arch}/openblas-openmp" NO_DEFAULT_PATH)
find_path(seqgrad_OpenBLAS_INCLUDE_DIR cblas.h
  PATHS "/usr/include/${_sg_ob_arch}/openblas-openmp" NO_DEFAULT_PATH)
find_package_handle_standard_args(seqgrad_OpenBLAS
  REQUIRED_VARS seqgrad_OpenBLAS_LIBRARY seqgrad_OpenBLAS_INCLUDE_DIR
  REASON_FAILURE_MESSAGE "need the OpenMP build of OpenBLAS: apt-get install libopenblas-openmp-dev")
if(seqgrad_OpenBLAS_FOUND)
  get_filename_component(seqgrad_OpenBLAS_LIBDIR "${seqgrad_OpenBLAS_LIBRARY}" DIRECTORY)
  if(NOT TARGET seqgrad::OpenBLAS)
    add_library(seqgrad::OpenBLAS UNKNOWN IMPORTED)
    set_target_properties(seqgrad::OpenBLAS PROPERTIES
      IMPORTED_LOCATION "${seqgrad_OpenBLAS_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${seqgrad_OpenBLAS_INCLUDE_DIR}"
      # a static consumer links the .so from this directory: pin it at run time too
      INTERFACE_LINK_OPTIONS "LINKER:-rpath,${seqgrad_OpenBLAS_LIBDIR}")
  endif()
endif()
mark_as_advanced(seqgrad_OpenBLAS_LIBRARY seqgrad_OpenBLAS_INCLUDE_DIR)
