// The conformance suite (hyperctl::conformance) against the WSL backend on
// the stand-in wsl.exe: Conformance/wsl.*. The stand-in's state lives in a
// temporary folder made here, holding one stopped distribution (the
// existing VM) with a disk; the folder is removed at exit.
//
// Conformance/wsl_real.* runs the same suite against a real wsl.exe when
// HYPERCTL_TEST_WSL_URI is set (e.g. wsl:///?location=C:\\WSL from inside
// a WSL distribution), on the distribution HYPERCTL_TEST_WSL_VM, importing
// its own test distributions from the archive HYPERCTL_TEST_WSL_IMAGE; it
// never shuts WSL down. Unset, those tests skip.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "hyperctl/conformance.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::string tmpl = (fs::temp_directory_path() / "hyperctl-wsl-conf-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return 1;
  const fs::path root = tmpl;
  const fs::path state = root / "state", base = root / "disks" / "existing",
                 location = root / "distros";
  fs::create_directories(state);
  fs::create_directories(base);
  fs::create_directories(location);
  std::ofstream(base / "ext4.vhdx", std::ios::binary) << "the existing distribution's disk";
  // The image the suite's own distributions are imported from (the
  // stand-in's archive shape: a header line, then the disk's bytes).
  const fs::path image = root / "image.tar";
  std::ofstream(image, std::ios::binary) << "FAKEWSL-EXPORT tar\nan imported distribution's disk";
  hyperctl::VmSpec spec;
  hyperctl::DiskSpec from_image;
  from_image.path = image.string();
  spec.disks.push_back(from_image);
  const nlohmann::json doc = {{"distros",
                               {{{"name", "hyperctl-conf-distro"},
                                 {"guid", "{0b3a0000-0000-4000-8000-00000000c0f1}"},
                                 {"state", "Stopped"},
                                 {"version", 2},
                                 {"default", true},
                                 {"base_path", base.string()}}}}};
  std::ofstream(state / "state.json") << doc.dump(2);
  ::setenv("FAKE_WSL_STATE", state.c_str(), 1);
  for (const char* knob : {"FAKE_WSL_ENCODING", "FAKE_WSL_NEWLINE", "FAKE_WSL_LANG",
                           "FAKE_WSL_INBOX", "FAKE_WSL_SLOW_MS", "FAKE_WSL_DIE_AFTER"})
    ::unsetenv(knob);

  hyperctl::conformance::register_tests({
      .name = "wsl",
      .uri = std::string("wsl:///?wsl=") + HYPERCTL_TEST_FAKE_WSL +
             "&reg=" + HYPERCTL_TEST_FAKE_REG + "&location=" + location.string(),
      .plugin_dirs = {HYPERCTL_TEST_WSL_PLUGIN_DIR},
      .existing_vm = "hyperctl-conf-distro",
      .pool = "wsl",
      .vm_spec = spec,
      .delete_needs_force = true,
      .properties = {{"sparse", "true"}, {"sparse", "false"}, {"default", "true"}},
      .allow_host_shutdown = true,
  });
  const char* real_uri = std::getenv("HYPERCTL_TEST_WSL_URI");
  const char* real_vm = std::getenv("HYPERCTL_TEST_WSL_VM");
  const char* real_image = std::getenv("HYPERCTL_TEST_WSL_IMAGE");
  const bool real = real_uri && *real_uri && real_image && *real_image;
  hyperctl::VmSpec real_spec;
  if (real) {
    hyperctl::DiskSpec disk;
    disk.path = real_image;
    real_spec.disks.push_back(disk);
  }
  hyperctl::conformance::register_tests({
      .name = "wsl_real",
      .uri = real ? real_uri : "wsl:///",
      .plugin_dirs = {HYPERCTL_TEST_WSL_PLUGIN_DIR},
      .existing_vm = real_vm ? real_vm : "",
      .pool = "wsl",
      .skip_reason = real ? ""
                          : "HYPERCTL_TEST_WSL_URI and HYPERCTL_TEST_WSL_IMAGE (an archive "
                            "to import test distributions from) not set: no real wsl.exe",
      .vm_spec = real_spec,
      .delete_needs_force = true,
  });
  const int status = RUN_ALL_TESTS();
  std::error_code ec;
  fs::remove_all(root, ec);
  return status;
}
