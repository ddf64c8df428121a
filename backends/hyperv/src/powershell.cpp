// PowerShell runs for the Hyper-V backend (see ../PROTOCOL.md).
#include "hyperctl/error.hpp"  // first: powershell.hpp uses ErrorCode without it

#include "powershell.hpp"

#include <array>
#include <cctype>
#include <sstream>
#include <stdexcept>
#include <string>

#include "hyperctl/escape.hpp"
#include "ops.hpp"

namespace hyperctl::hyperv {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr const char* kFrameBegin = "#hyperctl-result-begin";
constexpr const char* kFrameEnd = "#hyperctl-result-end";

int sextet(char ch) {
  if (ch >= 'A' && ch <= 'Z') return ch - 'A';
  if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9') return ch - '0' + 52;
  if (ch == '+') return 62;
  if (ch == '/') return 63;
  return -1;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

/// CLIXML's escapes: _xHHHH_ for characters XML cannot carry (and for "_x"
/// itself), then the XML entities.
std::string decode_clixml_string(const std::string& raw) {
  std::string out;
  for (std::size_t i = 0; i < raw.size();) {
    if (raw.compare(i, 2, "_x") == 0 && i + 7 <= raw.size() && raw[i + 6] == '_') {
      bool hex = true;
      for (std::size_t k = i + 2; k < i + 6; ++k)
        hex = hex && std::isxdigit(static_cast<unsigned char>(raw[k]));
      if (hex) {
        const unsigned cp = static_cast<unsigned>(std::stoul(raw.substr(i + 2, 4), nullptr, 16));
        if (cp < 0x80) {
          out += static_cast<char>(cp);
        } else if (cp < 0x800) {
          out += static_cast<char>(0xC0 | (cp >> 6));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
          out += static_cast<char>(0xE0 | (cp >> 12));
          out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        }
        i += 7;
        continue;
      }
    }
    if (raw[i] == '&') {
      static const std::array<std::pair<const char*, char>, 5> kEntities = {
          {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}}};
      bool done = false;
      for (const auto& [entity, ch] : kEntities) {
        const std::string e(entity);
        if (raw.compare(i, e.size(), e) == 0) {
          out += ch;
          i += e.size();
          done = true;
          break;
        }
      }
      if (done) continue;
    }
    out += raw[i++];
  }
  return out;
}

}  // namespace

/// Standard error as text: CLIXML (`#< CLIXML` then <Objs>) reduced to its
/// <S S="Error"> strings, decoded; anything else as it is.
std::string decode_stderr(const std::string& err) {
  const std::size_t marker = err.find("#< CLIXML");
  if (marker == std::string::npos) return trim(err);
  std::string out;
  const std::string open = "<S S=\"Error\">";
  for (std::size_t pos = err.find(open, marker); pos != std::string::npos;
       pos = err.find(open, pos)) {
    pos += open.size();
    const std::size_t end = err.find("</S>", pos);
    if (end == std::string::npos) break;
    out += decode_clixml_string(err.substr(pos, end - pos));
    pos = end;
  }
  return trim(out);
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  const auto bad = [] {
    return Error(ErrorCode::BackendFailure, "malformed base64 in PowerShell's answer");
  };
  if (text.size() % 4 != 0) throw bad();
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char ch = text[i + static_cast<std::size_t>(k)];
      if (ch == '=') {
        // Padding: only in the last group, only at its end.
        if (i + 4 != text.size() || k < 2) throw bad();
        v[k] = 0;
        ++pad;
      } else {
        if (pad) throw bad();
        v[k] = sextet(ch);
        if (v[k] < 0) throw bad();
      }
    }
    const unsigned n = (static_cast<unsigned>(v[0]) << 18) | (static_cast<unsigned>(v[1]) << 12) |
                       (static_cast<unsigned>(v[2]) << 6) | static_cast<unsigned>(v[3]);
    out += static_cast<char>((n >> 16) & 0xFF);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(n & 0xFF);
  }
  return out;
}

std::string encoded_command(std::string_view script) {
  std::string utf16;
  utf16.reserve(script.size() * 2);
  const auto unit = [&](unsigned u) {
    utf16 += static_cast<char>(u & 0xFF);
    utf16 += static_cast<char>((u >> 8) & 0xFF);
  };
  for (std::size_t pos = 0; pos < script.size();) {
    std::size_t len = 0;
    const auto cp = escape::decode_utf8(script, pos, len);
    if (!cp)
      throw Error(ErrorCode::InvalidArgument, "a PowerShell script is not valid UTF-8", "encode");
    const auto c = static_cast<unsigned>(*cp);
    if (c >= 0x10000) {
      unit(0xD800 + ((c - 0x10000) >> 10));
      unit(0xDC00 + ((c - 0x10000) & 0x3FF));
    } else {
      unit(c);
    }
    pos += len;
  }
  return base64_encode(utf16);
}

