// The wsl.exe layer without a process: decoding, the list/registry/version
// parsers, the states table, the errors table and the environment.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "errors.hpp"
#include "hyperctl/error.hpp"
#include "wsl_exe.hpp"

namespace hyperctl::wsl {
namespace {

/// UTF-8 → UTF-16LE bytes (test input), surrogate pairs included.
std::string utf16le(const std::string& utf8) {
  std::u32string cps;
  for (std::size_t i = 0; i < utf8.size();) {
    const unsigned char c = static_cast<unsigned char>(utf8[i]);
    char32_t cp;
    std::size_t n;
    if (c < 0x80) {
      cp = c;
      n = 1;
    } else if (c < 0xE0) {
      cp = c & 0x1F;
      n = 2;
    } else if (c < 0xF0) {
      cp = c & 0x0F;
      n = 3;
    } else {
      cp = c & 0x07;
      n = 4;
    }
    for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (utf8[i + k] & 0x3F);
    cps.push_back(cp);
    i += n;
  }
  std::string out;
  const auto unit = [&](char16_t u) {
    out += static_cast<char>(u & 0xFF);
    out += static_cast<char>(u >> 8);
  };
  for (char32_t cp : cps) {
    if (cp >= 0x10000) {
      unit(static_cast<char16_t>(0xD800 + ((cp - 0x10000) >> 10)));
      unit(static_cast<char16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF)));
    } else {
      unit(static_cast<char16_t>(cp));
    }
  }
  return out;
}

/// Width in UTF-16 code units, as wsl.exe pads.
std::size_t units(const std::string& utf8) {
  return utf16le(utf8).size() / 2;
}

std::string pad(const std::string& s, std::size_t width) {
  const std::size_t w = units(s);
  return s + std::string(w < width ? width - w : 0, ' ');
}

struct Row {
  std::string name, state;
  int version;
  bool is_default;
};

/// `wsl -l -v` as WslClient.cpp prints it: "%s %-{W}s%-16s%s".
std::string listing(const std::vector<Row>& rows,
                    const std::vector<std::string>& titles = {"NAME", "STATE", "VERSION"}) {
  std::size_t w = units(titles[0]);
  for (const auto& r : rows) w = std::max(w, units(r.name));
  w += 4;
  std::string out = "  " + pad(titles[0], w) + pad(titles[1], 16) + titles[2] + "\n";
  for (const auto& r : rows)
    out += std::string(r.is_default ? "*" : " ") + " " + pad(r.name, w) + pad(r.state, 16) +
           std::to_string(r.version) + "\n";
  return out;
}

const std::string kReplacement = "\xEF\xBF\xBD";

TEST(Decode, Utf16LeWithoutBom) {
  EXPECT_EQ(decode_output(utf16le("  NAME  STATE\r\n* Ubuntu\r\n")), "  NAME  STATE\n* Ubuntu\n");
}

TEST(Decode, Utf16LeWithBomAndNonAscii) {
  const std::string text = "Dé bian ü 名 \xF0\x9F\x98\x80\r\n";  // an astral character too
  EXPECT_EQ(decode_output("\xFF\xFE" + utf16le(text)), "Dé bian ü 名 \xF0\x9F\x98\x80\n");
}

TEST(Decode, CrCrLfBecomesLfInBothEncodings) {
  EXPECT_EQ(decode_output(utf16le("a\r\r\nb\r\r\n")), "a\nb\n");
  EXPECT_EQ(decode_output("a\r\r\nb\r\nc\n"), "a\nb\nc\n");
}

TEST(Decode, LoneCarriageReturnIsKept) {
  EXPECT_EQ(decode_output("50%\r100%\n"), "50%\r100%\n");
}

TEST(Decode, Utf8PassesThroughAndBomIsDropped) {
  EXPECT_EQ(decode_output("\xEF\xBB\xBFVersion WSL\xC2\xA0: 2\r\n"), "Version WSL\xC2\xA0: 2\n");
  EXPECT_EQ(decode_output("名前 ü\n"), "名前 ü\n");
}

TEST(Decode, LoneOddByteBecomesReplacement) {
  std::string raw = utf16le("ab");
  raw += 'c';
  EXPECT_EQ(decode_output(raw), "ab" + kReplacement);
}

