// The pieces both inline-PTX forms are written from (see ptx_parts.hpp).
#include "sparse/codegen/ptx_parts.hpp"

#include <bit>

#include "sparse/codegen/emit_parts.hpp"

namespace spdnn::codegen::detail {

std::string ptx_float(float v) { return fmt::format("0f{:08X}", std::bit_cast<uint32_t>(v)); }

std::string PtxRegisters::operator()(const std::string& name) {
  auto [it, added] = numbers_.try_emplace(name, next_);
  if (added) ++next_;
  return fmt::format("%%{}{}", prefix_, it->second);
}

std::string PtxRegisters::fresh() { return fmt::format("%%{}{}", prefix_, next_++); }

void PtxRegisters::declare(fmt::memory_buffer& out) const {
  if (next_ > 0) put(out, "\".reg .{} %%{}<{}>;\\n\"\n", type_, prefix_, next_);
}

void PtxStatement::line(std::string_view text) { put(body_, "\"{}\\n\"\n", text); }

void PtxStatement::zero_accumulators(int64_t rows, int outputs) {
  for (int64_t a = 0; a < rows; ++a)
    for (int b = 0; b < outputs; ++b) line(fmt::format("mov.f32 {}, 0f00000000;", acc(a, b)));
}

void PtxStatement::put_partial_sums(int64_t rows, int outputs, std::string_view part, std::string_view lanes,
                                    std::string_view scratch) {
  line(fmt::format("cvt.s64.s32 {}, {};", scratch, lanes));
  const std::string step = rd.fresh(), at = rd.fresh();
  line(fmt::format("shl.b64 {}, {}, 2;", step, scratch));
  line(fmt::format("mov.b64 {}, {};", at, part));
  for (int64_t a = 0; a < rows; ++a)
    for (int b = 0; b < outputs; ++b) {
      if (a + b > 0) line(fmt::format("add.s64 {0}, {0}, {1};", at, step));
      line(fmt::format("st.f32 [{}], {};", at, acc(a, b)));
    }
}

void PtxStatement::put_stores(int64_t rows, int outputs, std::string_view base, std::string_view y, const Stores& s) {
  line(fmt::format("cvta.to.global.u64 {}, {};", base, y));
  for (int64_t a = 0; a < rows; ++a)
    for (int b = 0; b < outputs; ++b) {
      const std::string sum = acc(a, b);
      line(fmt::format("add.rn.f32 {0}, {0}, {1};", sum, ptx_float(s.bias(a))));
      if (s.relu) {
        const std::string negative = p.fresh();
        line(fmt::format("setp.lt.f32 {}, {}, 0f00000000;", negative, sum));
        line(fmt::format("selp.f32 {0}, 0f00000000, {0}, {1};", sum, negative));
      }
      std::string guard;
      if (const auto limit = s.guard ? s.guard(b) : std::nullopt) {
        guard = p.fresh();
        line(fmt::format("setp.lt.s32 {}, {}, {};", guard, s.guard_operand, *limit));
        guard = "@" + guard + " ";
      }
      line(fmt::format("{}st.global.f32 [{}+{}], {};", guard, base, s.offset(a, b) * 4, sum));
    }
}

void PtxStatement::write(fmt::memory_buffer& out, std::string_view operands) const {
  put(out, "  asm volatile(\n\"{{\\n\"\n");
  for (const PtxRegisters* regs : {&p, &r, &rd, &f}) regs->declare(out);
  out.append(body_.data(), body_.data() + body_.size());
  put(out, "\"}}\\n\"\n  :: {} : \"memory\");\n", operands);
}

}  // namespace spdnn::codegen::detail