std::string request_line(const std::string& op, const nlohmann::json& data) {
  const nlohmann::json request = {{"op", op}, {"script", script_text(op)}, {"data", data}};
  std::string text;
  try {
    text = request.dump();
  } catch (const nlohmann::json::exception&) {
    throw Error(ErrorCode::InvalidArgument, "a value is not valid UTF-8", op);
  }
  return base64_encode(text);
}

namespace {
/// Deepest nesting accepted in an answer.
constexpr int kMaxAnswerDepth = 64;
}  // namespace

nlohmann::json parse_response(const process::Result& result, const std::string& op,
                              const std::string& subject) {
  const std::string on = subject.empty() ? std::string() : " on " + subject;
  const auto lines = lines_of(result.out);
  std::vector<std::size_t> begins;
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (trim(lines[i]) == kFrameBegin) begins.push_back(i);

  if (begins.empty()) {
    const std::string text = decode_stderr(result.err);
    std::string first = text.substr(0, text.find('\n'));
    first = trim(first);
    const std::string status = result.signal ? "signal " + std::to_string(result.signal)
                                             : "exit status " + std::to_string(result.exit_code);
    throw Error(ErrorCode::BackendFailure,
                "PowerShell failed running " + op + on + " (" + status + ")" +
                    (first.empty() ? std::string() : ": " + escape::terminal_text(first)),
                op, text.empty() ? status : text + "\n(" + status + ")");
  }
  if (begins.size() > 1)
    throw Error(ErrorCode::BackendFailure,
                "PowerShell's answer to " + op + on + " holds more than one result frame", op,
                result.out);
  const std::size_t b = begins.front();
  if (b + 2 >= lines.size() || trim(lines[b + 2]) != kFrameEnd)
    throw Error(ErrorCode::BackendFailure,
                "PowerShell's answer to " + op + on + " has an incomplete result frame", op,
                result.out);

  std::string text;
  try {
    text = base64_decode(trim(lines[b + 1]));
  } catch (const Error&) {
    throw Error(ErrorCode::BackendFailure, "PowerShell's answer to " + op + on + " is not base64",
                op, lines[b + 1]);
  }
  // The answer is untrusted: its nesting is bounded while it is parsed, so
  // that nothing later (a dump for a message, a walk) recurses without end
  // on it. The scripts' answers are a few levels deep.
  bool too_deep = false;
  nlohmann::json doc;
  try {
    doc =
        nlohmann::json::parse(text, [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
          if (depth > kMaxAnswerDepth) {
            too_deep = true;
            throw std::length_error("nesting");
          }
          return true;
        });
  } catch (const std::length_error&) {
    if (!too_deep) throw;
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::BackendFailure, "PowerShell's answer to " + op + on + " is not JSON", op,
                e.what());
  }
  if (too_deep)
    throw Error(ErrorCode::BackendFailure,
                "PowerShell's answer to " + op + on + " is nested deeper than " +
                    std::to_string(kMaxAnswerDepth) + " levels",
                op, text.substr(0, 200));
  if (!doc.is_object() || !doc.contains("ok") || !doc["ok"].is_boolean())
    throw Error(ErrorCode::BackendFailure,
                "PowerShell's answer to " + op + on + " is not a result document", op,
                text.substr(0, 200));
  if (doc["ok"].get<bool>()) {
    nlohmann::json r = doc.value("result", nlohmann::json());
    return r.is_null() ? nlohmann::json::object() : r;
  }
  const nlohmann::json error = doc.value("error", nlohmann::json::object());
  const auto field = [&](const char* k) {
    return error.is_object() && error.contains(k) && error[k].is_string()
               ? error[k].get<std::string>()
               : std::string();
  };
  const std::string message = trim(field("message"));
  const std::string first = trim(message.substr(0, message.find('\n')));
  throw Error(map_error(error),
              op + on + ": " + escape::terminal_text(first.empty() ? "PowerShell failed" : first),
              op,
              message + "\n(category " + field("category") + ", id " + field("id") + ", type " +
                  field("type") + ")");
}

PowerShell::PowerShell(process::Runner runner, std::string program,
                       std::chrono::milliseconds timeout)
    : runner_(std::move(runner)), program_(std::move(program)), timeout_(timeout) {}

std::vector<std::string> PowerShell::argv() const {
  return {
      program_,           "-NoLogo", "-NoProfile",      "-NonInteractive",
      "-ExecutionPolicy", "Bypass",  "-EncodedCommand", encoded_command(script_text("bootstrap"))};
}

nlohmann::json PowerShell::run(const std::string& op, const nlohmann::json& data,
                               const std::string& subject,
                               std::optional<std::chrono::milliseconds> timeout,
                               const CancelToken& cancel) const {
  process::Command cmd;
  cmd.argv = argv();
  cmd.stdin_data = request_line(op, data) + "\n";
  cmd.timeout = timeout ? *timeout : timeout_;
  cmd.cancel = cancel;
  cmd.operation = op;
  return parse_response(runner_.run(cmd), op, subject);
}

}  // namespace hyperctl::hyperv