TEST(Decode, InvalidSequencesBecomeReplacement) {
  EXPECT_EQ(decode_output("a\xFF"
                          "b\xC3"),
            "a" + kReplacement + "b" + kReplacement);
  // A lone high surrogate, then a lone low one.
  EXPECT_EQ(decode_output(std::string("a\0\x00\xD8z\0\x00\xDC", 8)),
            "a" + kReplacement + "z" + kReplacement);
}

TEST(Decode, EmptyIsEmpty) {
  EXPECT_EQ(decode_output(""), "");
  EXPECT_EQ(decode_output("\xFF\xFE"), "");
}

TEST(ParseList, DefaultMarkerVersionsAndAllFiveStates) {
  const auto rows = parse_list_verbose(listing({{"Ubuntu-22.04", "Running", 2, true},
                                                {"old.distro-1", "Stopped", 1, false},
                                                {"inst", "Installing", 2, false},
                                                {"conv", "Converting", 1, false},
                                                {"gone", "Uninstalling", 2, false}}));
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].name, "Ubuntu-22.04");
  EXPECT_TRUE(rows[0].is_default);
  EXPECT_EQ(rows[0].state, "Running");
  EXPECT_EQ(rows[0].version, 2);
  EXPECT_EQ(rows[1].name, "old.distro-1");
  EXPECT_FALSE(rows[1].is_default);
  EXPECT_EQ(rows[1].version, 1);
  EXPECT_EQ(rows[2].state, "Installing");
  EXPECT_EQ(rows[3].state, "Converting");
  EXPECT_EQ(rows[3].version, 1);
  EXPECT_EQ(rows[4].state, "Uninstalling");
}

TEST(ParseList, NamesWithSpacesQuotesAndNonAsciiSurviveTheColumns) {
  const std::vector<std::string> names = {
      "Dé bian & \"q\" %x% ^y", "two  spaces", "ü-名", "a.b-c_d", "x", "emoji \xF0\x9F\x98\x80 1"};
  std::vector<Row> in;
  for (const auto& n : names) in.push_back({n, "Stopped", 2, n == "x"});
  const auto rows = parse_list_verbose(listing(in));
  ASSERT_EQ(rows.size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(rows[i].name, names[i]);
    EXPECT_EQ(rows[i].state, "Stopped");
    EXPECT_EQ(rows[i].is_default, names[i] == "x");
  }
}

TEST(ParseList, LocalizedHeaderIsReadByPosition) {
  const auto rows =
      parse_list_verbose(listing({{"Debian", "Stopped", 2, true}, {"Alpine", "Running", 1, false}},
                                 {"NOM", "ÉTAT", "VERSION"}));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].name, "Debian");
  EXPECT_EQ(rows[1].name, "Alpine");
  EXPECT_EQ(rows[1].state, "Running");
  EXPECT_EQ(rows[1].version, 1);
}

TEST(ParseList, EmptyOutputAndHeaderOnlyAreEmptyLists) {
  EXPECT_TRUE(parse_list_verbose("").empty());
  EXPECT_TRUE(parse_list_verbose("\n\n").empty());
  EXPECT_TRUE(parse_list_verbose(listing({})).empty());
  EXPECT_TRUE(parse_list_verbose("Windows Subsystem for Linux has no installed distributions.\n"
                                 "You can resolve this by installing a distribution.\n")
                  .empty());
}

TEST(ParseList, UnknownShapeIsBackendFailureQuotingTheLine) {
  try {
    parse_list_verbose("garbage\x1b[31m\n");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BackendFailure);
    EXPECT_NE(std::string(e.what()).find("garbage\\x1b[31m"), std::string::npos) << e.what();
  }
  // A row whose version is not a number.
  EXPECT_THROW(parse_list_verbose("  NAME    STATE    VERSION\n  a    Running    two\n"), Error);
}

TEST(States, OneTableForTheFiveWords) {
  EXPECT_EQ(map_state("Running"), VmState::Running);
  EXPECT_EQ(map_state("Stopped"), VmState::Off);
  EXPECT_EQ(map_state("Installing"), VmState::Transitional);
  EXPECT_EQ(map_state("Converting"), VmState::Transitional);
  EXPECT_EQ(map_state("Uninstalling"), VmState::Transitional);
  EXPECT_EQ(map_state("Exporting"), VmState::Unknown);
  EXPECT_EQ(map_state("running"), VmState::Unknown);
}

