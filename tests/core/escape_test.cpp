// Every escaping function is checked by handing its output to the real
// consumer (libxml2, /bin/sh, a JSON parser) and getting the input back.
#include <sys/wait.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <array>
#include <cstdio>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"

namespace esc = hyperctl::escape;

namespace {

const std::vector<std::string>& hostile_names() {
  static const std::vector<std::string> names = {
      "plain",
      "it's",
      "say \"hi\"",
      "a<b>&c",
      "$(rm -rf /)",
      "`whoami`",
      "a;b|c&&d",
      "line1\nline2",
      "tab\there",
      "back\\slash",
      "ünïcødé-名前-🙂",
      "\xE2\x80\x98quoted\xE2\x80\x99 \xE2\x80\x9A\xE2\x80\x9B",  // U+2018 U+2019 U+201A U+201B
      "%PATH% ^& ${HOME}",
      "]]><!-- -->&amp;",
      "'; DROP TABLE vms; --",
  };
  return names;
}

std::string xml_roundtrip_text(const std::string& escaped) {
  const std::string doc = "<r>" + escaped + "</r>";
  xmlDocPtr d = xmlReadMemory(doc.data(), static_cast<int>(doc.size()), "t.xml", "UTF-8",
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!d) return "<<parse failed>>";
  xmlChar* c = xmlNodeGetContent(xmlDocGetRootElement(d));
  std::string out = c ? reinterpret_cast<const char*>(c) : "";
  xmlFree(c);
  xmlFreeDoc(d);
  return out;
}

std::string xml_roundtrip_attr(const std::string& escaped, char quote) {
  const std::string doc = std::string("<r a=") + quote + escaped + quote + "/>";
  xmlDocPtr d = xmlReadMemory(doc.data(), static_cast<int>(doc.size()), "t.xml", "UTF-8",
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!d) return "<<parse failed>>";
  xmlChar* c = xmlGetProp(xmlDocGetRootElement(d), BAD_CAST "a");
  std::string out = c ? reinterpret_cast<const char*>(c) : "";
  xmlFree(c);
  xmlFreeDoc(d);
  return out;
}

// Runs /bin/sh -c "printf %s WORD" and returns what it printed.
std::string sh_printf(const std::string& word) {
  int fds[2];
  if (pipe(fds) != 0) return "<<pipe>>";
  const std::string script = "printf %s " + word;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  std::array<char, 4096> buf;
  ssize_t n;
  while ((n = read(fds[0], buf.data(), buf.size())) > 0) out.append(buf.data(), n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return out;
}

}  // namespace

TEST(XmlEscaping, HostileNamesSurviveLibxml2AsText) {
  for (const auto& name : hostile_names()) {
    EXPECT_EQ(xml_roundtrip_text(esc::xml_text(name)), name);
  }
}

TEST(XmlEscaping, HostileNamesSurviveLibxml2AsAttributesInBothQuoteStyles) {
  for (const auto& name : hostile_names()) {
    EXPECT_EQ(xml_roundtrip_attr(esc::xml_attr(name), '\''), name);
    EXPECT_EQ(xml_roundtrip_attr(esc::xml_attr(name), '"'), name);
  }
}

TEST(XmlEscaping, CarriageReturnIsKeptAsAReference) {
  EXPECT_EQ(xml_roundtrip_text(esc::xml_text("a\r\nb")), "a\r\nb");
}

TEST(XmlEscaping, RefusesWhatXmlCannotCarry) {
  for (const std::string& bad :
       {std::string("nul\0x", 5), std::string("bell\x07"), std::string("\xff\xfe"),
        std::string("\xC0\xAF"), std::string("\xED\xA0\x80"), std::string("\xEF\xBF\xBE")}) {
    EXPECT_THROW(esc::xml_text(bad), hyperctl::Error);
    EXPECT_THROW(esc::xml_attr(bad), hyperctl::Error);
  }
}

TEST(ShellQuoting, HostileNamesComeBackFromShUnchanged) {
  for (const auto& name : hostile_names()) {
    EXPECT_EQ(sh_printf(esc::shell_word(name)), name);
  }
  EXPECT_EQ(sh_printf(esc::shell_word("")), "");
  EXPECT_THROW(esc::shell_word(std::string("a\0b", 3)), hyperctl::Error);
}

TEST(JsonQuoting, HostileNamesParseBackUnchanged) {
  for (const auto& name : hostile_names()) {
    EXPECT_EQ(nlohmann::json::parse(esc::json_string(name)).get<std::string>(), name);
  }
  EXPECT_EQ(esc::json_string(std::string("\x01", 1)), "\"\\u0001\"");
  EXPECT_THROW(esc::json_string("\xff"), hyperctl::Error);
}

// No PowerShell here: check the literal against PowerShell's quoting rule
// (a single-quoted string ends at any of ' U+2018 U+2019 U+201A U+201B, and a
// doubled one stands for itself) with a small reader of that rule.
namespace {
bool is_ps_quote(const std::string& s, std::size_t i, std::size_t& len) {
  if (s[i] == '\'') return len = 1, true;
  if (s.compare(i, 2, "\xE2\x80") == 0 && i + 2 < s.size()) {
    const auto c = static_cast<unsigned char>(s[i + 2]);
    if (c >= 0x98 && c <= 0x9B) return len = 3, true;
  }
  return false;
}
// Returns the string value, or nullopt if the literal ends early.
std::optional<std::string> read_ps_literal(const std::string& lit) {
  std::size_t len = 0;
  if (lit.empty() || !is_ps_quote(lit, 0, len)) return std::nullopt;
  std::string out;
  std::size_t i = len;
  while (i < lit.size()) {
    if (is_ps_quote(lit, i, len)) {
      std::size_t len2 = 0;
      if (i + len < lit.size() && is_ps_quote(lit, i + len, len2)) {
        out.append(lit, i, len);
        i += len + len2;
        continue;
      }
      return i + len == lit.size() ? std::optional<std::string>(out) : std::nullopt;
    }
    out += lit[i++];
  }
  return std::nullopt;
}
}  // namespace

TEST(PowerShellQuoting, LiteralIsOneInertStringWithTheExactValue) {
  for (const auto& name : hostile_names()) {
    const auto lit = esc::powershell_literal(name);
    auto back = read_ps_literal(lit);
    ASSERT_TRUE(back.has_value()) << lit;
    EXPECT_EQ(*back, name);
  }
  EXPECT_EQ(esc::powershell_literal("it's"), "'it''s'");
  EXPECT_EQ(esc::powershell_literal("$(x)"), "'$(x)'");
  EXPECT_THROW(esc::powershell_literal("\xff"), hyperctl::Error);
}

TEST(Utf8, ValidatesSequences) {
  EXPECT_TRUE(esc::valid_utf8("ünïcødé 名前 🙂"));
  EXPECT_FALSE(esc::valid_utf8("\xC3"));
  EXPECT_FALSE(esc::valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
}

TEST(TerminalText, ControlsAndLineBreakersBecomeVisibleEscapes) {
  EXPECT_EQ(esc::terminal_text("web1"), "web1");
  EXPECT_EQ(esc::terminal_text("ünïcødé-名前-🙂"), "ünïcødé-名前-🙂");
  EXPECT_EQ(esc::terminal_text("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  EXPECT_EQ(esc::terminal_text("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(esc::terminal_text("x\x7f"), "x\\x7f");
  EXPECT_EQ(esc::terminal_text("\xC2\x85"), "\\u0085");  // NEL, a C1 control
  EXPECT_EQ(esc::terminal_text("\xE2\x80\xAE"
                               "evil"),
            "\\u202eevil");  // right-to-left override
  EXPECT_EQ(esc::terminal_text("bad\xff"), "bad\\xff");
  for (const auto& name : hostile_names()) {
    const auto shown = esc::terminal_text(name);
    EXPECT_EQ(shown.find('\n'), std::string::npos) << shown;
    EXPECT_TRUE(esc::valid_utf8(shown)) << shown;
  }
}

TEST(Utf8, DecodesOneSequenceAtATime) {
  std::size_t len = 0;
  EXPECT_EQ(esc::decode_utf8("é", 0, len), U'é');
  EXPECT_EQ(len, 2u);
  EXPECT_EQ(esc::decode_utf8("🙂", 0, len), U'🙂');
  EXPECT_EQ(len, 4u);
  EXPECT_FALSE(esc::decode_utf8("\xff"
                                "a",
                                0, len)
                   .has_value());
  EXPECT_EQ(len, 1u);
}
