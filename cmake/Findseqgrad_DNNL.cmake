# Finds oneDNN (libdnnl-dev) and defines seqgrad::DNNL. Debian's dnnl-config.cmake is not used:
# it requires OpenCL headers (its GPU runtime) that a CPU-only user does not have.
# Result: seqgrad_DNNL_FOUND, seqgrad_DNNL_LIBRARY, seqgrad_DNNL_INCLUDE_DIR.
include(FindPackageHandleStandardArgs)
find_library(seqgrad_DNNL_LIBRARY NAMES dnnl)
find_path(seqgrad_DNNL_INCLUDE_DIR dnnl.h)
find_package_handle_standard_args(seqgrad_DNNL
  REQUIRED_VARS seqgrad_DNNL_LIBRARY seqgrad_DNNL_INCLUDE_DIR
  REASON_FAILURE_MESSAGE "oneDNN not found: apt-get install libdnnl-dev")
if(seqgrad_DNNL_FOUND AND NOT TARGET seqgrad::DNNL)
  add_library(seqgrad::DNNL UNKNOWN IMPORTED)
  set_target_properties(seqgrad::DNNL PROPERTIES
    IMPORTED_LOCATION "${seqgrad_DNNL_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${seqgrad_DNNL_INCLUDE_DIR}")
endif()
mark_as_advanced(seqgrad_DNNL_LIBRARY seqgrad_DNNL_INCLUDE_DIR)