TEST(ParseRegistry, EntriesWithVersionFromFlagsAndVhdFileName) {
  const std::string text =
      "\nHKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Lxss\n"
      "    DefaultDistribution    REG_SZ    {aaaa}\n"
      "    DefaultVersion    REG_DWORD    0x2\n\n"
      "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Lxss\\{aaaa}\n"
      "    State    REG_DWORD    0x1\n"
      "    DistributionName    REG_SZ    my  distro ü\n"
      "    Version    REG_DWORD    0x2\n"
      "    BasePath    REG_SZ    \\\\?\\C:\\WSL\\my distro\n"
      "    Flags    REG_DWORD    0xf\n"
      "    VhdFileName    REG_SZ    disk.vhdx\n\n"
      "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Lxss\\{bbbb}\n"
      "    DistributionName    REG_SZ    legacy\n"
      "    Version    REG_DWORD    0x2\n"
      "    BasePath    REG_SZ    /abs/legacy\n"
      "    Flags    REG_DWORD    0x7\n\n";
  const auto reg = parse_registry(text);
  ASSERT_EQ(reg.size(), 2u);
  EXPECT_EQ(reg[0].guid, "{aaaa}");
  EXPECT_EQ(reg[0].name, "my  distro ü");
  EXPECT_EQ(reg[0].base_path, "C:\\WSL\\my distro");
  EXPECT_EQ(reg[0].version, 2);
  EXPECT_EQ(reg[0].vhd_file_name, "disk.vhdx");
  EXPECT_EQ(reg[1].name, "legacy");
  EXPECT_EQ(reg[1].base_path, "/abs/legacy");
  EXPECT_EQ(reg[1].version, 1) << "Version is the layout; Flags 0x7 lacks the VM-mode bit";
  EXPECT_EQ(reg[1].vhd_file_name, "");
  EXPECT_TRUE(parse_registry("").empty());
}

TEST(ParseVersion, EnglishTitlesAndLocalizedByPosition) {
  const auto v = parse_version(
      "WSL version: 2.3.24.0\nKernel version: 5.15.153.1-2\nWSLg version: 1.0.65\n"
      "Windows version: 10.0.22631.4460\n");
  EXPECT_EQ(v.wsl_version, "2.3.24.0");
  EXPECT_EQ(v.kernel_version, "5.15.153.1-2");
  EXPECT_EQ(v.windows_version, "10.0.22631.4460");
  const auto fr = parse_version(
      "Version WSL\xC2\xA0: 2.3.24.0\nVersion du noyau\xC2\xA0: 5.15\nVersion WSLg\xC2\xA0: 1\n"
      "Version de Windows\xC2\xA0: 10.0.1\n");
  EXPECT_EQ(fr.wsl_version, "2.3.24.0");
  EXPECT_EQ(fr.kernel_version, "5.15");
  EXPECT_EQ(fr.windows_version, "10.0.1");
}

TEST(ParseStatus, DefaultDistributionAndVersion) {
  const auto s = parse_status("Default Distribution: Ubuntu 22\nDefault Version: 2\n");
  EXPECT_EQ(s.default_distribution, "Ubuntu 22");
  EXPECT_EQ(s.default_version, "2");
  const auto fr =
      parse_status("Distribution par défaut\xC2\xA0: Debian\nVersion par défaut\xC2\xA0: 1\n");
  EXPECT_EQ(fr.default_distribution, "Debian");
  EXPECT_EQ(fr.default_version, "1");
  EXPECT_EQ(parse_status("Default Version: 2\n").default_distribution, "");
}

