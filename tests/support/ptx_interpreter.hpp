// Runs, on the CPU, the inline PTX that the convolution emitter writes (emit_conv2d_ptx.hpp): the
// instructions it uses and no others, so that the tests check what the PTX means, not only that ptxas
// takes it. Registers hold 64-bit integers, floats or predicates; loads and stores go to callbacks that
// give addresses their meaning.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace spdnn::test {

class PtxMachine {
 public:
  std::vector<int64_t> operands;  // the asm statement's %0, %1, ...
  std::function<float(int64_t address)> load;
  std::function<void(int64_t address, float value)> store;

  // Runs the statement's lines, each as written in the C++ source ("...\n", `%%` for `%`). Returns false,
  // with a test failure, at the first line it does not understand.
  bool run(const std::vector<std::string>& source_lines) {
    for (const std::string& quoted : source_lines) {
      std::string line = unquote(quoted);
      for (size_t at = line.find('%'); at != std::string::npos; at = line.find('%', at + 1))
        if (at + 1 < line.size() && !std::isdigit(static_cast<unsigned char>(line[at + 1])) && line[at + 1] != 'v') {
          // NVVM names the operands it substitutes %r.., %rd.., %f.., %p..: a register of the statement's own
          // of such a name would shadow them.
          ADD_FAILURE() << "a register outside the statement's %v names: " << line;
          return false;
        }
      if (line.empty() || line == "{" || line == "}" || line.rfind(".reg ", 0) == 0) continue;
      if (!step(line)) {
        ADD_FAILURE() << "a PTX instruction the interpreter does not know: " << line;
        return false;
      }
    }
    return true;
  }

 private:
  static std::string unquote(const std::string& quoted) {
    std::string s = quoted.substr(quoted.find('"') + 1);
    s = s.substr(0, s.rfind("\\n\""));
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      out += s[i];
      if (s[i] == '%' && i + 1 < s.size() && s[i + 1] == '%') ++i;
    }
    return out;
  }
  // "op a, b, c;" -> op and its operands; an address "[%rd4+196]" stays one operand.
  static std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> parts;
    const size_t space = line.find(' ');
    parts.push_back(line.substr(0, space));
    std::string rest = line.substr(space + 1);
    rest = rest.substr(0, rest.rfind(';'));
    for (size_t at = 0; at <= rest.size();) {
      size_t comma = rest.find(',', at);
      if (comma == std::string::npos) comma = rest.size();
      std::string item = rest.substr(at, comma - at);
      item.erase(0, item.find_first_not_of(' '));
      parts.push_back(item);
      at = comma + 1;
    }
    return parts;
  }
  int64_t integer(const std::string& v) const {
    if (v.rfind("%vd", 0) == 0 || v.rfind("%vr", 0) == 0) return ints_.at(v);
    if (v[0] == '%') return operands.at(std::stoul(v.substr(1)));
    return std::stoll(v);
  }
  float real(const std::string& v) const {
    if (v.rfind("0f", 0) == 0) return std::bit_cast<float>(static_cast<uint32_t>(std::stoul(v.substr(2), nullptr, 16)));
    return floats_.at(v);
  }
  int64_t address(const std::string& v) const {  // [%rdN] or [%rdN+imm]
    const size_t plus = v.find('+');
    if (plus == std::string::npos) return integer(v.substr(1, v.size() - 2));
    return integer(v.substr(1, plus - 1)) + std::stoll(v.substr(plus + 1, v.size() - plus - 2));
  }
  bool step(const std::string& line) {
    bool guard = true;
    std::string text = line;
    if (text[0] == '@') {
      const size_t space = text.find(' ');
      guard = preds_.at(text.substr(1, space - 1));
      text = text.substr(space + 1);
    }
    const std::vector<std::string> a = split(text);
    const std::string& op = a[0];
    if (op == "cvta.to.global.u64" || op == "mov.b64") ints_[a[1]] = integer(a[2]);
    else if (op == "add.s32") ints_[a[1]] = static_cast<int32_t>(integer(a[2]) + integer(a[3]));
    else if (op == "add.s64") ints_[a[1]] = integer(a[2]) + integer(a[3]);
    else if (op == "shl.b64") ints_[a[1]] = integer(a[2]) << integer(a[3]);
    else if (op == "cvt.s64.s32") ints_[a[1]] = static_cast<int32_t>(integer(a[2]));
    else if (op == "setp.lt.u32") preds_[a[1]] = static_cast<uint32_t>(integer(a[2])) < static_cast<uint32_t>(integer(a[3]));
    else if (op == "setp.lt.s32") preds_[a[1]] = static_cast<int32_t>(integer(a[2])) < static_cast<int32_t>(integer(a[3]));
    else if (op == "setp.lt.f32") preds_[a[1]] = real(a[2]) < real(a[3]);
    else if (op == "and.pred") preds_[a[1]] = preds_.at(a[2]) && preds_.at(a[3]);
    else if (op == "selp.b64") ints_[a[1]] = preds_.at(a[4]) ? integer(a[2]) : integer(a[3]);
    else if (op == "selp.f32") floats_[a[1]] = preds_.at(a[4]) ? real(a[2]) : real(a[3]);
    else if (op == "mov.f32") floats_[a[1]] = real(a[2]);
    else if (op == "ld.global.nc.f32") floats_[a[1]] = load(address(a[2]));
    else if (op == "fma.rn.f32") floats_[a[1]] = std::fma(real(a[2]), real(a[3]), real(a[4]));
    else if (op == "add.rn.f32") floats_[a[1]] = real(a[2]) + real(a[3]);
    else if (op == "st.f32" || op == "st.global.f32") {
      if (guard) store(address(a[1]), real(a[2]));
    } else {
      return false;
    }
    return true;
  }

  std::map<std::string, int64_t> ints_;
  std::map<std::string, float> floats_;
  std::map<std::string, bool> preds_;
};

}  // namespace spdnn::test
