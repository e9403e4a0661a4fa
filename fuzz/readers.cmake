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
# The libraries the compressed-model target links are compiled as C++17 too in this build.
foreach(_lib qmoe_compressed qmoe_methods qmoe_model qmoe_io qmoe_fileio qmoe_core)
  set_target_properties(${_lib} PROPERTIES CXX_STANDARD 17)
endforeach()
qmoe_reader_fuzz(compressed_fuzz
                 SOURCES ${_fw}/compressed/compressed_model.cpp ${_fw}/compressed/qmoe_published.cpp
                 LIBS qmoe_compressed qmoe_methods qmoe_model qmoe_io)
