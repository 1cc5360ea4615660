// The pieces both inline-PTX forms are written from (emit_conv2d_ptx.cpp: a convolution's group
// functions; emit.cpp: a linear layer's): exact float immediates, registers named by what they hold, and
// the statement around them with its sums (partial sums to shared memory, or bias, act and stores).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spdnn::codegen::detail {

// A float as PTX's exact hexadecimal immediate (0fXXXXXXXX: the bits; any value, infinities and NaN too).
std::string ptx_float(float v);

// Registers of one PTX type, by name, numbered in order of first use (written %%<prefix><number>: `%%` is
// one `%` in an asm statement); the first `reserved` numbers are the caller's.
class PtxRegisters {
 public:
  PtxRegisters(const char* prefix, const char* type, int reserved = 0) : prefix_(prefix), type_(type), next_(reserved) {}
  std::string operator()(const std::string& name);
  std::string fresh();
  void declare(fmt::memory_buffer& out) const;

 private:
  const char *prefix_, *type_;
  int next_;
  std::map<std::string, int> numbers_;
};

// One asm statement under construction: its registers, prefixed %v (NVVM substitutes the operands %0 ...
// with registers of its own names, %rd1, %r2, %f3, %p4, which registers of the same names declared in the
// statement's scope would shadow: on an H100 that read the wrong pointers), and its lines. The first
// `pointers` 64-bit registers (%vd0 ...) are the caller's, for the operands' addresses. Accumulators are
// the f32 registers named a<row>_<output>.
class PtxStatement {
 public:
  explicit PtxStatement(int pointers) : rd("vd", "b64", pointers) {}
  PtxRegisters f{"vf", "f32"}, rd, p{"vp", "pred"}, r{"vr", "b32"};

  void line(std::string_view text);
  std::string acc(int64_t row, int output) { return f(fmt::format("a{}_{}", row, output)); }
  void zero_accumulators(int64_t rows, int outputs);

  // Each sum to part[(a * outputs + b) * lanes], in that order (a slice of a group whose K is split):
  // `part` and `lanes` are operands, `scratch` a reserved 64-bit register.
  void put_partial_sums(int64_t rows, int outputs, std::string_view part, std::string_view lanes, std::string_view scratch);

  // Bias (a rounded add), act (a < 0 ? 0 : a, NaN kept with relu) and the store of each (row a, output b) at
  // `base` (a reserved register, set from operand `y`) + offset(a, b) floats, under `guard` where it
  // gives a bound (operand `guard_operand` < bound, signed).
  struct Stores {
    std::function<float(int64_t a)> bias;
    bool relu = false;
    std::function<int64_t(int64_t a, int b)> offset;
    std::function<std::optional<int64_t>(int b)> guard;
    std::string_view guard_operand;
  };
  void put_stores(int64_t rows, int outputs, std::string_view base, std::string_view y, const Stores& stores);

  // The statement: `asm volatile("{" declarations, lines "}" :: operands : "memory");`.
  void write(fmt::memory_buffer& out, std::string_view operands) const;

 private:
  fmt::memory_buffer body_;
};

}  // namespace spdnn::codegen::detail
