// skeleton-conformance: runs hyperctl's conformance suite against the
// skeleton plugin built next to this program. Every declared operation must
// work; every other one must throw ErrorCode::Unsupported.
//
//   skeleton-conformance [gtest options]
//
// The plugin folder comes from the build (SKELETON_PLUGIN_DIR); the VM
// folder is a fresh temporary directory, removed afterwards.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>

#include <gtest/gtest.h>
#include <hyperctl/conformance.hpp>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);

  // A folder of our own under $TMPDIR: mkdtemp gives a unique, private one.
  std::string pattern = (std::filesystem::temp_directory_path() / "skeleton-conf-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::cerr << "skeleton-conformance: cannot create a temporary folder\n";
    return 1;
  }
  const std::filesystem::path dir = pattern;

  hyperctl::conformance::Config config;
  config.name = "skeleton";
  config.uri = "skeleton://" + dir.string();  // dir is absolute: skeleton:///tmp/...
  config.plugin_dirs = {SKELETON_PLUGIN_DIR};
  hyperctl::conformance::register_tests(config);

  const int status = RUN_ALL_TESTS();
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return status;
}
