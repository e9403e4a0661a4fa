# libFuzzer targets for the file readers (included from fuzz/CMakeLists.txt; see README.md). The
# reader sources are compiled into each target so that they are instrumented; LibTorch, yaml-cpp and
# the rest of qmoe are linked as built.
set(_fw ${PROJECT_SOURCE_DIR}/framework)
set(_qmoe_fuzz_io_src
  ${_fw}/io/dtype.cpp ${_fw}/io/atomic_file.cpp ${_fw}/io/bounded_read.cpp ${_fw}/io/safetensors.cpp
  ${_fw}/io/zip_directory.cpp ${_fw}/io/pickle_parser.cpp ${_fw}/io/torch_bin.cpp ${_fw}/io/torch_bin_pickle.cpp
  ${_fw}/io/checkpoint.cpp)
set(_qmoe_fuzz_config_src
  ${_fw}/config/config_tree.cpp ${_fw}/config/defaults_list.cpp ${_fw}/config/overrides.cpp
  ${_fw}/config/interpolate.cpp ${_fw}/config/compose.cpp ${_fw}/config/validate.cpp ${_fw}/config/canonical.cpp
  ${_fw}/io/bounded_read.cpp)

if(TARGET yaml-cpp::yaml-cpp)
  set(_qmoe_fuzz_yaml yaml-cpp::yaml-cpp)
else()
  set(_qmoe_fuzz_yaml yaml-cpp)
endif()

# LibTorch 1.13's headers do not compile under clang 14 in C++20 mode (c10::IValue is incomplete
# where libstdc++ 12's constexpr std::vector needs it): the fuzz build compiles as C++17.
function(qmoe_reader_fuzz name)
  cmake_parse_arguments(F "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${name}.cpp ${F_SOURCES})
  set_target_properties(${name} PROPERTIES CXX_STANDARD 17)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${_qmoe_fuzz_flags})
  target_link_options(${name} PRIVATE ${_qmoe_fuzz_flags})
  target_link_libraries(${name} PRIVATE ${F_LIBS})
endfunction()

qmoe_reader_fuzz(safetensors_fuzz SOURCES ${_qmoe_fuzz_io_src}
                 LIBS qmoe_core ${TORCH_LIBRARIES} nlohmann_json::nlohmann_json)
qmoe_reader_fuzz(pickle_fuzz SOURCES ${_qmoe_fuzz_io_src}
                 LIBS qmoe_core ${TORCH_LIBRARIES} nlohmann_json::nlohmann_json)
qmoe_reader_fuzz(hf_config_fuzz SOURCES ${_fw}/model/switch_config.cpp ${_fw}/io/atomic_file.cpp ${_fw}/io/bounded_read.cpp
                 LIBS qmoe_core ${TORCH_LIBRARIES} nlohmann_json::nlohmann_json)
qmoe_reader_fuzz(config_fuzz SOURCES ${_qmoe_fuzz_config_src} LIBS qmoe_core ${_qmoe_fuzz_yaml})
# The results sources need no LibTorch; schema_sql.cpp is generated at configure time by framework/results.
qmoe_reader_fuzz(results_shard_fuzz
                 SOURCES ${_fw}/results/shard.cpp ${_fw}/results/results_db.cpp ${_fw}/results/schema.cpp
                         ${_fw}/results/sqlite_util.cpp ${PROJECT_BINARY_DIR}/framework/results/schema_sql.cpp
                 LIBS qmoe_core SQLite::SQLite3)
# compressed_fuzz needs the method and kernel libraries, which clang 14 cannot compile (LibTorch's
# headers in C++20 mode, an AVX-512 feature name). It links them from a gcc build of this checkout
# instead: -DQMOE_FUZZ_GCC_BUILD=<that build folder> (e.g. build/release); only the compressed-model
# readers themselves are compiled here, instrumented.
set(QMOE_FUZZ_GCC_BUILD "" CACHE PATH "gcc build folder whose libraries compressed_fuzz links")
if(QMOE_FUZZ_GCC_BUILD)
  find_package(OpenSSL REQUIRED)
  set(_g ${QMOE_FUZZ_GCC_BUILD})
  set(_gcc_libs
    ${_g}/serving/libqmoe_serving.a ${_g}/methods/libqmoe_methods.a
    ${_g}/methods/gptq/libqmoe_method_gptq.a ${_g}/methods/grids/libqmoe_method_grids.a
    ${_g}/methods/codec/libqmoe_method_codec.a ${_g}/codecs/libqmoe_codecs.a ${_g}/codecs/dict/libqmoe_dict.a
    ${_g}/codecs/rans/libqmoe_rans.a ${_g}/codecs/ternary/libqmoe_codec_ternary.a
    ${_g}/framework/model/libqmoe_model.a ${_g}/framework/io/libqmoe_io.a
    ${_g}/kernels/dict_matvec/libqmoe_kernel_dict_matvec.a ${_g}/kernels/common/libqmoe_kernel_common.a
    ${_g}/framework/io/libqmoe_fileio.a ${_g}/framework/core/libqmoe_core.a)
  find_library(_cudart cudart PATHS /usr/local/cuda/lib /usr/local/cuda/lib64)
  find_library(_cublas cublas PATHS /usr/local/cuda/lib /usr/local/cuda/lib64)
  find_library(_cublaslt cublasLt PATHS /usr/local/cuda/lib /usr/local/cuda/lib64)
  set(_cuda_libs)
  foreach(_l _cudart _cublas _cublaslt)
    if(${_l})
      list(APPEND _cuda_libs ${${_l}})
    endif()
  endforeach()
  qmoe_reader_fuzz(compressed_fuzz
                   SOURCES ${PROJECT_SOURCE_DIR}/serving/compressed_model.cpp ${PROJECT_SOURCE_DIR}/serving/qmoe_published.cpp
                   LIBS -Wl,--start-group ${_gcc_libs} -Wl,--end-group ${TORCH_LIBRARIES} ${_qmoe_fuzz_yaml}
                        OpenSSL::Crypto nlohmann_json::nlohmann_json ${_cuda_libs} ${CMAKE_DL_LIBS})
endif()
