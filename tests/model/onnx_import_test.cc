// ONNX import against the hostile corpus in tests/data/bad (tools/make_bad_models.py): every
// file that must be refused at import time gives the expected category and message.
#include "model/onnx_import.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace privedge {
namespace {

namespace fs = std::filesystem;

const std::string kBad = std::string(PRIVEDGE_SOURCE_DIR) + "/tests/data/bad/";

struct ImportCase {
  const char* file;
  StatusCode code;
  const char* fragment;
};

// Cases rejected while importing (before any kernel runs). Runtime cases are in
// tests/runtime/session_test.cc.
const ImportCase kImportCases[] = {
    {"empty.onnx", StatusCode::kInvalidModel, "model is empty (0 bytes)"},
    {"garbage.onnx", StatusCode::kInvalidModel, "protobuf parsing failed (256 bytes"},
    {"text.onnx", StatusCode::kInvalidModel, "protobuf parsing failed"},
    {"truncated.onnx", StatusCode::kInvalidModel, "protobuf parsing failed"},
    {"deep_subgraphs_protobuf.onnx", StatusCode::kInvalidModel, "protobuf parsing failed"},
    {"ir_version_9.onnx", StatusCode::kNotImplemented,
     "model IR version 9 is not supported (expected 3 to 8)"},
    {"ir_version_0.onnx", StatusCode::kNotImplemented, "model IR version 0 is not supported"},
    {"opset_18.onnx", StatusCode::kNotImplemented,
     "model imports default-domain opset 18; privedge supports opsets 1 to 17"},
    {"no_opset.onnx", StatusCode::kInvalidModel, "model declares no opset_import"},
    {"no_graph.onnx", StatusCode::kInvalidModel, "model has no graph"},
    {"local_function.onnx", StatusCode::kNotImplemented,
     "model-local functions are not supported (1 declared)"},
    {"cycle.onnx", StatusCode::kInvalidModel, "graph has a cycle through node 'a' (Relu)"},
    {"self_cycle.onnx", StatusCode::kInvalidModel,
     "node 'loop' (Add): consumes its own output 'y' (cycle)"},
    {"undefined_input.onnx", StatusCode::kInvalidModel,
     "node 'r' (Relu): input 'nowhere' is not defined"},
    {"undefined_output.onnx", StatusCode::kInvalidModel,
     "graph output 'missing' is not produced by any node"},
    {"duplicate_output.onnx", StatusCode::kInvalidModel,
     "node 'second' (Neg): output 'y' is already produced by node 'first' (Relu)"},
    {"output_shadows_input.onnx", StatusCode::kInvalidModel,
     "node 'r' (Relu): output 'x' redefines a graph input or initializer"},
    {"duplicate_initializer.onnx", StatusCode::kInvalidModel,
     "graph 'g': initializer 'c' is defined twice"},
    {"control_char_name.onnx", StatusCode::kInvalidModel,
     "graph 'g': node #0 name contains a control character (byte 10)"},
    {"deep_subgraphs.onnx", StatusCode::kInvalidModel,
     "node producing 'v' (If): subgraphs nested deeper than 32 levels"},
    {"subgraph_undefined.onnx", StatusCode::kInvalidModel,
     "node 'if' (If): input 'nowhere' is not defined"},
    {"attribute_bad_type.onnx", StatusCode::kInvalidModel,
     "node 'lr' (LeakyRelu): attribute 'alpha' has unknown type 0"},
    {"negative_dim.onnx", StatusCode::kInvalidModel,
     "tensor 'w': negative dimension in shape [2,-3]"},
    {"negative_dim_attribute.onnx", StatusCode::kInvalidModel,
     "node 'c' (Constant): tensor 'v': negative dimension in shape [-1]"},
    {"huge_initializer.onnx", StatusCode::kOutOfRange,
     "tensor 'w': tensor of shape [1048576,1048576] and type float32 needs more than the "
     "4294967296-byte limit"},
    {"overflow_initializer.onnx", StatusCode::kInvalidModel,
     "tensor 'w': element count of shape [4294967296,4294967296] overflows int64"},
    {"raw_data_short.onnx", StatusCode::kInvalidModel,
     "tensor 'w': raw_data has 12 bytes but shape [1000] of float32 needs 4000"},
    {"float_data_short.onnx", StatusCode::kInvalidModel,
     "tensor 'w': float_data holds 3 values but shape [4] needs 4"},
    {"claimed_2gib_no_data.onnx", StatusCode::kInvalidModel,
     "tensor 'w': float_data holds 0 values but shape [536870912] needs 536870912"},
    {"claimed_2gib_raw_16_bytes.onnx", StatusCode::kInvalidModel,
     "tensor 'w': raw_data has 16 bytes but shape [536870912] of float32 needs 2147483648"},
    {"empty_initializer_extents.onnx", StatusCode::kOutOfRange,
     "tensor 'w' has shape [1048576,0,1048576]: its non-zero extents multiply to more than the "
     "4294967296-element limit"},
    {"bad_dtype.onnx", StatusCode::kNotImplemented, "tensor 'w': data type 99 is not supported"},
    {"external/dotdot.onnx", StatusCode::kInvalidModel,
     "external data path '../escape.bin' may not contain '..'"},
    {"external/dotdot_nested.onnx", StatusCode::kInvalidModel,
     "external data path 'sub/../../escape.bin' may not contain '..'"},
    {"external/absolute.onnx", StatusCode::kInvalidModel,
     "external data path '/etc/passwd' must be relative to the model's folder"},
    {"external/missing_file.onnx", StatusCode::kNotFound,
     "external data file 'no_such.bin' not found next to the model"},
    {"external/too_short.onnx", StatusCode::kInvalidModel,
     "external data 'weights.bin' is too short: needs 4000 bytes at offset 0, file has 16"},
    {"external/bad_offset.onnx", StatusCode::kInvalidModel,
     "is too short: needs 16 bytes at offset 4096, file has 16"},
    {"external/offset_not_a_number.onnx", StatusCode::kInvalidModel,
     "external data offset 'abc' is not a non-negative integer"},
    {"external/length_mismatch.onnx", StatusCode::kInvalidModel,
     "external data length 8 does not match shape [4] (expected 16 bytes)"},
    {"external/directory.onnx", StatusCode::kInvalidModel,
     "external data '.' is not a regular file"},
    {"external/huge_external.onnx", StatusCode::kOutOfRange,
     "tensor of shape [1099511627776] and type float32 needs more than"},
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(OnnxImportTest, HostileModelsFailWithClearErrors) {
  for (const ImportCase& c : kImportCases) {
    SCOPED_TRACE(c.file);
    const std::string path = kBad + c.file;
    ASSERT_TRUE(fs::exists(path)) << "run tools/make_bad_models.py";
    auto model = ImportOnnxFile(path);
    ASSERT_FALSE(model.ok());
    const std::string msg = model.status().message();
    EXPECT_EQ(model.status().code(), c.code) << msg;
    EXPECT_NE(msg.find(c.fragment), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "error spans several lines: " << msg;
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << "error does not name the file: " << msg;
  }
}

TEST(OnnxImportTest, SameErrorsFromMemory) {
  // External data cases differ from memory (no folder), so only the self-contained ones.
  for (const ImportCase& c : kImportCases) {
    if (std::string(c.file).rfind("external/", 0) == 0) continue;
    SCOPED_TRACE(c.file);
    const std::string bytes = ReadFile(kBad + c.file);
    auto model = ImportOnnxBuffer(bytes.data(), bytes.size(), "");
    ASSERT_FALSE(model.ok());
    EXPECT_EQ(model.status().code(), c.code);
    EXPECT_NE(model.status().message().find(c.fragment), std::string::npos)
        << model.status().message();
  }
}

TEST(OnnxImportTest, ExternalDataFromMemoryIsRefused) {
  const std::string bytes = ReadFile(kBad + "external/too_short.onnx");
  auto model = ImportOnnxBuffer(bytes.data(), bytes.size(), "");
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("cannot be used for a model loaded from memory"),
            std::string::npos)
      << model.status().message();
}

TEST(OnnxImportTest, SymlinkLeavingTheFolderIsRefused) {
  // A committed symlink would point somewhere machine-specific, so build the case here.
  const fs::path dir = fs::path(::testing::TempDir()) /
                       ("privedge_symlink_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "model");
  { std::ofstream(dir / "outside.bin", std::ios::binary) << std::string(16, 'x'); }
  fs::copy_file(kBad + "external/symlink_escape.onnx", dir / "model" / "m.onnx");
  fs::create_symlink(dir / "outside.bin", dir / "model" / "link.bin");
  auto model = ImportOnnxFile((dir / "model" / "m.onnx").string());
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(model.status().message().find(
                "external data 'link.bin' resolves outside the model's folder"),
            std::string::npos)
      << model.status().message();
  // The same link pointing inside the folder is fine.
  fs::copy_file(dir / "outside.bin", dir / "model" / "inside.bin");
  fs::remove(dir / "model" / "link.bin");
  fs::create_symlink("inside.bin", dir / "model" / "link.bin");
  auto ok = ImportOnnxFile((dir / "model" / "m.onnx").string());
  EXPECT_TRUE(ok.ok()) << ok.status().message();
  fs::remove_all(dir);
}

TEST(OnnxImportTest, MaxTensorBytesBoundsInitializers) {
  ImportOptions options;
  options.max_tensor_bytes = 8;  // raw_data_short declares 4000 bytes
  auto model = ImportOnnxFile(kBad + "raw_data_short.onnx", options);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(model.status().message().find("needs more than the 8-byte limit"), std::string::npos)
      << model.status().message();
}

TEST(OnnxImportTest, MissingFileIsNotFound) {
  auto model = ImportOnnxFile(kBad + "does_not_exist.onnx");
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kNotFound);
  EXPECT_NE(model.status().message().find("cannot open model file"), std::string::npos);
}

}  // namespace
}  // namespace privedge