TEST(ErrorTable, CodesFromTheErrorCodeLineInAnyLanguage) {
  EXPECT_EQ(classify("There is no distribution with the supplied name.\n"
                     "Error code: Wsl/Service/WSL_E_DISTRO_NOT_FOUND\n"),
            ErrorCode::NotFound);
  EXPECT_EQ(classify("Il n’existe aucune distribution avec le nom fourni.\n"
                     "Code d'erreur\xC2\xA0: Wsl/Service/WSL_E_DISTRO_NOT_FOUND\n"),
            ErrorCode::NotFound);
  EXPECT_EQ(classify("A distribution with the supplied name already exists.\n"
                     "Error code: Wsl/Service/RegisterDistro/ERROR_ALREADY_EXISTS\n"),
            ErrorCode::AlreadyExists);
  EXPECT_EQ(classify("x\nError code: Wsl/Service/WSL_E_DISTRO_EXISTS\n"), ErrorCode::AlreadyExists);
  EXPECT_EQ(classify("The operation could not be completed because the VHD is currently in use.\n"
                     "Error code: Wsl/Service/MoveDistro/WSL_E_DISTRO_NOT_STOPPED\n"),
            ErrorCode::Conflict);
  EXPECT_EQ(classify("x\nError code: Wsl/Service/CreateInstance/E_ILLEGAL_STATE_CHANGE\n"),
            ErrorCode::Conflict);
  EXPECT_EQ(classify("The operation was canceled by the user.\nError code: Wsl/ERROR_CANCELLED\n"),
            ErrorCode::Cancelled);
  EXPECT_EQ(classify("Invalid size: 3X\nError code: Wsl/E_INVALIDARG\n"),
            ErrorCode::InvalidArgument);
  EXPECT_EQ(classify("Something new.\nError code: Wsl/Service/WSL_E_SOMETHING_NEW\n"),
            ErrorCode::BackendFailure);
  EXPECT_EQ(classify(""), ErrorCode::BackendFailure);
}

TEST(ErrorTable, OldInboxRefusalsAreUnsupported) {
  EXPECT_EQ(classify("Invalid command line option: --verbose\nUsage: wsl.exe [Argument]\n"),
            ErrorCode::Unsupported);
  // A newer wsl.exe adds E_INVALIDARG to an option it does not know: still
  // "this wsl.exe cannot", not a bad value of ours.
  EXPECT_EQ(classify("Invalid command line argument: --bogus\nPlease use 'wsl.exe --help'.\n"
                     "Error code: Wsl/E_INVALIDARG\n"),
            ErrorCode::Unsupported);
  EXPECT_EQ(classify("There is no distribution with the supplied name.\n"), ErrorCode::NotFound);
}

TEST(ErrorTable, FailMakesOneLineNamingOperationAndDistributionWithDetail) {
  process::Result r;
  r.exit_code = 255;
  const std::string text =
      "Il n’existe aucune distribution.\nCode d'erreur\xC2\xA0: "
      "Wsl/Service/WSL_E_DISTRO_NOT_FOUND\n";
  try {
    fail("vm.start", "evil\n\x1b[2Jname", text, r);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound);
    EXPECT_EQ(e.operation(), "vm.start");
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_EQ(what.find('\x1b'), std::string::npos) << what;
    EXPECT_NE(what.find("vm.start"), std::string::npos) << what;
    EXPECT_NE(what.find("evil\\n\\x1b[2Jname"), std::string::npos) << what;
    EXPECT_NE(what.find("Il n’existe aucune distribution."), std::string::npos) << what;
    EXPECT_NE(e.detail().find(text), std::string::npos) << e.detail();
    EXPECT_NE(e.detail().find("255"), std::string::npos) << e.detail();
  }
  r.exit_code = 255;
  try {
    fail("vm.list", "", "Invalid command line option: -v\n", r);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
    EXPECT_NE(std::string(e.what()).find("update WSL"), std::string::npos) << e.what();
  }
}

TEST(ErrorTable, FirstMessageLineSkipsTheCodeLine) {
  EXPECT_EQ(first_message_line("\n  Error code: Wsl/X\nThe message.\n"), "The message.");
  EXPECT_EQ(first_message_line("Error code: Wsl/X\n"), "");
}

TEST(Environment, Utf8AlwaysAndWslenvOnlyInsideWsl) {
  EXPECT_EQ(wsl_environment(false, std::string("USERPROFILE/p")),
            (std::map<std::string, std::string>{{"WSL_UTF8", "1"}}));
  EXPECT_EQ(wsl_environment(true, std::nullopt).at("WSLENV"), "WSL_UTF8");
  EXPECT_EQ(wsl_environment(true, std::string("USERPROFILE/p")).at("WSLENV"),
            "USERPROFILE/p:WSL_UTF8");
  EXPECT_EQ(wsl_environment(true, std::string("A:WSL_UTF8/u")).at("WSLENV"), "A:WSL_UTF8/u");
  EXPECT_EQ(wsl_environment(true, std::string("WSL_UTF8X")).at("WSLENV"), "WSL_UTF8X:WSL_UTF8");
}

}  // namespace
}  // namespace hyperctl::wsl
